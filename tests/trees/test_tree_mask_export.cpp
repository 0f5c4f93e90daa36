#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "trees/tree_export.h"
#include "trees/tree_mask.h"

namespace speclab {
namespace {

// root(7) -> 1 (tok 3), 2 (tok 4); 1 -> 3 (tok 5); 3 -> 4 (tok 6); 2 -> 5 (tok 3)
DraftTree sample_tree() {
  DraftTree t;
  t.reset(7);
  t.add(3, 0, -0.5f);
  t.add(4, 0, -1.0f);
  t.add(5, 1, -0.75f);
  t.add(6, 3, -1.5f);
  t.add(3, 2, -2.0f);
  return t;
}

TEST(TreeMask, AncestorMaskMatchesParentWalk) {
  const DraftTree t = sample_tree();
  std::vector<std::uint8_t> mask;
  ancestor_mask(t, mask);
  const int n = t.size();
  ASSERT_EQ(mask.size(), static_cast<std::size_t>(n * n));
  for (int i = 0; i < n; ++i) {
    std::vector<std::uint8_t> expect(n, 0);
    for (int a = i; a >= 0; a = t.parent[a]) expect[a] = 1;
    for (int j = 0; j < n; ++j) EXPECT_EQ(mask[i * n + j], expect[j]) << i << "," << j;
  }
  // Chain -> causal lower triangle.
  DraftTree chain;
  chain.reset(1);
  chain.add(2, 0);
  chain.add(3, 1);
  ancestor_mask(chain, mask);
  EXPECT_EQ(mask, (std::vector<std::uint8_t>{1, 0, 0, 1, 1, 0, 1, 1, 1}));
  // Reuse keeps capacity.
  mask.reserve(100);
  const auto* data = mask.data();
  ancestor_mask(t, mask);
  EXPECT_EQ(mask.data(), data);
}

TEST(TreeMask, PositionsAreBasePlusDepth) {
  std::vector<std::int32_t> pos;
  tree_positions(sample_tree(), 10, pos);
  EXPECT_EQ(pos, (std::vector<std::int32_t>{10, 11, 11, 12, 13, 12}));
}

TEST(TreeExport, TextShowsStructureTokensAndAcceptance) {
  const DraftTree t = sample_tree();
  Acceptance acc;
  acc.path = {0, 1, 3};
  acc.bonus = 9;
  const TokenDecoder dec = [](Token x) { return x == 5 ? std::string("a\nb") : "t" + std::to_string(x); };
  const std::string s = tree_to_text(t, dec, &acc);
  EXPECT_NE(s.find("6 nodes, depth 3"), std::string::npos) << s;
  EXPECT_NE(s.find("#0 d0 tok 7 't7' [accepted]"), std::string::npos) << s;
  EXPECT_NE(s.find("    #3 d2 tok 5 'a\\nb' score -0.75 [accepted]"), std::string::npos) << s;
  EXPECT_NE(s.find("      #4 d3 tok 6 't6' score -1.5\n"), std::string::npos) << s;
  EXPECT_NE(s.find("bonus tok 9 't9'"), std::string::npos) << s;
  // Depth-first: node 4 (under 3) is listed before node 2.
  EXPECT_LT(s.find("#4 "), s.find("#2 "));
  const std::string plain = tree_to_text(t);
  EXPECT_EQ(plain.find('\''), std::string::npos);
}

TEST(TreeExport, DotIsWellFormedAndEscaped) {
  const DraftTree t = sample_tree();
  Acceptance acc;
  acc.path = {0, 2};
  acc.bonus = 1;
  const TokenDecoder dec = [](Token x) { return x == 4 ? std::string("say \"hi\"\\") : std::string("x"); };
  const std::string s = tree_to_dot(t, dec, &acc);
  EXPECT_EQ(s.rfind("digraph draft_tree {", 0), 0u);
  EXPECT_EQ(s.back(), '\n');
  EXPECT_NE(s.find("}\n"), std::string::npos);
  for (int i = 1; i < t.size(); ++i) {
    EXPECT_NE(s.find("n" + std::to_string(t.parent[i]) + " -> n" + std::to_string(i)), std::string::npos);
  }
  EXPECT_NE(s.find("say \\\"hi\\\"\\\\"), std::string::npos) << s;
  EXPECT_NE(s.find("n2 [label=\"#2 tok 4\\n"), std::string::npos) << s;
  EXPECT_NE(s.find("n2 -> bonus"), std::string::npos) << s;
  EXPECT_NE(s.find("palegreen"), std::string::npos);
  // Quotes balance (every label is closed).
  std::size_t unescaped = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"' && (i == 0 || s[i - 1] != '\\' || (i >= 2 && s[i - 2] == '\\' && s[i - 1] == '\\'))) ++unescaped;
  }
  EXPECT_EQ(unescaped % 2, 0u);
  DraftTree broken = t;
  broken.parent[2] = 5;
  EXPECT_THROW(tree_to_dot(broken), Error);
}

}  // namespace
}  // namespace speclab
