// Prompt sets, JSON Lines (one object per line; blank lines are skipped), in either format:
//  - plain: "id" (string or integer), "prompt" (string), optional "category" (string; default:
//    the set name);
//  - Spec-Bench / MT-bench: "question_id" (integer or string), "category" (string), "turns"
//    (non-empty list of user messages; turn k is asked after the model's answer to turn k-1),
//    optional "reference" (list or string; ignored).
// The set name is the file's stem (data/stories.jsonl -> "stories"). Categories travel into
// the CSVs so results can be split by category.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace speclab {

struct Prompt {
  std::string set;                 // file stem
  std::string id;                  // unique within the set
  std::string category;            // "category" field, else the set name
  std::string text;                // the first (or only) user turn
  std::vector<std::string> turns;  // every user turn in order; turns[0] == text
};

// Reads a prompt set. Throws Error naming the file and line for a missing file, malformed JSON,
// a missing/mistyped field, an unknown field, an empty prompt or turn, a duplicate id, the
// reserved category "overall" (by_category.csv's all-categories row) or an empty set.
std::vector<Prompt> load_prompts(const std::string& path);

// The first `n` prompts of each category, in file order (n <= 0: all).
std::vector<Prompt> first_per_category(std::vector<Prompt> prompts, std::int32_t n);

}  // namespace speclab
