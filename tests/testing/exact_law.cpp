#include "tests/testing/exact_law.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include "base/error.h"
#include "tests/testing/stat_harness.h"

namespace speclab::testing {

namespace {

constexpr std::uint64_t kGrid = 1ull << 53;  // Rng::uniform() returns k * 2^-53, k in [0, kGrid)

// Feeds the rule the grid values of `prefix`, then zeros; counts the calls.
class GridScript final : public Rng::UniformScript {
 public:
  std::vector<std::uint64_t> prefix;
  std::size_t calls = 0;
  double next() override {
    const std::uint64_t k = calls < prefix.size() ? prefix[calls] : 0;
    ++calls;
    return static_cast<double>(k) * 0x1.0p-53;
  }
};

class Enumerator {
 public:
  Enumerator(const AcceptanceRule& rule, const DraftTree& tree, const TargetRows& p)
      : rule_(rule), tree_(tree), p_(p) {
    rng_.set_script(&script_);
  }

  std::map<std::vector<std::int32_t>, double> law;  // key: path..., bonus
  std::int64_t runs = 0;

  // Splits the t-th uniform (t = prefix size) into its decision intervals and recurses.
  void dfs(double weight) {
    const std::size_t t = script_.prefix.size();
    std::vector<std::int32_t> key = run();
    if (script_.calls <= t) {  // the rule made only t draws: a leaf of the event tree
      key.pop_back();  // the call count
      law[key] += weight;
      return;
    }
    std::uint64_t lo = 0;
    while (lo < kGrid) {
      script_.prefix.push_back(lo);
      const std::vector<std::int32_t> o = run();
      // The decision interval starting at lo is [lo, hi): the largest a with outcome(a) == o.
      std::uint64_t a = lo, hi = kGrid;
      while (hi - a > 1) {
        const std::uint64_t m = a + (hi - a) / 2;
        script_.prefix.back() = m;
        if (run() == o) {
          a = m;
        } else {
          hi = m;
        }
      }
      script_.prefix.back() = lo + (hi - lo) / 2;
      if (run() != o) fail("enumerate_rule: rule '{}': outcome not constant on a decision interval", rule_.name());
      script_.prefix.back() = lo;
      dfs(weight * (static_cast<double>(hi - lo) * 0x1.0p-53));
      script_.prefix.pop_back();
      lo = hi;
    }
  }

 private:
  std::vector<std::int32_t> run() {
    script_.calls = 0;
    rule_.accept(tree_, p_, rng_, acc_);
    ++runs;
    std::vector<std::int32_t> key = acc_.path;
    key.push_back(acc_.bonus);
    key.push_back(static_cast<std::int32_t>(script_.calls));
    return key;
  }

  const AcceptanceRule& rule_;
  const DraftTree& tree_;
  const TargetRows& p_;
  GridScript script_;
  Rng rng_{0};
  Acceptance acc_;
};

}  // namespace

std::vector<RuleOutcome> enumerate_rule(const AcceptanceRule& rule, const DraftTree& tree,
                                        const TargetRows& p, std::int64_t* n_runs) {
  rule.check_tree(tree);
  Enumerator e(rule, tree, p);
  e.dfs(1.0);
  if (n_runs) *n_runs += e.runs;
  std::vector<RuleOutcome> out;
  for (const auto& [key, prob] : e.law) {
    RuleOutcome o;
    o.path.assign(key.begin(), key.end() - 1);
    o.bonus = key.back();
    o.prob = prob;
    out.push_back(std::move(o));
  }
  return out;
}

namespace {

// Rounds a probability row to multiples of 2^-24 that sum to exactly 1 (the largest entry takes
// the difference; zeros stay zero): every such value is a float, every sum of them is exact in
// double, so "q sums to 1" holds exactly and a draw with sample_from has exactly the law q.
void make_dyadic(std::span<float> row) {
  constexpr double kScale = 16777216.0;  // 2^24
  std::int64_t total = 0;
  std::size_t big = 0;
  for (std::size_t i = 0; i < row.size(); ++i) {
    const auto k = static_cast<std::int64_t>(std::llround(static_cast<double>(row[i]) * kScale));
    row[i] = static_cast<float>(static_cast<double>(k) / kScale);
    total += k;
    if (row[i] > row[big]) big = i;
  }
  row[big] = static_cast<float>((std::llround(static_cast<double>(row[big]) * kScale) + (16777216 - total)) / kScale);
}

}  // namespace

LawWorld make_world(std::int32_t vocab, std::uint64_t seed, const SamplingParams& sp,
                    const SamplingParams& sq) {
  LawWorld w;
  w.vocab = vocab;
  const SyntheticTarget target(vocab, 2, seed, 1.5f), draft(vocab, 1, seed * 31 + 7, 1.0f);
  w.p.resize(static_cast<std::size_t>(vocab) * vocab * vocab);
  w.q.resize(static_cast<std::size_t>(vocab) * vocab);
  for (Token a = 0; a < vocab; ++a) {
    for (Token b = 0; b < vocab; ++b) {
      target.probs(a, b, sp, std::span<float>(w.p).subspan((static_cast<std::size_t>(a) * vocab + b) * vocab, vocab));
    }
    draft.probs(0, a, sq, std::span<float>(w.q).subspan(static_cast<std::size_t>(a) * vocab, vocab));
  }
  for (std::size_t r = 0; r < w.p.size(); r += vocab) make_dyadic(std::span<float>(w.p).subspan(r, vocab));
  for (std::size_t r = 0; r < w.q.size(); r += vocab) make_dyadic(std::span<float>(w.q).subspan(r, vocab));
  return w;
}

const char* to_string(SpecKind k) {
  switch (k) {
    case SpecKind::kIid: return "iid";
    case SpecKind::kDetTopK: return "det-topk";
    case SpecKind::kDetRandom: return "det-random";
    case SpecKind::kWithoutReplacement: return "without-replacement";
  }
  return "?";
}

TreeSpec kseq_spec(std::int32_t k, std::int32_t gamma) {
  TreeSpec s;
  s.kind = SpecKind::kIid;
  s.branching.assign(gamma, 1);
  s.branching[0] = k;
  return s;
}

namespace {

ChildSampling children_of(SpecKind k) {
  switch (k) {
    case SpecKind::kIid: return ChildSampling::kIidSampled;
    case SpecKind::kDetTopK:
    case SpecKind::kDetRandom: return ChildSampling::kDeterministic;
    case SpecKind::kWithoutReplacement: return ChildSampling::kWithoutReplacement;
  }
  return ChildSampling::kDeterministic;
}

struct TreeEnum {
  const LawWorld& w;
  const TreeSpec& spec;
  std::vector<WeightedTree>& out;
  bool record_q = true;

  // Expands node u (all nodes < u are expanded; nodes are in breadth-first order).
  void expand(DraftTree& t, std::int32_t u, double prob) {
    if (u == t.size()) {
      out.push_back({t, prob});
      return;
    }
    const std::int32_t d = t.depth[u];
    if (d >= static_cast<std::int32_t>(spec.branching.size())) {
      expand(t, u + 1, prob);
      return;
    }
    const std::int32_t b = spec.branching[d];
    const auto q = w.q_row(t.token[u]);
    std::vector<Token> chosen;
    if (spec.kind == SpecKind::kDetTopK) {
      std::vector<Token> order(w.vocab);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](Token x, Token y) { return q[x] > q[y]; });
      chosen.assign(order.begin(), order.begin() + std::min(b, w.vocab));
      attach(t, u, chosen, prob);
      return;
    }
    tuples(t, u, b, q, chosen, prob);
  }

  void tuples(DraftTree& t, std::int32_t u, std::int32_t b, std::span<const float> q,
              std::vector<Token>& chosen, double prob) {
    const bool swor = spec.kind == SpecKind::kWithoutReplacement;
    if (static_cast<std::int32_t>(chosen.size()) == b) {
      attach(t, u, chosen, prob);
      return;
    }
    double rest = 1.0;
    if (swor) {
      rest = 0.0;
      for (Token x = 0; x < w.vocab; ++x) {
        if (std::find(chosen.begin(), chosen.end(), x) == chosen.end()) rest += q[x];
      }
      if (!(rest > 0.0)) {  // support exhausted: fewer children (as Gumbel-top-k gives)
        attach(t, u, chosen, prob);
        return;
      }
    }
    for (Token x = 0; x < w.vocab; ++x) {
      if (!(q[x] > 0.0f)) continue;
      if (swor && std::find(chosen.begin(), chosen.end(), x) != chosen.end()) continue;
      chosen.push_back(x);
      tuples(t, u, b, q, chosen, prob * (static_cast<double>(q[x]) / rest));
      chosen.pop_back();
    }
  }

  void attach(DraftTree& t, std::int32_t u, const std::vector<Token>& chosen, double prob) {
    const std::int32_t n0 = t.size();
    const auto q = w.q_row(t.token[u]);
    for (Token x : chosen) {
      const std::int32_t c = t.add(x, u, 0.0f, record_q ? q[x] : 1.0f);
      if (record_q) std::copy(w.q_row(x).begin(), w.q_row(x).end(), t.q_row_mut(c).begin());
    }
    expand(t, u + 1, prob);
    // Undo: drop the nodes added here (they are the last ones).
    t.token.resize(n0);
    t.parent.resize(n0);
    t.depth.resize(n0);
    t.score.resize(n0);
    if (!t.q_token.empty()) t.q_token.resize(n0);
    if (record_q) t.q.resize(static_cast<std::size_t>(n0) * t.q_vocab);
  }
};

}  // namespace

std::vector<WeightedTree> tree_law(const LawWorld& w, const TreeSpec& spec, Token root) {
  std::vector<WeightedTree> out;
  TreeEnum e{w, spec, out, spec.kind != SpecKind::kDetTopK};
  DraftTree t;
  t.reset(root, children_of(spec.kind), e.record_q ? w.vocab : 0);
  if (e.record_q) std::copy(w.q_row(root).begin(), w.q_row(root).end(), t.q_row_mut(0).begin());
  e.expand(t, 0, 1.0);
  return out;
}

namespace {

std::int64_t ipow(std::int32_t v, std::int32_t n) {
  std::int64_t r = 1;
  for (std::int32_t i = 0; i < n; ++i) r *= v;
  return r;
}

using StepLaw = std::map<std::vector<Token>, double>;

StepLaw step_law(const LawWorld& w, const TreeSpec& spec, const AcceptanceRule& rule, Token a, Token b) {
  StepLaw law;
  std::vector<float> rows;
  for (const WeightedTree& wt : tree_law(w, spec, b)) {
    const DraftTree& t = wt.tree;
    rows.resize(static_cast<std::size_t>(t.size()) * w.vocab);
    for (std::int32_t i = 0; i < t.size(); ++i) {
      const Token before = i == 0 ? a : t.token[t.parent[i]];
      const auto r = w.p_row(before, t.token[i]);
      std::copy(r.begin(), r.end(), rows.begin() + static_cast<std::ptrdiff_t>(i) * w.vocab);
    }
    for (const RuleOutcome& o : enumerate_rule(rule, t, TargetRows{w.vocab, rows})) {
      std::vector<Token> seq;
      for (std::size_t j = 1; j < o.path.size(); ++j) seq.push_back(t.token[o.path[j]]);
      seq.push_back(o.bonus);
      law[seq] += wt.prob * o.prob;
    }
  }
  return law;
}

struct LawMemo {
  const LawWorld& w;
  const TreeSpec& spec;
  const AcceptanceRule& rule;
  Continue cont;
  std::map<std::pair<Token, Token>, StepLaw> steps;
  std::map<std::tuple<Token, Token, std::int32_t>, std::vector<double>> laws;

  const std::vector<double>& law(Token a, Token b, std::int32_t n) {
    const auto key = std::make_tuple(a, b, n);
    if (auto it = laws.find(key); it != laws.end()) return it->second;
    auto sit = steps.find({a, b});
    if (sit == steps.end()) sit = steps.emplace(std::make_pair(a, b), step_law(w, spec, rule, a, b)).first;
    std::vector<double> out(ipow(w.vocab, n), 0.0);
    for (const auto& [seq, pr] : sit->second) {
      const std::int32_t len = static_cast<std::int32_t>(seq.size());
      std::int64_t prefix = 0;
      for (std::int32_t j = 0; j < std::min(len, n); ++j) prefix = prefix * w.vocab + seq[j];
      if (len >= n) {
        out[prefix] += pr;
        continue;
      }
      const Token na = len >= 2 ? seq[len - 2] : b, nb = seq[len - 1];
      const std::vector<double> rest =
          cont == Continue::kTarget ? target_law(w, na, nb, n - len) : law(na, nb, n - len);
      const std::int64_t m = ipow(w.vocab, n - len);
      for (std::int64_t r = 0; r < m; ++r) out[prefix * m + r] += pr * rest[r];
    }
    return laws.emplace(key, std::move(out)).first->second;
  }
};

}  // namespace

std::vector<double> emitted_law(const LawWorld& w, const TreeSpec& spec, const AcceptanceRule& rule,
                                Token a, Token b, std::int32_t n, Continue cont) {
  LawMemo memo{w, spec, rule, cont, {}, {}};
  return memo.law(a, b, n);
}

std::vector<double> target_law(const LawWorld& w, Token a, Token b, std::int32_t n) {
  if (n == 0) return {1.0};
  std::vector<double> out(ipow(w.vocab, n), 0.0);
  const auto p = w.p_row(a, b);
  const std::int64_t m = ipow(w.vocab, n - 1);
  for (Token x = 0; x < w.vocab; ++x) {
    if (!(p[x] > 0.0f)) continue;
    const std::vector<double> rest = target_law(w, b, x, n - 1);
    for (std::int64_t r = 0; r < m; ++r) out[x * m + r] = static_cast<double>(p[x]) * rest[r];
  }
  return out;
}

LawDistance law_distance(std::span<const double> x, std::span<const double> y) {
  SPECLAB_ASSERT(x.size() == y.size());
  LawDistance d;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double e = std::abs(x[i] - y[i]);
    d.tv += e;
    d.max_cell = std::max(d.max_cell, e);
  }
  d.tv *= 0.5;
  return d;
}

std::vector<double> marginal(std::span<const double> law, std::int32_t vocab, std::int32_t n, std::int32_t pos) {
  std::vector<double> out(vocab, 0.0);
  const std::int64_t stride = ipow(vocab, n - 1 - pos);
  for (std::size_t i = 0; i < law.size(); ++i) out[(static_cast<std::int64_t>(i) / stride) % vocab] += law[i];
  return out;
}

std::vector<double> pair_marginal(std::span<const double> law, std::int32_t vocab, std::int32_t n,
                                  std::int32_t pos_a, std::int32_t pos_b) {
  std::vector<double> out(static_cast<std::size_t>(vocab) * vocab, 0.0);
  const std::int64_t sa = ipow(vocab, n - 1 - pos_a), sb = ipow(vocab, n - 1 - pos_b);
  for (std::size_t i = 0; i < law.size(); ++i) {
    const std::int64_t k = static_cast<std::int64_t>(i);
    out[((k / sa) % vocab) * vocab + (k / sb) % vocab] += law[i];
  }
  return out;
}

double depth1_acceptance(const LawWorld& w, const TreeSpec& spec, const AcceptanceRule& rule, Token a, Token b) {
  double acc = 0.0;
  std::vector<float> rows;
  for (const WeightedTree& wt : tree_law(w, spec, b)) {
    const DraftTree& t = wt.tree;
    rows.resize(static_cast<std::size_t>(t.size()) * w.vocab);
    for (std::int32_t i = 0; i < t.size(); ++i) {
      const Token before = i == 0 ? a : t.token[t.parent[i]];
      const auto r = w.p_row(before, t.token[i]);
      std::copy(r.begin(), r.end(), rows.begin() + static_cast<std::ptrdiff_t>(i) * w.vocab);
    }
    for (const RuleOutcome& o : enumerate_rule(rule, t, TargetRows{w.vocab, rows})) {
      if (o.path.size() > 1) acc += wt.prob * o.prob;
    }
  }
  return acc;
}

}  // namespace speclab::testing
