#include "experiments/prompts.h"

#include <filesystem>
#include <sstream>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"

namespace speclab {

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
    const nlohmann::json j = parse_json(line, fmt::format("{}:{}", path, line_no));
    if (!j.is_object()) fail("{}:{}: must be a JSON object with \"id\" and \"prompt\"", path, line_no);
    Prompt p;
    p.set = set;
    for (const auto& [key, value] : j.items()) {
      if (key != "id" && key != "prompt" && key != "category") {
        fail("{}:{}: field '{}': unknown (known: id, prompt, category)", path, line_no, quote_untrusted(key));
      }
    }
    if (!j.contains("id")) fail("{}:{}: field 'id': missing", path, line_no);
    if (j["id"].is_string()) {
      p.id = j["id"].get<std::string>();
    } else if (j["id"].is_number_integer()) {
      p.id = j["id"].dump();  // the integer's digits (also beyond 64-bit signed)
    } else {
      fail("{}:{}: field 'id' = {}: must be a string or an integer", path, line_no, json_excerpt(j["id"]));
    }
    if (p.id.empty()) fail("{}:{}: field 'id': must not be empty", path, line_no);
    if (!j.contains("prompt") || !j["prompt"].is_string()) {
      fail("{}:{}: field 'prompt': missing or not a string", path, line_no);
    }
    p.text = j["prompt"].get<std::string>();
    if (p.text.empty()) fail("{}:{}: field 'prompt' of id '{}': must not be empty", path, line_no, quote_untrusted(p.id));
    p.category = set;
    if (j.contains("category")) {
      if (!j["category"].is_string() || j["category"].get<std::string>().empty()) {
        fail("{}:{}: field 'category' = {}: must be a non-empty string", path, line_no,
             json_excerpt(j["category"]));
      }
      p.category = j["category"].get<std::string>();
    }
    if (!ids.insert(p.id).second) fail("{}:{}: id '{}': duplicate (ids must be unique)", path, line_no, quote_untrusted(p.id));
    out.push_back(std::move(p));
  }
  if (out.empty()) fail("{}: no prompts (expected JSON Lines with \"id\" and \"prompt\")", path);
  return out;
}

}  // namespace speclab
