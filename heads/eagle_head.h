// The EAGLE draft head (Li et al. 2024, "EAGLE: Speculative Sampling Requires Rethinking
// Feature Uncertainty"; drafting trees: "EAGLE-2: Faster Inference of Language Models with
// Dynamic Draft Trees"): a one-layer autoregressive transformer over the target's features.
// Inference only (training is a later phase). Published EAGLE-1/2 checkpoints (config.json +
// model.safetensors) load through heads/eagle_checkpoint.h.
//
// Architecture (as the published EAGLE-1/2 code, SafeAILab/EAGLE eagle/model/cnets1.py):
//   row i reads the target's feature f_i of token i and the token x_{i+1} that follows it;
//   u_i  = [ e(x_{i+1}), f_i ]                     (2 dim; e = the target's frozen token table;
//                                                   the embedding comes FIRST, as EAGLE's
//                                                   torch.cat((inputs_embeds, hidden_states)))
//   h_i  = fc u_i + b                              (fc [dim, 2 dim], bias optional)
//   one Llama decoder layer on h:
//     a_i  = h_i + Wo Attn(RoPE(Wq n(h_i)), RoPE(Wk n(h_j)), Wv n(h_j))   over the rows j the
//            head has cached plus the visible rows of the batch (its own KV cache);
//            n = input RMSNorm, ABSENT in EAGLE-1/2 (their layer 0 has no input_layernorm;
//            EagleConfig::input_norm turns it on for later variants)
//   f̂_{i+1} = a_i + W2 (SiLU(W1 m_i) * W3 m_i),  m_i = RMSNorm(a_i; post_attention_layernorm)
//   logits of x_{i+2} = C f̂_{i+1}, C = the target's frozen classifier, with NO norm: EAGLE
//   regresses the final-normed feature and applies the target's lm_head directly.
// Feature convention: f_i is the target's final-normed hidden state of token i (what its
// classifier reads; EAGLE's ea_model passes base_model.model(...)[0], Hugging Face LlamaModel's
// normed output), i.e. LanguageModel's kFinalNormedHidden. The head's own predictions f̂ are
// fed back as features when it drafts several tokens ahead.
// Fused features (EagleConfig::feature_layers, the EAGLE-3 input; Li et al. 2025): a true
// row's f_i is instead fuse [h^(l1)_i, h^(l2)_i, ...], a learned projection of the target's
// hidden states at several layers (EAGLE-3: low, mid and high layers 2, L/2, L-3); drafted
// rows still read f̂, and the rest of the layer is EAGLE-1's (EAGLE-3's wider attention input,
// own norm and reduced-vocabulary classifier are not modelled here).
// RoPE: the head's rope_theta and rope_style (its config), the target's rope scaling.
//
// Files (save_eagle_head / load_eagle_head): DIR/eagle.safetensors with the published EAGLE
// tensor names — fc.weight [dim, 2 dim], fc.bias [dim], layers.0.self_attn.{q,k,v,o}_proj.weight
// (q/k/v biases with qkv_bias), layers.0.post_attention_layernorm.weight,
// layers.0.input_layernorm.weight (input_norm only), layers.0.mlp.{gate,up,down}_proj.weight —
// and DIR/eagle.json (EagleConfig, incl. the target's model_fingerprint). Published checkpoints
// also carry embed_tokens.weight (a frozen copy of the target's table); speclab reads the
// target's own table instead.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/safetensors.h"
#include "model/llama_weights.h"
#include "ops/matmul.h"
#include "base/types.h"

namespace speclab {

struct EagleConfig {
  std::int32_t dim = 0;         // = the target's width (features, embeddings, classifier)
  std::int32_t hidden_dim = 0;  // SwiGLU inner width
  std::int32_t n_heads = 0;
  std::int32_t n_kv_heads = 0;  // grouped-query attention: n_heads % n_kv_heads == 0
  std::int32_t head_dim = 0;    // even
  std::int32_t vocab = 0;       // = the target's vocabulary
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeStyle rope_style = RopeStyle::kInterleaved;
  bool fc_bias = true;      // EAGLE's default (bias=True)
  bool input_norm = false;  // input RMSNorm before attention (EAGLE-1/2: none)
  bool qkv_bias = false;    // q/k/v biases (Qwen2-style targets)
  // EAGLE-3-style fused target features (Li et al. 2025, "EAGLE-3: Scaling up Inference
  // Acceleration of Large Language Models via Training-Time Test"): hidden-state selectors of
  // the target (model/language_model.h: h in [0, n_layers] = the residual after h layers,
  // kFinalNormedHidden = -1 = the final-normed state), distinct, at most kMaxFeatureLayers. A
  // true row's input feature is then f_i = fuse z_i, z_i = the concatenation of token i's rows
  // for these selectors ([F dim], in this order); drafted rows still read the head's own f̂.
  // Empty (EAGLE-1/2): f_i is the final-normed feature itself and there is no fuse matrix.
  std::vector<std::int32_t> feature_layers;
  static constexpr std::int32_t kMaxFeatureLayers = 8;
  std::string model_fingerprint;  // model_fingerprint() (heads/head_net.h) of the target
  nlohmann::json training = nlohmann::json::object();  // free-form (later phase)

  // The head shaped like one layer of `target` (dims, heads, eps, RoPE, q/k/v bias), fc bias on,
  // no input norm, the target's fingerprint.
  static EagleConfig for_target(const LlamaWeights& target);
  // The same from a ModelInfo alone (dims, heads, eps, RoPE theta and style, q/k/v bias): no
  // fingerprint. Published checkpoints' config.json parse to one (heads/eagle_checkpoint.h).
  static EagleConfig shaped_like(const ModelInfo& m);
  // Throws Error("<where>: <field> = <value>: <rule>") for sizes out of range, n_heads not a
  // multiple of n_kv_heads, an odd head_dim, a non-positive eps or theta, feature_layers out of
  // range or repeated.
  void validate(std::string_view where) const;
  // Throws Error naming `where` when a feature layer is beyond the target's n_layers.
  void check_feature_layers(std::string_view where, std::int32_t target_layers) const;
  bool fused() const { return !feature_layers.empty(); }
  // Width of a true row's target feature: F dim when fused, else dim.
  std::int32_t feature_width() const {
    return fused() ? dim * static_cast<std::int32_t>(feature_layers.size()) : dim;
  }
};

nlohmann::json to_json(const EagleConfig& c);
// Throws Error naming `where` and the field for a missing, mistyped or out-of-range field.
EagleConfig eagle_config_from_json(const nlohmann::json& j, std::string_view where);

// The head's parameters. Matrices are WeightMatrix in their stored type (fp32 when made here;
// published checkpoints may keep f16 / bf16), PyTorch layout [out, in]; vectors fp32.
struct EagleWeights {
  EagleConfig config;
  WeightMatrix fc;             // [dim, 2 dim]: columns [0, dim) multiply e(x), [dim, 2 dim) f
  std::vector<float> fc_bias;  // [dim]; empty unless config.fc_bias
  // wq [n_heads head_dim, dim], wk / wv [n_kv_heads head_dim, dim], wo [dim, n_heads head_dim],
  // w1 (gate) / w3 (up) [hidden_dim, dim], w2 (down) [dim, hidden_dim]; ffn_norm = the
  // post-attention RMSNorm [dim]; attn_norm [dim] only with input_norm (else empty);
  // bq / bk / bv only with qkv_bias.
  LlamaLayerWeights layer;
  // [dim, F dim] (file tensor fuse.weight, no bias, as EAGLE-3's fc): only with
  // config.feature_layers, else empty.
  WeightMatrix fuse;

  // Throws Error naming `where` and the tensor when a shape disagrees with the config.
  void validate(std::string_view where) const;
};

// A random head for `target` (EagleConfig::for_target): matrices N(0, 1 / fan_in), fc bias and
// q/k/v biases N(0, 0.1^2), norms 1 + N(0, 0.1^2). Deterministic in `seed` (tests, benchmarks;
// such a head drafts poorly but exercises every path). `feature_layers` (EagleConfig): a fused
// head, its fuse matrix N(0, 1 / (F dim)) drawn after every other tensor (so the rest equals the
// unfused head of the same seed); checked against the target (Error).
EagleWeights random_eagle_weights(const LlamaWeights& target, std::uint64_t seed,
                                  std::vector<std::int32_t> feature_layers = {});

// Writes DIR/eagle.safetensors (F32) and DIR/eagle.json (creates DIR). Throws Error on I/O failure.
void save_eagle_head(const EagleWeights& w, const std::string& dir);
// DIR/eagle.json only (cheap: no tensors). Throws Error naming the file for a missing directory
// or file, malformed JSON or a config that does not validate.
EagleConfig read_eagle_config(const std::string& dir);
// The tensor names (the published EAGLE names) that config `c` calls for, in file order.
std::vector<std::string> eagle_tensor_names(const EagleConfig& c);
// Reads every tensor w.config calls for from `st` into `w`: matrices as WeightMatrix in their
// stored type (F32 / F16 / BF16, views into the memory map), vectors converted to fp32. Throws
// Error naming st.path() and the tensor for a missing tensor, a wrong shape (the message cites
// `config_file`, the config the shape comes from), another dtype, a non-finite value (F32
// matrices, every vector). Tensors the config does not call for are not looked at.
void read_eagle_tensors(const SafetensorsFile& st, EagleWeights& w, std::string_view config_file);
// Reads a head for `target`. Throws Error naming the file and the field or tensor for: a missing
// file, malformed JSON, a config that does not validate, a model_fingerprint / dim / vocab that
// does not match the target, a missing tensor, one of the wrong shape or a non-float type, a
// non-finite value (F32 tensors).
EagleWeights load_eagle_head(const std::string& dir, const LlamaWeights& target);

// One sequence's head state: the weights (shared, read-only), the target's embedding and
// classifier, and the head's own KV cache over the rows it has processed.
//
// Numerics: every product is ops/matmul.h's (row results independent of the batch), RMSNorm
// ops/rmsnorm.h, RoPE ops/rope.h, attention scores ops/dot.h and ops/softmax.h, each (row, head)
// on one thread over its visible slots in slot order: a row's output is bit-identical whether it
// runs alone, in a chunk or in one batch, whatever the thread count.
// Memory: the KV cache and the activations grow geometrically (amortised) and never shrink;
// truncate() frees nothing, so a decode loop allocates nothing once they reached its size.
class EagleHead {
 public:
  // weights and target must be non-null and match (dim, vocab; Error otherwise). n_threads >= 1.
  EagleHead(std::shared_ptr<const EagleWeights> weights, std::shared_ptr<const LlamaWeights> target,
            int n_threads = 1);

  const EagleConfig& config() const { return weights_->config; }
  const EagleWeights& weights() const { return *weights_; }
  std::int32_t n_cached() const { return n_cached_; }

  // Runs n = tokens.size() rows on top of the cache and caches their K/V in slots
  // n_cached .. n_cached + n - 1.
  //   features  [n, dim]: row t's feature (a target feature f_i, or a predicted f̂ when drafting)
  //   tokens    [n]: the token after that feature (x_{i+1}), each in [0, vocab)
  //   positions [n]: RoPE positions (any non-negative values; a tree's siblings share one)
  //   out       [n, dim]: the predicted features f̂ (the layer's output)
  //   mask_base, mask: which slots each row sees. Empty mask: every cached slot and the batch
  //     rows up to itself (causal). Else mask is [n, w] row-major, w = n_cached - mask_base + n:
  //     slots < mask_base are visible to every row; slot s >= mask_base is visible to row t iff
  //     mask[t * w + s - mask_base] != 0, which must hold for the row's own slot and not for
  //     later batch rows (a tree's drafted ancestors, as EAGLE's tree mask).
  // Throws Error on bad sizes, token ids or masks (state unchanged).
  void append(std::span<const float> features, std::span<const Token> tokens,
              std::span<const std::int32_t> positions, std::span<float> out, std::int32_t mask_base = 0,
              std::span<const std::uint8_t> mask = {});
  // Drops cached slots >= n_keep (0 <= n_keep <= n_cached; Error otherwise).
  void truncate(std::int32_t n_keep);
  // The input features of n true rows: out [n, dim] = fuse z for a fused head (z = layer
  // features [n, feature_width()], EagleConfig::feature_layers), else a copy of z ([n, dim]).
  // Throws Error on bad sizes.
  void fuse(std::span<const float> z, std::int32_t n, std::span<float> out);
  // logits [n, vocab] = the target's classifier applied to features [n, dim] (no norm: EAGLE).
  void logits(std::span<const float> features, std::int32_t n, std::span<float> out);

 private:
  void ensure_rows(std::int32_t n);        // activations for n batch rows
  void ensure_slots(std::int32_t slots);   // KV cache (and score scratch) for `slots` slots

  std::shared_ptr<const EagleWeights> weights_;
  std::shared_ptr<const LlamaWeights> target_;
  int n_threads_ = 1;
  std::int32_t dim_ = 0, q_dim_ = 0, kv_dim_ = 0, hidden_ = 0, head_dim_ = 0;
  std::vector<float> inv_freq_;   // [head_dim / 2]
  std::int32_t n_cached_ = 0;
  std::int32_t slot_cap_ = 0;     // KV slots allocated
  std::vector<float> k_cache_;    // [slot_cap, kv_dim] K after RoPE
  std::vector<float> v_cache_;    // [slot_cap, kv_dim]
  std::vector<float> scores_;     // [n_threads, slot_cap] attention scratch
  std::int32_t row_cap_ = 0;      // batch rows the activations hold
  std::vector<float> u_;          // [B, 2 dim] fc input [e(x), f]
  std::vector<float> x_;          // [B, dim] residual stream
  std::vector<float> xb_;         // [B, dim] normed input / projection output
  std::vector<float> q_;          // [B, q_dim]
  std::vector<float> k_;          // [B, kv_dim]
  std::vector<float> v_;          // [B, kv_dim]
  std::vector<float> att_;        // [B, q_dim]
  std::vector<float> hb_;         // [B, hidden] gate, then SiLU(gate) * up
  std::vector<float> hb2_;        // [B, hidden] up
  std::vector<float> cos_, sin_;  // [B, head_dim / 2]
  MatmulScratch mm_;
};

}  // namespace speclab
