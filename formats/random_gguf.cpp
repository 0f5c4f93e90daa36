#include "formats/random_gguf.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "formats/gguf_writer.h"

namespace speclab {

void random_gguf_row(std::uint64_t seed, std::size_t tensor, std::int64_t row, double scale,
                     double mean, float* out, std::int64_t n) {
  // One xoshiro stream per row: the seed mixes (seed, tensor, row) through Rng's splitmix.
  Rng rng(seed ^ (0x9E3779B97F4A7C15ull * (tensor + 1)) ^ (0xD1B54A32D192ED03ull * (row + 1)));
  const double a = std::sqrt(3.0) * scale;
  for (std::int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<float>(mean + a * (2.0 * rng.uniform() - 1.0));
  }
}

std::uint64_t write_random_llama_gguf(const std::string& path, const ModelInfo& info, DType dtype,
                                      std::uint64_t seed, int n_threads) {
  info.validate();
  if (info.qkv_bias) fail("{}: random GGUF models have no q/k/v biases (qkv_bias)", path);
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("general.name", "speclab-random");
  w.set_u32("llama.context_length", std::uint32_t(info.max_seq_len));
  w.set_u32("llama.embedding_length", std::uint32_t(info.dim));
  w.set_u32("llama.block_count", std::uint32_t(info.n_layers));
  w.set_u32("llama.feed_forward_length", std::uint32_t(info.hidden_dim));
  w.set_u32("llama.rope.dimension_count", std::uint32_t(info.head_dim));
  w.set_u32("llama.attention.head_count", std::uint32_t(info.n_heads));
  w.set_u32("llama.attention.head_count_kv", std::uint32_t(info.n_kv_heads));
  w.set_f32("llama.attention.layer_norm_rms_epsilon", info.norm_eps);
  w.set_f32("llama.rope.freq_base", info.rope_theta);
  w.set_u32("llama.vocab_size", std::uint32_t(info.vocab_size));
  w.set_u32("tokenizer.ggml.bos_token_id", std::uint32_t(info.bos_id));
  w.set_u32("tokenizer.ggml.eos_token_id", std::uint32_t(info.eos_ids.empty() ? 2 : info.eos_ids[0]));

  struct Law { double scale, mean; };
  std::vector<Law> law;
  try {
    auto matrix = [&](std::string name, std::int64_t rows, std::int64_t cols, double scale) {
      w.add_tensor(std::move(name), rows, cols, dtype);
      law.push_back({scale, 0.0});
    };
    auto norm = [&](std::string name, std::int64_t n) {
      w.add_tensor(std::move(name), 0, n, DType::kF32);
      law.push_back({0.1, 1.0});
    };
    const std::int64_t d = info.dim, h = info.hidden_dim,
                       q = std::int64_t(info.n_heads) * info.head_dim,
                       kv = std::int64_t(info.n_kv_heads) * info.head_dim, v = info.vocab_size;
    const double sd = 1.0 / std::sqrt(double(d)), sq = 1.0 / std::sqrt(double(q)),
                 sh = 1.0 / std::sqrt(double(h));
    matrix("token_embd.weight", v, d, 1.0);
    for (int l = 0; l < info.n_layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      norm(p + "attn_norm.weight", d);
      matrix(p + "attn_q.weight", q, d, sd);
      matrix(p + "attn_k.weight", kv, d, sd);
      matrix(p + "attn_v.weight", kv, d, sd);
      matrix(p + "attn_output.weight", d, q, sq);
      norm(p + "ffn_norm.weight", d);
      matrix(p + "ffn_gate.weight", h, d, sd);
      matrix(p + "ffn_down.weight", d, h, sh);
      matrix(p + "ffn_up.weight", h, d, sd);
    }
    norm("output_norm.weight", d);
    if (!info.tied_classifier) matrix("output.weight", v, d, sd);
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
  const int threads = std::max(1, n_threads);
  w.write_file(path, [&](std::size_t t, std::int64_t row0, std::int64_t n, std::uint8_t* dst) {
    const std::size_t rb = w.row_bytes(t);
    const std::int64_t cols = w.cols(t);
#pragma omp parallel num_threads(threads)
    {
      std::vector<float> row(static_cast<std::size_t>(cols));
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < n; ++i) {
        random_gguf_row(seed, t, row0 + i, law[t].scale, law[t].mean, row.data(), cols);
        quantize_row(w.type(t), row.data(), dst + std::size_t(i) * rb, cols);
      }
    }
  });
  return w.file_size();
}

}  // namespace speclab
