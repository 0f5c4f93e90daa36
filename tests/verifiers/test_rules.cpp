#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "verifiers/rules.h"

namespace speclab {
namespace {

constexpr std::int32_t kV = 5;

// Message of the Error thrown by f (empty if none).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// root(0) -> {1: tok 2, 2: tok 3}; node 2 -> {3: tok 1, 4: tok 4}; node 1 -> {5: tok 0}
DraftTree branching_tree(ChildSampling kind, bool with_q) {
  DraftTree t;
  t.reset(0, kind, with_q ? kV : 0);
  t.add(2, 0);
  t.add(3, 0);
  t.add(1, 2);
  t.add(4, 2);
  t.add(0, 1);
  if (with_q) {
    for (float& v : t.q) v = 1.0f / kV;
  }
  return t;
}

// p rows: one-hot rows at the given argmax tokens.
std::vector<float> one_hot_rows(const std::vector<Token>& best) {
  std::vector<float> p(best.size() * kV, 0.0f);
  for (std::size_t i = 0; i < best.size(); ++i) p[i * kV + best[i]] = 1.0f;
  return p;
}

TEST(Rules, RegistryKnowsAllNamesAndListsThemOnError) {
  for (const std::string& n : rule_names()) EXPECT_EQ(make_rule(n, {})->name(), n);
  const std::string msg = error_of([] { make_rule("fancy", {}); });
  EXPECT_NE(msg.find("fancy"), std::string::npos);
  for (const std::string& n : rule_names()) EXPECT_NE(msg.find(n), std::string::npos) << msg;
  RuleParams bad;
  bad.typical.epsilon = 0.0f;
  EXPECT_NE(error_of([&] { make_rule("typical", bad); }).find("epsilon"), std::string::npos);
  EXPECT_FALSE(make_rule("typical", {})->lossless());
}

TEST(Rules, DefaultRuleFor) {
  EXPECT_EQ(default_rule_for(ChildSampling::kIidSampled, true), "greedy");
  EXPECT_EQ(default_rule_for(ChildSampling::kDeterministic, false), "deterministic");
  EXPECT_EQ(default_rule_for(ChildSampling::kIidSampled, false), "multi-iid");
  EXPECT_EQ(default_rule_for(ChildSampling::kWithoutReplacement, false), "without-replacement");
  // The default rule accepts its kind of tree.
  for (auto kind : {ChildSampling::kDeterministic, ChildSampling::kIidSampled,
                    ChildSampling::kWithoutReplacement}) {
    EXPECT_NO_THROW(make_rule(default_rule_for(kind, false), {})->check_tree(branching_tree(kind, true)));
  }
}

TEST(Rules, GreedyFollowsTheArgmaxPath) {
  const auto rule = make_rule("greedy", {});
  const DraftTree t = branching_tree(ChildSampling::kDeterministic, false);
  Rng rng(1);
  Acceptance acc;
  // argmax at root = 3 (node 2), at node 2 = 4 (node 4), at node 4 = 2 -> bonus 2.
  auto p = one_hot_rows({3, 0, 4, 0, 2, 0});
  rule->accept(t, TargetRows{kV, p}, rng, acc);
  EXPECT_EQ(acc.path, (std::vector<std::int32_t>{0, 2, 4}));
  EXPECT_EQ(acc.bonus, 2);
  // argmax at root = 2 (node 1), node 1 = 1 (no such child) -> bonus 1.
  p = one_hot_rows({2, 1, 0, 0, 0, 0});
  rule->accept(t, TargetRows{kV, p}, rng, acc);
  EXPECT_EQ(acc.path, (std::vector<std::int32_t>{0, 1}));
  EXPECT_EQ(acc.bonus, 1);
  // Nothing matches at the root.
  p = one_hot_rows({4, 0, 0, 0, 0, 0});
  rule->accept(t, TargetRows{kV, p}, rng, acc);
  EXPECT_EQ(acc.path, (std::vector<std::int32_t>{0}));
  EXPECT_EQ(acc.bonus, 4);
  // Ties in p: the lowest id is the argmax. Row 0 ties 2 and 3 -> 2 (node 1).
  std::vector<float> tie(6 * kV, 0.0f);
  tie[2] = tie[3] = 0.5f;
  for (int i = 1; i < 6; ++i) tie[i * kV + 4] = 1.0f;
  rule->accept(t, TargetRows{kV, tie}, rng, acc);
  EXPECT_EQ(acc.path, (std::vector<std::int32_t>{0, 1}));
  EXPECT_EQ(acc.bonus, 4);
}

TEST(Rules, DuplicateSiblingAfterRejectionIsRejected) {
  // Deterministic: children tokens {1, 1}; p = (0.25, 0.5, 0, 0.25, 0) at the root. The first
  // copy is accepted with probability 0.5; the second copy, after a rejection, has residual 0.
  DraftTree t;
  t.reset(0, ChildSampling::kDeterministic);
  t.add(1, 0);
  t.add(1, 0);
  std::vector<float> p(3 * kV, 0.0f);
  p[0] = 0.25f;
  p[1] = 0.5f;
  p[3] = 0.25f;
  p[kV + 2] = 1.0f;
  p[2 * kV + 2] = 1.0f;
  const auto rule = make_rule("deterministic", {});
  Rng rng(9);
  Acceptance acc;
  int n_first = 0, n_one = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    rule->accept(t, TargetRows{kV, p}, rng, acc);
    ASSERT_TRUE(acc.path.size() == 1 || acc.path[1] == 1) << "second copy accepted";
    n_first += acc.path.size() == 2;
    n_one += acc.path.size() == 2 || acc.bonus == 1;
  }
  EXPECT_NEAR(n_first / double(n), 0.5, 0.02);
  EXPECT_EQ(n_one, n_first);  // 1 is never the bonus after its rejection
}

TEST(Rules, CheckTreeRejectsInvalidTreesWithClearMessages) {
  const DraftTree det = branching_tree(ChildSampling::kDeterministic, false);
  const DraftTree iid_no_q = branching_tree(ChildSampling::kIidSampled, false);
  const DraftTree iid = branching_tree(ChildSampling::kIidSampled, true);
  const DraftTree wor = branching_tree(ChildSampling::kWithoutReplacement, true);

  auto msg = error_of([&] { make_rule("speculative", {})->check_tree(iid); });
  EXPECT_NE(msg.find("speculative"), std::string::npos) << msg;
  EXPECT_NE(msg.find("chain"), std::string::npos) << msg;
  msg = error_of([&] { make_rule("speculative", {})->check_tree(det); });
  EXPECT_NE(msg.find("iid"), std::string::npos) << msg;
  msg = error_of([&] { make_rule("multi-iid", {})->check_tree(iid_no_q); });
  EXPECT_NE(msg.find("multi-iid"), std::string::npos) << msg;
  EXPECT_NE(msg.find("q rows"), std::string::npos) << msg;
  msg = error_of([&] { make_rule("multi-iid", {})->check_tree(wor); });
  EXPECT_NE(msg.find("without-replacement"), std::string::npos) << msg;
  msg = error_of([&] { make_rule("deterministic", {})->check_tree(iid); });
  EXPECT_NE(msg.find("deterministic"), std::string::npos) << msg;
  msg = error_of([&] { make_rule("without-replacement", {})->check_tree(iid); });
  EXPECT_NE(msg.find("without-replacement"), std::string::npos) << msg;

  DraftTree dup = wor;
  dup.token[2] = dup.token[1];
  msg = error_of([&] { make_rule("without-replacement", {})->check_tree(dup); });
  EXPECT_NE(msg.find("same token"), std::string::npos) << msg;

  DraftTree broken = det;
  broken.parent[3] = 4;  // parent after child
  for (const std::string& n : rule_names()) {
    EXPECT_THROW(make_rule(n, {})->check_tree(broken), Error) << n;
  }
  // Valid combinations pass.
  EXPECT_NO_THROW(make_rule("greedy", {})->check_tree(wor));
  EXPECT_NO_THROW(make_rule("typical", {})->check_tree(iid_no_q));
  DraftTree chain;
  chain.reset(0, ChildSampling::kIidSampled, kV);
  chain.add(1, 0);
  chain.add(2, 1);
  EXPECT_NO_THROW(make_rule("speculative", {})->check_tree(chain));
}

TEST(Rules, AcceptRejectsBadShapesAndImpossibleDraws) {
  const DraftTree iid = branching_tree(ChildSampling::kIidSampled, true);
  std::vector<float> p(iid.size() * kV, 1.0f / kV);
  Rng rng(0);
  Acceptance acc;
  // Wrong number of rows.
  EXPECT_THROW(make_rule("multi-iid", {})->accept(iid, TargetRows{kV, std::span<const float>(p).first(kV)}, rng, acc), Error);
  // q = 0 for a drawn token.
  DraftTree bad = iid;
  for (std::int32_t v = 0; v < kV; ++v) bad.q_row_mut(0)[v] = v == 2 ? 0.0f : 0.25f;
  const std::string msg = error_of([&] {
    for (int i = 0; i < 100; ++i) make_rule("multi-iid", {})->accept(bad, TargetRows{kV, p}, rng, acc);
  });
  EXPECT_NE(msg.find("cannot have been drawn"), std::string::npos) << msg;
}

TEST(Rules, TypicalAcceptsAboveTheEntropyThreshold) {
  // Root row: p = (0.6, 0.3, 0.05, 0.05, 0): H ~ 0.9986, delta*exp(-H) ~ 0.11 > eps 0.09.
  DraftTree t;
  t.reset(0, ChildSampling::kDeterministic);
  t.add(2, 0);  // p = 0.05: rejected
  t.add(1, 0);  // p = 0.3: accepted (first acceptable in order)
  t.add(0, 0);
  std::vector<float> p(4 * kV, 0.0f);
  const float row0[kV] = {0.6f, 0.3f, 0.05f, 0.05f, 0.0f};
  std::copy(row0, row0 + kV, p.begin());
  for (int i = 1; i < 4; ++i) p[i * kV + 4] = 1.0f;
  const auto rule = make_rule("typical", {});
  Rng rng(3);
  Acceptance acc;
  rule->accept(t, TargetRows{kV, p}, rng, acc);
  EXPECT_EQ(acc.path, (std::vector<std::int32_t>{0, 2}));
  EXPECT_EQ(acc.bonus, 4);
}

}  // namespace
}  // namespace speclab
