// LlamaModel resume (ForwardBatch::n_resume, LayerSkip-style KV reuse): slots left at depth E by
// early-exit forwards are finished by a later forward that runs only layers [E, L) for them.
// The logits must equal (bit for bit) those of discarding the early-exit slots and recomputing
// all layers; hidden selectors below E are NaN for resumed rows; bad resume inputs throw and
// leave the model unchanged; results do not depend on the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "base/error.h"
#include "model/llama_model.h"
#include "synthetic/synthetic_weights.h"

namespace speclab {
namespace {

std::shared_ptr<const LlamaWeights> weights(std::int32_t layers, bool gqa, std::uint64_t seed) {
  ModelInfo info = gqa ? synthetic_info(48, 80, layers, 6, 2, 45, 96)
                       : synthetic_info(32, 64, layers, 4, 4, 45, 96);
  info.source = "synthetic:resume";
  return std::make_shared<const LlamaWeights>(random_llama_weights(info, seed));
}

std::vector<std::int32_t> iota(std::int32_t from, std::int32_t n) {
  std::vector<std::int32_t> v(n);
  std::iota(v.begin(), v.end(), from);
  return v;
}

const std::vector<Token> kPrompt = {1, 7, 9, 12, 30, 4, 4, 17};

void prefill(LlamaModel& m) {
  const auto pos = iota(0, static_cast<std::int32_t>(kPrompt.size()));
  ForwardBatch b;
  b.tokens = kPrompt;
  b.positions = pos;
  b.all_logits = false;
  ForwardOutput out;
  m.forward(b, out);
}

// Runs tokens one by one at exit layer e from position `pos` (a drafted chain).
void run_chain_at_exit(LlamaModel& m, std::span<const Token> tokens, std::int32_t pos,
                       std::int32_t e) {
  ForwardOutput out;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const std::int32_t p = pos + static_cast<std::int32_t>(i);
    ForwardBatch b;
    b.tokens = tokens.subspan(i, 1);
    b.positions = std::span<const std::int32_t>(&p, 1);
    b.exit_layer = e;
    m.forward(b, out);
  }
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!(a[i] == b[i])) return false;
  }
  return true;
}

// Chain: resumed prefix of r rows plus `extra` new rows, causal. Compares logits and every
// hidden selector with full recomputation.
void check_chain(std::int32_t layers, bool gqa, std::int32_t e, std::int32_t r,
                 std::int32_t extra) {
  SCOPED_TRACE("L=" + std::to_string(layers) + " E=" + std::to_string(e) +
               " r=" + std::to_string(r) + " extra=" + std::to_string(extra));
  const auto w = weights(layers, gqa, 3 + layers);
  const std::int32_t n = r + extra;
  std::vector<Token> tokens(n);
  for (std::int32_t i = 0; i < n; ++i) tokens[i] = (5 + 11 * i) % 45;
  const std::int32_t pos0 = static_cast<std::int32_t>(kPrompt.size());
  const auto pos = iota(pos0, n);
  std::vector<std::int32_t> sel = {kFinalNormedHidden};
  for (std::int32_t h = 0; h <= layers; ++h) sel.push_back(h);

  LlamaModel full(w, 1);
  prefill(full);
  ForwardBatch fb;
  fb.tokens = tokens;
  fb.positions = pos;
  fb.hidden_layers = sel;
  ForwardOutput want;
  full.forward(fb, want);

  LlamaModel res(w, 1);
  prefill(res);
  run_chain_at_exit(res, std::span<const Token>(tokens).first(r), pos0, e);
  ASSERT_EQ(res.n_cached(), pos0 + r);
  ForwardBatch rb = fb;
  rb.n_resume = r;
  ForwardOutput got;
  res.forward(rb, got);
  EXPECT_EQ(res.n_cached(), pos0 + n);
  ASSERT_EQ(got.n_rows, n);
  EXPECT_TRUE(same_bits(got.logits, want.logits));
  const std::int32_t dim = w->info.dim;
  for (std::size_t s = 0; s < sel.size(); ++s) {
    const std::int32_t h = sel[s];
    for (std::int32_t t = 0; t < n; ++t) {
      const auto g = std::span<const float>(got.hidden[s]).subspan(t * dim, dim);
      const auto x = std::span<const float>(want.hidden[s]).subspan(t * dim, dim);
      if (h != kFinalNormedHidden && h < e && t < r) {
        for (float v : g) EXPECT_TRUE(std::isnan(v)) << "selector " << h << " row " << t;
      } else {
        EXPECT_TRUE(same_bits(g, x)) << "selector " << h << " row " << t;
      }
    }
  }
  // After keeping the whole batch, decoding continues exactly like the full model.
  const std::vector<std::int32_t> keep = iota(0, n);
  full.keep_batch_rows(keep);
  res.keep_batch_rows(keep);
  const Token next = 3;
  const std::int32_t p = pos0 + n;
  ForwardBatch nb;
  nb.tokens = std::span<const Token>(&next, 1);
  nb.positions = std::span<const std::int32_t>(&p, 1);
  full.forward(nb, want);
  res.forward(nb, got);
  EXPECT_TRUE(same_bits(got.logits, want.logits));
}

TEST(LlamaResume, ChainResumeEqualsFullRecompute) {
  for (bool gqa : {false, true}) {
    for (std::int32_t e = 1; e < 4; ++e) {
      for (auto [r, extra] : {std::pair{1, 0}, {1, 1}, {3, 1}, {4, 0}, {2, 5}}) {
        check_chain(4, gqa, e, r, extra);
      }
    }
  }
  check_chain(2, false, 1, 5, 1);
}

// The resumed chain may also come from a single early-exit batch (not token by token).
TEST(LlamaResume, ResumeAfterBatchedEarlyExit) {
  const auto w = weights(3, true, 8);
  const std::vector<Token> tokens = {4, 8, 15, 16, 23};
  const std::int32_t pos0 = static_cast<std::int32_t>(kPrompt.size());
  const auto pos = iota(pos0, 5);
  LlamaModel full(w, 1), res(w, 1);
  prefill(full);
  prefill(res);
  ForwardBatch eb;
  eb.tokens = std::span<const Token>(tokens).first(3);
  eb.positions = std::span<const std::int32_t>(pos).first(3);
  eb.exit_layer = 2;
  ForwardOutput out, want;
  res.forward(eb, out);
  ForwardBatch fb;
  fb.tokens = tokens;
  fb.positions = pos;
  full.forward(fb, want);
  fb.n_resume = 3;
  res.forward(fb, out);
  EXPECT_TRUE(same_bits(out.logits, want.logits));
}

// Tree batch: resumed chain root -> a -> b, then new nodes: b's two children and a second child
// of the root, with the ancestor mask. Equals full recomputation with the same mask.
TEST(LlamaResume, TreeBatchWithResumedPrefixEqualsFullRecompute) {
  for (std::int32_t e : {1, 2, 3}) {
    SCOPED_TRACE(e);
    const auto w = weights(4, true, 11);
    // rows: 0 root, 1 a (parent 0), 2 b (parent 1), 3 c (parent 2), 4 d (parent 2), 5 f (parent 0)
    const std::vector<Token> tokens = {9, 21, 33, 2, 40, 17};
    const std::vector<std::int32_t> parent = {-1, 0, 1, 2, 2, 0};
    const std::vector<std::int32_t> depth = {0, 1, 2, 3, 3, 1};
    const std::int32_t n = 6, pos0 = static_cast<std::int32_t>(kPrompt.size());
    std::vector<std::int32_t> pos(n);
    std::vector<std::uint8_t> mask(n * n, 0);
    for (std::int32_t i = 0; i < n; ++i) {
      pos[i] = pos0 + depth[i];
      for (std::int32_t a = i; a >= 0; a = parent[a]) mask[i * n + a] = 1;
    }
    const std::vector<std::int32_t> sel = {e, 4};
    LlamaModel full(w, 1), res(w, 1);
    prefill(full);
    prefill(res);
    run_chain_at_exit(res, std::span<const Token>(tokens).first(3), pos0, e);
    ForwardBatch b;
    b.tokens = tokens;
    b.positions = pos;
    b.mask = mask;
    b.hidden_layers = sel;
    ForwardOutput want, got;
    full.forward(b, want);
    b.n_resume = 3;
    res.forward(b, got);
    EXPECT_TRUE(same_bits(got.logits, want.logits));
    EXPECT_TRUE(same_bits(got.hidden[0], want.hidden[0]));
    EXPECT_TRUE(same_bits(got.hidden[1], want.hidden[1]));
    // Keep the path root -> a -> b -> d and continue.
    const std::vector<std::int32_t> path = {0, 1, 2, 4};
    full.keep_batch_rows(path);
    res.keep_batch_rows(path);
    const Token next = 5;
    const std::int32_t p = pos0 + 4;
    ForwardBatch nb;
    nb.tokens = std::span<const Token>(&next, 1);
    nb.positions = std::span<const std::int32_t>(&p, 1);
    full.forward(nb, want);
    res.forward(nb, got);
    EXPECT_TRUE(same_bits(got.logits, want.logits));
  }
}

// Every batch row resumed (no new rows): the drafter stopped early and verifies what it ran.
TEST(LlamaResume, AllRowsResumed) {
  check_chain(3, true, 2, 3, 0);
  check_chain(3, false, 1, 1, 0);
}

// keep_batch_rows on early-exit slots moves their stored residual with them.
TEST(LlamaResume, KeepBatchRowsMovesTheResidual) {
  const auto w = weights(3, false, 13);
  const std::int32_t pos0 = static_cast<std::int32_t>(kPrompt.size());
  // Early-exit tree: root and two children (siblings do not see each other); keep root + 2nd.
  const std::vector<Token> tokens = {6, 19, 27};
  const std::vector<std::int32_t> pos = {pos0, pos0 + 1, pos0 + 1};
  const std::vector<std::uint8_t> mask = {1, 0, 0, 1, 1, 0, 1, 0, 1};
  LlamaModel res(w, 1), full(w, 1);
  prefill(res);
  prefill(full);
  ForwardBatch eb;
  eb.tokens = tokens;
  eb.positions = pos;
  eb.mask = mask;
  eb.exit_layer = 1;
  ForwardOutput out, want;
  res.forward(eb, out);
  const std::vector<std::int32_t> keep = {0, 2};
  res.keep_batch_rows(keep);
  const std::vector<Token> chain = {6, 27, 11};
  const std::vector<std::int32_t> cpos = {pos0, pos0 + 1, pos0 + 2};
  ForwardBatch b;
  b.tokens = chain;
  b.positions = cpos;
  full.forward(b, want);
  b.n_resume = 2;
  res.forward(b, out);
  EXPECT_TRUE(same_bits(out.logits, want.logits));
}

TEST(LlamaResume, ThreadCountDoesNotChangeResults) {
  const auto w = weights(4, true, 17);
  const std::vector<Token> tokens = {3, 14, 15, 9, 26, 5, 35};
  const std::int32_t pos0 = static_cast<std::int32_t>(kPrompt.size());
  const auto pos = iota(pos0, 7);
  std::vector<std::vector<float>> logits;
  for (int threads : {1, 2, 3}) {
    LlamaModel m(w, threads);
    prefill(m);
    run_chain_at_exit(m, std::span<const Token>(tokens).first(4), pos0, 2);
    ForwardBatch b;
    b.tokens = tokens;
    b.positions = pos;
    b.n_resume = 4;
    ForwardOutput out;
    m.forward(b, out);
    logits.push_back(out.logits);
  }
  EXPECT_TRUE(same_bits(logits[0], logits[1]));
  EXPECT_TRUE(same_bits(logits[0], logits[2]));
}

TEST(LlamaResume, BadResumeInputsThrowAndChangeNothing) {
  const auto w = weights(4, false, 19);
  const std::int32_t pos0 = static_cast<std::int32_t>(kPrompt.size());
  LlamaModel m(w, 1);
  prefill(m);
  const std::vector<Token> drafted = {10, 20, 30};
  run_chain_at_exit(m, drafted, pos0, 2);  // slots pos0..pos0+2 at depth 2
  const std::int32_t cached = m.n_cached();
  const std::vector<Token> tokens = {10, 20, 30, 40};
  const auto pos = iota(pos0, 4);
  ForwardOutput out;
  auto attempt = [&](ForwardBatch b) {
    EXPECT_THROW(m.forward(b, out), Error);
    EXPECT_EQ(m.n_cached(), cached);
  };
  ForwardBatch b;
  b.tokens = tokens;
  b.positions = pos;
  {
    ForwardBatch x = b;  // not resuming the shallow slots: the full forward cannot read them
    attempt(x);
  }
  {
    ForwardBatch x = b;
    x.n_resume = -1;
    attempt(x);
  }
  {
    ForwardBatch x = b;  // more resumed rows than batch rows
    x.tokens = std::span<const Token>(tokens).first(2);
    x.positions = std::span<const std::int32_t>(pos).first(2);
    x.n_resume = 3;
    attempt(x);
  }
  {
    ForwardBatch x = b;  // resumes 2 of 3 shallow slots: the first stays shallow and unreadable
    x.n_resume = 2;
    std::vector<Token> t2 = {20, 30, 40};
    x.tokens = t2;
    x.positions = std::span<const std::int32_t>(pos).subspan(1, 3);
    attempt(x);
  }
  {
    ForwardBatch x = b;  // wrong token for a resumed entry
    std::vector<Token> t = tokens;
    t[1] = 21;
    x.tokens = t;
    x.n_resume = 3;
    attempt(x);
  }
  {
    ForwardBatch x = b;  // wrong position for a resumed entry
    std::vector<std::int32_t> p = pos;
    p[0] = pos0 + 7;
    x.positions = p;
    x.n_resume = 3;
    attempt(x);
  }
  {
    ForwardBatch x = b;  // exit at the resume depth: nothing to run
    x.n_resume = 3;
    x.exit_layer = 2;
    attempt(x);
  }
  {
    ForwardBatch x = b;  // full-depth slots cannot be resumed
    x.n_resume = 4;
    std::vector<Token> t = {kPrompt.back(), 10, 20, 30};
    x.tokens = t;
    std::vector<std::int32_t> pp = iota(pos0 - 1, 4);
    x.positions = pp;
    attempt(x);
  }
  // Mixed depths: make slot pos0+3 depth 1, then resume all four.
  {
    const Token t4 = 40;
    run_chain_at_exit(m, std::span<const Token>(&t4, 1), pos0 + 3, 1);
    ForwardBatch x = b;
    x.n_resume = 4;
    const std::int32_t c = m.n_cached();
    EXPECT_THROW(m.forward(x, out), Error);
    EXPECT_EQ(m.n_cached(), c);
    m.truncate(cached);
  }
  // After all the failures the legal resume still matches full recomputation.
  ForwardBatch ok = b;
  ok.n_resume = 3;
  m.forward(ok, out);
  LlamaModel full(w, 1);
  prefill(full);
  ForwardOutput want;
  full.forward(b, want);
  EXPECT_TRUE(same_bits(out.logits, want.logits));
}

}  // namespace
}  // namespace speclab
