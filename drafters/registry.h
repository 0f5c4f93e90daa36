// The drafter registry: every drafter kind (drafters/drafter_kind.h) in one constant table, and
// the spec-level operations the CLI, experiment specs and the runner use. Specs are
// "NAME[:key=value,...]" (drafters/drafter_params.h). "none" (or "ar") means autoregressive
// decoding: no drafter. No names are registered at run time and there is no mutable state.
//
// Errors: every function that takes a spec throws Error for a malformed spec (DrafterParams::
// parse). Validation lists every problem of a spec at once: an unknown drafter (naming the
// known ones), each unknown key, each bad value; the kind's file checks run only when those
// pass. Thrown as one Error: a single problem as is, several one per line.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "drafters/drafter.h"
#include "drafters/drafter_kind.h"
#include "drafters/drafter_params.h"
#include "ops/sampling.h"
#include "trees/draft_tree.h"

namespace speclab {

// The name of autoregressive decoding (the baseline's drafter column); "ar" is accepted too.
inline constexpr std::string_view kAutoregressive = "none";
bool is_autoregressive(std::string_view name);
// The drafters `speclab compare` runs when --drafters is not given: the training-free ones.
inline constexpr std::string_view kDefaultCompareDrafters = "ngram,recycling,aded,sam,suffix";

// Every drafter kind, in help order.
std::span<const DrafterKind* const> drafter_kinds();
// The kind called `name`; null for unknown names and for autoregressive decoding.
const DrafterKind* find_drafter_kind(std::string_view name);
// "none", then every kind's name (help and error messages).
std::vector<std::string> drafter_names();

// Every problem of `params` (see above) without loading anything large: empty = valid, and then
// make_drafter will not fail for a reason the spec alone shows. Autoregressive specs take no keys.
std::vector<std::string> drafter_spec_problems(const DrafterParams& params, const DrafterEnv& env);
// Throws Error listing drafter_spec_problems (nothing for a valid spec).
void validate_drafter_spec(const std::string& spec, const DrafterEnv& env);

// Builds the drafter (nullptr for autoregressive decoding): loads draft models, heads, adapters.
// Throws Error for any problem of the spec (all parse problems at once) or of the files.
std::unique_ptr<Drafter> make_drafter(const std::string& spec, const DrafterEnv& env);

// The ChildSampling kind of every tree the drafter of `spec` proposes when the target samples
// with `sampling` (what an "auto" rule resolves from: verifiers/rules.h default_rule_for).
// Reads no files. Throws Error for an invalid spec and for autoregressive decoding (no trees).
ChildSampling drafter_child_sampling(const std::string& spec, const DrafterEnv& env,
                                     const SamplingParams& sampling);

// Why an optional drafter has to be skipped: the first missing file named by one of its keys
// (DrafterKey::file; a draft model path defaults to env.draft_model_path), as a note such as
// "draft model 'x' not found" or "no trained heads in 'DIR' (heads.json missing; run speclab
// train-heads)". Empty when every such file exists, and for unknown names.
std::string missing_optional_file(const DrafterParams& params, const DrafterEnv& env);

// The drafters and their keys (defaults, one-line docs) for --help; one line each, ends in '\n'.
std::string drafter_help();

}  // namespace speclab
