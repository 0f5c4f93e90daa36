// Regression tests for what the libFuzzer harnesses (fuzz/) found: every input that crashed a
// harness, rebuilt inline, must now end in a speclab::Error (or a note) naming what is wrong.
#include <gtest/gtest.h>

#include <string>

#include "base/error.h"
#include "drafters/registry.h"
#include "synthetic/synthetic_weights.h"

namespace speclab {
namespace {

// Asserts that f() throws speclab::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no speclab::Error thrown";
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const std::string& p : parts) EXPECT_NE(what.find(p), std::string::npos) << p << " not in: " << what;
  }
}

// fuzz_drafter_spec: a drafter spec naming a file whose name the system cannot look up (a path
// component longer than NAME_MAX) made std::filesystem::exists throw filesystem_error out of
// missing_optional_file and the draft-model check (std::terminate in the harness).
TEST(FuzzRegressions, DrafterFilePathTooLongIsAProblemNotAFilesystemError) {
  const ModelInfo info = synthetic_info(8, 16, 2, 2, 2, 32, 16);
  DrafterEnv env;
  env.target = &info;
  const std::string long_name(300, '\xb9');

  const std::string heads_note = missing_optional_file(DrafterParams::parse("medusa:heads=" + long_name), env);
  EXPECT_NE(heads_note.find("no trained heads in"), std::string::npos) << heads_note;
  EXPECT_NE(heads_note.find("heads.json missing"), std::string::npos) << heads_note;
  EXPECT_NE(heads_note.find("too long"), std::string::npos) << heads_note;
  EXPECT_LT(heads_note.size(), 250u) << "the untrusted path is quoted in full: " << heads_note;

  const DrafterParams draft = DrafterParams::parse("draft-model:model=" + long_name);
  const std::string model_note = missing_optional_file(draft, env);
  EXPECT_NE(model_note.find("draft model"), std::string::npos) << model_note;
  EXPECT_NE(model_note.find("not found"), std::string::npos) << model_note;

  const std::vector<std::string> problems = drafter_spec_problems(draft, env);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("drafter draft-model: model = "), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("file not found"), std::string::npos) << problems[0];
  expect_error([&] { validate_drafter_spec("draft-model:model=" + long_name, env); },
               {"draft-model", "file not found"});
}

}  // namespace
}  // namespace speclab
