#include <gtest/gtest.h>

#include <string>

#include "base/error.h"
#include "drafters/drafter_params.h"

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

}  // namespace
}  // namespace speclab
