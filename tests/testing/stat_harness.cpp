#include "tests/testing/stat_harness.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/error.h"

namespace speclab::testing {

// ---- chi-square --------------------------------------------------------------------------

namespace {

// Series for the regularized lower gamma P(a, x), good for x < a + 1.
double gamma_p_series(double a, double x) {
  double term = 1.0 / a, sum = term;
  for (int n = 1; n < 10000; ++n) {
    term *= x / (a + n);
    sum += term;
    if (std::fabs(term) < std::fabs(sum) * 1e-16) break;
  }
  return sum * std::exp(-x + a * std::log(x) - std::lgamma(a));
}

// Continued fraction (modified Lentz) for Q(a, x), good for x >= a + 1.
double gamma_q_fraction(double a, double x) {
  const double tiny = 1e-300;
  double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < 1e-16) break;
  }
  return std::exp(-x + a * std::log(x) - std::lgamma(a)) * h;
}

}  // namespace

double regularized_gamma_q(double a, double x) {
  SPECLAB_ASSERT(a > 0.0 && x >= 0.0);
  if (x == 0.0) return 1.0;
  if (x < a + 1.0) return 1.0 - gamma_p_series(a, x);
  return gamma_q_fraction(a, x);
}

double chi_square_sf(double x, double dof) {
  if (x <= 0.0) return 1.0;
  return regularized_gamma_q(0.5 * dof, 0.5 * x);
}

ChiSquareResult chi_square_test(std::span<const std::int64_t> observed,
                                std::span<const double> expected, double min_expected) {
  SPECLAB_ASSERT(observed.size() == expected.size());
  ChiSquareResult r;
  const double n = static_cast<double>(std::accumulate(observed.begin(), observed.end(),
                                                       std::int64_t{0}));
  double pooled_obs = 0.0, pooled_exp = 0.0;
  for (std::size_t i = 0; i < observed.size(); ++i) {
    const double e = expected[i] * n;
    const double o = static_cast<double>(observed[i]);
    if (expected[i] <= 0.0) {
      r.impossible += observed[i];
      continue;
    }
    if (e < min_expected) {
      pooled_obs += o;
      pooled_exp += e;
      continue;
    }
    r.statistic += (o - e) * (o - e) / e;
    ++r.n_cells;
  }
  if (pooled_exp >= min_expected) {
    r.statistic += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / pooled_exp;
    ++r.n_cells;
  }
  r.dof = std::max(1, r.n_cells - 1);
  r.p_value = r.impossible > 0 ? 0.0 : chi_square_sf(r.statistic, r.dof);
  return r;
}

// ---- synthetic target --------------------------------------------------------------------

SyntheticTarget::SyntheticTarget(std::int32_t vocab, std::int32_t order, std::uint64_t seed,
                                 float scale)
    : vocab_(vocab), order_(order) {
  SPECLAB_ASSERT(vocab > 1 && (order == 1 || order == 2));
  Rng rng(seed);
  const std::size_t rows = order == 1 ? vocab : static_cast<std::size_t>(vocab) * vocab;
  table_.resize(rows * vocab);
  for (float& v : table_) v = static_cast<float>(scale * rng.normal());
}

std::span<const float> SyntheticTarget::logits(Token prev2, Token prev1) const {
  const std::size_t row =
      order_ == 1 ? static_cast<std::size_t>(prev1)
                  : static_cast<std::size_t>(prev2) * vocab_ + static_cast<std::size_t>(prev1);
  return std::span<const float>(table_).subspan(row * vocab_, vocab_);
}

void SyntheticTarget::probs(Token prev2, Token prev1, const SamplingParams& sp,
                            std::span<float> out) const {
  logits_to_probs(logits(prev2, prev1), sp, out, scratch_);
}

// ---- test drafter ------------------------------------------------------------------------

const char* to_string(TreeKind k) {
  switch (k) {
    case TreeKind::kChainIid: return "chain-iid";
    case TreeKind::kIidTree: return "iid-tree";
    case TreeKind::kDeterministicTopK: return "det-topk";
    case TreeKind::kDeterministicRandom: return "det-random";
    case TreeKind::kWithoutReplacement: return "without-replacement";
  }
  return "?";
}

TestDrafter::TestDrafter(std::int32_t vocab, std::uint64_t seed, TreeKind kind,
                         std::vector<std::int32_t> branching, SamplingParams q_params)
    : vocab_(vocab),
      kind_(kind),
      branching_(std::move(branching)),
      q_params_(q_params) {
  if (kind_ == TreeKind::kChainIid) std::fill(branching_.begin(), branching_.end(), 1);
  const SyntheticTarget table(vocab, 1, seed, 1.0f);
  q_table_.resize(static_cast<std::size_t>(vocab) * vocab);
  q_order_.resize(q_table_.size());
  for (Token t = 0; t < vocab; ++t) {
    const std::span<float> q = std::span<float>(q_table_).subspan(std::size_t(t) * vocab, vocab);
    table.probs(0, t, q_params_, q);
    const auto order = std::span<std::int32_t>(q_order_).subspan(std::size_t(t) * vocab, vocab);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::int32_t a, std::int32_t b) { return q[a] > q[b]; });
  }
}

ChildSampling TestDrafter::children() const {
  switch (kind_) {
    case TreeKind::kChainIid:
    case TreeKind::kIidTree: return ChildSampling::kIidSampled;
    case TreeKind::kDeterministicTopK:
    case TreeKind::kDeterministicRandom: return ChildSampling::kDeterministic;
    case TreeKind::kWithoutReplacement: return ChildSampling::kWithoutReplacement;
  }
  return ChildSampling::kDeterministic;
}

void TestDrafter::build(Token root, Rng& rng, DraftTree& out) const {
  const bool record_q = kind_ != TreeKind::kDeterministicTopK;
  out.reset(root, children(), record_q ? vocab_ : 0);
  // Breadth first: nodes of depth d are [level_begin, level_end).
  std::int32_t level_begin = 0, level_end = 1;
  for (std::size_t d = 0; d < branching_.size(); ++d) {
    for (std::int32_t u = level_begin; u < level_end; ++u) {
      const std::size_t row = static_cast<std::size_t>(out.token[u]) * vocab_;
      const std::span<const float> q = std::span<const float>(q_table_).subspan(row, vocab_);
      if (record_q) std::copy(q.begin(), q.end(), out.q_row_mut(u).begin());
      const std::int32_t k = branching_[d];
      switch (kind_) {
        case TreeKind::kChainIid:
        case TreeKind::kIidTree:
        case TreeKind::kDeterministicRandom:
          for (std::int32_t i = 0; i < k; ++i) {
            const Token t = sample_from(q, rng);
            out.add(t, u, 0.0f, q[t]);
          }
          break;
        case TreeKind::kDeterministicTopK: {
          for (std::int32_t i = 0; i < k; ++i) out.add(q_order_[row + i], u, 0.0f, 1.0f);
          break;
        }
        case TreeKind::kWithoutReplacement: {
          // Gumbel-top-k in its exponential-race form: the k smallest E_v / q_v with
          // E_v ~ Exp(1) are the k largest log q_v + Gumbel_v: a sample without replacement.
          keys_.resize(vocab_);
          order_.clear();
          for (std::int32_t v = 0; v < vocab_; ++v) {
            if (q[v] > 0.0f) {
              keys_[v] = static_cast<float>(-std::log(rng.uniform_open()) / q[v]);
              order_.push_back(v);
            }
          }
          const std::int32_t n = std::min<std::int32_t>(k, static_cast<std::int32_t>(order_.size()));
          std::partial_sort(order_.begin(), order_.begin() + n, order_.end(),
                            [&](std::int32_t a, std::int32_t b) { return keys_[a] < keys_[b]; });
          for (std::int32_t i = 0; i < n; ++i) out.add(order_[i], u, 0.0f, q[order_[i]]);
          break;
        }
      }
    }
    level_begin = level_end;
    level_end = out.size();
  }
  // Leaves' q rows stay zero: no children were drawn from them.
}

// ---- simulation --------------------------------------------------------------------------

SimulationResult simulate(const SyntheticTarget& target, const SamplingParams& sp,
                          const TestDrafter& drafter, const AcceptanceRule& rule,
                          std::span<const Token> context, std::int32_t n_draws,
                          std::uint64_t seed) {
  SPECLAB_ASSERT(context.size() >= 2);
  const std::int32_t v = target.vocab();
  SimulationResult res;
  res.first.assign(v, 0);
  res.pair.assign(static_cast<std::size_t>(v) * v, 0);
  Rng rng(seed);
  // p(. | prev2, prev1) for every pair, computed once (the simulation then only copies rows).
  std::vector<float> table(static_cast<std::size_t>(v) * v * v);
  for (Token a = 0; a < v; ++a) {
    for (Token b = 0; b < v; ++b) {
      target.probs(a, b, sp,
                   std::span<float>(table).subspan((static_cast<std::size_t>(a) * v + b) * v, v));
    }
  }
  DraftTree tree;
  Acceptance acc;
  std::vector<float> rows;
  std::vector<Token> emitted;
  std::int64_t accepted_first = 0;
  for (std::int32_t draw = 0; draw < n_draws; ++draw) {
    emitted.clear();
    Token prev2 = context[context.size() - 2], prev1 = context.back();
    bool first_step = true;
    while (emitted.size() < 2) {
      drafter.build(prev1, rng, tree);
      rule.check_tree(tree);
      rows.resize(static_cast<std::size_t>(tree.size()) * v);
      for (std::int32_t i = 0; i < tree.size(); ++i) {
        const Token before = i == 0 ? prev2 : tree.token[tree.parent[i]];
        const std::size_t src = (static_cast<std::size_t>(before) * v + tree.token[i]) * v;
        std::copy_n(table.begin() + static_cast<std::ptrdiff_t>(src), v,
                    rows.begin() + static_cast<std::ptrdiff_t>(i) * v);
      }
      rule.accept(tree, TargetRows{v, rows}, rng, acc);
      if (first_step) accepted_first += acc.n_accepted();
      first_step = false;
      for (std::size_t j = 1; j < acc.path.size(); ++j) emitted.push_back(tree.token[acc.path[j]]);
      emitted.push_back(acc.bonus);
      const std::size_t m = emitted.size();
      prev1 = emitted[m - 1];
      prev2 = m >= 2 ? emitted[m - 2] : context.back();
    }
    ++res.first[emitted[0]];
    ++res.pair[static_cast<std::size_t>(emitted[0]) * v + emitted[1]];
  }
  res.mean_accepted = static_cast<double>(accepted_first) / n_draws;
  return res;
}

void exact_laws(const SyntheticTarget& target, const SamplingParams& sp,
                std::span<const Token> context, std::vector<double>& first,
                std::vector<double>& pair) {
  const std::int32_t v = target.vocab();
  std::vector<float> p1(v), p2(v);
  target.probs(context[context.size() - 2], context.back(), sp, p1);
  first.assign(p1.begin(), p1.end());
  pair.assign(static_cast<std::size_t>(v) * v, 0.0);
  for (Token a = 0; a < v; ++a) {
    if (p1[a] <= 0.0f) continue;
    target.probs(context.back(), a, sp, p2);
    for (Token b = 0; b < v; ++b) pair[static_cast<std::size_t>(a) * v + b] = double(p1[a]) * p2[b];
  }
}

// ---- through the real decode loop ---------------------------------------------------------

void exact_laws(LanguageModel& model, const SamplingParams& sp, std::span<const Token> prompt,
                std::vector<double>& first, std::vector<double>& pair) {
  const std::int32_t v = model.info().vocab_size;
  std::vector<float> p1(v), p2(v);
  std::vector<std::int32_t> scratch, pos;
  std::vector<Token> seq(prompt.begin(), prompt.end());
  ForwardOutput out;
  // p(. | seq) into `p`, from a forward of the whole sequence.
  auto probs_after = [&](std::vector<float>& p) {
    model.truncate(0);
    pos.resize(seq.size());
    std::iota(pos.begin(), pos.end(), 0);
    ForwardBatch b;
    b.tokens = seq;
    b.positions = pos;
    model.forward(b, out);
    logits_to_probs(out.row(out.n_rows - 1), sp, p, scratch);
  };
  probs_after(p1);
  first.assign(p1.begin(), p1.end());
  pair.assign(static_cast<std::size_t>(v) * v, 0.0);
  seq.push_back(0);
  for (Token a = 0; a < v; ++a) {
    if (p1[a] <= 0.0f) continue;
    seq.back() = a;
    probs_after(p2);
    for (Token b = 0; b < v; ++b) pair[static_cast<std::size_t>(a) * v + b] = double(p1[a]) * p2[b];
  }
  model.truncate(0);
}

DecodeDraws decode_draws(LanguageModel& target, Drafter* drafter, const AcceptanceRule* rule,
                         std::span<const Token> prompt, DecodeOptions options, std::int32_t n_draws,
                         std::uint64_t seed0) {
  const std::int32_t v = target.info().vocab_size;
  DecodeDraws d;
  d.first.assign(v, 0);
  d.pair.assign(static_cast<std::size_t>(v) * v, 0);
  options.max_new_tokens = 2;
  options.stop_at_bos = options.stop_at_eos = false;
  for (std::int32_t i = 0; i < n_draws; ++i) {
    options.seed = seed0 + static_cast<std::uint64_t>(i);
    const DecodeResult r = decode(target, drafter, rule, prompt, options);
    if (r.tokens.size() != 2) fail("decode_draws: draw {} emitted {} tokens, not 2", i, r.tokens.size());
    ++d.first[r.tokens[0]];
    ++d.pair[static_cast<std::size_t>(r.tokens[0]) * v + r.tokens[1]];
    for (const StepRecord& s : r.steps) d.accepted += s.n_accepted;
  }
  return d;
}

}  // namespace speclab::testing
