// Regression tests for what the libFuzzer harnesses (fuzz/) found: every input that crashed a
// harness, rebuilt inline, must now end in a speclab::Error (or a note) naming what is wrong.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "base/error.h"
#include "base/input_file.h"
#include "heads/head_net.h"
#include "tests/testing/model_writers.h"
#include "tokenizers/hf_tokenizer.h"
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


// fuzz_hf_tokenizer: a Strip decoder's start/stop of 1e20 was cast to size_t (UBSan: outside
// the range of representable values), and -1 wrapped to SIZE_MAX.
TEST(FuzzRegressions, StripDecoderCountsAreRangeChecked) {
  for (const char* stop : {"1e20", "-1", "1.5", "2000000"}) {
    const std::string json = std::string(R"({"decoder": {"type": "Strip", "content": " ", "start": 0, "stop": )") + stop +
                             R"(}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
    expect_error([&] { HfTokenizer tok(json, "strip.json"); }, {"strip.json", "decoder Strip stop", "must be an integer in [0, 1048576]"});
  }
  EXPECT_NO_THROW(HfTokenizer(R"({"decoder": {"type": "Strip", "content": " ", "start": 1, "stop": 0}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})", "ok.json"));
}

// Found by reading the same class as the drafter-file finding: heads / exit-adapter directories
// and output directories whose names the system cannot look up threw filesystem_error.
TEST(FuzzRegressions, TooLongDirectoryNamesAreErrorsNotFilesystemExceptions) {
  const auto weights = std::make_shared<const LlamaWeights>(random_llama_weights(synthetic_info(8, 16, 2, 2, 2, 32, 16), 1));
  const std::string long_name(300, 'a');
  expect_error([&] { load_heads(long_name, weights); }, {"heads directory not found"});
  expect_error([&] { create_output_directory("/tmp/" + long_name + "/x"); }, {"cannot create directory"});
  testing::ScopedTempDir tmp;
  testing::write_bytes(tmp.path("file"), {1});
  expect_error([&] { create_output_directory(tmp.path("file") + "/sub"); }, {"cannot create directory"});
}

}  // namespace
}  // namespace speclab
