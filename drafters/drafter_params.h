// Drafter specs: "NAME" or "NAME:key=value,key=value,...". Parsing yields a DrafterParams, a
// map of raw string values with typed getters. Every getter validates and throws speclab::Error
// naming the drafter, the key, the value and the rule it breaks; check_known() rejects keys the
// drafter does not know, listing the ones it does.
//
// A drafter kind describes its keys as data (DrafterKey: name, default, one-line doc) and reads
// them through a ParamReader, which collects every problem of a spec instead of stopping at the
// first, so a bad spec is reported whole (drafters/registry.h).
//
// Values may contain commas inside brackets, so Medusa-style lists survive the comma-separated
// list: "recycling:choices=[[0],[1],[0,0]],k=8" has two keys. Keys are [a-z0-9_]+; a key may
// appear once.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

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

// Files named by a key that an experiment's optional drafter needs: when such a file is missing
// the experiment skips the drafter with a note instead of failing (experiments/spec.h).
enum class OptionalFile {
  kNone,
  kModelFile,  // a model file; when the key is absent, DrafterEnv::draft_model_path (--draft-model)
  kHeadsDir,   // a directory of trained heads: heads.json and heads.safetensors (train-heads)
  kEagleDir,   // an EAGLE head directory: eagle.json and eagle.safetensors (heads/eagle_head.h), or a
               // published checkpoint's config.json and model.safetensors (heads/eagle_checkpoint.h)
};

// One parameter of a drafter kind: what --help, validation and the README check read.
struct DrafterKey {
  std::string_view name;           // [a-z0-9_]+
  // The value used when the key is absent, spelled as a spec value; "" = no literal default
  // (required, or computed as `doc` says).
  std::string_view default_value;
  std::string_view doc;            // one line
  OptionalFile file = OptionalFile::kNone;
};

// Reads the parameters of one drafter kind, collecting every problem instead of throwing at the
// first. Construction records one "unknown key" problem per key of `params` not in `keys` (the
// same text as DrafterParams::check_known). The getters behave like DrafterParams' but record a
// bad value as a problem and return `def`, so parsing goes on. Each getter's `key` must be in
// `keys`, and `def` must equal the key's default_value when that is set: both are asserted, so
// the table (help, README) and the code (behaviour) cannot drift apart. `params` and `keys`
// must outlive the reader.
class ParamReader {
 public:
  ParamReader(const DrafterParams& params, std::span<const DrafterKey> keys);

  const DrafterParams& params() const { return params_; }
  bool has(std::string_view key) const { return params_.has(key); }

  std::int32_t get_int(std::string_view key, std::int32_t def, std::int32_t lo, std::int32_t hi);
  double get_double(std::string_view key, double def, double lo, double hi);
  bool get_bool(std::string_view key, bool def);
  std::string get_string(std::string_view key, std::string_view def);
  std::string get_choice(std::string_view key, std::string_view def,
                         std::initializer_list<std::string_view> allowed);

  // Records "drafter <name>: <key> = <value>: <rule>" (a drafter-specific check).
  void problem(std::string_view key, std::string_view value, std::string_view rule);
  // Records a problem with its whole message (which names the drafter and the key).
  void problem(std::string message) { problems_.push_back(std::move(message)); }
  // Runs f(); an Error it throws is recorded (its message as is). Returns whether f succeeded.
  template <class F>
  bool attempt(F&& f) {
    try {
      f();
      return true;
    } catch (const Error& e) {
      problems_.push_back(e.what());
      return false;
    }
  }

  const std::vector<std::string>& problems() const { return problems_; }
  // Throws Error when there are problems: one problem is thrown as is; several as
  // "drafter spec '<spec>': N problems:" and one per line.
  void throw_if_problems() const;

 private:
  const DrafterKey& key_of(std::string_view key) const;  // asserts `key` is in the table
  // Asserts that the table's default of `key`, read by `read`, equals `def`.
  template <class T, class Read>
  void check_default(std::string_view key, const T& def, Read&& read) const;

  const DrafterParams& params_;
  std::span<const DrafterKey> keys_;
  std::vector<std::string> problems_;
};

// Throws Error listing `problems` for `spec` (nothing when empty; one problem as is).
void throw_drafter_problems(std::string_view spec, const std::vector<std::string>& problems);

}  // namespace speclab
