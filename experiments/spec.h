// Experiment specs: what `speclab run SPEC.json` and `speclab compare` describe. The JSON
// format (every key optional except "prompts"; relative paths are relative to the working
// directory):
//   {
//     "name": "default",
//     "model": "PATH" | "synthetic",     // "" / absent: the CLI picks $SPECLAB_MODEL or
//                                        //   ../shared/models/stories260K.bin, else synthetic
//     "tokenizer": "PATH" | "bytes",     // default: beside the model / embedded; "bytes" =
//                                        //   ByteTokenizer (tokenizers/byte_tokenizer.h)
//     "draft_model": "PATH",             // for the draft-model drafter; "{model_dir}" in it (or
//                                        //   in a drafter's model=...) = the target's folder
//     "prompts": ["data/stories.jsonl"], // prompt sets (JSONL, experiments/prompts.h)
//     "max_prompts": 0,                  // the first N of each category (a plain set without
//                                        //   categories is one category; 0 = all)
//     "chat_template": "",               // prompts as chat: "" = the model directory's template
//                                        //   (none for other models), "none" = plain text, or a
//                                        //   .jinja / tokenizer_config.json / model directory
//     "chat_date": "2024-07-26",         // what the template's strftime_now() sees
//     "drafters": ["ngram", "recycling:k=8",
//                  {"name": "draft-model", "params": {"mode": "topk"},
//                   "rules": ["auto"], "optional": true}],
//     "rules": ["auto"],                 // "auto" = the lossless default per tree kind, or names
//     "budgets": [8, 16, 32, 64],        // draft nodes per step (tree tokens verified - 1), > 0
//     "depths": [0],                     // tree depth caps, 0 = unlimited
//     "temperatures": [0, 1], "top_k": 0, "top_p": 1.0,
//     "seeds": [0], "max_new_tokens": 128,
//     "state": "cold" | "warm",          // drafter state policy across the prompts
//     "threads": 1, "repetitions": 1,
//     "ctx": 0,                          // target context = KV cache slots; 0 = min(model max, 4096)
//     "dtype": "stored",                 // target weights: stored | f32 f16 bf16 q8_0 q4_0 q4_1 q4_k q5_k q6_k
//     "draft_dtype": "stored",           // the same for the draft model
//     "kv_dtype": "f32",                 // target KV cache: f32 | f16
//     "profiles": ["host.json"],         // cost profiles (speclab profile) or hardware
//                                        //   descriptions: projected_speedup_<name> columns
//     "budget_policy": "fixed"           // "fixed", "cost" or a list of both (a grid axis):
//                                        //   "cost" = budgets are maxima, each step's tree
//                                        //   size maximises expected tokens per unit time
//                                        //   under the first profile (cost_policy.h)
//   }
// A drafter entry is a spec string "NAME[:key=value,...]" or an object {"name", "params",
// "rules" (overrides the top-level list for this drafter), "optional" (skip, with a note, when
// its draft model file, or the heads.json of its heads= / adapters= directory, is missing)}.
// "{model_dir}" and "{model_stem}" in drafter specs expand to the target model's directory and
// file name without extension. The autoregressive baseline is always run; it need not be
// listed.
//
// parse_spec() checks everything that needs no files (types, unknown keys, ranges, rule names)
// and throws one Error listing every problem, one per line. File and drafter checks that need
// the model happen in prepare_experiment() (experiments/runner.h), which also lists all at once.
#pragma once
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace speclab {

struct DrafterEntry {
  std::string spec;                // "NAME[:key=value,...]"
  std::vector<std::string> rules;  // empty = ExperimentSpec::rules
  bool optional = false;
};

struct ExperimentSpec {
  std::string name = "experiment";
  std::string model;               // path, "synthetic", or "" (caller resolves a default)
  std::string tokenizer;
  std::string draft_model;
  std::vector<std::string> prompts;
  std::int32_t max_prompts = 0;
  std::string chat_template;        // "" = the model's own, "none", or a path
  std::string chat_date = "2024-07-26";
  std::vector<DrafterEntry> drafters;
  std::vector<std::string> rules = {"auto"};
  std::vector<std::int32_t> budgets = {8, 16, 32, 64};
  std::vector<std::int32_t> depths = {0};
  std::vector<double> temperatures = {0.0};
  std::int32_t top_k = 0;
  double top_p = 1.0;
  std::vector<std::uint64_t> seeds = {0};
  std::int32_t max_new_tokens = 128;
  std::string state = "cold";
  std::int32_t threads = 1;
  std::int32_t repetitions = 1;
  std::int32_t ctx = 0;  // 0 = min(model maximum, 4096) (LlamaModel::kDefaultContext)
  std::string dtype = "stored";        // target matrices: as stored, or converted at load
  std::string draft_dtype = "stored";  // draft model matrices (draft-model drafter)
  std::string kv_dtype = "f32";        // target KV cache: f32 or f16
  std::vector<std::string> profiles;   // cost profile / hardware description files
  std::vector<std::string> budget_policies = {"fixed"};  // "fixed", "cost"
};

// Problems with the values of a spec (no file access), one message per problem; empty = valid.
// `source` prefixes each message (a file name or "compare").
std::vector<std::string> spec_problems(const ExperimentSpec& spec, const std::string& source);

// Parses and checks a spec (JSON text); throws Error listing every problem (one per line).
ExperimentSpec parse_spec(const std::string& json_text, const std::string& source);
// Reads a spec file; Error naming the file when it cannot be read.
ExperimentSpec load_spec(const std::string& path);

// The resolved spec as JSON (all keys, drafter entries as objects): parse_spec(dump) == spec.
nlohmann::json spec_to_json(const ExperimentSpec& spec);

// Throws Error listing `problems` (one per line, prefixed by a count) when non-empty.
void throw_if_problems(const std::vector<std::string>& problems);

}  // namespace speclab
