// Training-free drafter overhead per decoding step: µs per propose() and per observe() for
// ngram, recycling and aded at budget 64 (max_depth unlimited) with a 32000-token vocabulary.
// The context is "text-like": 4096 tokens made of phrases drawn (Zipf-like) from a pool of 64
// random 8-token phrases, so lookups and tri-grams find matches as in real text. observe() gets a
// 64-node tree's feedback with 65 rows of random logits (recycling's top-k extraction dominates)
// and 3 new tokens (accepted + bonus) per step.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "base/rng.h"
#include "drafters/aded_drafter.h"
#include "drafters/ngram_drafter.h"
#include "drafters/recycling_drafter.h"

namespace speclab {
namespace {

constexpr std::int32_t kVocab = 32000;
constexpr std::int32_t kBudget = 64;
constexpr std::int32_t kPromptLen = 512;
constexpr std::size_t kMaxLen = 2048;  // context length (prompt + generated) before re-begin

std::vector<Token> text_like(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<Token>> phrases(64, std::vector<Token>(8));
  for (auto& p : phrases) for (auto& t : p) t = static_cast<Token>(rng.below(kVocab));
  std::vector<Token> seq;
  while (seq.size() < n) {
    // Zipf-like: phrase index = floor(64 * u^3).
    const double u = rng.uniform();
    const auto& p = phrases[static_cast<std::size_t>(64 * u * u * u)];
    seq.insert(seq.end(), p.begin(), p.end());
    if (rng.below(4) == 0) seq.push_back(static_cast<Token>(rng.below(kVocab)));
  }
  seq.resize(n);
  return seq;
}

std::unique_ptr<Drafter> make(const std::string& name) {
  if (name == "ngram") return std::make_unique<NgramDrafter>();
  if (name == "recycling") return std::make_unique<RecyclingDrafter>();
  return std::make_unique<AdedDrafter>();
}

struct Fixture {
  std::vector<Token> seq = text_like(kMaxLen, 1);
  std::vector<float> logits;
  Fixture() {
    // Random rows whose 8 largest entries are tokens of the text (as a real target's top
    // candidates would be), so recycled rows point at rows that are filled too.
    Rng rng(2);
    logits.resize(static_cast<std::size_t>(kBudget + 1) * kVocab);
    for (auto& x : logits) x = static_cast<float>(rng.normal());
    for (int r = 0; r <= kBudget; ++r) {
      for (int j = 0; j < 8; ++j) {
        logits[static_cast<std::size_t>(r) * kVocab + seq[rng.below(seq.size())]] += 6.0f + j;
      }
    }
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// Runs `n_steps` propose/observe steps from the prompt so the drafter holds a warm state.
void warm_up(Drafter& d, std::size_t& len, int n_steps) {
  Fixture& f = fixture();
  Rng rng(3);
  DraftTree tree;
  Acceptance acc;
  acc.path = {0};
  for (int s = 0; s < n_steps; ++s) {
    const std::span<const Token> ctx(f.seq.data(), len);
    d.propose(DraftContext{ctx, nullptr, &rng}, {kBudget, 0}, tree);
    // Feed back a full tree of text tokens so every drafter learns from 65 rows.
    tree.reset(f.seq[len - 1]);
    for (int i = 1; i <= kBudget; ++i) tree.add(f.seq[(len + 7 * i) % f.seq.size()], (i - 1) / 4);
    len += 3;
    StepFeedback fb{&tree, &acc, kVocab,
                    std::span<const float>(f.logits).first(static_cast<std::size_t>(tree.size()) * kVocab),
                    std::span<const Token>(f.seq.data(), len)};
    d.observe(fb);
  }
}

void BM_Propose(benchmark::State& state, const std::string& name) {
  Fixture& f = fixture();
  auto d = make(name);
  std::size_t len = kPromptLen;
  d->begin(std::span<const Token>(f.seq.data(), len));
  warm_up(*d, len, 300);
  Rng rng(4);
  DraftTree tree;
  std::int64_t nodes = 0;
  for (auto _ : state) {
    d->propose(DraftContext{std::span<const Token>(f.seq.data(), len), nullptr, &rng},
               {kBudget, 0}, tree);
    nodes += tree.size() - 1;
    benchmark::DoNotOptimize(tree.token.data());
  }
  state.counters["nodes"] = benchmark::Counter(static_cast<double>(nodes), benchmark::Counter::kAvgIterations);
  if (auto* r = dynamic_cast<RecyclingDrafter*>(d.get())) {
    state.counters["matrix_bytes"] = static_cast<double>(r->matrix_bytes());
  }
}

void BM_Observe(benchmark::State& state, const std::string& name) {
  Fixture& f = fixture();
  auto d = make(name);
  std::size_t len = kPromptLen;
  d->begin(std::span<const Token>(f.seq.data(), len));
  warm_up(*d, len, 300);
  // A full 64-node tree (propose may give fewer nodes): a recycling-shaped BFS tree.
  DraftTree tree;
  tree.reset(f.seq[len - 1]);
  for (int i = 1; i <= kBudget; ++i) tree.add(f.seq[(len + 7 * i) % f.seq.size()], (i - 1) / 4);
  Acceptance acc;
  acc.path = {0, 1};
  const std::size_t start = len;
  for (auto _ : state) {
    if (len + 3 > f.seq.size()) {
      state.PauseTiming();
      len = start;
      d->begin(std::span<const Token>(f.seq.data(), kPromptLen));  // warm policies keep state
      state.ResumeTiming();
    }
    len += 3;
    StepFeedback fb{&tree, &acc, kVocab, f.logits, std::span<const Token>(f.seq.data(), len)};
    d->observe(fb);
  }
}

void BM_TopK(benchmark::State& state) {
  Fixture& f = fixture();
  std::vector<Token> ids(8);
  std::vector<float> vals(8);
  std::size_t row = 0;
  for (auto _ : state) {
    top_k_ids(std::span<const float>(f.logits).subspan(row * kVocab, kVocab), 8, ids.data(), vals.data());
    benchmark::DoNotOptimize(ids.data());
    row = (row + 1) % (kBudget + 1);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * kVocab * 4);
}

BENCHMARK_CAPTURE(BM_Propose, ngram, std::string("ngram"));
BENCHMARK_CAPTURE(BM_Propose, recycling, std::string("recycling"));
BENCHMARK_CAPTURE(BM_Propose, aded, std::string("aded"));
BENCHMARK_CAPTURE(BM_Observe, ngram, std::string("ngram"));
BENCHMARK_CAPTURE(BM_Observe, recycling, std::string("recycling"));
BENCHMARK_CAPTURE(BM_Observe, aded, std::string("aded"));
BENCHMARK(BM_TopK);

}  // namespace
}  // namespace speclab

BENCHMARK_MAIN();
