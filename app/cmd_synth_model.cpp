// speclab synth-model --out FILE [--shape NAME] [--dim N ...] [--dtype T] [--seed S] [--threads N]
// Writes a random-weight Llama model as a GGUF file, streamed (formats/random_gguf.h): the
// benchmark models of shapes whose fp32 weights would not fit in memory (7B).
#include <fmt/format.h>

#include <chrono>
#include <cstdio>

#include "app/cli.h"
#include "base/error.h"
#include "formats/random_gguf.h"
#include "synthetic/synthetic_weights.h"

namespace speclab::cli {

int cmd_synth_model(int argc, char** argv) {
  cxxopts::Options opts("speclab synth-model",
                        "Write a random-weight Llama model as a GGUF file (benchmark fixtures; no "
                        "tokenizer: pass --tokenizer to generate)");
  opts.add_options()("out", "Output .gguf file", cxxopts::value<std::string>())(
      "shape", "Named shape: " + named_shape_list(),
      cxxopts::value<std::string>()->default_value("stories110M"))(
      "dim", "Override: model width", cxxopts::value<int>())(
      "hidden", "Override: FFN width", cxxopts::value<int>())(
      "layers", "Override: layers", cxxopts::value<int>())(
      "heads", "Override: attention heads", cxxopts::value<int>())(
      "kv-heads", "Override: KV heads", cxxopts::value<int>())(
      "vocab", "Override: vocabulary size", cxxopts::value<int>())(
      "ctx", "Override: maximum context", cxxopts::value<int>())(
      "dtype", "Type of the matrices and the embedding: " + dtype_names(),
      cxxopts::value<std::string>()->default_value("q8_0"))(
      "seed", "Random seed", cxxopts::value<std::uint64_t>()->default_value("42"))(
      "threads", "Threads for generating and quantising", cxxopts::value<int>()->default_value("2"));
  auto r = parse_or_usage(opts, argc, argv);
  const std::string out = required(r, "out");
  const std::string shape = r["shape"].as<std::string>();
  auto info = named_shape(shape);
  if (!info) throw UsageError(fmt::format("--shape {}: unknown shape (known: {})", shape, named_shape_list()));
  auto override_int = [&](const char* flag, std::int32_t& field) {
    if (r.count(flag)) field = r[flag].as<int>();
  };
  override_int("dim", info->dim);
  override_int("hidden", info->hidden_dim);
  override_int("layers", info->n_layers);
  override_int("heads", info->n_heads);
  override_int("kv-heads", info->n_kv_heads);
  override_int("vocab", info->vocab_size);
  override_int("ctx", info->max_seq_len);
  if (info->n_heads > 0) info->head_dim = info->dim / info->n_heads;
  if (r.count("heads") && !r.count("kv-heads")) info->n_kv_heads = info->n_heads;
  info->source = "--shape " + shape;
  const std::string dtype_text = r["dtype"].as<std::string>();
  const auto dtype = dtype_from_name(dtype_text);
  if (!dtype || *dtype == DType::kQ8_0F) {
    throw UsageError(fmt::format("--dtype {}: unknown type (known: {})", dtype_text, dtype_names()));
  }
  const int threads = r["threads"].as<int>();
  if (threads < 1) throw UsageError(fmt::format("--threads {}: must be >= 1", threads));
  const auto t0 = std::chrono::steady_clock::now();
  const std::uint64_t bytes =
      write_random_llama_gguf(out, *info, *dtype, r["seed"].as<std::uint64_t>(), threads);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s: %s, %.1f M params, %s, %llu bytes (%.2f GB) in %.1f s\n", out.c_str(),
              shape.c_str(), info->n_params() / 1e6, dtype_text.c_str(),
              static_cast<unsigned long long>(bytes), bytes / 1e9, s);
  return 0;
}

}  // namespace speclab::cli
