#include <gtest/gtest.h>

#include <string>

#include "base/error.h"
#include "drafters/drafter_params.h"

#include <vector>

namespace speclab {
namespace {

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(DrafterParams, NameOnly) {
  const auto p = DrafterParams::parse("ngram");
  EXPECT_EQ(p.drafter(), "ngram");
  EXPECT_TRUE(p.values().empty());
  EXPECT_EQ(DrafterParams::parse("ngram:").values().size(), 0u);
}

TEST(DrafterParams, KeyValues) {
  const auto p = DrafterParams::parse("ngram:min_n=2, max_n = 4,order=frequent");
  EXPECT_EQ(p.drafter(), "ngram");
  EXPECT_EQ(p.get_int("min_n", 1, 1, 9), 2);
  EXPECT_EQ(p.get_int("max_n", 1, 1, 9), 4);
  EXPECT_EQ(p.get_int("absent", 7, 1, 9), 7);
  EXPECT_EQ(p.get_choice("order", "recent", {"recent", "frequent"}), "frequent");
  EXPECT_EQ(p.to_string(), "ngram:max_n=4,min_n=2,order=frequent");
}

TEST(DrafterParams, BracketsKeepCommas) {
  const auto p = DrafterParams::parse("recycling:choices=[[0],[1],[0,0]],k=4");
  EXPECT_EQ(p.values().size(), 2u);
  EXPECT_EQ(p.get_string("choices", ""), "[[0],[1],[0,0]]");
  EXPECT_EQ(p.get_int("k", 8, 1, 256), 4);
}

TEST(DrafterParams, TypedGetters) {
  const auto p = DrafterParams::parse("x:a=0.5,b=yes,c=off,d=12");
  EXPECT_DOUBLE_EQ(p.get_double("a", 0, 0, 1), 0.5);
  EXPECT_TRUE(p.get_bool("b", false));
  EXPECT_FALSE(p.get_bool("c", true));
  EXPECT_DOUBLE_EQ(p.get_double("d", 0, 0, 100), 12.0);
  EXPECT_TRUE(p.has("a"));
  EXPECT_FALSE(p.has("z"));
}

TEST(DrafterParams, MalformedSpecsThrow) {
  EXPECT_THROW(DrafterParams::parse(""), Error);
  EXPECT_THROW(DrafterParams::parse(":k=1"), Error);
  EXPECT_THROW(DrafterParams::parse("x:k"), Error);
  EXPECT_THROW(DrafterParams::parse("x:=3"), Error);
  EXPECT_THROW(DrafterParams::parse("x:k="), Error);
  EXPECT_THROW(DrafterParams::parse("x:K=1"), Error);
  EXPECT_THROW(DrafterParams::parse("x:k=1,k=2"), Error);
  EXPECT_THROW(DrafterParams::parse("x:choices=[[0],[1]"), Error);
  EXPECT_THROW(DrafterParams::parse("x:choices=[0]]"), Error);
  EXPECT_THROW(DrafterParams::parse("x:k=1,,j=2"), Error);
}

TEST(DrafterParams, BadValuesNameDrafterKeyValueAndRule) {
  const auto p = DrafterParams::parse("recycling:k=0,n=abc,f=1e999,b=maybe,o=sideways");
  const std::string e1 = error_of([&] { p.get_int("k", 8, 1, 256); });
  EXPECT_NE(e1.find("recycling"), std::string::npos) << e1;
  EXPECT_NE(e1.find("k = 0"), std::string::npos) << e1;
  EXPECT_NE(e1.find("[1, 256]"), std::string::npos) << e1;
  EXPECT_THROW(p.get_int("n", 1, 0, 9), Error);
  EXPECT_THROW(p.get_double("n", 1, 0, 9), Error);
  EXPECT_THROW(p.get_double("f", 1, 0, 9), Error);
  EXPECT_THROW(p.get_bool("b", true), Error);
  const std::string e2 = error_of([&] { p.get_choice("o", "a", {"recent", "frequent"}); });
  EXPECT_NE(e2.find("recent|frequent"), std::string::npos) << e2;
  EXPECT_THROW(DrafterParams::parse("x:k=1.5").get_int("k", 1, 0, 9), Error);
  EXPECT_THROW(DrafterParams::parse("x:k=99999999999").get_int("k", 1, 0, 9), Error);
}

TEST(DrafterParams, UnknownKeyListsKnownOnes) {
  const auto p = DrafterParams::parse("ngram:min_n=1,colour=red");
  const std::string e = error_of([&] { p.check_known({"min_n", "max_n"}); });
  EXPECT_NE(e.find("colour = red"), std::string::npos) << e;
  EXPECT_NE(e.find("min_n, max_n"), std::string::npos) << e;
  EXPECT_NO_THROW(DrafterParams::parse("ngram:min_n=1").check_known({"min_n", "max_n"}));
}

constexpr DrafterKey kKeys[] = {
    {"n", "3", "a count"},
    {"x", "0.5", "a number"},
    {"mode", "fast", "fast|slow"},
    {"on", "1", "a switch"},
    {"path", "", "a path"},
};

TEST(ParamReader, CollectsEveryProblemAndReturnsDefaults) {
  const auto p = DrafterParams::parse("toy:n=0,x=abc,mode=medium,on=maybe,colour=red,size=9");
  ParamReader r(p, kKeys);
  EXPECT_EQ(r.get_int("n", 3, 1, 9), 3);
  EXPECT_DOUBLE_EQ(r.get_double("x", 0.5, 0, 1), 0.5);
  EXPECT_EQ(r.get_choice("mode", "fast", {"fast", "slow"}), "fast");
  EXPECT_TRUE(r.get_bool("on", true));
  EXPECT_EQ(r.get_string("path", ""), "");
  r.problem("n", "0", "a drafter-specific rule");
  const std::vector<std::string> want = {
      // unknown keys first (key order), with the same text as check_known
      "drafter toy: colour = red: unknown key (known keys: n, x, mode, on, path)",
      "drafter toy: size = 9: unknown key (known keys: n, x, mode, on, path)",
      "drafter toy: n = 0: must be in [1, 9]",
      "drafter toy: x = abc: expected a finite number",
      "drafter toy: mode = medium: must be one of fast|slow",
      "drafter toy: on = maybe: expected a boolean (1/0, true/false, yes/no, on/off)",
      "drafter toy: n = 0: a drafter-specific rule",
  };
  EXPECT_EQ(r.problems(), want);
  const std::string e = error_of([&] { r.throw_if_problems(); });
  EXPECT_EQ(e.rfind("drafter spec 'toy:colour=red,mode=medium,n=0,on=maybe,size=9,x=abc': 7 problems:\n  ", 0), 0u) << e;
  for (const auto& line : want) EXPECT_NE(e.find("\n  " + line), std::string::npos) << line;
}

TEST(ParamReader, GoodValuesAndASingleProblem) {
  const auto p = DrafterParams::parse("toy:n=7,x=0.25,mode=slow,on=off,path=/a/b");
  ParamReader r(p, kKeys);
  EXPECT_EQ(r.get_int("n", 3, 1, 9), 7);
  EXPECT_DOUBLE_EQ(r.get_double("x", 0.5, 0, 1), 0.25);
  EXPECT_EQ(r.get_choice("mode", "fast", {"fast", "slow"}), "slow");
  EXPECT_FALSE(r.get_bool("on", true));
  EXPECT_EQ(r.get_string("path", ""), "/a/b");
  EXPECT_TRUE(r.problems().empty());
  EXPECT_NO_THROW(r.throw_if_problems());
  EXPECT_TRUE(r.attempt([] {}));
  EXPECT_FALSE(r.attempt([] { fail("drafter toy: path = /a/b: not a directory"); }));
  // One problem is thrown as is.
  EXPECT_EQ(error_of([&] { r.throw_if_problems(); }), "drafter toy: path = /a/b: not a directory");
}

// The key table is the documentation: a getter whose default differs from it, or that reads a
// key missing from it, is a bug (always-on assert).
TEST(ParamReaderDeathTest, DefaultsMustMatchTheKeyTable) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto p = DrafterParams::parse("toy");
  EXPECT_DEATH(ParamReader(p, kKeys).get_int("n", 4, 1, 9), "default");
  EXPECT_DEATH(ParamReader(p, kKeys).get_choice("mode", "slow", {"fast", "slow"}), "default");
  EXPECT_DEATH(ParamReader(p, kKeys).get_int("absent", 1, 1, 9), "key table");
  EXPECT_EQ(ParamReader(p, kKeys).get_double("x", 0.5, 0, 1), 0.5);  // "0.5" == 0.5
}

}  // namespace
}  // namespace speclab
