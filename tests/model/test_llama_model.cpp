// LlamaModel against the naive reference twin (tests/testing/reference_llama.h) on random
// synthetic models of several shapes, plus tree attention, early exit, cache edits, thread-count
// invariance and every bad-input path.
#include "model/llama_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/reference_llama.h"

namespace speclab {
namespace {

using testing::reference_forward;
using testing::reference_head;
using testing::reference_logits;

struct Shape {
  std::string name;
  std::int32_t dim, hidden, layers, heads, kv_heads, vocab, seq;
  bool tied = true;
  bool bias = false;
  RopeStyle style = RopeStyle::kInterleaved;
  RopeScalingType scaling = RopeScalingType::kNone;
};

std::vector<Shape> shapes() {
  return {
      {"gqa8_4", 64, 96, 2, 8, 4, 50, 64},
      {"gqa6_2_bias_half_llama3_untied", 48, 100, 3, 6, 2, 37, 64, false, true,
       RopeStyle::kHalfSplit, RopeScalingType::kLlama3},
      {"mha_headdim6_linear", 48, 100, 2, 8, 8, 37, 64, true, false, RopeStyle::kInterleaved,
       RopeScalingType::kLinear},
      {"mha_half_untied", 32, 64, 2, 4, 4, 41, 64, false, false, RopeStyle::kHalfSplit},
  };
}

ModelInfo make_info(const Shape& s) {
  ModelInfo info = synthetic_info(s.dim, s.hidden, s.layers, s.heads, s.kv_heads, s.vocab, s.seq);
  info.source = "synthetic:" + s.name;
  info.tied_classifier = s.tied;
  info.qkv_bias = s.bias;
  info.rope_style = s.style;
  info.rope_scaling.type = s.scaling;
  if (s.scaling == RopeScalingType::kLinear) info.rope_scaling.factor = 2.0f;
  if (s.scaling == RopeScalingType::kLlama3) {
    // Small original context so the head's frequencies fall in all three llama3 bands.
    info.rope_scaling.factor = 8.0f;
    info.rope_scaling.low_freq_factor = 1.0f;
    info.rope_scaling.high_freq_factor = 4.0f;
    info.rope_scaling.original_max_position = 160;
  }
  return info;
}

std::shared_ptr<const LlamaWeights> make_weights(const Shape& s, std::uint64_t seed = 7) {
  return std::make_shared<const LlamaWeights>(random_llama_weights(make_info(s), seed));
}

std::vector<Token> random_tokens(int n, int vocab, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Token> t(n);
  for (auto& x : t) x = static_cast<Token>(rng.below(vocab));
  return t;
}

std::vector<std::int32_t> iota_positions(int start, int n) {
  std::vector<std::int32_t> p(n);
  for (int i = 0; i < n; ++i) p[i] = start + i;
  return p;
}

// Max |a - b| <= tol * (1 + max |b|).
void expect_close(std::span<const float> a, std::span<const float> b, double tol,
                  const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double max_diff = 0.0, max_ref = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(double(a[i]) - double(b[i])));
    max_ref = std::max(max_ref, std::abs(double(b[i])));
  }
  EXPECT_LE(max_diff, tol * (1.0 + max_ref)) << what << " (max |ref| = " << max_ref << ")";
}

std::span<const float> hidden_row(const ForwardOutput& out, int sel, int row, int dim) {
  return std::span<const float>(out.hidden[sel]).subspan(static_cast<std::size_t>(row) * dim, dim);
}

constexpr double kTol = 1e-4;

// Runs tokens one per forward (positions start..), returns each step's logits.
std::vector<std::vector<float>> run_sequential(LlamaModel& model, std::span<const Token> tokens) {
  std::vector<std::vector<float>> logits;
  ForwardOutput out;
  for (Token t : tokens) {
    const std::int32_t pos = model.n_cached();
    ForwardBatch b;
    b.tokens = std::span<const Token>(&t, 1);
    b.positions = std::span<const std::int32_t>(&pos, 1);
    model.forward(b, out);
    logits.emplace_back(out.row(0).begin(), out.row(0).end());
  }
  return logits;
}

TEST(LlamaModel, MatchesReferenceTokenByToken) {
  for (const Shape& s : shapes()) {
    SCOPED_TRACE(s.name);
    const auto w = make_weights(s);
    const auto tokens = random_tokens(12, s.vocab, 1);
    const auto ref = reference_forward(*w, tokens);
    LlamaModel model(w, 2);
    const std::vector<std::int32_t> sel = {0, 1, s.layers, kFinalNormedHidden};
    ForwardOutput out;
    for (int t = 0; t < 12; ++t) {
      const std::int32_t pos = t;
      ForwardBatch b;
      b.tokens = std::span<const Token>(&tokens[t], 1);
      b.positions = std::span<const std::int32_t>(&pos, 1);
      b.hidden_layers = sel;
      model.forward(b, out);
      ASSERT_EQ(out.n_rows, 1);
      ASSERT_EQ(out.vocab, s.vocab);
      ASSERT_EQ(out.hidden.size(), sel.size());
      expect_close(out.row(0), ref.logits[t], kTol, "logits t=" + std::to_string(t));
      expect_close(hidden_row(out, 0, 0, s.dim), ref.hidden[0][t], kTol, "h0");
      expect_close(hidden_row(out, 1, 0, s.dim), ref.hidden[1][t], kTol, "h1");
      expect_close(hidden_row(out, 2, 0, s.dim), ref.hidden[s.layers][t], kTol, "hL");
      expect_close(hidden_row(out, 3, 0, s.dim), ref.final_normed[t], kTol, "final normed");
    }
    EXPECT_EQ(model.n_cached(), 12);
  }
}

TEST(LlamaModel, MatchesReferenceAsOneCausalBatch) {
  for (const Shape& s : shapes()) {
    SCOPED_TRACE(s.name);
    const auto w = make_weights(s);
    const int n = 13;
    const auto tokens = random_tokens(n, s.vocab, 2);
    const auto ref = reference_forward(*w, tokens);
    LlamaModel model(w, 2);
    std::vector<std::int32_t> sel;
    for (int h = 0; h <= s.layers; ++h) sel.push_back(h);
    sel.push_back(kFinalNormedHidden);
    const auto pos = iota_positions(0, n);
    ForwardBatch b;
    b.tokens = tokens;
    b.positions = pos;
    b.hidden_layers = sel;
    ForwardOutput out;
    model.forward(b, out);
    ASSERT_EQ(out.n_rows, n);
    for (int t = 0; t < n; ++t) {
      expect_close(out.row(t), ref.logits[t], kTol, "logits t=" + std::to_string(t));
      for (int h = 0; h <= s.layers; ++h) {
        expect_close(hidden_row(out, h, t, s.dim), ref.hidden[h][t], kTol,
                     "hidden " + std::to_string(h));
      }
      expect_close(hidden_row(out, s.layers + 1, t, s.dim), ref.final_normed[t], kTol, "normed");
    }
  }
}

TEST(LlamaModel, ChunkedPrefillThenDecodeMatchesReference) {
  for (const Shape& s : shapes()) {
    SCOPED_TRACE(s.name);
    const auto w = make_weights(s);
    const auto tokens = random_tokens(16, s.vocab, 3);
    const auto ref = reference_logits(*w, tokens);
    LlamaModel model(w, 2);
    ForwardOutput out;
    int done = 0;
    for (int chunk : {7, 5, 1, 3}) {
      const auto pos = iota_positions(done, chunk);
      ForwardBatch b;
      b.tokens = std::span<const Token>(tokens).subspan(done, chunk);
      b.positions = pos;
      // Only the last row's logits, as a prefill would ask.
      const std::int32_t last = chunk - 1;
      b.all_logits = false;
      b.logit_rows = std::span<const std::int32_t>(&last, 1);
      model.forward(b, out);
      ASSERT_EQ(out.n_rows, 1);
      done += chunk;
      expect_close(out.row(0), ref[done - 1], kTol, "after chunk ending at " + std::to_string(done));
    }
    EXPECT_EQ(model.n_cached(), 16);
  }
}

TEST(LlamaModel, LogitRowsSelectAndOrderRows) {
  const Shape s = shapes()[0];
  const auto w = make_weights(s);
  const auto tokens = random_tokens(6, s.vocab, 4);
  const auto ref = reference_logits(*w, tokens);
  LlamaModel model(w, 2);
  const auto pos = iota_positions(0, 6);
  const std::vector<std::int32_t> rows = {4, 1, 4};
  ForwardBatch b;
  b.tokens = tokens;
  b.positions = pos;
  b.all_logits = false;
  b.logit_rows = rows;
  ForwardOutput out;
  model.forward(b, out);
  ASSERT_EQ(out.n_rows, 3);
  expect_close(out.row(0), ref[4], kTol, "row 4");
  expect_close(out.row(1), ref[1], kTol, "row 1");
  expect_close(out.row(2), ref[4], kTol, "row 4 again");
  // No logit rows at all.
  model.truncate(0);
  b.logit_rows = {};
  model.forward(b, out);
  EXPECT_EQ(out.n_rows, 0);
  EXPECT_TRUE(out.logits.empty());
}

struct Tree {
  std::vector<Token> token;
  std::vector<std::int32_t> parent, depth;
};

Tree random_tree(int n, int vocab, Rng& rng) {
  Tree t;
  for (int i = 0; i < n; ++i) {
    t.token.push_back(static_cast<Token>(rng.below(vocab)));
    const std::int32_t p = i == 0 ? -1 : static_cast<std::int32_t>(rng.below(i));
    t.parent.push_back(p);
    t.depth.push_back(p < 0 ? 0 : t.depth[p] + 1);
  }
  return t;
}

std::vector<std::int32_t> root_path(const Tree& t, int node) {
  std::vector<std::int32_t> path;
  for (int v = node; v >= 0; v = t.parent[v]) path.push_back(v);
  std::reverse(path.begin(), path.end());
  return path;
}

TEST(LlamaModel, TreeMaskMatchesSequentialPaths) {
  Rng rng(11);
  for (const Shape& s : shapes()) {
    SCOPED_TRACE(s.name);
    const auto w = make_weights(s);
    for (int trial = 0; trial < 3; ++trial) {
      const int n_prefix = 3 + static_cast<int>(rng.below(5));
      const int n = 6 + static_cast<int>(rng.below(12));
      const auto prefix = random_tokens(n_prefix, s.vocab, rng.next_u64());
      const Tree tree = random_tree(n, s.vocab, rng);
      std::vector<std::uint8_t> mask(static_cast<std::size_t>(n) * n, 0);
      std::vector<std::int32_t> pos(n);
      for (int i = 0; i < n; ++i) {
        for (int v : root_path(tree, i)) mask[static_cast<std::size_t>(i) * n + v] = 1;
        pos[i] = n_prefix + tree.depth[i];
      }
      LlamaModel model(w, 2);
      ForwardOutput out;
      {
        const auto ppos = iota_positions(0, n_prefix);
        ForwardBatch b;
        b.tokens = prefix;
        b.positions = ppos;
        b.all_logits = false;
        model.forward(b, out);
      }
      ForwardBatch b;
      b.tokens = tree.token;
      b.positions = pos;
      b.mask = mask;
      model.forward(b, out);
      ASSERT_EQ(out.n_rows, n);
      const ForwardOutput tree_out = out;
      for (int i = 0; i < n; ++i) {
        std::vector<Token> seq = prefix;
        for (int v : root_path(tree, i)) seq.push_back(tree.token[v]);
        LlamaModel fresh(w, 1);
        const auto seq_logits = run_sequential(fresh, seq);
        expect_close(tree_out.row(i), seq_logits.back(), kTol, "node " + std::to_string(i));
      }
      // Accept the path to the deepest node, then decode one more token.
      int deepest = 0;
      for (int i = 0; i < n; ++i) deepest = tree.depth[i] > tree.depth[deepest] ? i : deepest;
      const auto path = root_path(tree, deepest);
      model.keep_batch_rows(path);
      ASSERT_EQ(model.n_cached(), n_prefix + static_cast<int>(path.size()));
      const Token next = static_cast<Token>(rng.below(s.vocab));
      const std::int32_t next_pos = model.n_cached();
      ForwardBatch nb;
      nb.tokens = std::span<const Token>(&next, 1);
      nb.positions = std::span<const std::int32_t>(&next_pos, 1);
      model.forward(nb, out);
      std::vector<Token> seq = prefix;
      for (int v : path) seq.push_back(tree.token[v]);
      seq.push_back(next);
      LlamaModel fresh(w, 1);
      const auto seq_logits = run_sequential(fresh, seq);
      expect_close(out.row(0), seq_logits.back(), kTol, "after keep_batch_rows");
      expect_close(out.row(0), reference_logits(*w, seq).back(), kTol, "reference after keep");
    }
  }
}

TEST(LlamaModel, EarlyExitEqualsHeadOnIntermediateHidden) {
  for (const Shape& s : shapes()) {
    SCOPED_TRACE(s.name);
    const auto w = make_weights(s);
    const auto tokens = random_tokens(9, s.vocab, 5);
    const auto ref = reference_forward(*w, tokens);
    for (int e = 1; e <= s.layers; ++e) {
      LlamaModel model(w, 2);
      const auto pos = iota_positions(0, 9);
      const std::vector<std::int32_t> sel = {e, kFinalNormedHidden};
      ForwardBatch b;
      b.tokens = tokens;
      b.positions = pos;
      b.exit_layer = e;
      b.hidden_layers = sel;
      ForwardOutput out;
      model.forward(b, out);
      const auto ref_exit = reference_forward(*w, tokens, e);
      for (int t = 0; t < 9; ++t) {
        // Head applied (in the test) to the full model's hidden state after e layers.
        const auto expected = reference_head(*w, ref.hidden[e][t]);
        expect_close(out.row(t), expected, kTol, "exit " + std::to_string(e));
        expect_close(out.row(t), ref_exit.logits[t], kTol, "reference exit");
        expect_close(hidden_row(out, 0, t, s.dim), ref.hidden[e][t], kTol, "hidden at exit");
        expect_close(hidden_row(out, 1, t, s.dim), ref_exit.final_normed[t], kTol, "normed");
      }
      // Early exit continues on its own shallow cache.
      const Token next = tokens[0];
      const std::int32_t next_pos = 9;
      ForwardBatch nb;
      nb.tokens = std::span<const Token>(&next, 1);
      nb.positions = std::span<const std::int32_t>(&next_pos, 1);
      nb.exit_layer = e;
      model.forward(nb, out);
      std::vector<Token> seq = tokens;
      seq.push_back(next);
      expect_close(out.row(0), reference_forward(*w, seq, e).logits.back(), kTol, "exit decode");
      if (e < s.layers) {
        // A full-depth forward cannot read the shallow slots.
        nb.exit_layer = -1;
        const std::int32_t p10 = 10;
        nb.positions = std::span<const std::int32_t>(&p10, 1);
        EXPECT_THROW(model.forward(nb, out), Error);
        model.truncate(0);
        model.forward(nb, out);  // fine on an empty cache
      }
    }
  }
}

TEST(LlamaModel, TruncateThenRerunIsIdentical) {
  for (const Shape& s : shapes()) {
    SCOPED_TRACE(s.name);
    const auto w = make_weights(s);
    const auto tokens = random_tokens(10, s.vocab, 6);
    LlamaModel model(w, 2);
    const auto first = run_sequential(model, tokens);
    model.truncate(6);
    EXPECT_EQ(model.n_cached(), 6);
    const auto again = run_sequential(model, std::span<const Token>(tokens).subspan(6));
    for (int t = 6; t < 10; ++t) EXPECT_EQ(again[t - 6], first[t]) << "t=" << t;
    // Overwrite the tail with other tokens, truncate, and re-run: still identical.
    model.truncate(6);
    run_sequential(model, random_tokens(4, s.vocab, 99));
    model.truncate(6);
    const auto third = run_sequential(model, std::span<const Token>(tokens).subspan(6));
    for (int t = 6; t < 10; ++t) EXPECT_EQ(third[t - 6], first[t]) << "t=" << t;
    model.truncate(0);
    EXPECT_EQ(run_sequential(model, tokens), first);
  }
}

TEST(LlamaModel, ThreadCountDoesNotChangeOutputs) {
  // Big enough that every kernel takes its parallel path.
  Shape s{"threads", 512, 1024, 2, 8, 4, 700, 128};
  const auto w = make_weights(s, 3);
  const auto tokens = random_tokens(40, s.vocab, 8);
  std::vector<std::vector<float>> baseline;
  for (int threads : {1, 2, 3}) {
    SCOPED_TRACE(threads);
    LlamaModel model(w, threads);
    const auto pos = iota_positions(0, 30);
    ForwardBatch b;
    b.tokens = std::span<const Token>(tokens).subspan(0, 30);
    b.positions = pos;
    ForwardOutput out;
    model.forward(b, out);
    std::vector<std::vector<float>> logits = {out.logits};
    for (const auto& row : run_sequential(model, std::span<const Token>(tokens).subspan(30))) {
      logits.push_back(row);
    }
    if (baseline.empty()) {
      baseline = logits;
    } else {
      ASSERT_EQ(logits.size(), baseline.size());
      for (std::size_t i = 0; i < logits.size(); ++i) EXPECT_EQ(logits[i], baseline[i]) << i;
    }
  }
  // And it still matches the reference.
  expect_close(std::span<const float>(baseline.back()), reference_logits(*w, tokens).back(), kTol,
               "reference");
}

TEST(LlamaModel, BatchBiggerThanPreallocationGrows) {
  Shape s{"tiny", 16, 24, 1, 2, 1, 20, 600};
  const auto w = make_weights(s);
  const int n = LlamaModel::kPreallocBatch + 20;
  const auto tokens = random_tokens(n, s.vocab, 9);
  LlamaModel batch_model(w, 2), seq_model(w, 2);
  const auto pos = iota_positions(0, n);
  ForwardBatch b;
  b.tokens = tokens;
  b.positions = pos;
  ForwardOutput out;
  batch_model.forward(b, out);
  const auto seq = run_sequential(seq_model, tokens);
  for (int t : {0, 100, n - 1}) expect_close(out.row(t), seq[t], kTol, "t=" + std::to_string(t));
}

TEST(LlamaModel, ReusesOutputBuffers) {
  const auto w = make_weights(shapes()[0]);
  LlamaModel model(w, 2);
  const auto tokens = random_tokens(4, 50, 10);
  const auto pos = iota_positions(0, 4);
  const std::vector<std::int32_t> sel = {1};
  ForwardBatch b;
  b.tokens = tokens;
  b.positions = pos;
  b.hidden_layers = sel;
  ForwardOutput out;
  model.forward(b, out);
  const float* logits_ptr = out.logits.data();
  const float* hidden_ptr = out.hidden[0].data();
  model.forward(b, out);  // same positions again: cache now holds 8 slots, that's allowed
  EXPECT_EQ(out.logits.data(), logits_ptr);
  EXPECT_EQ(out.hidden[0].data(), hidden_ptr);
}

TEST(LlamaModel, BadInputsThrow) {
  const Shape s = shapes()[0];  // 2 layers, vocab 50, max_seq_len 64
  const auto w = make_weights(s);
  LlamaModel model(w, 2, 8);
  ForwardOutput out;
  const std::vector<Token> tok3 = {1, 2, 3};
  const std::vector<std::int32_t> pos3 = {0, 1, 2};
  auto batch = [&] {
    ForwardBatch b;
    b.tokens = tok3;
    b.positions = pos3;
    return b;
  };
  {  // empty batch
    ForwardBatch b;
    EXPECT_THROW(model.forward(b, out), Error);
  }
  {  // size mismatch
    ForwardBatch b = batch();
    b.positions = std::span<const std::int32_t>(pos3).subspan(0, 2);
    EXPECT_THROW(model.forward(b, out), Error);
  }
  for (Token bad : {-1, 50}) {
    const std::vector<Token> t = {1, bad, 3};
    ForwardBatch b = batch();
    b.tokens = t;
    EXPECT_THROW(model.forward(b, out), Error) << bad;
  }
  for (std::int32_t bad : {-1, 64}) {
    const std::vector<std::int32_t> p = {0, bad, 2};
    ForwardBatch b = batch();
    b.positions = p;
    EXPECT_THROW(model.forward(b, out), Error) << bad;
  }
  {  // malformed masks
    const std::vector<std::uint8_t> short_mask(8, 1);
    const std::vector<std::uint8_t> no_diag = {1, 0, 0, 1, 0, 0, 1, 1, 1};
    const std::vector<std::uint8_t> future = {1, 1, 0, 1, 1, 0, 1, 1, 1};
    for (const auto* m : {&short_mask, &no_diag, &future}) {
      ForwardBatch b = batch();
      b.mask = *m;
      EXPECT_THROW(model.forward(b, out), Error);
    }
  }
  for (std::int32_t e : {0, 3, -2}) {
    ForwardBatch b = batch();
    b.exit_layer = e;
    EXPECT_THROW(model.forward(b, out), Error) << e;
  }
  for (std::int32_t h : {-2, 3}) {
    const std::vector<std::int32_t> sel = {0, h};
    ForwardBatch b = batch();
    b.hidden_layers = sel;
    EXPECT_THROW(model.forward(b, out), Error) << h;
  }
  {  // selector beyond the exit layer
    const std::vector<std::int32_t> sel = {2};
    ForwardBatch b = batch();
    b.exit_layer = 1;
    b.hidden_layers = sel;
    EXPECT_THROW(model.forward(b, out), Error);
  }
  {  // logit row out of range
    const std::vector<std::int32_t> rows = {0, 3};
    ForwardBatch b = batch();
    b.all_logits = false;
    b.logit_rows = rows;
    EXPECT_THROW(model.forward(b, out), Error);
  }
  EXPECT_EQ(model.n_cached(), 0);  // nothing above touched the cache
  // keep_batch_rows without a forward.
  const std::vector<std::int32_t> keep0 = {0};
  EXPECT_THROW(model.keep_batch_rows(keep0), Error);
  // Cache overflow: capacity 8.
  model.forward(batch(), out);
  const std::vector<std::int32_t> pos_next = {3, 4, 5};
  ForwardBatch b2 = batch();
  b2.positions = pos_next;
  model.forward(b2, out);
  EXPECT_EQ(model.n_cached(), 6);
  try {
    model.forward(batch(), out);
    ADD_FAILURE() << "overflow not detected";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("capacity is 8"), std::string::npos) << msg;
    EXPECT_NE(msg.find("9"), std::string::npos) << msg;
  }
  EXPECT_EQ(model.n_cached(), 6);
  // Bad keep rows.
  for (const std::vector<std::int32_t>& rows :
       {std::vector<std::int32_t>{1, 0}, std::vector<std::int32_t>{0, 0},
        std::vector<std::int32_t>{3}, std::vector<std::int32_t>{-1}}) {
    EXPECT_THROW(model.keep_batch_rows(rows), Error);
  }
  const std::vector<std::int32_t> keep02 = {0, 2};
  model.keep_batch_rows(keep02);
  EXPECT_EQ(model.n_cached(), 5);
  EXPECT_THROW(model.keep_batch_rows(keep02), Error);  // already kept
  // truncate.
  EXPECT_THROW(model.truncate(6), Error);
  EXPECT_THROW(model.truncate(-1), Error);
  model.truncate(2);
  EXPECT_EQ(model.n_cached(), 2);
  // Constructor.
  EXPECT_THROW(LlamaModel(nullptr, 1), Error);
  EXPECT_THROW(LlamaModel(w, 0), Error);
  EXPECT_THROW(LlamaModel(w, 1, 0), Error);
  EXPECT_THROW(LlamaModel(w, 1, 65), Error);
  auto broken = std::make_shared<LlamaWeights>(*w);
  broken->layers[1].w2 = WeightMatrix::from_f32(broken->layers[1].w2.rows() - 1,
                                                broken->layers[1].w2.cols(),
                                                std::vector<float>((broken->layers[1].w2.rows() - 1) *
                                                                   broken->layers[1].w2.cols()));
  EXPECT_THROW(LlamaModel(broken, 1), Error);
  auto bad_scaling = std::make_shared<LlamaWeights>(*w);
  bad_scaling->info.rope_scaling.type = RopeScalingType::kLinear;
  bad_scaling->info.rope_scaling.factor = 0.0f;
  EXPECT_THROW(LlamaModel(bad_scaling, 1), Error);
}

}  // namespace
}  // namespace speclab

// ---------------------------------------------------------------------------------------------
// Golden: greedy decoding of the real stories260K.bin (llama2.c conventions, see
// /work/shared/models/README.md) reproduces the reference text of llama2.c's run.c.
#include <cstdio>
#include <fstream>

#include "formats/model_loader.h"
#include "tests/testing/models_dir.h"

namespace speclab {
namespace {

// Token pieces of a llama2.c tokenizer file (max_token_length int32, then per token: float
// score, int32 length, bytes). Read here directly so this test does not depend on the
// tokenizer library.
std::vector<std::string> read_llama2c_pieces(const std::string& path, int vocab) {
  std::ifstream f(path, std::ios::binary);
  std::int32_t max_len = 0;
  f.read(reinterpret_cast<char*>(&max_len), 4);
  std::vector<std::string> pieces(vocab);
  for (auto& p : pieces) {
    float score = 0;
    std::int32_t len = 0;
    f.read(reinterpret_cast<char*>(&score), 4);
    f.read(reinterpret_cast<char*>(&len), 4);
    p.resize(len);
    f.read(p.data(), len);
  }
  EXPECT_TRUE(f.good()) << path;
  return pieces;
}

// llama2.c decode(): strip the leading space after BOS, turn "<0xXX>" into the raw byte.
std::string piece_text(const std::vector<std::string>& pieces, Token prev, Token tok) {
  std::string p = pieces[tok];
  if (prev == 1 && !p.empty() && p[0] == ' ') p.erase(0, 1);
  unsigned byte = 0;
  if (p.size() == 6 && std::sscanf(p.c_str(), "<0x%02X>", &byte) == 1) {
    return std::string(1, static_cast<char>(byte));
  }
  return p;
}

TEST(LlamaModelGolden, Stories260KGreedyMatchesLlama2c) {
  const std::string model_file = testing::model_path("stories260K.bin");
  const std::string tok_file = testing::model_path("tok512.bin");
  SPECLAB_REQUIRE_MODEL(model_file);
  SPECLAB_REQUIRE_MODEL(tok_file);
  const auto w = load_weights_shared(model_file);
  const auto pieces = read_llama2c_pieces(tok_file, w->info.vocab_size);
  // BOS + "Once upon a time" encoded by llama2.c's tokenizer (dummy prefix space, BPE merges
  // by score): " Once" " upon" " a" " time".
  const std::vector<Token> prompt = {1, 403, 407, 261, 378};
  const int steps = 256;
  LlamaModel model(w, 2);
  ForwardOutput out;
  std::string text;
  Token token = prompt[0];
  for (int pos = 0; pos < steps; ++pos) {
    ForwardBatch b;
    b.tokens = std::span<const Token>(&token, 1);
    b.positions = std::span<const std::int32_t>(&pos, 1);
    model.forward(b, out);
    Token next;
    if (pos + 1 < static_cast<int>(prompt.size())) {
      next = prompt[pos + 1];
    } else {
      const auto row = out.row(0);
      next = static_cast<Token>(std::max_element(row.begin(), row.end()) - row.begin());
    }
    if (next == 1) break;  // llama2.c stops at BOS
    text += piece_text(pieces, token, next);
    token = next;
  }
  const std::string expected =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
      "park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n"
      "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. "
      "She said, \"I want to play with your ball, but I can't find it.\"\n"
      "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what "
      "to do.\"\n"
      "Lily didn't want to help her mom, so she said, \"I'm sorry, mom. I didn't know what to "
      "do.\" Her mom said, \"Don't worry, Lily. We can help you.";
  EXPECT_EQ(text, expected);
}

}  // namespace
}  // namespace speclab
