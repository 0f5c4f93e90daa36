#include "app/cli.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "formats/model_loader.h"
#include "tokenizers/tokenizer_loader.h"

namespace speclab::cli {

cxxopts::ParseResult parse_or_usage(cxxopts::Options& opts, int argc, char** argv,
                                    const std::string& help_epilog) {
  opts.add_options()("h,help", "Print this help");
  try {
    auto r = opts.parse(argc, argv);
    if (r.count("help")) {
      std::fputs(opts.help().c_str(), stdout);
      if (!help_epilog.empty()) std::fputs(("\n" + help_epilog).c_str(), stdout);
      std::exit(0);
    }
    if (!r.unmatched().empty()) {
      throw UsageError(fmt::format("unexpected argument '{}' (see --help)", r.unmatched()[0]));
    }
    return r;
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError(e.what());
  }
}

std::string required(const cxxopts::ParseResult& r, const std::string& flag) {
  if (!r.count(flag)) throw UsageError(fmt::format("--{} is required (see --help)", flag));
  return r[flag].as<std::string>();
}

std::unique_ptr<Tokenizer> load_model_tokenizer(const cxxopts::ParseResult& r, const std::string& model_path,
                                                const ModelInfo& info) {
  auto tok = load_tokenizer(resolve_tokenizer_path(
      model_path, r.count("tokenizer") ? r["tokenizer"].as<std::string>() : "", info.vocab_size));
  if (tok->vocab_size() != info.vocab_size) {
    fail("tokenizer vocab_size = {}: must equal the model's vocab_size = {} ({})", tok->vocab_size(),
         info.vocab_size, model_path);
  }
  return tok;
}

std::string resolve_tokenizer_path(const std::string& model_path, const std::string& flag,
                                   std::int32_t vocab_size) {
  namespace fs = std::filesystem;
  if (!flag.empty()) return flag;
  std::error_code ec;
  if (fs::is_directory(model_path, ec)) return model_path;
  if (model_path.size() > 5 && model_path.substr(model_path.size() - 5) == ".gguf") return model_path;
  const fs::path dir = fs::path(model_path).parent_path();
  const fs::path tried[] = {dir / fmt::format("tok{}.bin", vocab_size), dir / "tokenizer.bin"};
  for (const auto& p : tried) {
    if (fs::exists(p, ec)) return p.string();
  }
  fail("{}: no tokenizer: give --tokenizer PATH (looked for {} and {})", model_path,
       tried[0].string(), tried[1].string());
}

std::vector<std::int32_t> parse_int_list(const std::string& text, const std::string& flag) {
  std::vector<std::int32_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      const long v = std::stol(item, &used);
      if (used != item.size() || v < INT32_MIN || v > INT32_MAX) throw std::invalid_argument("");
      out.push_back(static_cast<std::int32_t>(v));
    } catch (const std::exception&) {
      throw UsageError(fmt::format("--{} = '{}': '{}' is not an integer", flag, text, item));
    }
  }
  if (out.empty()) throw UsageError(fmt::format("--{}: empty list", flag));
  return out;
}

std::vector<double> parse_double_list(const std::string& text, const std::string& flag) {
  std::vector<double> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      const double v = std::stod(item, &used);
      if (used != item.size()) throw std::invalid_argument("");
      out.push_back(v);
    } catch (const std::exception&) {
      throw UsageError(fmt::format("--{} = '{}': '{}' is not a number", flag, text, item));
    }
  }
  if (out.empty()) throw UsageError(fmt::format("--{}: empty list", flag));
  return out;
}

// "a,b:x=1,y=2,c" -> {"a", "b:x=1,y=2", "c"}: a piece with '=' before any ':' continues the
// previous drafter's parameters; commas inside brackets do not split.
std::vector<std::string> split_drafters(const std::string& text) {
  std::vector<std::string> pieces;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) {
      pieces.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  pieces.push_back(cur);
  std::vector<std::string> out;
  for (auto& p : pieces) {
    const auto eq = p.find('='), colon = p.find(':');
    if (!out.empty() && eq != std::string::npos && (colon == std::string::npos || colon > eq)) {
      out.back() += "," + p;
    } else {
      if (p.empty()) throw UsageError(fmt::format("--drafters = '{}': empty drafter name", text));
      out.push_back(p);
    }
  }
  return out;
}


void check_dtype_flags(const cxxopts::ParseResult& r) {
  for (const char* flag : {"dtype", "draft-dtype"}) {
    const std::string problem = check_weight_dtype(r[flag].as<std::string>(), std::string("--") + flag);
    if (!problem.empty()) throw UsageError(problem);
  }
}

KvCacheType kv_dtype_flag(const cxxopts::ParseResult& r) {
  const std::string text = r["kv-dtype"].as<std::string>();
  const std::optional<KvCacheType> kv = kv_cache_type_from_name(text);
  if (!kv) throw UsageError(fmt::format("--kv-dtype = {}: unknown KV cache type (f32, f16)", text));
  return *kv;
}

std::string cpu_model_name() {
  std::ifstream cpu("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpu, line)) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      std::string v = line.substr(line.find(':') + 1);
      const auto a = v.find_first_not_of(" \t"), b = v.find_last_not_of(" \t\r");
      return a == std::string::npos ? std::string() : v.substr(a, b - a + 1);
    }
  }
  return "";
}

}  // namespace speclab::cli
