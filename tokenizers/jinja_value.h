// Values of the Jinja interpreter (tokenizers/jinja.h): the Python objects a chat template sees.
// Kinds: undefined (a missing variable or key; prints as "", is false, iterates as empty),
// none, bool, int (64-bit; overflow is an Error, not a wrap), float, string (UTF-8 bytes;
// lengths, indices and slices count code points), list and tuple (immutable, shared), dict
// (string keys in insertion order, immutable), namespace (a mutable dict made by namespace()),
// callable (built-in functions, macros, bound methods) and the `loop` object of a for loop.
//
// Containers record their nesting depth; building one deeper than kMaxValueDepth is an Error, so
// every recursion over a value (printing, tojson, comparison) is bounded.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace speclab::jinja {

inline constexpr int kMaxValueDepth = 160;

enum class Kind : std::uint8_t {
  kUndefined,
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kList,
  kTuple,
  kDict,
  kNamespace,
  kCallable,
  kLoop,
};

struct Value;
struct Dict;
struct Callable;
struct LoopState;
using ValueList = std::vector<Value>;

struct Value {
  Kind kind = Kind::kUndefined;
  std::int64_t i = 0;  // bool (0/1) and int
  double f = 0.0;
  std::string s;       // string; for undefined: what was looked up (for error messages)
  std::shared_ptr<const ValueList> list;  // list, tuple
  std::shared_ptr<Dict> dict;             // dict (never mutated once built), namespace
  std::shared_ptr<const Callable> fn;
  std::shared_ptr<LoopState> loop;

  static Value undefined(std::string hint = {});
  static Value none();
  static Value boolean(bool b);
  static Value integer(std::int64_t v);
  static Value number(double v);
  static Value string(std::string v);
  // Throws Error when an element is nested deeper than kMaxValueDepth.
  static Value make_list(ValueList items, bool tuple = false);
  static Value make_dict(std::vector<std::pair<std::string, Value>> entries);

  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_none() const { return kind == Kind::kNone; }
  bool is_string() const { return kind == Kind::kString; }
  bool is_number() const { return kind == Kind::kInt || kind == Kind::kFloat || kind == Kind::kBool; }
  bool is_sequence() const { return kind == Kind::kList || kind == Kind::kTuple; }
  bool is_mapping() const { return kind == Kind::kDict || kind == Kind::kNamespace; }
  int depth() const;  // 0 for scalars, 1 + deepest element for containers
};

struct Dict {
  std::vector<std::pair<std::string, Value>> entries;  // insertion order, unique keys
  int depth = 1;
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value v);  // replaces or appends
};

// Python truthiness (empty string/list/dict, 0, None, undefined are false).
bool truthy(const Value& v);

// Python equality (1 == 1.0 == True; lists and dicts element-wise; undefined equals undefined).
bool equal(const Value& a, const Value& b);

// str(v) as Python prints it ({{ v }}): None, True, 1.5, 1e-05, ['a', 1], {'k': None}, (1,).
std::string to_str(const Value& v);

// repr(v): strings quoted as Python does ('it''s' -> "it's").
std::string to_repr(const Value& v);

// Python's repr of a float (shortest round trip; 1e+16, 1e-05, 1.0, inf, nan).
std::string float_repr(double d);

// json.dumps(v, ensure_ascii=False, indent=indent, separators=...) as transformers' tojson
// filter calls it. indent < 0: one line with ", " and ": "; indent >= 0: newlines and
// `indent` spaces per level with "," and ": ". sort_keys sorts dict keys. Undefined and
// callables are an Error (Python raises TypeError).
std::string to_json(const Value& v, int indent, bool sort_keys, const std::string* item_sep = nullptr,
                    const std::string* key_sep = nullptr);

// A JSON document (objects keep their key order) as a value; numbers stay int or float.
Value from_json(const nlohmann::ordered_json& j);

// Type name as Jinja's error messages say it ("str", "int", "list", "dict", "undefined", ...).
std::string type_name(const Value& v);

// UTF-8 helpers: the number of code points, and the byte offset of code point `cp`.
std::size_t utf8_length(std::string_view s);
std::vector<std::size_t> utf8_offsets(std::string_view s);  // n + 1 offsets

// Length in bytes of the Python whitespace character (str.isspace) at s[pos], 0 if none.
std::size_t py_space_at(std::string_view s, std::size_t pos);
// Whitespace-only test and Python str.strip()/lstrip()/rstrip() without arguments.
std::string_view py_strip(std::string_view s, bool left, bool right);

}  // namespace speclab::jinja
