// speclab tokenize --tokenizer PATH (--text STR [--bos] | --ids 1,2,3)
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "base/error.h"
#include "tokenizers/tokenizer_loader.h"

namespace speclab::cli {

int cmd_tokenize(int argc, char** argv) {
  cxxopts::Options opts("speclab tokenize", "Text to token ids, or ids to text, as JSON");
  opts.add_options()("tokenizer", "tokenizer.bin, tokenizer.json, GGUF model or HF directory",
                     cxxopts::value<std::string>())(
      "text", "Text to encode", cxxopts::value<std::string>())(
      "ids", "Comma-separated ids to decode", cxxopts::value<std::string>())(
      "bos", "Prepend BOS when encoding");
  auto r = parse_or_usage(opts, argc, argv);
  const std::string path = required(r, "tokenizer");
  if (r.count("text") == r.count("ids")) throw UsageError("give exactly one of --text and --ids");
  const auto tok = load_tokenizer(path);
  nlohmann::json j;
  if (r.count("text")) {
    j["ids"] = tok->encode(r["text"].as<std::string>(), r.count("bos") > 0);
  } else {
    const auto ids = parse_int_list(r["ids"].as<std::string>(), "ids");
    for (Token t : ids) {
      if (t < 0 || t >= tok->vocab_size()) {
        fail("--ids: token {}: must be in [0, vocab_size = {})", t, tok->vocab_size());
      }
    }
    j["text"] = tok->decode(ids);
  }
  fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return 0;
}

}  // namespace speclab::cli
