#include "heads/eagle_checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

#include <fmt/ranges.h>

#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "heads/head_net.h"

namespace speclab {

namespace fs = std::filesystem;

namespace {

constexpr const char* kLayouts =
    "an EAGLE head directory holds eagle.json and eagle.safetensors (speclab) or config.json and "
    "model.safetensors (published EAGLE-1/2)";

bool exists_quietly(const fs::path& p) {
  std::error_code ec;  // an unreadable name counts as absent
  return fs::exists(p, ec) && !ec;
}

// The first pickle checkpoint in `dir` (pytorch_model.bin first, then any *.bin / *.pt / *.pth,
// by name), or "" when there is none.
std::string pickle_file(const std::string& dir) {
  const fs::path preferred = fs::path(dir) / "pytorch_model.bin";
  if (exists_quietly(preferred)) return preferred.string();
  std::vector<std::string> found;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string ext = it->path().extension().string();
    if (ext == ".bin" || ext == ".pt" || ext == ".pth") found.push_back(it->path().string());
  }
  std::sort(found.begin(), found.end());
  return found.empty() ? std::string() : found.front();
}

std::string scaling_text(const RopeScaling& s) {
  switch (s.type) {
    case RopeScalingType::kNone: return "none";
    case RopeScalingType::kLinear: return fmt::format("linear (factor {})", s.factor);
    case RopeScalingType::kLlama3:
      return fmt::format("llama3 (factor {}, low_freq_factor {}, high_freq_factor {}, "
                         "original_max_position_embeddings {})",
                         s.factor, s.low_freq_factor, s.high_freq_factor, s.original_max_position);
  }
  return "?";
}

bool same_scaling(const RopeScaling& a, const RopeScaling& b) {
  if (a.type != b.type) return false;
  if (a.type == RopeScalingType::kNone) return true;
  if (a.factor != b.factor) return false;
  return a.type != RopeScalingType::kLlama3 ||
         (a.low_freq_factor == b.low_freq_factor && a.high_freq_factor == b.high_freq_factor &&
          a.original_max_position == b.original_max_position);
}

}  // namespace

PublishedEagleConfig parse_published_eagle_config(std::string_view json_text, const std::string& source) {
  nlohmann::json root = parse_json(json_text, source);
  if (!root.is_object()) fail("{}: config is a JSON {}: must be an object", source, root.type_name());
  // EAGLE-3 heads (fused low/mid/high features, their own vocabulary) are another architecture.
  if (root.contains("draft_vocab_size")) {
    fail("{}: draft_vocab_size = {}: an EAGLE-3 config: only EAGLE-1/2 heads are read", source,
         json_excerpt(root["draft_vocab_size"]));
  }
  if (root.contains("architectures") && root["architectures"].is_array()) {
    for (const auto& a : root["architectures"]) {
      if (a.is_string() && a.get<std::string>().find("Eagle3") != std::string::npos) {
        fail("{}: architectures = {}: an EAGLE-3 config: only EAGLE-1/2 heads are read", source,
             json_excerpt(root["architectures"]));
      }
    }
  }
  bool fc_bias = true;  // EAGLE's ea_model.py: bias = config["bias"], True when absent
  if (root.contains("bias")) {
    const auto& b = root["bias"];
    if (!b.is_boolean()) fail("{}: bias = {}: must be true or false (the fc bias)", source, json_excerpt(b));
    fc_bias = b.get<bool>();
  }
  // EAGLE configs are LlamaConfigs; one without "architectures" is read as LlamaForCausalLM.
  if (!root.contains("architectures")) root["architectures"] = nlohmann::json::array({"LlamaForCausalLM"});
  const HfConfig hf = parse_hf_config(root.dump(), source);
  const ModelInfo& m = hf.info;
  if (m.n_layers != 1) {
    fail("{}: num_hidden_layers = {}: must be 1 (an EAGLE-1/2 head is one decoder layer)", source, m.n_layers);
  }
  PublishedEagleConfig out;
  out.config = EagleConfig::shaped_like(m);
  EagleConfig& c = out.config;
  c.rope_style = RopeStyle::kHalfSplit;  // Hugging Face q/k layout (rotate_half)
  c.fc_bias = fc_bias;
  c.input_norm = false;  // EAGLE-1/2 layer 0: no input norm
  c.qkv_bias = false;    // from the tensors at load time
  c.training = nlohmann::json{{"source", "published EAGLE-1/2 checkpoint"}, {"config", source}};
  c.validate(source);
  out.rope_scaling = m.rope_scaling;
  return out;
}

void check_published_eagle_config(const PublishedEagleConfig& pc, const ModelInfo& t, const std::string& source) {
  const EagleConfig& c = pc.config;
  auto same = [&](const char* field, std::int64_t v, const char* target_field, std::int64_t want) {
    if (v != want) {
      fail("{}: {} = {}: must equal the target's {} = {} ({}): a published EAGLE head works only with the model "
           "it was trained for (checked by shapes: published checkpoints carry no fingerprint)",
           source, field, v, target_field, want, t.source);
    }
  };
  same("hidden_size", c.dim, "dim", t.dim);
  same("vocab_size", c.vocab, "vocab", t.vocab_size);
  same("num_attention_heads", c.n_heads, "n_heads", t.n_heads);
  same("num_key_value_heads", c.n_kv_heads, "n_kv_heads", t.n_kv_heads);
  same("head_dim", c.head_dim, "head_dim", t.head_dim);
  if (!same_scaling(pc.rope_scaling, t.rope_scaling)) {
    fail("{}: rope_scaling = {}: must equal the target's rope scaling = {} ({}): the head rotates with the "
         "target's scaling",
         source, scaling_text(pc.rope_scaling), scaling_text(t.rope_scaling), t.source);
  }
}

EagleWeights load_published_eagle_head(const std::string& dir, const LlamaWeights& target) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("{}: EAGLE head directory not found ({})", quote_untrusted(dir), kLayouts);
  const std::string cpath = (fs::path(dir) / "config.json").string();
  const std::string spath = (fs::path(dir) / "model.safetensors").string();
  if (!exists_quietly(cpath)) {
    fail("{}: cannot open (a published EAGLE head directory holds config.json and model.safetensors)", cpath);
  }
  if (!exists_quietly(spath)) {
    if (const std::string pk = pickle_file(dir); !pk.empty()) {
      fail("{}: a PyTorch pickle checkpoint: speclab does not read pickle files (loading one can run code); "
           "convert it to safetensors as {} (e.g. safetensors.torch.save_file(torch.load(...), ...))",
           pk, spath);
    }
    if (exists_quietly(fs::path(dir) / "model.safetensors.index.json")) {
      fail("{}: missing: sharded safetensors (model.safetensors.index.json) are not read for an EAGLE head; "
           "merge the shards into model.safetensors",
           spath);
    }
    fail("{}: cannot open (a published EAGLE head directory holds config.json and model.safetensors)", spath);
  }
  PublishedEagleConfig pc =
      parse_published_eagle_config(read_input_file(cpath, kMaxTextInputBytes, "a config.json"), cpath);
  check_published_eagle_config(pc, target.info, cpath);
  EagleWeights w;
  w.config = pc.config;
  EagleConfig& c = w.config;
  const SafetensorsFile st(spath);
  // q/k/v biases: as the file holds them (all three or none).
  const char* kBias[] = {"layers.0.self_attn.q_proj.bias", "layers.0.self_attn.k_proj.bias",
                         "layers.0.self_attn.v_proj.bias"};
  c.qkv_bias = std::any_of(std::begin(kBias), std::end(kBias), [&](const char* n) { return st.find(n) != nullptr; });
  // Every tensor must be one the head reads or one of the two ignored ones.
  const std::vector<std::string> names = eagle_tensor_names(c);
  for (const SafetensorsTensor& t : st.tensors()) {
    if (std::find(names.begin(), names.end(), t.name) != names.end()) continue;
    std::vector<std::int64_t> want;
    if (t.name == "embed_tokens.weight") {
      want = {c.vocab, c.dim};
    } else if (t.name == "layers.0.input_layernorm.weight") {
      want = {c.dim};
    } else if (t.name == "fc.bias") {
      fail("{}: tensor fc.bias present but {} has bias = false", spath, cpath);
    } else {
      fail("{}: tensor {}: not part of an EAGLE-1/2 head (expected {}, and optionally embed_tokens.weight, "
           "layers.0.input_layernorm.weight)",
           spath, quote_untrusted(t.name), fmt::join(names, ", "));
    }
    if (t.shape != want) {
      fail("{}: tensor {} has shape [{}]: expected [{}] ({}; the tensor is ignored but must fit)", spath, t.name,
           fmt::join(t.shape, ", "), fmt::join(want, ", "), cpath);
    }
  }
  read_eagle_tensors(st, w, "config.json");
  c.model_fingerprint = model_fingerprint(target);  // checked by shapes above; see the header
  w.validate(dir);
  return w;
}

EagleConfig read_eagle_dir_config(const std::string& dir, const ModelInfo& target) {
  if (exists_quietly(fs::path(dir) / "eagle.json")) return read_eagle_config(dir);
  const std::string cpath = (fs::path(dir) / "config.json").string();
  if (exists_quietly(cpath)) {
    PublishedEagleConfig pc =
        parse_published_eagle_config(read_input_file(cpath, kMaxTextInputBytes, "a config.json"), cpath);
    check_published_eagle_config(pc, target, cpath);
    return pc.config;
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("{}: EAGLE head directory not found ({})", quote_untrusted(dir), kLayouts);
  fail("{}: no eagle.json or config.json ({})", quote_untrusted(dir), kLayouts);
}

EagleWeights load_eagle_dir(const std::string& dir, const LlamaWeights& target) {
  if (exists_quietly(fs::path(dir) / "eagle.json")) return load_eagle_head(dir, target);
  if (exists_quietly(fs::path(dir) / "config.json")) return load_published_eagle_head(dir, target);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail("{}: EAGLE head directory not found ({})", quote_untrusted(dir), kLayouts);
  fail("{}: no eagle.json or config.json ({})", quote_untrusted(dir), kLayouts);
}

std::string missing_eagle_files(const std::string& dir) {
  const fs::path d(dir);
  if (exists_quietly(d / "eagle.json")) {
    return exists_quietly(d / "eagle.safetensors") ? "" : "eagle.safetensors missing";
  }
  if (exists_quietly(d / "config.json")) {
    if (exists_quietly(d / "model.safetensors") || !pickle_file(dir).empty()) return "";
    return "model.safetensors missing";
  }
  return "eagle.json or config.json missing";
}

}  // namespace speclab
