#include "verifiers/opt_bound.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/error.h"

namespace speclab {

namespace {

constexpr std::int32_t kBuckets = 1024;       // ratio thresholds: log2(p/q) in [-32, 32), step 1/16
constexpr double kBucketsPerLog2 = 16.0;

std::int32_t bucket_of(double ratio) {
  const double b = std::floor((std::log2(ratio) + 32.0) * kBucketsPerLog2);
  return static_cast<std::int32_t>(std::clamp(b, 0.0, static_cast<double>(kBuckets - 1)));
}

// Inserts v into the descending list `top` of at most `cap` values.
void push_top(std::vector<double>& top, double v, std::size_t cap) {
  if (cap == 0) return;
  if (top.size() == cap && v <= top.back()) return;
  if (top.size() == cap) top.pop_back();
  top.insert(std::upper_bound(top.begin(), top.end(), v, std::greater<double>()), v);
}

}  // namespace

void OptBoundScratch::reserve(std::size_t vocab, std::size_t max_k) {
  bucket_of.reserve(vocab);
  order.reserve(vocab);
  count.reserve(kBuckets + 1);
  bucket_p.reserve(kBuckets);
  bucket_q.reserve(kBuckets);
  top.reserve(max_k + 1);
}

double meet_probability(double a, std::int32_t k, DraftSetLaw law, std::span<const double> top_outside) {
  a = std::clamp(a, 0.0, 1.0);
  if (a <= 0.0) return 0.0;
  if (law == DraftSetLaw::kIid) return -std::expm1(k * std::log1p(-a));  // 1 - (1 - a)^k
  double avoid = 1.0, m = 0.0;  // m = M_j, the j largest q outside A
  for (std::int32_t j = 0; j < k; ++j) {
    if (j > 0 && static_cast<std::size_t>(j - 1) < top_outside.size()) m += top_outside[j - 1];
    const double room = 1.0 - m;
    if (!(room > a)) return 1.0;
    avoid *= 1.0 - a / room;
  }
  return 1.0 - avoid;
}

double opt_accept_bound(std::span<const float> p, std::span<const float> q, std::int32_t k, DraftSetLaw law,
                        OptBoundScratch& s) {
  SPECLAB_ASSERT(k >= 1 && p.size() == q.size());
  const std::size_t n = p.size();
  const bool swor = law == DraftSetLaw::kWithoutReplacement;
  s.bucket_p.assign(kBuckets, 0.0);
  s.bucket_q.assign(kBuckets, 0.0);
  s.top.clear();
  const std::size_t cap = static_cast<std::size_t>(k - 1);
  double p_always = 0.0;  // q = 0 < p: in every A for free
  double p_reg = 0.0, q_reg = 0.0;
  if (swor) {
    s.bucket_of.assign(n, -1);
    s.count.assign(kBuckets + 1, 0);
  }
  for (std::size_t x = 0; x < n; ++x) {
    const double px = p[x], qx = q[x];
    if (px > 0.0 && !(qx > 0.0)) {
      p_always += px;
    } else if (px > 0.0) {
      const std::int32_t b = bucket_of(px / qx);
      s.bucket_p[b] += px;
      s.bucket_q[b] += qx;
      p_reg += px;
      q_reg += qx;
      if (swor) {
        s.bucket_of[x] = b;
        ++s.count[b + 1];
      }
    } else if (swor && qx > 0.0) {
      push_top(s.top, qx, cap);  // p = 0: never in A, always outside
    }
  }
  if (swor) {  // counting sort of the regular tokens by bucket
    for (std::int32_t b = 0; b < kBuckets; ++b) s.count[b + 1] += s.count[b];
    s.order.resize(s.count[kBuckets]);
    for (std::size_t x = 0; x < n; ++x) {
      if (s.bucket_of[x] >= 0) s.order[s.count[s.bucket_of[x]]++] = static_cast<std::int32_t>(x);
    }
    // count[b] is now the end of bucket b; its start is count[b - 1] (0 for b = 0).
  }
  // A_j = {q = 0 < p} + buckets >= j, for j = 0 .. kBuckets; outside: p = 0 tokens + buckets < j.
  double best = 1.0;  // A = {} gives p(V) + 0
  double p_out = 0.0, q_out = 0.0;  // regular mass in buckets < j
  for (std::int32_t j = 0; j <= kBuckets; ++j) {
    if (j == 0 || s.bucket_p[j - 1] > 0.0 || j == kBuckets) {
      const double p_a = p_always + std::max(p_reg - p_out, 0.0);
      const double a = std::max(q_reg - q_out, 0.0);
      best = std::min(best, std::max(1.0 - p_a, 0.0) + meet_probability(a, k, law, s.top));
    }
    if (j == kBuckets) break;
    p_out += s.bucket_p[j];
    q_out += s.bucket_q[j];
    if (swor) {
      const std::int32_t begin = j == 0 ? 0 : s.count[j - 1];
      for (std::int32_t i = begin; i < s.count[j]; ++i) push_top(s.top, q[s.order[i]], cap);
    }
  }
  return best;
}

double fixed_set_acceptance(std::span<const float> p, std::span<const Token> set) {
  double total = 0.0;
  for (std::size_t i = 0; i < set.size(); ++i) {
    if (std::find(set.begin(), set.begin() + static_cast<std::ptrdiff_t>(i), set[i]) != set.begin() + static_cast<std::ptrdiff_t>(i)) continue;
    total += p[set[i]];
  }
  return std::min(total, 1.0);
}

double root_accept_bound(const DraftTree& tree, std::span<const float> p_root, OptBoundScratch& scratch,
                         std::vector<Token>& tokens) {
  tokens.clear();
  for (std::int32_t i = 1; i < tree.size(); ++i) {
    if (tree.parent[i] == 0) tokens.push_back(tree.token[i]);
  }
  if (tokens.empty()) return std::numeric_limits<double>::quiet_NaN();
  const std::int32_t k = static_cast<std::int32_t>(tokens.size());
  switch (tree.children) {
    case ChildSampling::kDeterministic: return fixed_set_acceptance(p_root, tokens);
    case ChildSampling::kIidSampled:
    case ChildSampling::kWithoutReplacement:
      if (!tree.has_q() || tree.q_vocab != static_cast<std::int32_t>(p_root.size())) break;
      return opt_accept_bound(p_root, tree.q_row(0), k,
                              tree.children == ChildSampling::kIidSampled ? DraftSetLaw::kIid
                                                                          : DraftSetLaw::kWithoutReplacement,
                              scratch);
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace speclab
