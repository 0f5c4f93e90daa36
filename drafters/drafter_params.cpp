#include "drafters/drafter_params.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "base/error.h"
#include "base/json_input.h"

namespace speclab {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool valid_key(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// Splits on commas at bracket depth 0; throws on unbalanced brackets.
std::vector<std::string_view> split_top_level(std::string_view spec, std::string_view whole) {
  std::vector<std::string_view> parts;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    const char c = spec[i];
    if (c == '[' || c == '(') ++depth;
    if (c == ']' || c == ')') {
      if (--depth < 0) fail("drafter spec '{}': unbalanced '{}' at offset {}", quote_untrusted(whole), c, i);
    }
    if (c == ',' && depth == 0) {
      parts.push_back(spec.substr(start, i - start));
      start = i + 1;
    }
  }
  if (depth != 0) fail("drafter spec '{}': unbalanced brackets", quote_untrusted(whole));
  parts.push_back(spec.substr(start));
  return parts;
}

}  // namespace

DrafterParams DrafterParams::parse(std::string_view spec) {
  const std::size_t colon = spec.find(':');
  const std::string_view name = trim(spec.substr(0, colon));
  if (name.empty()) fail("drafter spec '{}': empty drafter name", quote_untrusted(spec));
  DrafterParams p;
  p.drafter_ = std::string(name);
  if (colon == std::string_view::npos) return p;
  const std::string_view rest = spec.substr(colon + 1);
  if (trim(rest).empty()) return p;
  for (std::string_view part : split_top_level(rest, spec)) {
    part = trim(part);
    const std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      fail("drafter {}: entry '{}' in '{}': expected key=value", quote_untrusted(name), quote_untrusted(part), quote_untrusted(spec));
    }
    const std::string_view key = trim(part.substr(0, eq));
    const std::string_view value = trim(part.substr(eq + 1));
    if (!valid_key(key)) {
      fail("drafter {}: key '{}' in '{}': keys are non-empty [a-z0-9_]+", quote_untrusted(name), quote_untrusted(key), quote_untrusted(spec));
    }
    if (value.empty()) fail("drafter {}: {} = '': empty value", quote_untrusted(name), quote_untrusted(key));
    if (!p.values_.emplace(std::string(key), std::string(value)).second) {
      fail("drafter {}: {} given twice in '{}'", quote_untrusted(name), quote_untrusted(key), quote_untrusted(spec));
    }
  }
  return p;
}

namespace {

template <class Known>
std::string unknown_key_message(std::string_view drafter, std::string_view key, std::string_view value,
                                const Known& known) {
  std::string list;
  for (const auto& k : known) {
    if (!list.empty()) list += ", ";
    list += k;
  }
  return fmt::format("drafter {}: {} = {}: unknown key (known keys: {})", drafter, key, value,
                     list.empty() ? std::string("none") : list);
}

}  // namespace

void DrafterParams::check_known(std::initializer_list<std::string_view> known) const {
  for (const auto& [key, value] : values_) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == key;
    if (!ok) throw Error(unknown_key_message(drafter_, key, value, known));
  }
}

const std::string* DrafterParams::find(std::string_view key) const {
  const auto it = values_.find(std::string(key));
  return it == values_.end() ? nullptr : &it->second;
}

void DrafterParams::fail_value(std::string_view key, std::string_view value,
                               std::string_view rule) const {
  fail("drafter {}: {} = {}: {}", quote_untrusted(drafter_), quote_untrusted(key), quote_untrusted(value), rule);
}

std::int32_t DrafterParams::get_int(std::string_view key, std::int32_t def, std::int32_t lo,
                                    std::int32_t hi) const {
  const std::string* v = find(key);
  if (!v) return def;
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v->c_str(), &end, 10);
  if (end == v->c_str() || *end != '\0' || errno == ERANGE) {
    fail_value(key, *v, "expected an integer");
  }
  if (x < lo || x > hi) fail_value(key, *v, fmt::format("must be in [{}, {}]", lo, hi));
  return static_cast<std::int32_t>(x);
}

double DrafterParams::get_double(std::string_view key, double def, double lo, double hi) const {
  const std::string* v = find(key);
  if (!v) return def;
  errno = 0;
  char* end = nullptr;
  const double x = std::strtod(v->c_str(), &end);
  if (end == v->c_str() || *end != '\0' || errno == ERANGE || !std::isfinite(x)) {
    fail_value(key, *v, "expected a finite number");
  }
  if (x < lo || x > hi) fail_value(key, *v, fmt::format("must be in [{}, {}]", lo, hi));
  return x;
}

bool DrafterParams::get_bool(std::string_view key, bool def) const {
  const std::string* v = find(key);
  if (!v) return def;
  if (*v == "1" || *v == "true" || *v == "yes" || *v == "on") return true;
  if (*v == "0" || *v == "false" || *v == "no" || *v == "off") return false;
  fail_value(key, *v, "expected a boolean (1/0, true/false, yes/no, on/off)");
}

std::string DrafterParams::get_string(std::string_view key, std::string_view def) const {
  const std::string* v = find(key);
  return v ? *v : std::string(def);
}

std::string DrafterParams::get_choice(std::string_view key, std::string_view def,
                                      std::initializer_list<std::string_view> allowed) const {
  const std::string* v = find(key);
  if (!v) return std::string(def);
  std::string list;
  for (std::string_view a : allowed) {
    if (a == *v) return *v;
    if (!list.empty()) list += "|";
    list += a;
  }
  fail_value(key, *v, fmt::format("must be one of {}", list));
}

std::string DrafterParams::to_string() const {
  std::string s = drafter_;
  char sep = ':';
  for (const auto& [key, value] : values_) {
    s += sep;
    s += key;
    s += '=';
    s += value;
    sep = ',';
  }
  return s;
}

// ---- ParamReader ----

ParamReader::ParamReader(const DrafterParams& params, std::span<const DrafterKey> keys)
    : params_(params), keys_(keys) {
  std::vector<std::string_view> known;
  for (const DrafterKey& k : keys_) known.push_back(k.name);
  for (const auto& [key, value] : params_.values()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      problems_.push_back(unknown_key_message(params_.drafter(), key, value, known));
    }
  }
}

const DrafterKey& ParamReader::key_of(std::string_view key) const {
  const auto it = std::find_if(keys_.begin(), keys_.end(),
                               [&](const DrafterKey& k) { return k.name == key; });
  SPECLAB_ASSERT(it != keys_.end() && "a getter reads a key missing from the drafter's key table");
  return *it;
}

template <class T, class Read>
void ParamReader::check_default(std::string_view key, const T& def, Read&& read) const {
  const DrafterKey& k = key_of(key);
  if (k.default_value.empty()) return;
  const DrafterParams table(params_.drafter(), {{std::string(key), std::string(k.default_value)}});
  SPECLAB_ASSERT(read(table) == def && "the key table's default differs from the code's");
}

std::int32_t ParamReader::get_int(std::string_view key, std::int32_t def, std::int32_t lo,
                                  std::int32_t hi) {
  check_default(key, def, [&](const DrafterParams& t) { return t.get_int(key, def, INT32_MIN, INT32_MAX); });
  std::int32_t v = def;
  attempt([&] { v = params_.get_int(key, def, lo, hi); });
  return v;
}

double ParamReader::get_double(std::string_view key, double def, double lo, double hi) {
  check_default(key, def, [&](const DrafterParams& t) { return t.get_double(key, def, -1e300, 1e300); });
  double v = def;
  attempt([&] { v = params_.get_double(key, def, lo, hi); });
  return v;
}

bool ParamReader::get_bool(std::string_view key, bool def) {
  check_default(key, def, [&](const DrafterParams& t) { return t.get_bool(key, def); });
  bool v = def;
  attempt([&] { v = params_.get_bool(key, def); });
  return v;
}

std::string ParamReader::get_string(std::string_view key, std::string_view def) {
  check_default(key, def, [&](const DrafterParams& t) { return t.get_string(key, def); });
  return params_.get_string(key, def);
}

std::string ParamReader::get_choice(std::string_view key, std::string_view def,
                                    std::initializer_list<std::string_view> allowed) {
  check_default(key, def, [&](const DrafterParams& t) { return t.get_choice(key, def, allowed); });
  std::string v(def);
  attempt([&] { v = params_.get_choice(key, def, allowed); });
  return v;
}

void ParamReader::problem(std::string_view key, std::string_view value, std::string_view rule) {
  problems_.push_back(fmt::format("drafter {}: {} = {}: {}", params_.drafter(), key, value, rule));
}

void ParamReader::throw_if_problems() const { throw_drafter_problems(params_.to_string(), problems_); }

void throw_drafter_problems(std::string_view spec, const std::vector<std::string>& problems) {
  if (problems.empty()) return;
  if (problems.size() == 1) throw Error(problems.front());
  std::string msg = fmt::format("drafter spec '{}': {} problems:", spec, problems.size());
  for (const auto& p : problems) msg += "\n  " + p;
  throw Error(msg);
}

}  // namespace speclab
