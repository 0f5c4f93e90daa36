#include "experiments/prompts.h"

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"

namespace speclab {

namespace {

std::string id_of(const nlohmann::json& v, const std::string& where, const char* field) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return v.dump();  // the integer's digits (also beyond 64-bit signed)
  fail("{}: field '{}' = {}: must be a string or an integer", where, field, json_excerpt(v));
}

}  // namespace

std::vector<Prompt> load_prompts(const std::string& path) {
  const std::string text = read_input_file(path, kMaxTextInputBytes, "a prompt set");
  std::istringstream in(text);
  const std::string set = std::filesystem::path(path).stem().string();
  std::vector<Prompt> out;
  std::set<std::string> ids;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", path, line_no);
    const nlohmann::json j = parse_json(line, where);
    if (!j.is_object()) {
      fail("{}: must be a JSON object with \"id\" and \"prompt\" (or Spec-Bench's \"question_id\" and \"turns\")", where);
    }
    const bool spec_bench = j.contains("turns") || j.contains("question_id");
    Prompt p;
    p.set = set;
    for (const auto& [key, value] : j.items()) {
      const bool known = spec_bench ? (key == "question_id" || key == "category" || key == "turns" || key == "reference")
                                    : (key == "id" || key == "prompt" || key == "category");
      if (!known) {
        fail("{}: field '{}': unknown (known: {})", where, quote_untrusted(key),
             spec_bench ? "question_id, category, turns, reference" : "id, prompt, category");
      }
    }
    const char* id_field = spec_bench ? "question_id" : "id";
    if (!j.contains(id_field)) fail("{}: field '{}': missing", where, id_field);
    p.id = id_of(j[id_field], where, id_field);
    if (p.id.empty()) fail("{}: field '{}': must not be empty", where, id_field);
    if (spec_bench) {
      if (!j.contains("turns") || !j["turns"].is_array() || j["turns"].empty()) {
        fail("{}: field 'turns' of question {}: must be a non-empty list of strings", where, quote_untrusted(p.id));
      }
      for (std::size_t k = 0; k < j["turns"].size(); ++k) {
        const nlohmann::json& t = j["turns"][k];
        if (!t.is_string() || t.get<std::string>().empty()) {
          fail("{}: turns[{}] of question {} = {}: must be a non-empty string", where, k, quote_untrusted(p.id),
               json_excerpt(t));
        }
        p.turns.push_back(t.get<std::string>());
      }
      p.text = p.turns[0];
    } else {
      if (!j.contains("prompt") || !j["prompt"].is_string()) fail("{}: field 'prompt': missing or not a string", where);
      p.text = j["prompt"].get<std::string>();
      if (p.text.empty()) fail("{}: field 'prompt' of id '{}': must not be empty", where, quote_untrusted(p.id));
      p.turns = {p.text};
    }
    p.category = set;
    if (j.contains("category")) {
      if (!j["category"].is_string() || j["category"].get<std::string>().empty()) {
        fail("{}: field 'category' = {}: must be a non-empty string", where, json_excerpt(j["category"]));
      }
      p.category = j["category"].get<std::string>();
    } else if (spec_bench) {
      fail("{}: field 'category' of question {}: missing", where, quote_untrusted(p.id));
    }
    if (p.category == "overall") {
      fail("{}: category 'overall' of id '{}': reserved (by_category.csv's row over all categories); rename the "
           "category{}",
           where, quote_untrusted(p.id), j.contains("category") ? "" : " (here: the set name, from the file name)");
    }
    if (!ids.insert(p.id).second) fail("{}: id '{}': duplicate (ids must be unique)", where, quote_untrusted(p.id));
    out.push_back(std::move(p));
  }
  if (out.empty()) fail("{}: no prompts (expected JSON Lines with \"id\" and \"prompt\", or Spec-Bench questions)", path);
  return out;
}

std::vector<Prompt> first_per_category(std::vector<Prompt> prompts, std::int32_t n) {
  if (n <= 0) return prompts;
  std::map<std::string, std::int32_t> taken;
  std::vector<Prompt> out;
  for (Prompt& p : prompts) {
    if (taken[p.category]++ < n) out.push_back(std::move(p));
  }
  return out;
}

}  // namespace speclab
