// Untrusted JSON. Every JSON reader (tokenizer.json, config.json, safetensors headers, experiment
// specs, prompt JSONL, heads files, merge inputs) parses through parse_json, so that:
//   - nesting deeper than kMaxJsonDepth is refused while parsing (a 100,000-deep array would
//     otherwise overflow the stack in the recursive copies and dumps of the parsed value);
//   - syntax errors and numbers out of range (1e400) become speclab::Error naming the input;
//   - untrusted text quoted in messages is cut to ~80 characters (quote_untrusted).
// Typed field access goes through json_integer / json_number, which check the JSON type and that
// the value fits the C++ type (4294967297 does not fit an int32; 1e100 is not an integer).
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include "base/error.h"

namespace speclab {

inline constexpr int kMaxJsonDepth = 128;

// Parses `text`; `what` names the input in errors ("<what>: not valid JSON at byte N: ...",
// "<what>: JSON nested deeper than 128 levels ..."). Byte N is the 0-based offset of the error
// in the file, `text` starting at byte `file_offset` of it (a safetensors header starts at 8).
nlohmann::json parse_json(std::string_view text, std::string_view what, std::uint64_t file_offset = 0);

// `s` as it may appear in an error message: at most max_chars characters (then "..."), control
// characters shown as '?'.
std::string quote_untrusted(std::string_view s, std::size_t max_chars = 80);

// A JSON value shown in a message (dumped, then cut like quote_untrusted).
std::string json_excerpt(const nlohmann::json& v, std::size_t max_chars = 80);

// The integer value of `v` as T. Throws Error "<what>: <field> = <v>: must be an integer in
// [lo, hi]" when v is not an integer (a float with a fractional part, out of range, a string,
// ...) or does not lie in [lo, hi]. Floats with an integral value that fit T are accepted
// (1.0, 2e3).
template <typename T>
T json_integer(const nlohmann::json& v, std::string_view what, std::string_view field,
               T lo = std::numeric_limits<T>::min(), T hi = std::numeric_limits<T>::max()) {
  static_assert(std::is_integral_v<T>);
  bool ok = false;
  T out{};
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u <= static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
      out = static_cast<T>(u);
      ok = true;
    }
  } else if (v.is_number_integer()) {
    const auto s = v.get<std::int64_t>();
    if constexpr (std::is_signed_v<T>) {
      if (s >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
          s <= static_cast<std::int64_t>(std::numeric_limits<T>::max())) {
        out = static_cast<T>(s);
        ok = true;
      }
    } else if (s >= 0 && static_cast<std::uint64_t>(s) <= static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
      out = static_cast<T>(s);
      ok = true;
    }
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    // 2^63 bounds keep the cast defined for every T up to 64 bits.
    if (std::isfinite(d) && d == std::floor(d) && d >= static_cast<double>(std::numeric_limits<T>::min()) &&
        d < 9223372036854775808.0 && d <= static_cast<double>(std::numeric_limits<T>::max())) {
      out = static_cast<T>(d);
      ok = true;
    }
  }
  if (!ok || out < lo || out > hi) {
    fail("{}: {} = {}: must be an integer in [{}, {}]", what, field, json_excerpt(v), lo, hi);
  }
  return out;
}

// The numeric value of `v` (finite). Throws Error "<what>: <field> = <v>: must be a number in
// [lo, hi]".
double json_number(const nlohmann::json& v, std::string_view what, std::string_view field,
                   double lo = -std::numeric_limits<double>::max(),
                   double hi = std::numeric_limits<double>::max());

// The string value of `v`; throws Error "<what>: <field> = <v>: must be a string".
const std::string& json_string(const nlohmann::json& v, std::string_view what, std::string_view field);

}  // namespace speclab
