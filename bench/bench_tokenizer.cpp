// Tokenizer throughput: encoding ~1 MB of varied text (English prose, code, numbers, Unicode,
// whitespace runs) with the SmolLM2 tokenizer.json (byte-level BPE, 49,152 tokens) and with the
// llama2.c Llama-2 vocabulary (SentencePiece-style merges by score). Reports bytes/s (MB/s).
// The model files come from $SPECLAB_MODELS_DIR (default ../shared/models); a benchmark whose
// file is missing is skipped with a message.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tokenizers/tokenizer_loader.h"

namespace {

std::string models_dir() {
  if (const char* e = std::getenv("SPECLAB_MODELS_DIR"); e && *e) return e;
  return "../shared/models";
}

// ~`n_bytes` of text assembled from varied fragments in a seeded random order, so the text is
// not one fragment repeated (a per-word cache would otherwise look unrealistically good).
std::string varied_text(std::size_t n_bytes, std::uint64_t seed) {
  const std::vector<std::string> words = {
      "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "Once", "upon", "a", "time",
      "there", "was", "little", "girl", "named", "Lily", "speculative", "decoding", "tokenizer",
      "naïve", "café", "Ünïcödé", "日本語", "中文文本", "한국어", "русский", "Ελληνικά", "🙂", "🚀",
      "def", "return", "printf(\"%d\\n\",", "x[i]", "+=", "{", "}", "//", "3.14159", "2024",
      "1,000,000", "don't", "we've", "I'M", "—", "…", "“quoted”"};
  const std::vector<std::string> seps = {" ", " ", " ", " ", "  ", "\n", "\r\n", "\t", ", ", ". ",
                                         "\n\n    "};
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::size_t> pick_word(0, words.size() - 1);
  std::uniform_int_distribution<std::size_t> pick_sep(0, seps.size() - 1);
  std::uniform_int_distribution<int> number(0, 99999);
  std::string text;
  text.reserve(n_bytes + 64);
  while (text.size() < n_bytes) {
    if (rng() % 10 == 0) {
      text += std::to_string(number(rng));
    } else {
      text += words[pick_word(rng)];
    }
    text += seps[pick_sep(rng)];
  }
  return text;
}

void run_encode(benchmark::State& state, const std::string& file) {
  const std::string path = models_dir() + "/" + file;
  if (!std::filesystem::exists(path)) {
    state.SkipWithError(("model file not found: " + path + " (set SPECLAB_MODELS_DIR)").c_str());
    return;
  }
  const std::unique_ptr<speclab::Tokenizer> tok = speclab::load_tokenizer(path);
  const std::string text = varied_text(static_cast<std::size_t>(state.range(0)), 42);
  std::size_t n_tokens = 0;
  for (auto _ : state) {
    std::vector<speclab::Token> ids = tok->encode(text, false);
    n_tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
  state.counters["bytes_per_token"] = static_cast<double>(text.size()) / static_cast<double>(n_tokens);
}

void BM_EncodeSmolLm2(benchmark::State& state) {
  run_encode(state, "tokenizers/smollm2-tokenizer.json");
}
void BM_EncodeLlama2Spm(benchmark::State& state) {
  run_encode(state, "tokenizers/llama2-tokenizer-32000.bin");
}

BENCHMARK(BM_EncodeSmolLm2)->Arg(1 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeLlama2Spm)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
