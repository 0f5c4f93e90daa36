// `speclab generate --help` lists every registered drafter and its keys (from the registry).
#include <gtest/gtest.h>

#include <string>

#include "drafters/registry.h"
#include "tests/testing/cli_runner.h"

namespace {

TEST(GenerateHelp, ListsEveryDrafterAndKey) {
  const auto r = speclab::testing::run("generate --help");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("--drafter"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(speclab::drafter_help()), std::string::npos) << r.out;
  for (const speclab::DrafterKind* k : speclab::drafter_kinds()) {
    EXPECT_NE(r.out.find("\n  " + std::string(k->name) + " "), std::string::npos) << k->name;
    for (const speclab::DrafterKey& key : k->keys) {
      EXPECT_NE(r.out.find(" " + std::string(key.name)), std::string::npos) << k->name << " " << key.name;
    }
  }
}

}  // namespace
