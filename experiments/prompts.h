// Prompt sets: JSON Lines files, one object per line with "id" (string or integer), "prompt"
// (string) and optional "category" (string; default: the set name). Blank lines are skipped.
// The set name is the file's stem (data/stories.jsonl -> "stories"). Categories travel into
// the CSVs so results can be split by category.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace speclab {

struct Prompt {
  std::string set;       // file stem
  std::string id;        // unique within the set
  std::string category;  // "category" field, else the set name
  std::string text;
};

// Reads a prompt set. Throws Error naming the file and line for a missing file, malformed JSON,
// a missing/mistyped field, an unknown field, an empty prompt, a duplicate id or an empty set.
std::vector<Prompt> load_prompts(const std::string& path);

}  // namespace speclab
