// Chat templates (tokenizers/jinja.h, tokenizers/chat_template.h) against Jinja2 as transformers
// configures it. Expected renderings were made offline by scripts/jinja_reference.py and are
// committed in tests/tokenizers/data/: jinja_cases.json (stress templates, one per construct,
// and error cases) and chat_template_cases.json (the three shared real templates over many
// conversations). The live differential test re-renders them with python3 + jinja2 when those
// are installed and skips otherwise.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"
#include "tests/testing/data_dir.h"
#include "tests/testing/hf_writer.h"
#include "tests/testing/models_dir.h"
#include "tokenizers/chat_template.h"
#include "tokenizers/jinja.h"
#include "tokenizers/tokenizer_loader.h"

namespace {

using speclab::ChatRenderOptions;
using speclab::ChatTemplate;
using speclab::Error;
using OJson = nlohmann::ordered_json;
namespace jinja = speclab::jinja;
namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

OJson load_fixture(const std::string& name) {
  const std::string path = std::string(SPECLAB_SOURCE_DIR) + "/tests/tokenizers/data/" + name;
  return OJson::parse(read_file(path));
}

std::string render_source(const std::string& src, const OJson& vars, const std::string& date = "2024-07-26",
                          const std::string& name = "case.jinja", jinja::Limits limits = {}) {
  const jinja::Template t(src, name, limits);
  jinja::Context ctx;
  ctx.now = speclab::chat_date(date, "date");
  ctx.set("tools", jinja::Value::none());
  ctx.set("documents", jinja::Value::none());
  for (auto it = vars.begin(); it != vars.end(); ++it) ctx.set(it.key(), jinja::from_json(it.value()));
  return t.render(ctx);
}

// Renders one fixture case; returns false (with the error in `out`) when it throws.
bool render_case(const OJson& c, std::string& out) {
  std::string src;
  std::string name = c.value("name", std::string("case"));
  if (c.contains("template_file")) {
    const std::string path = speclab::testing::data_path("chat_templates/" + c["template_file"].get<std::string>());
    src = read_file(path);
    name = path;
  } else {
    src = c["template"].get<std::string>();
  }
  try {
    out = render_source(src, c.value("vars", OJson::object()), c.value("date", std::string("2024-07-26")), name);
    return true;
  } catch (const Error& e) {
    out = e.what();
    return false;
  }
}

void check_cases(const OJson& fixture) {
  int n_ok = 0, n_err = 0;
  for (const OJson& c : fixture["cases"]) {
    std::string out;
    const bool ok = render_case(c, out);
    const std::string name = c["name"].get<std::string>();
    if (c.contains("error")) {
      EXPECT_FALSE(ok) << name << ": Jinja2 raised " << c["error"].get<std::string>() << ", speclab rendered "
                       << out;
      ++n_err;
    } else {
      EXPECT_TRUE(ok) << name << ": " << out;
      EXPECT_EQ(out, c["expected"].get<std::string>()) << name;
      ++n_ok;
    }
  }
  EXPECT_GT(n_ok, 0);
  EXPECT_GE(n_ok + n_err, static_cast<int>(fixture["cases"].size()));
}

TEST(JinjaTemplates, StressCasesRenderAsJinja2) {
  const OJson fixture = load_fixture("jinja_cases.json");
  EXPECT_GE(fixture["cases"].size(), 80u);
  check_cases(fixture);
}

TEST(ChatTemplates, SharedRealTemplatesRenderAsJinja2) {
  SPECLAB_REQUIRE_DATA(speclab::testing::data_path("chat_templates/Qwen-Qwen2.5-7B-Instruct.jinja"));
  const OJson fixture = load_fixture("chat_template_cases.json");
  EXPECT_GE(fixture["cases"].size(), 90u);
  check_cases(fixture);
}

// The committed expectations against the installed Jinja2, when there is one.
TEST(ChatTemplates, LiveDifferentialAgainstJinja2) {
  if (std::system("python3 -c 'import jinja2' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3 with jinja2 not installed: the committed expectations are checked by the other tests";
  }
  for (const std::string fixture_name : {"jinja_cases.json", "chat_template_cases.json"}) {
    const OJson fixture = load_fixture(fixture_name);
    if (fixture_name == "chat_template_cases.json" &&
        !fs::exists(speclab::testing::data_path("chat_templates/Qwen-Qwen2.5-7B-Instruct.jinja"))) {
      continue;
    }
    const std::string out_file = ::testing::TempDir() + "/jinja_live_" + fixture_name;
    const std::string cmd = "SPECLAB_DATA_DIR='" + speclab::testing::data_dir() + "' python3 " +
                            std::string(SPECLAB_SOURCE_DIR) + "/scripts/jinja_reference.py render " +
                            SPECLAB_SOURCE_DIR + "/tests/tokenizers/data/" + fixture_name + " > " + out_file;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const OJson live = OJson::parse(read_file(out_file));
    ASSERT_EQ(live.size(), fixture["cases"].size());
    for (std::size_t k = 0; k < live.size(); ++k) {
      const OJson& c = fixture["cases"][k];
      std::string out;
      const bool ok = render_case(c, out);
      if (live[k].contains("error")) {
        EXPECT_FALSE(ok) << c["name"] << ": jinja2 raised " << live[k]["error"];
      } else {
        EXPECT_EQ(out, live[k]["expected"].get<std::string>()) << c["name"];
      }
    }
  }
}

// ----- errors name the template, the line and the rule -----

std::string error_of(const std::string& src, const OJson& vars = OJson::object(), jinja::Limits limits = {}) {
  try {
    render_source(src, vars, "2024-07-26", "t.jinja", limits);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(JinjaErrors, NameTemplateLineAndRule) {
  EXPECT_EQ(error_of("a\nb\n{{ x | nope }}"), "t.jinja:3: unknown filter 'nope'");
  EXPECT_EQ(error_of("a\n{% if x %}\nb"), "t.jinja:3: unexpected end of template, expected 'elif' or 'else' or 'endif'");
  EXPECT_EQ(error_of("{% for m in messages %}\n\n{{ raise_exception('roles must alternate') }}{% endfor %}",
                     OJson{{"messages", {1}}}),
            "t.jinja:3: raise_exception: roles must alternate");
  EXPECT_EQ(error_of("x\n{{ 'a' + 1 }}"), "t.jinja:2: unsupported operand type(s) for +: 'str' and 'int'");
  EXPECT_EQ(error_of("{{ m.content.x.y }}", OJson{{"m", OJson::object()}}), "t.jinja:1: 'dict object' has no attribute 'content'");
  EXPECT_EQ(error_of("{% include 'other.jinja' %}"), "t.jinja:1: tag 'include' is not supported (chat templates are single files)");
  EXPECT_EQ(error_of("{{ 'abc }}"), "t.jinja:1: unexpected end of template inside a string literal");
  EXPECT_EQ(error_of("{# never closed"), "t.jinja:1: missing end of comment tag '#}'");
  EXPECT_EQ(error_of("\xff"), "t.jinja:1: invalid UTF-8 at byte 0");
  EXPECT_EQ(error_of("{{ 9223372036854775807 + 1 }}"), "t.jinja:1: integer overflow (speclab's template integers are 64-bit)");
  // Fuzz finding (fuzz_chat_template, 2026-12-02): an empty tuple item in a subscript was a null
  // node that the evaluator dereferenced.
  EXPECT_EQ(error_of("{{1[,]}}"), "t.jinja:1: expected an expression before ',' in a subscript");
  EXPECT_EQ(error_of("{{ x[1,,2] }}"), "t.jinja:1: expected an expression before ',' in a subscript");
  // Fuzz finding: a string literal ending in a backslash at the end of the source looped forever.
  EXPECT_EQ(error_of("{{ 'abc\\"), "t.jinja:1: unexpected end of template inside a string literal");
}

// Hostile templates end in an Error, never a crash, a hang or unbounded memory.
TEST(JinjaLimits, HostileTemplatesAreBounded) {
  // Parse nesting (parentheses, statements) beyond max_depth.
  EXPECT_NE(error_of("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").find("nesting deeper than"), std::string::npos);
  std::string ifs;
  for (int k = 0; k < 3000; ++k) ifs += "{% if true %}";
  EXPECT_NE(error_of(ifs).find("nesting deeper than"), std::string::npos);
  // Unbounded macro recursion.
  EXPECT_NE(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("recursion limit"), std::string::npos);
  // A string recursion like the real bug of a type-mapping macro: 'n' is iterable.
  EXPECT_NE(error_of("{% macro t(x) %}{% for c in x %}{{ t(c) }}{% endfor %}{% endmacro %}{{ t('ab') }}").find("recursion limit"),
            std::string::npos);
  // Loop iterations (a small limit keeps the test fast; the default is 1,000,000).
  jinja::Limits small;
  small.max_loop_iterations = 5000;
  EXPECT_EQ(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", {}, small),
            "t.jinja:1: more than 5000 loop iterations (the limit for templates)");
  // Huge strings and output.
  EXPECT_NE(error_of("{{ 'a' * 100000000 }}").find("larger than the limit"), std::string::npos);
  small = {};
  small.max_output_bytes = 100000;
  EXPECT_NE(error_of("{% for i in range(1000) %}{{ 'x' * 1000 }}{% endfor %}", {}, small).find("larger than the limit"),
            std::string::npos);
  small = {};
  small.max_output_bytes = 100;
  EXPECT_NE(error_of("{% for i in range(20) %}0123456789{% endfor %}", {}, small).find("rendering larger than the limit of 100 bytes"),
            std::string::npos);
  // Values nested without bound.
  EXPECT_NE(error_of("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}")
                .find("nested deeper than"),
            std::string::npos);
  // The work budget.
  small = {};
  small.max_work = 10000;
  EXPECT_NE(error_of("{% for i in range(100000) %}{% endfor %}", {}, small).find("work budget"), std::string::npos);
  // Source size.
  small = {};
  small.max_source_bytes = 10;
  EXPECT_NE(error_of("{{ 'long enough' }}", {}, small).find("larger than the limit of 10 bytes"), std::string::npos);
}

TEST(ChatDate, WeekdaysAndBadDates) {
  EXPECT_EQ(render_source("{{ strftime_now('%A %d %B %Y %j') }}", {}, "2024-07-26"), "Friday 26 July 2024 208");
  EXPECT_EQ(render_source("{{ strftime_now('%a %d %b') }}", {}, "2000-02-29"), "Tue 29 Feb");
  EXPECT_EQ(render_source("{{ strftime_now('%A') }}", {}, "1970-01-01"), "Thursday");
  for (const char* bad : {"2023-02-29", "2024-13-01", "24-07-26", "2024/07/26", "", "2024-07-26x"}) {
    EXPECT_THROW(speclab::chat_date(bad, "--date"), Error) << bad;
  }
}

// ----- where templates come from -----

class ModelDirTemplates : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/chat_template_dir_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

TEST_F(ModelDirTemplates, StringListAndJinjaFile) {
  const OJson msgs = OJson::parse(R"([{"role": "user", "content": "hi"}])");
  ChatRenderOptions ro;
  // A string template and special tokens given as strings or {"content": ...}.
  speclab::testing::write_text_file(dir_ + "/tokenizer_config.json", R"({"bos_token": {"content": "<s>", "lstrip": false},
    "eos_token": "</s>", "chat_template": "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}{{ eos_token }}"})");
  auto t = speclab::load_model_chat_template(dir_);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->render(msgs, ro), "<s>[hi]</s>");
  ro.bos_token = "B";
  EXPECT_EQ(t->render(msgs, ro), "B[hi]</s>");
  ro.bos_token.reset();
  // A list of named templates: "default" unless another is named.
  speclab::testing::write_text_file(dir_ + "/tokenizer_config.json", R"({"chat_template": [
    {"name": "tool_use", "template": "tools"}, {"name": "default", "template": "plain {{ add_generation_prompt }}"}]})");
  EXPECT_EQ(speclab::load_model_chat_template(dir_)->render(msgs, ro), "plain True");
  EXPECT_EQ(speclab::load_model_chat_template(dir_, "tool_use")->render(msgs, ro), "tools");
  EXPECT_THROW(speclab::load_model_chat_template(dir_, "nope"), Error);
  // chat_template.jinja beside it wins.
  speclab::testing::write_text_file(dir_ + "/chat_template.jinja", "from file\n");
  EXPECT_EQ(speclab::load_chat_template(dir_).render(msgs, ro), "from file");
  // A tokenizer_config.json given as the template file.
  EXPECT_EQ(speclab::load_chat_template(dir_ + "/tokenizer_config.json").render(msgs, ro), "plain True");
  // No template at all.
  fs::remove(dir_ + "/chat_template.jinja");
  speclab::testing::write_text_file(dir_ + "/tokenizer_config.json", R"({"bos_token": null})");
  EXPECT_FALSE(speclab::load_model_chat_template(dir_).has_value());
  EXPECT_THROW(speclab::load_chat_template(dir_), Error);
  speclab::testing::write_text_file(dir_ + "/tokenizer_config.json", R"({"chat_template": 5})");
  EXPECT_THROW(speclab::load_model_chat_template(dir_), Error);
}

TEST(ChatMessages, ParseKeepsKeyOrderAndExtraVariables) {
  OJson extra;
  const OJson m = speclab::parse_messages(R"({"messages": [{"role": "user", "content": "x", "b": 1, "a": 2}],
      "tools": [{"z": 1, "a": 2}]})", "m.json", &extra);
  EXPECT_EQ(m[0].dump(), R"({"role":"user","content":"x","b":1,"a":2})");
  EXPECT_EQ(extra.dump(), R"({"tools":[{"z":1,"a":2}]})");
  EXPECT_THROW(speclab::parse_messages("{\"x\": 1}", "m.json"), Error);
  EXPECT_THROW(speclab::parse_messages("[1]", "m.json"), Error);
  EXPECT_THROW(speclab::parse_messages("[", "m.json"), Error);
  EXPECT_THROW(speclab::parse_messages(std::string(200, '[') + std::string(200, ']'), "m.json"), Error);
}

// Special-token text of a rendering maps to its ids, and BOS is there exactly once: SmolLM2's
// BOS is <|im_start|>, which the ChatML rendering starts with.
TEST(ChatTemplates, RenderingTokenizesSpecialTextToIdsWithoutASecondBos) {
  const std::string tok_json = speclab::testing::model_path("tokenizers/smollm2-tokenizer.json");
  const std::string tmpl_path = speclab::testing::data_path("chat_templates/Qwen-Qwen2.5-7B-Instruct.jinja");
  SPECLAB_REQUIRE_MODEL(tok_json);
  SPECLAB_REQUIRE_DATA(tmpl_path);
  const std::string dir = ::testing::TempDir() + "/chat_tok_" + std::to_string(::getpid());
  fs::create_directories(dir);
  fs::copy_file(tok_json, dir + "/tokenizer.json", fs::copy_options::overwrite_existing);
  speclab::testing::write_text_file(dir + "/config.json", R"({"bos_token_id": 1, "eos_token_id": 2})");
  const auto tok = speclab::load_tokenizer(dir);
  ASSERT_EQ(tok->bos_id(), 1);
  const ChatTemplate t = speclab::load_chat_template(tmpl_path);
  const std::string text = t.render(OJson::parse(R"([{"role": "user", "content": "Hi <|im_end|> there"}])"), {});
  const std::vector<speclab::Token> ids = speclab::encode_rendering(*tok, text);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 1);                                    // <|im_start|> = BOS, once
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 1), 3);     // system, user, assistant
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 2), 3);     // <|im_end|> x2 + the one in the content
  EXPECT_EQ(tok->encode(text, true)[1], 1);                // add_bos would have doubled it
  EXPECT_EQ(tok->decode(ids), "system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\nuser\nHi  there\nassistant\n");
  fs::remove_all(dir);
}

}  // namespace
