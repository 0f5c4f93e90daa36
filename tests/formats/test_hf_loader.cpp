#include "formats/hf_loader.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "formats/hf_config.h"
#include "model/llama_model.h"
#include "formats/model_loader.h"
#include "base/rng.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/hf_writer.h"
#include "tests/testing/model_writers.h"
#include "tests/testing/models_dir.h"

namespace speclab {
namespace {

namespace fs = std::filesystem;
using testing::HfWriteOptions;
using testing::write_hf_directory;

template <typename F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected speclab::Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) {
      EXPECT_NE(msg.find(p), std::string::npos) << "message lacks '" << p << "': " << msg;
    }
  }
}

// --- config.json -------------------------------------------------------------------------------

TEST(HfConfig, SmolLM2RealConfig) {
  const std::string path = testing::model_path("tokenizers/smollm2-135m-config.json");
  SPECLAB_REQUIRE_MODEL(path);
  const HfConfig c = load_hf_config(path);
  const ModelInfo& m = c.info;
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(m.arch, "llama");
  EXPECT_EQ(m.source, path);
  EXPECT_EQ(m.format, "safetensors");
  EXPECT_EQ(m.dim, 576);
  EXPECT_EQ(m.hidden_dim, 1536);
  EXPECT_EQ(m.n_layers, 30);
  EXPECT_EQ(m.n_heads, 9);
  EXPECT_EQ(m.n_kv_heads, 3);
  EXPECT_EQ(m.head_dim, 64);
  EXPECT_EQ(m.vocab_size, 49152);
  EXPECT_FLOAT_EQ(m.norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(m.rope_theta, 100000.0f);
  EXPECT_EQ(m.rope_style, RopeStyle::kHalfSplit);
  EXPECT_EQ(m.rope_scaling.type, RopeScalingType::kNone);
  EXPECT_TRUE(m.tied_classifier);
  EXPECT_FALSE(m.qkv_bias);
  EXPECT_EQ(m.bos_id, 1);
  EXPECT_EQ(m.eos_ids, std::vector<Token>{2});
  EXPECT_EQ(c.max_position_embeddings, 8192);
  EXPECT_EQ(m.max_seq_len, kHfMaxSeqLenCap);  // 8192 capped
  EXPECT_EQ(load_hf_config(path, 100000).info.max_seq_len, 8192);
}

constexpr const char* kQwen2Config = R"({
  "architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "intermediate_size": 96,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
  "vocab_size": 300, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "max_position_embeddings": 32768, "sliding_window": 131072, "use_sliding_window": false,
  "tie_word_embeddings": true, "bos_token_id": null, "eos_token_id": [7, 9],
  "hidden_act": "silu", "rope_scaling": null, "torch_dtype": "bfloat16"})";

TEST(HfConfig, Qwen2HasBiasAndEosList) {
  const HfConfig c = parse_hf_config(kQwen2Config, "qwen/config.json", 1 << 20);
  EXPECT_EQ(c.architecture, "Qwen2ForCausalLM");
  EXPECT_EQ(c.info.arch, "qwen2");
  EXPECT_TRUE(c.info.qkv_bias);  // no attention_bias field: Qwen2 always has q/k/v biases
  EXPECT_EQ(c.info.bos_id, -1);
  EXPECT_EQ(c.info.eos_ids, (std::vector<Token>{7, 9}));
  EXPECT_EQ(c.info.head_dim, 16);
  EXPECT_EQ(c.info.n_kv_heads, 2);
  EXPECT_FLOAT_EQ(c.info.rope_theta, 1e6f);
  EXPECT_EQ(c.info.max_seq_len, 32768);  // sliding window disabled: not applied
}

std::string llama_config(const std::string& extra) {
  return R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 96,
    "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 300,
    "max_position_embeddings": 131072)" +
         (extra.empty() ? "" : ", " + extra) + "}";
}

TEST(HfConfig, Llama3RopeScaling) {
  const HfConfig c = parse_hf_config(
      llama_config(R"("rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "eos_token_id": [128001, 128008, 128009], "bos_token_id": 128000, "vocab_size": 128256)"),
      "l3/config.json");
  const RopeScaling& s = c.info.rope_scaling;
  EXPECT_EQ(s.type, RopeScalingType::kLlama3);
  EXPECT_FLOAT_EQ(s.factor, 8.0f);
  EXPECT_FLOAT_EQ(s.low_freq_factor, 1.0f);
  EXPECT_FLOAT_EQ(s.high_freq_factor, 4.0f);
  EXPECT_EQ(s.original_max_position, 8192);
  EXPECT_EQ(c.info.eos_ids, (std::vector<Token>{128001, 128008, 128009}));
  EXPECT_EQ(c.info.bos_id, 128000);
  EXPECT_EQ(c.info.vocab_size, 128256);  // later duplicate key wins
}

TEST(HfConfig, LinearRopeScalingDefaultsAndExplicitHeadDim) {
  const HfConfig c =
      parse_hf_config(llama_config(R"("rope_scaling": {"type": "linear", "factor": 2},
                                      "head_dim": 32, "attention_bias": true)"),
                      "lin/config.json");
  EXPECT_EQ(c.info.rope_scaling.type, RopeScalingType::kLinear);
  EXPECT_FLOAT_EQ(c.info.rope_scaling.factor, 2.0f);
  EXPECT_EQ(c.info.head_dim, 32);  // explicit, not hidden / heads = 16
  EXPECT_TRUE(c.info.qkv_bias);
  // HF LlamaConfig defaults for absent fields.
  EXPECT_EQ(c.info.n_kv_heads, 4);
  EXPECT_FLOAT_EQ(c.info.norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c.info.rope_theta, 10000.0f);
  EXPECT_FALSE(c.info.tied_classifier);
  EXPECT_EQ(c.info.bos_id, 1);
  EXPECT_EQ(c.info.eos_ids, std::vector<Token>{2});
  EXPECT_EQ(parse_hf_config(llama_config(R"("rope_scaling": {"rope_type": "default"})"), "d")
                .info.rope_scaling.type,
            RopeScalingType::kNone);
}

TEST(HfConfig, MistralSlidingWindowCapsContext) {
  std::string text = llama_config(R"("sliding_window": 1024)");
  text.replace(text.find("LlamaForCausalLM"), 16, "MistralForCausalLM");
  const HfConfig c = parse_hf_config(text, "mistral/config.json");
  EXPECT_EQ(c.info.arch, "mistral");
  EXPECT_EQ(c.info.max_seq_len, 1024);
  EXPECT_FALSE(c.info.qkv_bias);
}

TEST(HfConfig, BadConfigsNameFileFieldAndType) {
  const std::string f = "bad/config.json";
  auto parse = [&](const std::string& text) { return [=] { parse_hf_config(text, f); }; };
  expect_error(parse(R"({"architectures": ["GPT2LMHeadModel"], "hidden_size": 8})"),
               {f, "architectures", "GPT2LMHeadModel", "LlamaForCausalLM", "MistralForCausalLM",
                "Qwen2ForCausalLM"});
  expect_error(parse(R"({"hidden_size": 8})"), {f, "architectures", "missing"});
  expect_error(parse(llama_config(R"("hidden_size": "64")")),
               {f, "hidden_size", "\"64\"", "must be an integer", "found string"});
  expect_error(parse(llama_config(R"("num_attention_heads": 4.5)")),
               {f, "num_attention_heads", "4.5", "found float"});
  expect_error(parse(llama_config(R"("rms_norm_eps": "1e-5")")),
               {f, "rms_norm_eps", "must be a number", "found string"});
  expect_error(parse(llama_config(R"("tie_word_embeddings": 1)")),
               {f, "tie_word_embeddings", "must be a boolean", "found integer"});
  expect_error(parse(llama_config(R"("eos_token_id": "2")")),
               {f, "eos_token_id", "found string"});
  expect_error(parse(llama_config(R"("eos_token_id": [2, "x"])")),
               {f, "eos_token_id", "found array"});
  expect_error(parse(llama_config(R"("rope_scaling": {"rope_type": "yarn", "factor": 4})")),
               {f, "rope_scaling.rope_type = yarn", "unsupported", "llama3"});
  expect_error(parse(llama_config(R"("rope_scaling": {"rope_type": "linear", "factor": "2"})")),
               {f, "rope_scaling.factor", "found string"});
  expect_error(parse(llama_config(R"("rope_scaling": {"rope_type": "llama3", "factor": 8})")),
               {f, "rope_scaling.low_freq_factor", "missing"});
  expect_error(parse(llama_config(R"("rope_scaling": 3)")),
               {f, "rope_scaling", "found integer"});
  expect_error(parse(llama_config(R"("hidden_act": "gelu")")), {f, "hidden_act = gelu"});
  expect_error(parse(llama_config(R"("mlp_bias": true)")), {f, "mlp_bias"});
  expect_error(parse(llama_config(R"("num_key_value_heads": 3)")),
               {f, "n_heads = 4", "multiple of n_kv_heads = 3"});
  expect_error(parse(llama_config(R"("hidden_size": -64)")), {f, "hidden_size = -64"});
  expect_error(parse(llama_config(R"("hidden_size": 62)")),
               {f, "hidden_size = 62", "multiple of num_attention_heads"});
  expect_error(parse(llama_config(R"("eos_token_id": 300)")), {f, "eos id 300"});
  expect_error(parse(R"({"architectures": ["LlamaForCausalLM"],, })"), {f, "not valid JSON"});
  expect_error(parse("[1]"), {f, "must be an object"});
  expect_error([] { load_hf_config("/nonexistent/config.json"); },
               {"/nonexistent/config.json", "cannot open"});
}

// --- RoPE permutation --------------------------------------------------------------------------

// Reference rotary embedding of one head vector at position `pos` (theta 10000).
void rope_interleaved(std::vector<double>& x, int pos) {
  const int hd = static_cast<int>(x.size());
  for (int i = 0; i < hd / 2; ++i) {
    const double a = pos * std::pow(10000.0, -2.0 * i / hd);
    const double x0 = x[2 * i], x1 = x[2 * i + 1];
    x[2 * i] = x0 * std::cos(a) - x1 * std::sin(a);
    x[2 * i + 1] = x0 * std::sin(a) + x1 * std::cos(a);
  }
}

void rope_half_split(std::vector<double>& x, int pos) {
  const int hd = static_cast<int>(x.size()), half = hd / 2;
  for (int i = 0; i < half; ++i) {
    const double a = pos * std::pow(10000.0, -2.0 * i / hd);
    const double x0 = x[i], x1 = x[i + half];
    x[i] = x0 * std::cos(a) - x1 * std::sin(a);  // rotate_half: (-x2, x1)
    x[i + half] = x1 * std::cos(a) + x0 * std::sin(a);
  }
}

// Head `h` of W x (+ b).
std::vector<double> project_head(const std::vector<float>& w, const std::vector<float>& b,
                                 const std::vector<float>& x, int h, int hd) {
  const int cols = static_cast<int>(x.size());
  std::vector<double> out(hd);
  for (int r = 0; r < hd; ++r) {
    double s = b.empty() ? 0.0 : b[h * hd + r];
    for (int c = 0; c < cols; ++c) s += double(w[(h * hd + r) * cols + c]) * x[c];
    out[r] = s;
  }
  return out;
}

TEST(RopePermutation, HalfSplitOnPermutedEqualsInterleavedOnOriginal) {
  const int n_heads = 3, hd = 8, dim = 12;
  Rng rng(5);
  auto randv = [&](std::size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(rng.normal());
    return v;
  };
  const auto wq = randv(n_heads * hd * dim), wk = randv(n_heads * hd * dim);
  const auto bq = randv(n_heads * hd), bk = randv(n_heads * hd);
  const auto xq = randv(dim), xk = randv(dim);
  const auto wq_hs = permute_for_half_split(wq, n_heads, hd, dim);
  const auto wk_hs = permute_for_half_split(wk, n_heads, hd, dim);
  const auto bq_hs = permute_for_half_split(bq, n_heads, hd, 1);
  const auto bk_hs = permute_for_half_split(bk, n_heads, hd, 1);
  EXPECT_NE(wq_hs, wq);
  EXPECT_EQ(permute_for_interleaved(wq_hs, n_heads, hd, dim), wq);
  EXPECT_EQ(permute_for_interleaved(bk_hs, n_heads, hd, 1), bk);
  for (int h = 0; h < n_heads; ++h) {
    for (auto [pq, pk] : {std::pair{0, 0}, std::pair{7, 3}, std::pair{100, 41}}) {
      auto q0 = project_head(wq, bq, xq, h, hd), k0 = project_head(wk, bk, xk, h, hd);
      auto q1 = project_head(wq_hs, bq_hs, xq, h, hd), k1 = project_head(wk_hs, bk_hs, xk, h, hd);
      rope_interleaved(q0, pq);
      rope_interleaved(k0, pk);
      rope_half_split(q1, pq);
      rope_half_split(k1, pk);
      double s0 = 0, s1 = 0, mismatch = 0;
      for (int i = 0; i < hd; ++i) {
        s0 += q0[i] * k0[i];
        s1 += q1[i] * k1[i];
        mismatch += std::abs(q0[i] - q1[i]);
      }
      EXPECT_NEAR(s0, s1, 1e-9 * (1 + std::abs(s0))) << "head " << h << " pos " << pq;
      if (pq > 0) {
        EXPECT_GT(mismatch, 1e-3);  // the vectors differ; only the scores agree
      }
    }
  }
}

// --- directory loading -------------------------------------------------------------------------

class HfDirTest : public ::testing::Test {
 protected:
  std::string dir(const std::string& name) const { return tmp_.path(name); }
  testing::ScopedTempDir tmp_;
};

ModelInfo small_info(bool tied, bool bias) {
  ModelInfo m = synthetic_info(/*dim=*/32, /*hidden=*/48, /*layers=*/2, /*heads=*/4,
                               /*kv=*/2, /*vocab=*/64, /*seq=*/128);
  m.tied_classifier = tied;
  m.qkv_bias = bias;
  if (bias) m.arch = "qwen2";
  m.eos_ids = {2, 5};
  m.rope_theta = 500.0f;
  return m;
}

// Loaded HF weights (half-split) against the interleaved originals (or, with `unpermute` false,
// against other HF weights); tol = 0 means exact.
void expect_same_weights(const LlamaWeights& hf, const LlamaWeights& ref, double rel_tol,
                         bool unpermute = true) {
  const ModelInfo& m = ref.info;
  auto near = [&](const std::vector<float>& a, const std::vector<float>& b, const char* what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    if (rel_tol == 0) {
      EXPECT_EQ(a, b) << what;
      return;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
      ASSERT_LE(std::abs(a[i] - b[i]), rel_tol * std::abs(b[i]) + 1e-7) << what << "[" << i << "]";
    }
  };
  auto unq = [&](const std::vector<float>& x, int heads, std::int64_t cols) {
    return unpermute ? permute_for_interleaved(x, heads, m.head_dim, cols) : x;
  };
  auto f = [](const WeightMatrix& x) { return x.to_f32(); };
  near(f(hf.token_embedding), f(ref.token_embedding), "token_embedding");
  ASSERT_EQ(hf.layers.size(), ref.layers.size());
  for (std::size_t l = 0; l < ref.layers.size(); ++l) {
    const auto &A = hf.layers[l], &B = ref.layers[l];
    near(A.attn_norm, B.attn_norm, "attn_norm");
    near(unq(f(A.wq), m.n_heads, m.dim), f(B.wq), "wq");
    near(unq(f(A.wk), m.n_kv_heads, m.dim), f(B.wk), "wk");
    near(f(A.wv), f(B.wv), "wv");
    if (m.qkv_bias) {
      near(unq(A.bq, m.n_heads, 1), B.bq, "bq");
      near(unq(A.bk, m.n_kv_heads, 1), B.bk, "bk");
      near(A.bv, B.bv, "bv");
    }
    near(f(A.wo), f(B.wo), "wo");
    near(A.ffn_norm, B.ffn_norm, "ffn_norm");
    near(f(A.w1), f(B.w1), "w1");
    near(f(A.w2), f(B.w2), "w2");
    near(f(A.w3), f(B.w3), "w3");
  }
  near(hf.final_norm, ref.final_norm, "final_norm");
  near(f(hf.classifier), f(ref.classifier), "classifier");
}

TEST_F(HfDirTest, F32RoundTripSingleFile) {
  for (bool tied : {true, false}) {
    const LlamaWeights ref = random_llama_weights(small_info(tied, false), 11);
    const std::string d = dir(tied ? "tied" : "untied");
    write_hf_directory(ref, d);
    EXPECT_TRUE(is_hf_directory(d));
    const LlamaWeights hf = load_hf_directory(d);
    const ModelInfo& m = hf.info;
    EXPECT_EQ(m.source, d);
    EXPECT_EQ(m.format, "safetensors");
    EXPECT_EQ(m.weight_dtype, "f32");
    EXPECT_EQ(m.arch, "llama");
    EXPECT_EQ(m.rope_style, RopeStyle::kHalfSplit);
    EXPECT_EQ(m.tied_classifier, tied);
    EXPECT_FALSE(m.qkv_bias);
    EXPECT_EQ(m.dim, 32);
    EXPECT_EQ(m.hidden_dim, 48);
    EXPECT_EQ(m.n_layers, 2);
    EXPECT_EQ(m.n_heads, 4);
    EXPECT_EQ(m.n_kv_heads, 2);
    EXPECT_EQ(m.head_dim, 8);
    EXPECT_EQ(m.vocab_size, 64);
    EXPECT_EQ(m.max_seq_len, 128);
    EXPECT_EQ(m.norm_eps, ref.info.norm_eps);
    EXPECT_EQ(m.rope_theta, 500.0f);
    EXPECT_EQ(m.bos_id, 1);
    EXPECT_EQ(m.eos_ids, (std::vector<Token>{2, 5}));
    expect_same_weights(hf, ref, 0.0);
  }
}

TEST_F(HfDirTest, Qwen2BiasRoundTrip) {
  const LlamaWeights ref = random_llama_weights(small_info(true, true), 12);
  write_hf_directory(ref, dir("qwen"));
  const LlamaWeights hf = load_hf_directory(dir("qwen"));
  EXPECT_EQ(hf.info.arch, "qwen2");
  EXPECT_TRUE(hf.info.qkv_bias);
  expect_same_weights(hf, ref, 0.0);
}

TEST_F(HfDirTest, ShardedEqualsSingleForEveryDtype) {
  const LlamaWeights ref = random_llama_weights(small_info(false, false), 13);
  const std::pair<SafetensorsDtype, double> cases[] = {{SafetensorsDtype::kF32, 0.0},
                                                       {SafetensorsDtype::kF16, 0x1p-11},
                                                       {SafetensorsDtype::kBF16, 0x1p-8}};
  for (const auto& [dtype, tol] : cases) {
    const std::string name(safetensors_dtype_name(dtype));
    write_hf_directory(ref, dir("single_" + name), {dtype, 1});
    write_hf_directory(ref, dir("sharded_" + name), {dtype, 3});
    ASSERT_TRUE(fs::exists(dir("sharded_" + name) + "/model-00003-of-00003.safetensors"));
    ASSERT_FALSE(fs::exists(dir("sharded_" + name) + "/model.safetensors"));
    const LlamaWeights a = load_hf_directory(dir("single_" + name));
    const LlamaWeights b = load_hf_directory(dir("sharded_" + name));
    EXPECT_EQ(a.info.weight_dtype, b.info.weight_dtype);
    EXPECT_EQ(a.info.weight_dtype, name == "F32" ? "f32" : name == "F16" ? "f16" : "bf16");
    expect_same_weights(b, a, 0.0, /*unpermute=*/false);  // sharding changes nothing
    // a is half-split already; compare against the originals within the dtype's rounding.
    expect_same_weights(a, ref, tol);
  }
}

TEST_F(HfDirTest, MixedDtypesAreReportedAndInvFreqIgnored) {
  const LlamaWeights ref = random_llama_weights(small_info(true, false), 14);
  const std::string d = dir("mixed");
  write_hf_directory(ref, d, {SafetensorsDtype::kF32, 2});
  // Rewrite shard 1 in BF16 with an extra rotary buffer, as old HF checkpoints carried.
  auto all = testing::hf_tensors(ref);
  std::vector<testing::HfTensor> first(all.begin(), all.begin() + all.size() / 2);
  first.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", {4}, {1, 2, 3, 4}});
  testing::write_safetensors(d + "/model-00001-of-00002.safetensors", first,
                             SafetensorsDtype::kBF16);
  const LlamaWeights hf = load_hf_directory(d);  // inv_freq is not in weight_map: never seen
  EXPECT_EQ(hf.info.weight_dtype, "bf16+f32");
  // Same buffer in a single file: present, but ignored.
  all.push_back({"model.layers.1.self_attn.rotary_emb.inv_freq", {4}, {1, 2, 3, 4}});
  fs::create_directories(dir("inv"));
  testing::write_text_file(dir("inv") + "/config.json", testing::hf_config_json(ref.info));
  testing::write_safetensors(dir("inv") + "/model.safetensors", all, SafetensorsDtype::kF32);
  expect_same_weights(load_hf_directory(dir("inv")), ref, 0.0);
}

TEST_F(HfDirTest, MaxSeqLenIsCapped) {
  ModelInfo info = small_info(true, false);
  info.max_seq_len = 100000;
  write_hf_directory(random_llama_weights(info, 15), dir("long"));
  EXPECT_EQ(load_hf_directory(dir("long")).info.max_seq_len, kHfMaxSeqLenCap);
  EXPECT_EQ(load_hf_directory(dir("long"), 200000).info.max_seq_len, 100000);
}

// Writes `w` as an HF dir but with the tensor list edited by `edit`.
template <typename Edit>
std::string write_edited(const std::string& d, const LlamaWeights& w, Edit edit) {
  fs::create_directories(d);
  testing::write_text_file(d + "/config.json", testing::hf_config_json(w.info));
  auto tensors = testing::hf_tensors(w);
  edit(tensors);
  testing::write_safetensors(d + "/model.safetensors", tensors, SafetensorsDtype::kF32);
  return d + "/model.safetensors";
}

TEST_F(HfDirTest, MissingOrMisshapenTensorsAreNamed) {
  const LlamaWeights w = random_llama_weights(small_info(true, false), 16);
  const std::string name = "model.layers.1.mlp.down_proj.weight";
  write_edited(dir("missing"), w, [&](auto& ts) {
    std::erase_if(ts, [&](const auto& t) { return t.name == name; });
  });
  expect_error([&] { load_hf_directory(dir("missing")); }, {"tensor " + name, "missing"});

  const std::string f = write_edited(dir("shape"), w, [&](auto& ts) {
    for (auto& t : ts) {
      if (t.name == "model.layers.0.self_attn.k_proj.weight") t.shape = {8, 64};  // 16 x 32
    }
  });
  expect_error([&] { load_hf_directory(dir("shape")); },
               {f, "tensor model.layers.0.self_attn.k_proj.weight", "shape [8, 64]",
                "expected [16, 32]"});

  // Config and checkpoint disagree about the vocabulary.
  ModelInfo bigger = w.info;
  bigger.vocab_size = 80;
  const std::string g = write_edited(dir("vocab"), w, [](auto&) {});
  testing::write_text_file(dir("vocab") + "/config.json", testing::hf_config_json(bigger));
  expect_error([&] { load_hf_directory(dir("vocab")); },
               {g, "model.embed_tokens.weight", "shape [64, 32]", "expected [80, 32]",
                "vocab_size 80"});
}

TEST_F(HfDirTest, UnexpectedTensorsAreRejected) {
  const LlamaWeights w = random_llama_weights(small_info(true, false), 17);
  const std::string f = write_edited(dir("bias"), w, [](auto& ts) {
    ts.push_back({"model.layers.0.self_attn.q_proj.bias", {32}, std::vector<float>(32)});
  });
  expect_error([&] { load_hf_directory(dir("bias")); },
               {f, "model.layers.0.self_attn.q_proj.bias", "attention_bias = false"});
  const std::string g = write_edited(dir("layer"), w, [](auto& ts) {
    ts.push_back({"model.layers.2.input_layernorm.weight", {32}, std::vector<float>(32)});
  });
  expect_error([&] { load_hf_directory(dir("layer")); },
               {g, "model.layers.2.input_layernorm.weight", "layer 2", "num_hidden_layers = 2"});
  const std::string h = write_edited(dir("odd"), w, [](auto& ts) {
    ts.push_back({"model.layers.0.mlp.gate_proj.bias", {48}, std::vector<float>(48)});
  });
  expect_error([&] { load_hf_directory(dir("odd")); }, {h, "model.layers.0.mlp.gate_proj.bias"});
  // Qwen2 config without the biases in the checkpoint.
  const LlamaWeights q = random_llama_weights(small_info(true, true), 18);
  write_edited(dir("nobias"), q, [](auto& ts) {
    std::erase_if(ts, [](const auto& t) { return t.name.ends_with(".bias"); });
  });
  expect_error([&] { load_hf_directory(dir("nobias")); },
               {"model.layers.0.self_attn.q_proj.bias", "missing"});
}

TEST_F(HfDirTest, BadDirectoriesAndIndexes) {
  expect_error([&] { load_hf_directory(dir("absent")); }, {dir("absent"), "not a directory"});
  fs::create_directories(dir("empty"));
  EXPECT_FALSE(is_hf_directory(dir("empty")));
  expect_error([&] { load_hf_directory(dir("empty")); }, {dir("empty"), "config.json is missing"});

  const LlamaWeights w = random_llama_weights(small_info(true, false), 19);
  const std::string d = dir("noweights");
  fs::create_directories(d);
  testing::write_text_file(d + "/config.json", testing::hf_config_json(w.info));
  expect_error([&] { load_hf_directory(d); }, {d, "model.safetensors"});

  // Sharded directory whose index is then damaged in several ways.
  const std::string s = dir("sharded");
  write_hf_directory(w, s, {SafetensorsDtype::kF32, 2});
  const std::string index_path = s + "/model.safetensors.index.json";
  auto write_index = [&](const nlohmann::json& j) { testing::write_text_file(index_path, j.dump()); };
  nlohmann::json good;
  {
    std::ifstream in(index_path);
    in >> good;
  }
  nlohmann::json j = good;
  j["weight_map"]["model.norm.weight"] = "model-00009-of-00009.safetensors";
  write_index(j);
  expect_error([&] { load_hf_directory(s); }, {"model-00009-of-00009.safetensors", "cannot open"});

  j = good;
  j["weight_map"]["model.norm.weight"] = "../escape.safetensors";
  write_index(j);
  expect_error([&] { load_hf_directory(s); },
               {index_path, "weight_map.model.norm.weight", "inside the model directory"});

  j = good;
  j["weight_map"]["model.norm.weight"] = "model-00001-of-00002.safetensors";  // wrong shard
  write_index(j);
  expect_error([&] { load_hf_directory(s); },
               {index_path, "model.norm.weight", "that shard has no tensor"});

  j = good;
  j["weight_map"].erase("model.embed_tokens.weight");
  write_index(j);
  expect_error([&] { load_hf_directory(s); },
               {index_path, "tensor model.embed_tokens.weight is missing"});

  j = good;
  j["weight_map"]["model.norm.weight"] = 3;
  write_index(j);
  expect_error([&] { load_hf_directory(s); }, {index_path, "weight_map.model.norm.weight = 3"});

  testing::write_text_file(index_path, "{\"weight_map\": ");
  expect_error([&] { load_hf_directory(s); }, {index_path, "not valid JSON"});
  write_index(good);
  EXPECT_NO_THROW(load_hf_directory(s));

  // A corrupt shard surfaces the safetensors error with the shard's path.
  testing::write_text_file(s + "/model-00002-of-00002.safetensors", "xx");
  expect_error([&] { load_hf_directory(s); }, {"model-00002-of-00002.safetensors", "2 bytes"});
}

// --- cross-format logits -----------------------------------------------------------------------

// Logits of every position of `tokens` run as one causal batch: [n][vocab].
std::vector<std::vector<float>> run_logits(const LlamaWeights& w, const std::vector<Token>& tokens) {
  LlamaModel model(std::make_shared<const LlamaWeights>(w), 2);
  std::vector<std::int32_t> pos(tokens.size());
  for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<std::int32_t>(i);
  ForwardBatch b;
  b.tokens = tokens;
  b.positions = pos;
  ForwardOutput out;
  model.forward(b, out);
  std::vector<std::vector<float>> rows;
  for (std::int32_t r = 0; r < out.n_rows; ++r) rows.emplace_back(out.row(r).begin(), out.row(r).end());
  return rows;
}

// max |a - b| over all logits, relative to max |b| (logits of these models are O(1..10)).
double max_rel_diff(const std::vector<std::vector<float>>& a,
                    const std::vector<std::vector<float>>& b) {
  SPECLAB_ASSERT(a.size() == b.size());
  double diff = 0, scale = 0;
  for (std::size_t t = 0; t < a.size(); ++t) {
    SPECLAB_ASSERT(a[t].size() == b[t].size());
    for (std::size_t i = 0; i < a[t].size(); ++i) {
      diff = std::max(diff, double(std::abs(a[t][i] - b[t][i])));
      scale = std::max(scale, double(std::abs(b[t][i])));
    }
  }
  return diff / std::max(scale, 1e-6);
}

std::vector<Token> some_tokens(int n, int vocab, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Token> t(n);
  for (auto& x : t) x = static_cast<Token>(rng.next_u64() % static_cast<std::uint64_t>(vocab));
  return t;
}

std::string dtype_tag(SafetensorsDtype d) { return std::string(safetensors_dtype_name(d)); }

TEST_F(HfDirTest, LogitsAgreeAcrossHfLlama2cAndGguf) {
  // GQA, untied classifier; norm_eps / rope_theta at llama2.c's fixed values.
  ModelInfo info = synthetic_info(/*dim=*/48, /*hidden=*/80, /*layers=*/3, /*heads=*/6, /*kv=*/2,
                                  /*vocab=*/96, /*seq=*/64);
  info.tied_classifier = false;
  const LlamaWeights w = random_llama_weights(info, 21);
  const auto tokens = some_tokens(24, info.vocab_size, 3);

  testing::write_llama2c(w, dir("m.bin"), 1);
  testing::write_gguf(w, dir("m_f32.gguf"), testing::GgufTensorType::kF32);
  const auto ref = run_logits(load_weights(dir("m.bin")), tokens);
  const auto gguf = run_logits(load_weights(dir("m_f32.gguf")), tokens);
  EXPECT_LT(max_rel_diff(gguf, ref), 1e-5);

  // Relative logit error allowed per dtype: fp32 reorders sums only; F16 / BF16 round every
  // weight by up to 2^-11 / 2^-8 relative, which moves logits by a few times that.
  const std::pair<SafetensorsDtype, double> cases[] = {{SafetensorsDtype::kF32, 1e-5},
                                                       {SafetensorsDtype::kF16, 8 * 0x1p-11},
                                                       {SafetensorsDtype::kBF16, 8 * 0x1p-8}};
  for (const auto& [dtype, tol] : cases) {
    for (int shards : {1, 4}) {
      SCOPED_TRACE(dtype_tag(dtype) + " shards=" + std::to_string(shards));
      const std::string d = dir("hf_" + dtype_tag(dtype) + "_" + std::to_string(shards));
      write_hf_directory(w, d, {dtype, shards});
      const LlamaWeights hf = load_weights(d);  // directory dispatch in formats/model_loader
      EXPECT_EQ(hf.info.rope_style, RopeStyle::kHalfSplit);
      const auto logits = run_logits(hf, tokens);
      const double err = max_rel_diff(logits, ref);
      EXPECT_LT(err, tol);
      if (dtype != SafetensorsDtype::kF32) {
        EXPECT_GT(err, 0.0);  // rounding really happened
        // Same rounding of matrices in GGUF (norms stay F32 there): closer still.
        const std::string g = dir("m_" + dtype_tag(dtype) + ".gguf");
        testing::write_gguf(w, g, dtype == SafetensorsDtype::kF16 ? testing::GgufTensorType::kF16
                                                                   : testing::GgufTensorType::kBF16);
        EXPECT_LT(max_rel_diff(logits, run_logits(load_weights(g), tokens)), tol);
      }
    }
  }
}

TEST_F(HfDirTest, WithoutThePermutationLogitsDiffer) {
  // Guards the test above: loading HF q/k rows as if they were interleaved must break agreement.
  const LlamaWeights w = random_llama_weights(
      synthetic_info(32, 48, 2, 4, 2, 64, 32), 22);
  write_hf_directory(w, dir("p"));
  LlamaWeights hf = load_hf_directory(dir("p"));
  const auto tokens = some_tokens(12, 64, 4);
  const auto ref = run_logits(w, tokens);
  EXPECT_LT(max_rel_diff(run_logits(hf, tokens), ref), 1e-5);
  hf.info.rope_style = RopeStyle::kInterleaved;
  EXPECT_GT(max_rel_diff(run_logits(hf, tokens), ref), 1e-3);
}

TEST_F(HfDirTest, Qwen2BiasAndRopeScalingLogitsMatchInMemoryOriginal) {
  // No llama2.c / GGUF writer covers biases or rope scaling: compare with the in-memory
  // (interleaved) weights run directly.
  for (auto scaling : {RopeScalingType::kNone, RopeScalingType::kLinear, RopeScalingType::kLlama3}) {
    SCOPED_TRACE(static_cast<int>(scaling));
    ModelInfo info = small_info(/*tied=*/true, /*bias=*/scaling == RopeScalingType::kNone);
    info.rope_scaling.type = scaling;
    info.rope_scaling.factor = 4.0f;
    info.rope_scaling.original_max_position = 16;
    info.rope_theta = 10000.0f;
    const LlamaWeights w = random_llama_weights(info, 23);
    const std::string d = dir(fmt::format("scaling{}", static_cast<int>(scaling)));
    write_hf_directory(w, d, {SafetensorsDtype::kF32, 2});
    const LlamaWeights hf = load_hf_directory(d);
    EXPECT_EQ(hf.info.rope_scaling.type, scaling);
    const auto tokens = some_tokens(40, info.vocab_size, 5);
    EXPECT_LT(max_rel_diff(run_logits(hf, tokens), run_logits(w, tokens)), 1e-5);
  }
}

TEST_F(HfDirTest, SmolLM2ShapedBf16FixtureMatchesOriginal) {
  // The real SmolLM2-135M config (9 query / 3 kv heads, theta 1e5, tied, bf16 weights) scaled
  // down: 2 layers, head_dim 8, small vocab.
  const std::string path = testing::model_path("tokenizers/smollm2-135m-config.json");
  SPECLAB_REQUIRE_MODEL(path);
  ModelInfo info = load_hf_config(path).info;
  info.n_layers = 2;
  info.head_dim = 8;
  info.dim = info.n_heads * info.head_dim;  // 72
  info.hidden_dim = 2 * info.dim;
  info.vocab_size = 128;
  info.max_seq_len = 64;
  info.rope_style = RopeStyle::kInterleaved;  // the in-memory original, as llama2.c would hold it
  const LlamaWeights w = random_llama_weights(info, 24);
  write_hf_directory(w, dir("smol"), {SafetensorsDtype::kBF16, 1});
  const LlamaWeights hf = load_hf_directory(dir("smol"));
  EXPECT_EQ(hf.info.n_heads, 9);
  EXPECT_EQ(hf.info.n_kv_heads, 3);
  EXPECT_EQ(hf.info.rope_theta, 100000.0f);
  EXPECT_TRUE(hf.info.tied_classifier);
  EXPECT_EQ(hf.info.weight_dtype, "bf16");
  const auto tokens = some_tokens(30, info.vocab_size, 6);
  EXPECT_LT(max_rel_diff(run_logits(hf, tokens), run_logits(w, tokens)), 8 * 0x1p-8);
}

TEST(HfConfig, NonPositiveCapIsAnError) {
  expect_error([] { parse_hf_config(llama_config(""), "cap/config.json", 0); },
               {"cap/config.json", "max_seq_len cap = 0"});
}

}  // namespace
}  // namespace speclab
