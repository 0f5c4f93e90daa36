#include "tokenizers/tokenizer_loader.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "tokenizers/bpe_tokenizer.h"
#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"
#include "formats/gguf_container.h"
#include "tokenizers/hf_tokenizer.h"
#include "tokenizers/llama2c_tokenizer.h"

namespace speclab {

namespace {

// BOS/EOS ids from a Hugging Face config.json (an int, a list whose first entry is used, or
// null). Missing file or fields keep the guesses from tokenizer.json.
HfSpecialIds read_config_special_ids(const std::filesystem::path& config_path) {
  HfSpecialIds ids;
  std::error_code ec;
  if (!std::filesystem::exists(config_path, ec)) return ids;
  const std::string where = config_path.string();
  const nlohmann::json j = parse_json(read_input_file(where, kMaxTextInputBytes, "a config.json"), where);
  auto read = [&](const char* field, Token& out) {
    if (!j.is_object() || !j.contains(field)) return;
    const nlohmann::json& v = j[field];
    if (v.is_number_integer()) {
      out = json_integer<Token>(v, where, field, 0);
    } else if (v.is_array() && !v.empty() && v[0].is_number_integer()) {
      out = json_integer<Token>(v[0], where, field, 0);
    } else if (!v.is_null()) {
      fail("{}: {} = {}: must be an integer, a list of integers or null", config_path.string(),
           field, json_excerpt(v));
    }
  };
  read("bos_token_id", ids.bos_id);
  read("eos_token_id", ids.eos_id);
  return ids;
}

Token optional_id(const GgufFile& gguf, std::string_view key) {
  if (!gguf.has(key)) return -1;
  const std::uint64_t id = gguf.get_uint(key);
  if (id > static_cast<std::uint64_t>(INT32_MAX)) {
    fail("{}: {} = {}: must fit in int32", gguf.path(), key, id);
  }
  return static_cast<Token>(id);
}

std::vector<std::string> gguf_split_patterns(const GgufFile& gguf) {
  const std::string pre =
      gguf.has("tokenizer.ggml.pre") ? gguf.get_string("tokenizer.ggml.pre") : "default";
  if (pre == "default" || pre == "gpt2" || pre == "gpt-2") return {std::string(kGpt2SplitPattern)};
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") {
    return {std::string(kLlama3SplitPattern)};
  }
  if (pre == "qwen2") return {std::string(kQwen2SplitPattern)};
  // SmolLM's tokenizer.json: Digits(individual_digits) then ByteLevel(use_regex).
  if (pre == "smollm") return {"\\p{N}", std::string(kGpt2SplitPattern)};
  fail("{}: tokenizer.ggml.pre = {}: unsupported pre-tokenizer (supported: default, gpt2, "
       "llama-bpe, llama3, qwen2, smollm)",
       gguf.path(), pre);
}

}  // namespace

std::unique_ptr<Tokenizer> load_gguf_tokenizer(const GgufFile& gguf) {
  const std::string model = gguf.get_string("tokenizer.ggml.model");
  std::vector<std::string> tokens = gguf.get_string_array("tokenizer.ggml.tokens");
  const std::size_t n = tokens.size();
  std::vector<std::int32_t> types;
  if (gguf.has("tokenizer.ggml.token_type")) {
    types = gguf.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != n) {
      fail("{}: tokenizer.ggml.token_type size = {}: must equal the token count {}", gguf.path(),
           types.size(), n);
    }
  }
  const Token bos = optional_id(gguf, "tokenizer.ggml.bos_token_id");
  const Token eos = optional_id(gguf, "tokenizer.ggml.eos_token_id");
  if (model == "llama") {
    SpmVocab vocab;
    vocab.pieces = std::move(tokens);
    vocab.scores = gguf.has("tokenizer.ggml.scores") ? gguf.get_float_array("tokenizer.ggml.scores")
                                                     : std::vector<float>(n, 0.0f);
    if (vocab.scores.size() != n) {
      fail("{}: tokenizer.ggml.scores size = {}: must equal the token count {}", gguf.path(),
           vocab.scores.size(), n);
    }
    vocab.types = std::move(types);
    vocab.bos_id = bos;
    vocab.eos_id = eos;
    vocab.unk_id = optional_id(gguf, "tokenizer.ggml.unknown_token_id");
    if (gguf.has("tokenizer.ggml.add_space_prefix")) {
      vocab.add_dummy_prefix = gguf.get_uint("tokenizer.ggml.add_space_prefix") != 0;
    }
    return std::make_unique<SpmTokenizer>(std::move(vocab), gguf.path());
  }
  if (model == "gpt2") {
    ByteLevelBpeTokenizer::Config config;
    config.pieces = std::move(tokens);
    const std::vector<std::string> merges = gguf.get_string_array("tokenizer.ggml.merges");
    config.merges.reserve(merges.size());
    for (std::size_t r = 0; r < merges.size(); ++r) {
      const std::size_t sp = merges[r].find(' ');
      if (sp == std::string::npos || merges[r].find(' ', sp + 1) != std::string::npos) {
        fail("{}: tokenizer.ggml.merges[{}] = '{}': must be two pieces separated by one space",
             gguf.path(), r, merges[r]);
      }
      config.merges.emplace_back(merges[r].substr(0, sp), merges[r].substr(sp + 1));
    }
    config.special.assign(n, false);
    for (std::size_t i = 0; i < types.size(); ++i) {
      config.special[i] = types[i] == static_cast<std::int32_t>(SpmTokenType::kControl);
    }
    config.split_patterns = gguf_split_patterns(gguf);
    config.bos_id = bos;
    config.eos_id = eos;
    return std::make_unique<ByteLevelBpeTokenizer>(std::move(config), gguf.path());
  }
  fail("{}: tokenizer.ggml.model = {}: unsupported (supported: llama, gpt2)", gguf.path(), model);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    const fs::path json = dir / "tokenizer.json";
    if (!fs::exists(json, ec)) fail("{}: model directory has no tokenizer.json", path);
    return load_hf_tokenizer(json.string(), read_config_special_ids(dir / "config.json"));
  }
  // Sniff the first bytes (regular files only: a FIFO or /dev/zero is refused here).
  char head[64] = {};
  std::size_t n = 0;
  {
    std::uint64_t size = 0;
    const int fd = open_regular_file(path, size);
    const ssize_t got = ::read(fd, head, sizeof(head));
    ::close(fd);
    if (got < 0) fail("{}: cannot read tokenizer file", path);
    n = static_cast<std::size_t>(got);
  }
  if (n >= 4 && std::string_view(head, 4) == "GGUF") {
    return load_gguf_tokenizer(GgufFile(path));
  }
  for (std::size_t i = 0; i < n; ++i) {
    const char c = head[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    if (c == '{') return load_hf_tokenizer(path);
    break;
  }
  return load_llama2c_tokenizer(path);
}

}  // namespace speclab
