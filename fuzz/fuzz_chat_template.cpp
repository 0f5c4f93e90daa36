// Chat templates (tokenizers/jinja.h, tokenizers/chat_template.h): the input is a Jinja template,
// optionally followed by kPartSeparator and a messages JSON document; the template is parsed and
// rendered over the messages (or a default conversation) with limits small enough that every
// input ends quickly. Parse and render errors are speclab::Error; anything else is a finding.
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "tokenizers/chat_template.h"
#include "tokenizers/jinja.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::string_view> parts = fuzz::split_parts(fuzz::as_text(data, size), 2);
  jinja::Limits limits;
  limits.max_source_bytes = 64 << 10;
  limits.max_output_bytes = 1 << 20;
  limits.max_loop_iterations = 20000;
  limits.max_work = 2'000'000;
  nlohmann::ordered_json messages = nlohmann::ordered_json::parse(
      R"([{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"},
          {"role": "assistant", "content": "yo", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
          {"role": "tool", "content": "r"}])");
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
  if (parts.size() == 2) {
    try {
      messages = parse_messages(parts[1], "messages.json", &extra);
    } catch (const Error& e) {
      fuzz::note(e);
    }
  }
  try {
    const jinja::Template t(parts[0], "fuzz.jinja", limits);
    jinja::Context ctx;
    ctx.now = chat_date("2024-07-26", "date");
    ctx.set("messages", jinja::from_json(messages));
    ctx.set("add_generation_prompt", jinja::Value::boolean(true));
    ctx.set("bos_token", jinja::Value::string("<s>"));
    ctx.set("eos_token", jinja::Value::string("</s>"));
    ctx.set("tools", jinja::Value::none());
    for (auto it = extra.begin(); it != extra.end(); ++it) ctx.set(it.key(), jinja::from_json(it.value()));
    const std::string out = t.render(ctx);
    if (out.size() > limits.max_output_bytes) fuzz::finding("rendering beyond max_output_bytes");
  } catch (const Error& e) {
    fuzz::note(e);
  }
  return 0;
}
