// Draft heads on a frozen target: Medusa, Hydra and early-exit adapters (DESIGN.md heads/).
//
// Convention: the heads read the target's state at position t (the token before the tree root,
// DraftContext::hidden). Head h (0-based) of a Medusa or Hydra net predicts the tree node at
// depth h + 1, i.e. token t + h + 2 (the root is token t + 1, which the target itself predicted).
//
//  - kMedusa (Cai et al. 2024, "Medusa: Simple LLM Inference Acceleration Framework with
//    Multiple Decoding Heads"): x = final-normed hidden [dim]; n_blocks residual blocks
//    x <- x + SiLU(W x + b) (W, b zero-initialised: the head starts as the identity); logits =
//    C x with C [vocab, dim] a trainable copy of the target's classifier.
//  - kHydra (Ankner et al. 2024, "Hydra: Sequentially-Dependent Draft Heads for Medusa
//    Decoding"): head h also reads the embeddings (the target's token table, frozen) of the
//    path it extends: the root and the h drafted tokens above the node, path[0..h]. Input
//    u = [hidden, e(path[0]), ..., e(path[h])] of width (h + 2) dim; x = P u + p (P starts as
//    [I 0 ... 0], p = 0, so the head starts as Medusa's); then n_blocks residual blocks and a
//    classifier copy as above. Hydra++ = more blocks (deeper MLP) + the teacher loss (trainer).
//  - kExitAdapter (issue 8; LayerSkip-style exits for models not trained for them): adapter i
//    reads the residual stream after exit_layers[i] layers (not normed); n_blocks residual
//    blocks; then the target's own final RMSNorm and classifier (frozen, not stored). Predicts
//    the next token (t + 1), like the full model.
//
// Files (save_heads / load_heads): DIR/heads.safetensors (F32 tensors named
// "head.{h}.proj.weight", "head.{h}.proj.bias", "head.{h}.block.{b}.weight",
// "head.{h}.block.{b}.bias", "head.{h}.classifier.weight") and DIR/heads.json (the HeadConfig,
// including the target fingerprint and held-out accuracies, plus free-form training info).
// Loading checks every shape against the config and the fingerprint against the target.
#pragma once
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/llama_weights.h"
#include "base/types.h"

namespace speclab {

enum class HeadKind { kMedusa, kHydra, kExitAdapter };
std::string_view to_string(HeadKind k);
// "medusa" | "hydra" | "exit-adapter"; throws Error naming `field` otherwise.
HeadKind parse_head_kind(std::string_view s, std::string_view field = "kind");

inline constexpr int kTopKTracked = 10;  // accuracies tracked for ranks 1..10

struct HeadConfig {
  HeadKind kind = HeadKind::kMedusa;
  std::int32_t n_heads = 0;    // K heads (exit adapters: one per exit layer)
  std::int32_t n_blocks = 1;   // residual SiLU blocks per head
  std::int32_t dim = 0;        // target width
  std::int32_t vocab = 0;      // target vocabulary
  std::vector<std::int32_t> exit_layers;  // kExitAdapter only: [n_heads] layers in [1, n_layers)
  std::string target_fingerprint;         // model_fingerprint() of the target trained on
  // Held-out top-k accuracy per head: topk_accuracy[h][r] = P(true token within the head's
  // r + 1 best), r = 0..9. Empty = unknown (untrained). Drafters derive tree shapes from it.
  std::vector<std::array<double, kTopKTracked>> topk_accuracy;
  nlohmann::json training = nlohmann::json::object();  // free-form: data size, steps, time, ...
  // Input width of head h: dim, or (h + 2) dim for Hydra.
  std::int32_t input_dim(std::int32_t h) const;
  // Throws Error("<where>: <field> = <value>: <rule>") for non-positive sizes, exit layers
  // missing / out of [1, n_layers) / duplicated (n_layers <= 0 skips the range check), a
  // topk_accuracy of the wrong length or outside [0, 1].
  void validate(std::string_view where, std::int32_t n_layers = 0) const;
};

nlohmann::json to_json(const HeadConfig& c);
// Throws Error naming `where` and the field for a missing or mistyped field.
HeadConfig head_config_from_json(const nlohmann::json& j, std::string_view where);

// Hex digest identifying a target's weights: shapes, conventions and an FNV-1a hash over the
// norms, a strided sample of every matrix, and the whole classifier's first and last rows.
// Equal weights give equal fingerprints whatever the file format (a tied .bin and an untied
// GGUF with the same values agree); any retrained or quantised model differs.
std::string model_fingerprint(const LlamaWeights& w);

// One head's trainable tensors (row-major, PyTorch layout [out, in]).
struct HeadParams {
  std::vector<float> proj_w;   // Hydra: [dim, input_dim(h)]; else empty
  std::vector<float> proj_b;   // Hydra: [dim]; else empty
  std::vector<std::vector<float>> block_w;  // n_blocks x [dim, dim]
  std::vector<std::vector<float>> block_b;  // n_blocks x [dim]
  std::vector<float> classifier;            // [vocab, dim]; empty for exit adapters
  // Every tensor, in a fixed order (optimizer state follows it).
  std::vector<std::span<float>> tensors();
  std::vector<std::span<const float>> tensors() const;
  std::int64_t n_params() const;
};

// Reusable buffers for HeadNet::logits (no allocation once grown).
struct HeadScratch {
  std::vector<float> a, b, c;
  int n_threads = 1;  // threads for the classifier product (ops/matmul.h)
};

class HeadNet {
 public:
  HeadNet() = default;
  // Fresh heads for `target`: identity blocks, classifiers copied from the target, Hydra
  // projection [I 0 ...]. cfg.dim / cfg.vocab / cfg.target_fingerprint are filled from the
  // target. Throws Error for an invalid config (validate()). Deterministic (no randomness).
  static HeadNet init(HeadConfig cfg, std::shared_ptr<const LlamaWeights> target);

  const HeadConfig& config() const { return cfg_; }
  HeadConfig& mutable_config() { return cfg_; }
  const LlamaWeights& target() const { return *target_; }
  const std::shared_ptr<const LlamaWeights>& target_ptr() const { return target_; }
  std::int32_t n_heads() const { return cfg_.n_heads; }
  HeadParams& params(std::int32_t h) { return params_[h]; }
  const HeadParams& params(std::int32_t h) const { return params_[h]; }
  // Index of the adapter for exit layer `layer`, or -1 (kExitAdapter only).
  std::int32_t adapter_index(std::int32_t layer) const;

  // Logits of head h for n inputs. hidden: [n, dim] (Medusa/Hydra: final-normed target hidden;
  // adapters: residual after exit_layers[h] layers). path: Hydra only, [n, h + 1] tokens (root
  // first), each in [0, vocab); else ignored. out: [n, vocab]. Throws Error on bad sizes or
  // token ids. Runs on scratch.n_threads threads; no allocation once `scratch` has grown.
  // Each row's result is bit-identical whatever n and the thread count (ops/matmul.h).
  void logits(std::int32_t h, std::span<const float> hidden, std::span<const Token> path,
              std::int32_t n, std::span<float> out, HeadScratch& scratch) const;

 private:
  HeadConfig cfg_;
  std::shared_ptr<const LlamaWeights> target_;
  std::vector<HeadParams> params_;
  friend HeadNet load_heads(const std::string& dir, std::shared_ptr<const LlamaWeights> target);
};

// Writes DIR/heads.safetensors and DIR/heads.json (creates DIR). Throws Error on I/O failure.
void save_heads(const HeadNet& net, const std::string& dir);
// Reads them back for `target`. Throws Error naming the file and field for a missing file,
// malformed JSON, a config that does not validate, a missing tensor or one of the wrong shape,
// and — "heads in DIR were trained for target <fp1>, not <fp2> (<source>)" — a fingerprint
// or dim/vocab that does not match the target.
HeadNet load_heads(const std::string& dir, std::shared_ptr<const LlamaWeights> target);

}  // namespace speclab
