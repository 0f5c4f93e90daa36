// Drafter specs: "NAME" or "NAME:key=value,key=value,...". Parsing yields a DrafterParams, a
// map of raw string values with typed getters. Every getter validates and throws speclab::Error
// naming the drafter, the key, the value and the rule it breaks; check_known() rejects keys the
// drafter does not know, listing the ones it does.
//
// Values may contain commas inside brackets, so Medusa-style lists survive the comma-separated
// list: "recycling:choices=[[0],[1],[0,0]],k=8" has two keys. Keys are [a-z0-9_]+; a key may
// appear once.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>

namespace speclab {

class DrafterParams {
 public:
  DrafterParams() = default;
  DrafterParams(std::string drafter, std::map<std::string, std::string> values)
      : drafter_(std::move(drafter)), values_(std::move(values)) {}

  // Parses a spec. Throws Error for an empty name, an entry without '=', an empty key or value,
  // a key with characters outside [a-z0-9_], a repeated key or unbalanced brackets.
  static DrafterParams parse(std::string_view spec);

  const std::string& drafter() const { return drafter_; }
  const std::map<std::string, std::string>& values() const { return values_; }
  bool has(std::string_view key) const { return values_.count(std::string(key)) != 0; }

  // Throws Error if a key is not in `known` (the message lists the known keys).
  void check_known(std::initializer_list<std::string_view> known) const;

  // Typed getters: the default when the key is absent, else the parsed value, which must lie in
  // [lo, hi] (Error otherwise, and for text that is not a whole number / finite number).
  std::int32_t get_int(std::string_view key, std::int32_t def, std::int32_t lo,
                       std::int32_t hi) const;
  double get_double(std::string_view key, double def, double lo, double hi) const;
  // true/false/1/0/yes/no/on/off.
  bool get_bool(std::string_view key, bool def) const;
  std::string get_string(std::string_view key, std::string_view def) const;
  // The value must be one of `allowed`.
  std::string get_choice(std::string_view key, std::string_view def,
                         std::initializer_list<std::string_view> allowed) const;

  // Throws Error "drafter <name>: <key> = <value>: <rule>" (for drafter-specific checks).
  [[noreturn]] void fail_value(std::string_view key, std::string_view value,
                               std::string_view rule) const;

  // "name:key=value,..." in key order (the canonical spelling, used in drafter names).
  std::string to_string() const;

 private:
  const std::string* find(std::string_view key) const;

  std::string drafter_;
  std::map<std::string, std::string> values_;
};

}  // namespace speclab
