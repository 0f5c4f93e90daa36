// speclab chat-template: byte-for-byte renderings (checked against the Jinja2 expectations of
// tests/tokenizers/data/chat_template_cases.json), usage errors exit 2, bad input exits 1.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/testing/cli_runner.h"
#include "tests/testing/data_dir.h"
#include "tests/testing/hf_writer.h"

namespace {

using speclab::testing::q;
using speclab::testing::run;
namespace fs = std::filesystem;

class ChatTemplateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/chat_cli_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    speclab::testing::write_text_file(dir_ + "/" + name, text);
    return dir_ + "/" + name;
  }
  std::string dir_;
};

TEST_F(ChatTemplateCli, PrintsTheRenderingByteForByte) {
  const std::string tmpl = speclab::testing::data_path("chat_templates/meta-llama-Llama-3.1-8B-Instruct.jinja");
  SPECLAB_REQUIRE_DATA(tmpl);
  std::ifstream f(std::string(SPECLAB_SOURCE_DIR) + "/tests/tokenizers/data/chat_template_cases.json");
  const nlohmann::ordered_json fixture = nlohmann::ordered_json::parse(f);
  int n_checked = 0;
  for (const auto& c : fixture["cases"]) {
    if (c["template_file"] != "meta-llama-Llama-3.1-8B-Instruct.jinja" || !c.contains("expected")) continue;
    nlohmann::ordered_json doc = c["vars"];
    const bool agp = doc["add_generation_prompt"].get<bool>();
    doc.erase("add_generation_prompt");
    doc.erase("bos_token");
    doc.erase("eos_token");
    const std::string msgs = write("m.json", doc.dump());
    const auto r = run("chat-template --template " + q(tmpl) + " --messages " + q(msgs) + " --add-generation-prompt " +
                       (agp ? "1" : "0") + " --bos-token '<|begin_of_text|>' --eos-token '<|eot_id|>' --date 2024-07-26");
    ASSERT_EQ(r.code, 0) << c["name"] << ": " << r.err;
    EXPECT_EQ(r.out, c["expected"].get<std::string>()) << c["name"];
    ++n_checked;
  }
  EXPECT_GE(n_checked, 20);
}

TEST_F(ChatTemplateCli, ModelDirectoryDateAndDefaults) {
  write("tokenizer_config.json", R"({"bos_token": "<s>", "chat_template": "{{ bos_token }}{{ messages[0].content }}|{{ strftime_now('%d %b %Y') }}|{{ add_generation_prompt }}"})");
  const std::string msgs = write("m.json", R"([{"role": "user", "content": "héllo"}])");
  auto r = run("chat-template --template " + q(dir_) + " --messages " + q(msgs) + " --date 2025-01-31");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "<s>héllo|31 Jan 2025|True");  // no newline added
  r = run("chat-template --template " + q(dir_) + " --messages " + q(msgs) + " --date 2025-01-31 --add-generation-prompt 0 --bos-token X");
  EXPECT_EQ(r.out, "Xhéllo|31 Jan 2025|False");
}

TEST_F(ChatTemplateCli, UsageErrorsExit2BadInputExits1) {
  const std::string tmpl = write("t.jinja", "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{{ m.content }}{% endfor %}");
  const std::string ok = write("ok.json", R"([{"role": "user", "content": "x"}])");
  const std::string sys = write("sys.json", R"([{"role": "system", "content": "x"}])");
  const std::string bad = write("bad.json", R"([{"role": )");
  EXPECT_EQ(run("chat-template --template " + q(tmpl)).code, 2);
  EXPECT_EQ(run("chat-template --messages " + q(ok)).code, 2);
  EXPECT_EQ(run("chat-template --template " + q(tmpl) + " --messages " + q(ok) + " --add-generation-prompt 2").code, 2);
  EXPECT_EQ(run("chat-template --template " + q(tmpl) + " --messages " + q(ok) + " --date 2024-02-30").code, 2);
  EXPECT_EQ(run("chat-template --template " + q(tmpl) + " --messages " + q(ok) + " --bogus").code, 2);
  auto r = run("chat-template --template " + q(tmpl) + " --messages " + q(sys));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("t.jinja:1: raise_exception: System role not supported"), std::string::npos) << r.err;
  r = run("chat-template --template " + q(tmpl) + " --messages " + q(bad));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("bad.json: not valid JSON"), std::string::npos) << r.err;
  r = run("chat-template --template " + q(dir_ + "/missing.jinja") + " --messages " + q(ok));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("missing.jinja"), std::string::npos) << r.err;
  const std::string syntax = write("s.jinja", "line 1\n{% for x in %}");
  r = run("chat-template --template " + q(syntax) + " --messages " + q(ok));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("s.jinja:2: "), std::string::npos) << r.err;
}

}  // namespace
