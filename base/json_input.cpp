#include "base/json_input.h"

namespace speclab {

using nlohmann::json;

std::string quote_untrusted(std::string_view s, std::size_t max_chars) {
  std::string out;
  const std::size_t n = std::min(s.size(), max_chars);
  out.reserve(n + 3);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    out.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
  }
  if (s.size() > max_chars) {
    // Do not end inside a UTF-8 sequence.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    out += "...";
  }
  return out;
}

std::string json_excerpt(const json& v, std::size_t max_chars) {
  // Values reaching here were parsed with the depth limit, so dump() recursion is bounded.
  return quote_untrusted(v.dump(-1, ' ', false, json::error_handler_t::replace), max_chars);
}

namespace {

struct DepthExceeded {
  std::size_t depth;
};

}  // namespace

json parse_json(std::string_view text, std::string_view what, std::uint64_t file_offset) {
  // The callback sees every value as it is parsed, before anything recurses over the result;
  // nlohmann's parser itself keeps its nesting on the heap.
  const json::parser_callback_t limit = [](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth) {
      throw DepthExceeded{static_cast<std::size_t>(depth) + 1};
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), limit);
  } catch (const DepthExceeded& d) {
    fail("{}: JSON nested deeper than {} levels (the limit for untrusted input)", what, kMaxJsonDepth);
  } catch (const json::parse_error& e) {
    fail("{}: not valid JSON at byte {}: {}", what, file_offset + (e.byte > 0 ? e.byte - 1 : 0),
         quote_untrusted(e.what(), 200));
  } catch (const json::exception& e) {  // out_of_range (1e400) and the like
    fail("{}: not valid JSON: {}", what, quote_untrusted(e.what(), 200));
  }
}

double json_number(const json& v, std::string_view what, std::string_view field, double lo, double hi) {
  if (!v.is_number()) fail("{}: {} = {}: must be a number", what, field, json_excerpt(v));
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < lo || d > hi) {
    fail("{}: {} = {}: must be a number in [{}, {}]", what, field, json_excerpt(v), lo, hi);
  }
  return d;
}

const std::string& json_string(const json& v, std::string_view what, std::string_view field) {
  if (!v.is_string()) fail("{}: {} = {}: must be a string", what, field, json_excerpt(v));
  return v.get_ref<const std::string&>();
}

}  // namespace speclab
