// speclab chat-template --template FILE|MODEL_DIR --messages FILE.json [--add-generation-prompt 0|1]
//                       [--bos-token S] [--eos-token S] [--date YYYY-MM-DD] [--name NAME]
// Prints the rendering byte for byte (no newline added).
#include <cstdio>
#include <ctime>

#include "app/cli.h"
#include "base/error.h"
#include "base/input_file.h"
#include "tokenizers/chat_template.h"

namespace speclab::cli {

int cmd_chat_template(int argc, char** argv) {
  cxxopts::Options opts("speclab chat-template",
                        "Render a conversation with a chat template exactly as Hugging Face transformers does");
  opts.add_options()("template", "chat template: .jinja file, tokenizer_config.json or model directory",
                     cxxopts::value<std::string>())(
      "messages", "JSON file: a list of {role, content} messages, or {\"messages\": [...], more variables}",
      cxxopts::value<std::string>())("add-generation-prompt", "0 or 1 (default 1)",
                                     cxxopts::value<std::string>()->default_value("1"))(
      "bos-token", "bos_token text (default: tokenizer_config.json's)", cxxopts::value<std::string>())(
      "eos-token", "eos_token text (default: tokenizer_config.json's)", cxxopts::value<std::string>())(
      "date", "what strftime_now() sees: YYYY-MM-DD at 00:00 (default: now, local time)",
      cxxopts::value<std::string>())("name", "named template of a chat_template list (default: default)",
                                     cxxopts::value<std::string>()->default_value(""));
  auto r = parse_or_usage(opts, argc, argv);
  const std::string tpath = required(r, "template");
  const std::string mpath = required(r, "messages");
  const std::string agp = r["add-generation-prompt"].as<std::string>();
  if (agp != "0" && agp != "1") throw UsageError("--add-generation-prompt = '" + agp + "': must be 0 or 1");
  ChatRenderOptions ro;
  ro.add_generation_prompt = agp == "1";
  if (r.count("bos-token")) ro.bos_token = r["bos-token"].as<std::string>();
  if (r.count("eos-token")) ro.eos_token = r["eos-token"].as<std::string>();
  if (r.count("date")) {
    try {
      ro.now = chat_date(r["date"].as<std::string>(), "--date");
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
  } else {
    const std::time_t t = std::time(nullptr);
    localtime_r(&t, &ro.now);
  }
  const ChatTemplate tmpl = load_chat_template(tpath, r["name"].as<std::string>());
  const nlohmann::ordered_json messages =
      parse_messages(read_input_file(mpath, kMaxTextInputBytes, "a messages file"), mpath, &ro.extra);
  const std::string out = tmpl.render(messages, ro);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace speclab::cli
