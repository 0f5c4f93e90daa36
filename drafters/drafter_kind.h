// A drafter kind described as data: one DrafterKind per drafter, defined in the drafter's own
// file (e.g. ngram_drafter_kind() in drafters/ngram_drafter.cpp) and listed by the registry
// (drafters/registry.h), which is what the CLI, experiment specs and the runner read. Nothing
// outside a drafter's file and the registry spells a drafter's name.
//
// A kind has: a name and one-line summary; its keys (DrafterKey: default and doc, which files an
// optional drafter needs); whether it keeps state across prompts; and four functions:
//   parse    - reads the keys into the kind's own options struct (NgramOptions, ...), held in a
//              DrafterOptions; records every problem in the reader (no file access);
//   check    - the checks that read files but load nothing large (a draft model file exists, a
//              heads directory holds heads of the right kind) or, for kinds that are cheap to
//              build, builds the drafter once; throws Error;
//   make     - builds the drafter (loads draft models, heads, adapters); throws Error;
//   children - the ChildSampling kind of every tree the drafter proposes under the target's
//              sampling parameters, so an "auto" rule resolves without running a proposal.
// The functions receive only options their own parse made.
#pragma once
#include <any>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "model/llama_weights.h"
#include "model/model_info.h"
#include "ops/sampling.h"
#include "drafters/drafter.h"
#include "drafters/drafter_params.h"
#include "trees/draft_tree.h"

namespace speclab {

// What building a drafter may use besides its spec.
struct DrafterEnv {
  const ModelInfo* target = nullptr;  // the target's info (vocab and layer checks)
  std::string draft_model_path;       // default of a model file key (OptionalFile::kModelFile)
  int n_threads = 1;
  // The target's weights (heads check their fingerprint and read embeddings / classifier).
  // May be null when the target is not a LlamaModel; drafters that need it then throw Error.
  std::shared_ptr<const LlamaWeights> target_weights;
  // How a draft model's matrices are held ("" or "stored" = as in its file; else a weight type
  // name, formats/model_loader.h WeightLoadOptions): `--draft-dtype`, spec key draft_dtype.
  std::string draft_dtype;
};

// The parsed options of one drafter kind: the kind's own options struct, type-erased so that
// every kind fits one table. Only the kind that made it reads it (std::any_cast).
using DrafterOptions = std::any;

struct DrafterKind {
  std::string_view name;     // what specs use: "NAME[:key=value,...]"
  std::string_view summary;  // one line: what it proposes (--help)
  std::span<const DrafterKey> keys;
  // begin() can keep what the drafter learnt across prompts: the kind has a key
  // state=cold|warm, which the experiment runner sets from its state policy unless given.
  bool cross_prompt_state = false;
  DrafterOptions (*parse)(ParamReader& reader, const DrafterEnv& env) = nullptr;
  void (*check)(const DrafterOptions& options, const DrafterEnv& env) = nullptr;
  std::unique_ptr<Drafter> (*make)(const DrafterOptions& options, const DrafterEnv& env) = nullptr;
  ChildSampling (*children)(const DrafterOptions& options, const SamplingParams& sampling) = nullptr;
};

}  // namespace speclab
