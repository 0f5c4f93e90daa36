// speclab info --model PATH [--tokenizer PATH] [--json]
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "base/error.h"
#include "formats/model_loader.h"
#include "tokenizers/tokenizer_loader.h"

namespace speclab::cli {

namespace {
const char* rope_name(RopeStyle s) { return s == RopeStyle::kInterleaved ? "interleaved" : "half-split"; }
const char* scaling_name(RopeScalingType t) {
  switch (t) {
    case RopeScalingType::kNone: return "none";
    case RopeScalingType::kLinear: return "linear";
    case RopeScalingType::kLlama3: return "llama3";
  }
  return "?";
}
}  // namespace

int cmd_info(int argc, char** argv) {
  cxxopts::Options opts("speclab info", "Describe a model file (llama2.c .bin, GGUF, Hugging Face directory)");
  opts.add_options()("model", "Model file or directory", cxxopts::value<std::string>())(
      "tokenizer", "Tokenizer file (optional)", cxxopts::value<std::string>())(
      "dtype", "Resident weight type to report (stored, or a type converted to at load as --dtype does)",
      cxxopts::value<std::string>()->default_value("stored"))("json", "Print JSON");
  auto r = parse_or_usage(opts, argc, argv);
  const std::string path = required(r, "model");
  const std::string dtype = r["dtype"].as<std::string>();
  if (const std::string problem = check_weight_dtype(dtype, "--dtype"); !problem.empty()) {
    throw UsageError(problem);
  }
  const auto stored = load_weights_shared(path);
  const auto resident = dtype == "stored" ? stored : load_weights_shared(path, WeightLoadOptions{dtype, 2});
  const LlamaWeights& w = *resident;
  const ModelInfo& m = w.info;
  nlohmann::json j;
  j["source"] = m.source;
  j["format"] = m.format;
  j["arch"] = m.arch;
  j["weight_dtype"] = m.weight_dtype;
  j["dim"] = m.dim;
  j["hidden_dim"] = m.hidden_dim;
  j["n_layers"] = m.n_layers;
  j["n_heads"] = m.n_heads;
  j["n_kv_heads"] = m.n_kv_heads;
  j["head_dim"] = m.head_dim;
  j["vocab_size"] = m.vocab_size;
  j["max_seq_len"] = m.max_seq_len;
  j["norm_eps"] = m.norm_eps;
  j["rope_theta"] = m.rope_theta;
  j["rope_style"] = rope_name(m.rope_style);
  j["rope_scaling"] = scaling_name(m.rope_scaling.type);
  j["tied_classifier"] = m.tied_classifier;
  j["qkv_bias"] = m.qkv_bias;
  j["bos_id"] = m.bos_id;
  j["eos_ids"] = m.eos_ids;
  j["n_params"] = m.n_params();
  j["stored_dtype"] = stored->resident_dtypes();
  j["stored_bytes"] = stored->n_bytes();
  j["resident_dtype"] = w.resident_dtypes();
  j["resident_bytes"] = w.n_bytes();
  std::int64_t mapped = 0;
  for (const auto& [name, mat] : w.matrices()) {
    if (mat->is_mapped()) mapped += static_cast<std::int64_t>(mat->n_bytes());
  }
  j["mapped_bytes"] = mapped;  // resident bytes read from the file's memory map (no copy)
  j["fp32_bytes"] = m.n_params() * 4;
  std::string tok_path;
  if (r.count("tokenizer")) tok_path = r["tokenizer"].as<std::string>();
  if (!tok_path.empty()) {
    j["tokenizer_vocab_size"] = load_tokenizer(tok_path)->vocab_size();
  } else if (m.format == "gguf" || m.format == "safetensors") {
    // An embedded tokenizer when the model has one; files without one (speclab synth-model's)
    // are still described.
    try {
      j["tokenizer_vocab_size"] = load_tokenizer(path)->vocab_size();
    } catch (const Error& e) {
      j["tokenizer"] = std::string("none: ") + e.what();
    }
  }
  if (r.count("json")) {
    fmt::print("{}\n", j.dump());
  } else {
    for (auto it = j.begin(); it != j.end(); ++it) fmt::print("{:<22} {}\n", it.key(), it.value().dump());
  }
  return 0;
}

}  // namespace speclab::cli
