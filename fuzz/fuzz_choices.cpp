// Static tree templates (trees/choices.h): Medusa-style choices lists and branching lists
// (drafters/recycling_drafter.h). A list that parses must format back to text that parses to the
// same list; its template must validate, give back the same paths, and cut to any budget.
#include <algorithm>
#include <cstdint>

#include "drafters/recycling_drafter.h"
#include "fuzz/fuzz_util.h"
#include "trees/choices.h"

using namespace speclab;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  try {
    auto choices = parse_choices(text);
    const std::string formatted = format_choices(choices);
    if (parse_choices(formatted) != choices) fuzz::finding("choices round trip changed: " + formatted);
    try {
      const TreeTemplate t = template_from_choices(choices);
      try {
        t.validate();
      } catch (const Error& e) {
        fuzz::finding(std::string("template_from_choices gave an invalid template: ") + e.what());
      }
      auto back = choices_of(t);
      std::sort(back.begin(), back.end());
      std::sort(choices.begin(), choices.end());
      if (back != choices) fuzz::finding("choices_of(template_from_choices(c)) != c");
      const DraftBudget budget{static_cast<std::int32_t>(size % 17), static_cast<std::int32_t>(size % 5)};
      cut_to_budget(t, budget).validate();
    } catch (const Error&) {
    }
  } catch (const Error&) {
  }
  try {
    (void)recycling_choices_template(text, "choices");
  } catch (const Error&) {
  }
  try {
    const std::vector<std::int32_t> b = parse_branching(text, "branching");
    (void)recycling_branching_template(b);
  } catch (const Error& e) {
    fuzz::note(e);
  }
  return 0;
}
