// Published EAGLE-1/2 checkpoints (heads/eagle_checkpoint.h): a directory in the published layout
// (config.json + model.safetensors, written here for a small random target, in F32, F16 and BF16)
// loads to a head whose rows and logits equal those of the same weights in speclab's own layout
// (bit for bit in F32; F16 / BF16 against the rounded weights); ignored tensors are accepted;
// either layout loads through load_eagle_dir and the `eagle` drafter; every error names the file
// and the field or tensor (missing config.json, missing tensor, wrong shape, another target's
// shape, pickle-only directories, bad config fields, unknown and non-float dtypes, stray tensors).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/half.h"
#include "base/rng.h"
#include "drafters/registry.h"
#include "formats/safetensors.h"
#include "heads/eagle_checkpoint.h"
#include "heads/eagle_head.h"
#include "heads/head_net.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/heads_test_util.h"

namespace speclab {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

// A GQA target laid out like a Hugging Face Llama (half-split RoPE): dim 32, 4 heads / 2 KV heads
// (head_dim 8), FFN 64, vocab 60.
std::shared_ptr<const LlamaWeights> hf_like_target(std::int32_t dim = 32, std::uint64_t seed = 21) {
  ModelInfo info = synthetic_info(dim, 2 * dim, 2, 4, 2, 60, 512);
  info.tied_classifier = false;
  info.rope_style = RopeStyle::kHalfSplit;
  info.rope_theta = 500.0f;
  return std::make_shared<const LlamaWeights>(random_llama_weights(info, seed));
}

// One tensor of a hand-written safetensors file: values as floats, stored as `dtype`
// ("F32", "F16", "BF16"; any other string: the raw fp32 bits, 4 bytes per element).
struct OutTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> data;
  std::string dtype = "F32";
};

// The safetensors format by hand (huggingface/safetensors: u64 little-endian header length, JSON
// header with dtype / shape / data_offsets, the data section), so that the test controls dtypes.
void write_safetensors_by_hand(const std::string& path, const std::vector<OutTensor>& ts) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::string data;
  for (const OutTensor& t : ts) {
    const std::size_t begin = data.size();
    for (const float v : t.data) {
      if (t.dtype == "F16" || t.dtype == "BF16") {
        const std::uint16_t h = t.dtype == "F16" ? f32_to_f16(v) : f32_to_bf16(v);
        data.push_back(static_cast<char>(h & 0xff));
        data.push_back(static_cast<char>(h >> 8));
      } else {
        char b[4];
        std::memcpy(b, &v, 4);
        data.append(b, 4);
      }
    }
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  const std::uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((len >> (8 * i)) & 0xff));
  f << text << data;
}

float round_to(const std::string& dtype, float v) {
  if (dtype == "F16") return f16_to_f32(f32_to_f16(v));
  if (dtype == "BF16") return bf16_to_f32(f32_to_bf16(v));
  return v;
}

// The head's tensors (published names) as fp32, from speclab's own file.
std::vector<OutTensor> head_tensors(const EagleWeights& w, const TempDir& tmp) {
  const std::string dir = tmp.sub("speclab-copy");
  save_eagle_head(w, dir);
  const SafetensorsFile st(dir + "/eagle.safetensors");
  std::vector<OutTensor> out;
  for (const std::string& name : eagle_tensor_names(w.config)) {
    const SafetensorsTensor* t = st.find(name);
    out.push_back({name, t->shape, st.read_f32(*t)});
  }
  fs::remove_all(dir);
  return out;
}

// config.json as the EAGLE repositories publish it: the target's LlamaConfig with one layer.
nlohmann::json published_config(const ModelInfo& m, bool bias = true) {
  return {{"architectures", {"LlamaForCausalLM"}},
          {"bos_token_id", 1},
          {"eos_token_id", 2},
          {"hidden_act", "silu"},
          {"hidden_size", m.dim},
          {"intermediate_size", m.hidden_dim},
          {"max_position_embeddings", m.max_seq_len},
          {"model_type", "llama"},
          {"num_attention_heads", m.n_heads},
          {"num_hidden_layers", 1},
          {"num_key_value_heads", m.n_kv_heads},
          {"rms_norm_eps", m.norm_eps},
          {"rope_theta", m.rope_theta},
          {"rope_scaling", nullptr},
          {"tie_word_embeddings", false},
          {"torch_dtype", "float16"},
          {"vocab_size", m.vocab_size},
          {"bias", bias}};
}

void write_json(const std::string& path, const nlohmann::json& j) { std::ofstream(path, std::ios::trunc) << j.dump(2); }

// DIR/config.json + DIR/model.safetensors for head w: tensors stored as `dtype` unless they name
// another dtype than F32 themselves.
std::string write_published(const std::string& dir, const EagleWeights& w, const ModelInfo& target,
                            const std::vector<OutTensor>& tensors, const std::string& dtype) {
  fs::create_directories(dir);
  write_json(dir + "/config.json", published_config(target, w.config.fc_bias));
  std::vector<OutTensor> ts = tensors;
  for (OutTensor& t : ts) {
    if (t.dtype == "F32") t.dtype = dtype;
  }
  write_safetensors_by_hand(dir + "/model.safetensors", ts);
  return dir;
}

// Rows and logits of a head over a fixed input.
struct HeadRun {
  std::vector<float> rows, logits;
};
HeadRun run_head(const EagleWeights& w, const std::shared_ptr<const LlamaWeights>& target) {
  EagleHead head(std::make_shared<const EagleWeights>(w), target, 1);
  const std::int32_t n = 7, d = w.config.dim, vocab = w.config.vocab;
  Rng rng(5);
  std::vector<float> feats(static_cast<std::size_t>(n) * d);
  for (float& x : feats) x = static_cast<float>(rng.normal());
  std::vector<Token> toks;
  std::vector<std::int32_t> pos;
  for (std::int32_t t = 0; t < n; ++t) {
    toks.push_back((11 * t + 2) % vocab);
    pos.push_back(t);
  }
  HeadRun r;
  r.rows.resize(feats.size());
  r.logits.resize(static_cast<std::size_t>(n) * vocab);
  head.append(feats, toks, pos, r.rows);
  head.logits(r.rows, n, r.logits);
  return r;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double scale = 1e-30, err = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, static_cast<double>(std::abs(b[i])));
    err = std::max(err, static_cast<double>(std::abs(a[i] - b[i])));
  }
  return err / scale;
}

std::string error_of(const std::function<void()>& f) { return testing::error_of(f); }

void expect_contains(const std::string& msg, std::initializer_list<std::string> parts) {
  for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

TEST(EagleCheckpoint, F32LoadsBitIdenticalToSpeclabLayout) {
  const auto target = hf_like_target();
  TempDir tmp;
  for (const bool bias : {true, false}) {
    EagleWeights w = random_eagle_weights(*target, 3);
    if (!bias) {
      w.config.fc_bias = false;
      w.fc_bias.clear();
    }
    const std::string mine = tmp.sub(bias ? "mine" : "mine-nobias");
    save_eagle_head(w, mine);
    const EagleWeights ref = load_eagle_head(mine, *target);
    const std::string pub = write_published(tmp.sub(bias ? "pub" : "pub-nobias"), w, target->info,
                                            head_tensors(w, tmp), "F32");
    const EagleWeights got = load_published_eagle_head(pub, *target);
    EXPECT_EQ(got.config.rope_style, RopeStyle::kHalfSplit);
    EXPECT_EQ(got.config.fc_bias, bias);
    EXPECT_FALSE(got.config.input_norm);
    EXPECT_FALSE(got.config.qkv_bias);
    EXPECT_EQ(got.config.model_fingerprint, model_fingerprint(*target));
    nlohmann::json a = to_json(got.config), b = to_json(ref.config);
    a.erase("training");
    b.erase("training");
    EXPECT_EQ(a, b);
    EXPECT_EQ(got.fc.dtype(), DType::kF32);
    const HeadRun x = run_head(got, target), y = run_head(ref, target);
    EXPECT_EQ(std::memcmp(x.rows.data(), y.rows.data(), x.rows.size() * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(x.logits.data(), y.logits.data(), x.logits.size() * sizeof(float)), 0);
    // Either layout through the one entry point.
    const HeadRun z = run_head(load_eagle_dir(pub, *target), target), u = run_head(load_eagle_dir(mine, *target), target);
    EXPECT_EQ(z.rows, x.rows);
    EXPECT_EQ(u.rows, y.rows);
    EXPECT_EQ(read_eagle_dir_config(pub, target->info).dim, 32);
    // A published head saved in speclab's layout loads back for this target.
    save_eagle_head(got, tmp.sub("resaved"));
    EXPECT_EQ(run_head(load_eagle_head(tmp.sub("resaved"), *target), target).rows, x.rows);
  }
}

TEST(EagleCheckpoint, HalfPrecisionStaysInItsTypeAndMatchesTheRoundedWeights) {
  const auto target = hf_like_target();
  TempDir tmp;
  const EagleWeights w = random_eagle_weights(*target, 4);
  const std::vector<OutTensor> tensors = head_tensors(w, tmp);
  for (const std::string dtype : {"F16", "BF16"}) {
    const std::string pub = write_published(tmp.sub("pub-" + dtype), w, target->info, tensors, dtype);
    const EagleWeights got = load_published_eagle_head(pub, *target);
    const DType want = dtype == "F16" ? DType::kF16 : DType::kBF16;
    for (const WeightMatrix* m : {&got.fc, &got.layer.wq, &got.layer.wk, &got.layer.wv, &got.layer.wo,
                                  &got.layer.w1, &got.layer.w2, &got.layer.w3}) {
      EXPECT_EQ(m->dtype(), want) << dtype;
    }
    // The reference: the rounded weights in speclab's layout (F32).
    std::vector<OutTensor> rounded = tensors;
    for (OutTensor& t : rounded) {
      for (float& v : t.data) v = round_to(dtype, v);
    }
    EXPECT_EQ(got.fc.to_f32(), rounded[0].data);
    const std::string mine = tmp.sub("mine-" + dtype);
    save_eagle_head(w, mine);
    std::vector<SafetensorsOut> out;
    for (const OutTensor& t : rounded) out.push_back({t.name, t.shape, t.data});
    write_safetensors_f32(mine + "/eagle.safetensors", out);
    const EagleWeights ref = load_eagle_head(mine, *target);
    EXPECT_EQ(got.fc_bias, ref.fc_bias);
    EXPECT_EQ(got.layer.ffn_norm, ref.layer.ffn_norm);
    const HeadRun x = run_head(got, target), y = run_head(ref, target);
    EXPECT_LT(max_rel_diff(x.rows, y.rows), 1e-5) << dtype;
    EXPECT_LT(max_rel_diff(x.logits, y.logits), 1e-5) << dtype;
  }
}

TEST(EagleCheckpoint, IgnoredAndOptionalTensors) {
  const auto target = hf_like_target();
  TempDir tmp;
  const EagleWeights w = random_eagle_weights(*target, 5);
  std::vector<OutTensor> ts = head_tensors(w, tmp);
  const HeadRun plain = run_head(load_published_eagle_head(write_published(tmp.sub("plain"), w, target->info, ts, "F32"),
                                                           *target),
                                 target);
  // embed_tokens.weight and layers.0.input_layernorm.weight are accepted and ignored.
  std::vector<OutTensor> extra = ts;
  extra.push_back({"embed_tokens.weight", {60, 32}, std::vector<float>(60 * 32, 0.25f)});
  extra.push_back({"layers.0.input_layernorm.weight", {32}, std::vector<float>(32, 3.0f)});
  const EagleWeights e = load_published_eagle_head(write_published(tmp.sub("extra"), w, target->info, extra, "F32"), *target);
  EXPECT_FALSE(e.config.input_norm);
  EXPECT_EQ(run_head(e, target).rows, plain.rows);
  // q/k/v biases in the file are used.
  std::vector<OutTensor> biased = ts;
  biased.push_back({"layers.0.self_attn.q_proj.bias", {32}, std::vector<float>(32, 0.5f)});
  biased.push_back({"layers.0.self_attn.k_proj.bias", {16}, std::vector<float>(16, 0.5f)});
  biased.push_back({"layers.0.self_attn.v_proj.bias", {16}, std::vector<float>(16, 0.5f)});
  const EagleWeights b = load_published_eagle_head(write_published(tmp.sub("qkv"), w, target->info, biased, "F32"), *target);
  EXPECT_TRUE(b.config.qkv_bias);
  EXPECT_EQ(b.layer.bq, std::vector<float>(32, 0.5f));
  EXPECT_NE(run_head(b, target).rows, plain.rows);
  // Only some of them: the others are missing.
  biased.pop_back();
  const std::string part = write_published(tmp.sub("qk"), w, target->info, biased, "F32");
  expect_contains(error_of([&] { load_published_eagle_head(part, *target); }),
                  {part + "/model.safetensors", "tensor layers.0.self_attn.v_proj.bias missing", "config.json"});
}

TEST(EagleCheckpoint, DrafterAcceptsEitherLayout) {
  const auto target = hf_like_target();
  TempDir tmp;
  const EagleWeights w = random_eagle_weights(*target, 6);
  const std::string pub = write_published(tmp.sub("pub"), w, target->info, head_tensors(w, tmp), "F16");
  save_eagle_head(w, tmp.sub("mine"));
  const DrafterEnv env = testing::heads_env(target);
  for (const std::string& dir : {pub, tmp.sub("mine")}) {
    const std::string spec = "eagle:heads=" + dir;
    EXPECT_NO_THROW(validate_drafter_spec(spec, env)) << dir;
    EXPECT_NE(make_drafter(spec, env), nullptr) << dir;
  }
  // A published head for a target of another width: refused by the spec check already.
  const auto other = hf_like_target(16, 3);
  const std::string msg = error_of([&] { validate_drafter_spec("eagle:heads=" + pub, testing::heads_env(other)); });
  expect_contains(msg, {"heads = " + pub, pub + "/config.json", "hidden_size = 32", "target's dim = 16"});
}

TEST(EagleCheckpoint, ErrorsNameTheFileAndTheRule) {
  const auto target = hf_like_target();
  TempDir tmp;
  const EagleWeights w = random_eagle_weights(*target, 7);
  const std::vector<OutTensor> ts = head_tensors(w, tmp);
  int n = 0;
  auto fresh = [&](const std::vector<OutTensor>& tensors) {
    return write_published(tmp.sub("d" + std::to_string(n++)), w, target->info, tensors, "F32");
  };
  auto load = [&](const std::string& p) { return error_of([&] { load_published_eagle_head(p, *target); }); };
  auto edit_tensors = [&](const std::function<void(std::vector<OutTensor>&)>& f) {
    std::vector<OutTensor> c = ts;
    f(c);
    return fresh(c);
  };
  auto edit_config = [&](const std::function<void(nlohmann::json&)>& f) {
    const std::string p = fresh(ts);
    nlohmann::json j = published_config(target->info);
    f(j);
    write_json(p + "/config.json", j);
    return p;
  };

  // Missing directory, missing config.json, neither layout.
  expect_contains(load(tmp.sub("nope")), {tmp.sub("nope"), "not found"});
  {
    const std::string p = fresh(ts);
    fs::remove(p + "/config.json");
    expect_contains(load(p), {p + "/config.json", "cannot open"});
    expect_contains(error_of([&] { load_eagle_dir(p, *target); }), {p, "no eagle.json or config.json"});
    EXPECT_EQ(missing_eagle_files(p), "eagle.json or config.json missing");
  }
  // Pickle-only directories: named, with the conversion advice.
  {
    const std::string p = fresh(ts);
    fs::remove(p + "/model.safetensors");
    EXPECT_EQ(missing_eagle_files(p), "model.safetensors missing");
    std::ofstream(p + "/ea_head.pt") << "\x80\x02pickle";
    expect_contains(load(p), {p + "/ea_head.pt", "pickle", "convert it to safetensors", p + "/model.safetensors"});
    std::ofstream(p + "/pytorch_model.bin") << "PK\x03\x04";
    expect_contains(error_of([&] { load_eagle_dir(p, *target); }),
                    {p + "/pytorch_model.bin", "does not read pickle files", "model.safetensors"});
    EXPECT_EQ(missing_eagle_files(p), "") << "a pickle checkpoint is present: loading reports it";
  }
  // A missing tensor, a wrong shape, a stray tensor, fc.bias against bias = false.
  {
    const std::string p = edit_tensors([](std::vector<OutTensor>& c) {
      std::erase_if(c, [](const OutTensor& t) { return t.name == "layers.0.mlp.up_proj.weight"; });
    });
    expect_contains(load(p), {p + "/model.safetensors", "tensor layers.0.mlp.up_proj.weight missing"});
  }
  {
    const std::string p = edit_tensors([](std::vector<OutTensor>& c) {
      c[0].shape = {32, 32};
      c[0].data.resize(32 * 32);
    });
    expect_contains(load(p), {p + "/model.safetensors", "tensor fc.weight has shape [32, 32]", "expected [32, 64]",
                              "config.json"});
  }
  {
    const std::string p = edit_tensors([](std::vector<OutTensor>& c) {
      c.push_back({"layers.1.mlp.up_proj.weight", {2}, {1.0f, 2.0f}});
    });
    expect_contains(load(p), {p + "/model.safetensors", "layers.1.mlp.up_proj.weight", "not part of an EAGLE-1/2 head"});
  }
  {
    const std::string p = edit_tensors([](std::vector<OutTensor>& c) {
      c.push_back({"embed_tokens.weight", {61, 32}, std::vector<float>(61 * 32)});
    });
    expect_contains(load(p), {"tensor embed_tokens.weight has shape [61, 32]", "expected [60, 32]"});
  }
  {
    const std::string p = edit_config([](nlohmann::json& j) { j["bias"] = false; });
    expect_contains(load(p), {p + "/model.safetensors", "fc.bias present", "bias = false"});
  }
  // dtypes: unknown to safetensors, and known but not a float type.
  {
    const std::string p = edit_tensors([](std::vector<OutTensor>& c) { c[1].dtype = "X32"; });
    expect_contains(load(p), {p + "/model.safetensors", "X32", "unknown safetensors dtype"});
  }
  {
    const std::string p = edit_tensors([](std::vector<OutTensor>& c) { c[2].dtype = "I32"; });
    expect_contains(load(p), {p + "/model.safetensors", "tensor " + ts[2].name + " has dtype I32",
                              "must be F32, F16 or BF16"});
  }
  // Another target's shape: the config is checked against the target first.
  {
    const std::string p = fresh(ts);
    const auto other = hf_like_target(16, 3);
    const std::string msg = error_of([&] { load_published_eagle_head(p, *other); });
    expect_contains(msg, {p + "/config.json", "hidden_size = 32", "must equal the target's dim = 16",
                          "no fingerprint"});
  }
  {
    const std::string p = edit_config([](nlohmann::json& j) { j["num_key_value_heads"] = 4; });
    expect_contains(load(p), {p + "/config.json", "num_key_value_heads = 4", "n_kv_heads = 2"});
  }
  {
    const std::string p = edit_config([](nlohmann::json& j) {
      j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
    });
    expect_contains(load(p), {p + "/config.json", "rope_scaling = linear (factor 2)", "none"});
  }
  // Bad config fields.
  struct Case {
    std::function<void(nlohmann::json&)> edit;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {[](nlohmann::json& j) { j["num_attention_heads"] = "four"; }, {"num_attention_heads", "\"four\"", "integer"}},
      {[](nlohmann::json& j) { j.erase("hidden_size"); }, {"hidden_size", "missing"}},
      {[](nlohmann::json& j) { j["bias"] = 1; }, {"bias = 1", "true or false"}},
      {[](nlohmann::json& j) { j["num_hidden_layers"] = 2; }, {"num_hidden_layers = 2", "must be 1"}},
      {[](nlohmann::json& j) { j["hidden_act"] = "gelu"; }, {"hidden_act = gelu", "unsupported"}},
      {[](nlohmann::json& j) { j["rms_norm_eps"] = -1.0; }, {"rms_norm_eps", "positive"}},
      {[](nlohmann::json& j) { j["draft_vocab_size"] = 32; }, {"draft_vocab_size", "EAGLE-3"}},
      {[](nlohmann::json& j) { j["architectures"] = {"LlamaForCausalLMEagle3"}; }, {"architectures", "EAGLE-3"}},
      {[](nlohmann::json& j) { j["architectures"] = {"GPT2LMHeadModel"}; }, {"architectures", "unsupported"}},
  };
  for (const Case& c : cases) {
    const std::string p = edit_config(c.edit);
    const std::string msg = load(p);
    EXPECT_NE(msg.find(p + "/config.json"), std::string::npos) << msg;
    for (const std::string& part : c.parts) EXPECT_NE(msg.find(part), std::string::npos) << part << " not in: " << msg;
  }
  {
    const std::string p = fresh(ts);
    std::ofstream(p + "/config.json", std::ios::trunc) << "{\"hidden_size\": ";
    expect_contains(load(p), {p + "/config.json", "not valid JSON"});
  }
  // Absent optional fields take the LlamaConfig / EAGLE defaults.
  {
    const std::string p = edit_config([](nlohmann::json& j) {
      j.erase("architectures");
      j.erase("num_key_value_heads");
      j.erase("bias");
      j.erase("rope_theta");
    });
    const PublishedEagleConfig pc = parse_published_eagle_config(
        nlohmann::json::parse(std::ifstream(p + "/config.json")).dump(), p + "/config.json");
    EXPECT_EQ(pc.config.n_kv_heads, 4);
    EXPECT_TRUE(pc.config.fc_bias);
    EXPECT_EQ(pc.config.rope_theta, 10000.0f);
    expect_contains(load(p), {"num_key_value_heads = 4"});
  }
}

}  // namespace
}  // namespace speclab
