#include "tokenizers/jinja_value.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>

#include "base/error.h"

namespace speclab::jinja {

Value Value::undefined(std::string hint) {
  Value v;
  v.s = std::move(hint);
  return v;
}
Value Value::none() {
  Value v;
  v.kind = Kind::kNone;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind = Kind::kBool;
  v.i = b ? 1 : 0;
  return v;
}
Value Value::integer(std::int64_t x) {
  Value v;
  v.kind = Kind::kInt;
  v.i = x;
  return v;
}
Value Value::number(double x) {
  Value v;
  v.kind = Kind::kFloat;
  v.f = x;
  return v;
}
Value Value::string(std::string x) {
  Value v;
  v.kind = Kind::kString;
  v.s = std::move(x);
  return v;
}

int Value::depth() const {
  switch (kind) {
    case Kind::kList:
    case Kind::kTuple: {
      // 1 + the deepest element, computed when the list was built and kept in i.
      return static_cast<int>(i);
    }
    case Kind::kDict:
    case Kind::kNamespace:
      return dict ? dict->depth : 1;
    default:
      return 0;
  }
}

Value Value::make_list(ValueList items, bool tuple) {
  int d = 0;
  for (const Value& e : items) d = std::max(d, e.depth());
  if (d + 1 > kMaxValueDepth) {
    fail("value nested deeper than {} levels (the limit for template values)", kMaxValueDepth);
  }
  Value v;
  v.kind = tuple ? Kind::kTuple : Kind::kList;
  v.i = d + 1;
  v.list = std::make_shared<const ValueList>(std::move(items));
  return v;
}

Value Value::make_dict(std::vector<std::pair<std::string, Value>> entries) {
  auto d = std::make_shared<Dict>();
  int depth = 0;
  for (auto& [k, val] : entries) {
    depth = std::max(depth, val.depth());
    d->set(k, std::move(val));
  }
  if (depth + 1 > kMaxValueDepth) {
    fail("value nested deeper than {} levels (the limit for template values)", kMaxValueDepth);
  }
  d->depth = depth + 1;
  Value v;
  v.kind = Kind::kDict;
  v.dict = std::move(d);
  return v;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Dict::set(const std::string& key, Value v) {
  if (v.depth() + 1 > kMaxValueDepth) {
    fail("value nested deeper than {} levels (the limit for template values)", kMaxValueDepth);
  }
  depth = std::max(depth, v.depth() + 1);
  for (auto& [k, old] : entries) {
    if (k == key) {
      old = std::move(v);
      return;
    }
  }
  entries.emplace_back(key, std::move(v));
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
    case Kind::kInt:
      return v.i != 0;
    case Kind::kFloat:
      return v.f != 0.0;
    case Kind::kString:
      return !v.s.empty();
    case Kind::kList:
    case Kind::kTuple:
      return !v.list->empty();
    case Kind::kDict:
      return !v.dict->entries.empty();
    default:
      return true;
  }
}

bool equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind == Kind::kFloat || b.kind == Kind::kFloat) {
      const double x = a.kind == Kind::kFloat ? a.f : static_cast<double>(a.i);
      const double y = b.kind == Kind::kFloat ? b.f : static_cast<double>(b.i);
      return x == y;
    }
    return a.i == b.i;
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kString:
      return a.s == b.s;
    case Kind::kList:
    case Kind::kTuple: {
      if (a.list->size() != b.list->size()) return false;
      for (std::size_t k = 0; k < a.list->size(); ++k) {
        if (!equal((*a.list)[k], (*b.list)[k])) return false;
      }
      return true;
    }
    case Kind::kDict: {
      if (a.dict->entries.size() != b.dict->entries.size()) return false;
      for (const auto& [k, v] : a.dict->entries) {
        const Value* w = b.dict->find(k);
        if (!w || !equal(v, *w)) return false;
      }
      return true;
    }
    case Kind::kNamespace:
      return a.dict == b.dict;
    case Kind::kCallable:
      return a.fn == b.fn;
    case Kind::kLoop:
      return a.loop == b.loop;
    default:
      return false;
  }
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci = [-]D[.DDD]e[+-]XX
  bool neg = false;
  if (!sci.empty() && sci[0] == '-') {
    neg = true;
    sci.erase(0, 1);
  }
  const std::size_t e = sci.find('e');
  std::string digits;
  for (std::size_t k = 0; k < e; ++k) {
    if (sci[k] != '.') digits.push_back(sci[k]);
  }
  const int exp = std::atoi(sci.c_str() + e + 1);
  std::string out;
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out = "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exp + 1) {
      out = digits + std::string(static_cast<std::size_t>(exp + 1 - static_cast<int>(digits.size())), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<std::size_t>(exp + 1)) + "." + digits.substr(static_cast<std::size_t>(exp + 1));
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exp < 0 ? '-' : '+', std::abs(exp));
  }
  return neg ? "-" + out : out;
}

namespace {

void append_repr_string(std::string& out, const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out.push_back(quote);
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (ch == quote || ch == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out.push_back(ch);
    }
  }
  out.push_back(quote);
}

void append_str(std::string& out, const Value& v, bool repr);

void append_items(std::string& out, const ValueList& items) {
  for (std::size_t k = 0; k < items.size(); ++k) {
    if (k) out += ", ";
    append_str(out, items[k], true);
  }
}

void append_dict(std::string& out, const Dict& d) {
  out.push_back('{');
  bool first = true;
  for (const auto& [k, v] : d.entries) {
    if (!first) out += ", ";
    first = false;
    append_repr_string(out, k);
    out += ": ";
    append_str(out, v, true);
  }
  out.push_back('}');
}

void append_str(std::string& out, const Value& v, bool repr) {
  switch (v.kind) {
    case Kind::kUndefined:
      if (repr) out += "Undefined";
      return;
    case Kind::kNone:
      out += "None";
      return;
    case Kind::kBool:
      out += v.i ? "True" : "False";
      return;
    case Kind::kInt:
      out += std::to_string(v.i);
      return;
    case Kind::kFloat:
      out += float_repr(v.f);
      return;
    case Kind::kString:
      if (repr) {
        append_repr_string(out, v.s);
      } else {
        out += v.s;
      }
      return;
    case Kind::kList:
      out.push_back('[');
      append_items(out, *v.list);
      out.push_back(']');
      return;
    case Kind::kTuple:
      out.push_back('(');
      append_items(out, *v.list);
      if (v.list->size() == 1) out.push_back(',');
      out.push_back(')');
      return;
    case Kind::kDict:
      append_dict(out, *v.dict);
      return;
    case Kind::kNamespace:
      out += "<Namespace ";
      append_dict(out, *v.dict);
      out += ">";
      return;
    case Kind::kCallable:
      out += "<function>";
      return;
    case Kind::kLoop:
      out += "<LoopContext>";
      return;
  }
}

void append_json_string(std::string& out, const std::string& s) {
  out.push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

struct JsonWriter {
  int indent;
  bool sort_keys;
  std::string item_sep, key_sep;
  std::string out;

  void newline(int level) {
    out.push_back('\n');
    out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(level), ' ');
  }

  void write(const Value& v, int level) {
    switch (v.kind) {
      case Kind::kNone:
        out += "null";
        return;
      case Kind::kBool:
        out += v.i ? "true" : "false";
        return;
      case Kind::kInt:
        out += std::to_string(v.i);
        return;
      case Kind::kFloat:
        if (std::isnan(v.f)) {
          out += "NaN";
        } else if (std::isinf(v.f)) {
          out += v.f < 0 ? "-Infinity" : "Infinity";
        } else {
          out += float_repr(v.f);
        }
        return;
      case Kind::kString:
        append_json_string(out, v.s);
        return;
      case Kind::kList:
      case Kind::kTuple: {
        const ValueList& items = *v.list;
        if (items.empty()) {
          out += "[]";
          return;
        }
        out.push_back('[');
        for (std::size_t k = 0; k < items.size(); ++k) {
          if (k) out += item_sep;
          if (indent >= 0) newline(level + 1);
          write(items[k], level + 1);
        }
        if (indent >= 0) newline(level);
        out.push_back(']');
        return;
      }
      case Kind::kDict:
      case Kind::kNamespace: {
        if (v.kind == Kind::kNamespace) fail("tojson: Object of type Namespace is not JSON serializable");
        std::vector<const std::pair<std::string, Value>*> entries;
        for (const auto& e : v.dict->entries) entries.push_back(&e);
        if (sort_keys) {
          std::stable_sort(entries.begin(), entries.end(),
                           [](const auto* a, const auto* b) { return a->first < b->first; });
        }
        if (entries.empty()) {
          out += "{}";
          return;
        }
        out.push_back('{');
        for (std::size_t k = 0; k < entries.size(); ++k) {
          if (k) out += item_sep;
          if (indent >= 0) newline(level + 1);
          append_json_string(out, entries[k]->first);
          out += key_sep;
          write(entries[k]->second, level + 1);
        }
        if (indent >= 0) newline(level);
        out.push_back('}');
        return;
      }
      default:
        fail("tojson: Object of type {} is not JSON serializable", type_name(v));
    }
  }
};

}  // namespace

std::string to_str(const Value& v) {
  if (v.kind == Kind::kString) return v.s;
  std::string out;
  append_str(out, v, false);
  return out;
}

std::string to_repr(const Value& v) {
  std::string out;
  append_str(out, v, true);
  return out;
}

std::string to_json(const Value& v, int indent, bool sort_keys, const std::string* item_sep,
                    const std::string* key_sep) {
  JsonWriter w{indent, sort_keys, item_sep ? *item_sep : (indent >= 0 ? "," : ", "),
               key_sep ? *key_sep : ": ", {}};
  w.write(v, 0);
  return std::move(w.out);
}

Value from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::none();
    case nlohmann::ordered_json::value_t::boolean:
      return Value::boolean(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value::integer(j.get<std::int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(INT64_MAX)) return Value::number(static_cast<double>(u));
      return Value::integer(static_cast<std::int64_t>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value::number(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      ValueList items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json(e));
      return Value::make_list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      std::vector<std::pair<std::string, Value>> entries;
      entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) entries.emplace_back(it.key(), from_json(it.value()));
      return Value::make_dict(std::move(entries));
    }
    default:
      fail("JSON value of type {}: not supported in templates", j.type_name());
  }
}

std::string type_name(const Value& v) {
  switch (v.kind) {
    case Kind::kUndefined: return "undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return "list";
    case Kind::kTuple: return "tuple";
    case Kind::kDict: return "dict";
    case Kind::kNamespace: return "Namespace";
    case Kind::kCallable: return "function";
    case Kind::kLoop: return "LoopContext";
  }
  return "?";
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::vector<std::size_t> utf8_offsets(std::string_view s) {
  std::vector<std::size_t> out;
  out.reserve(s.size() + 1);
  for (std::size_t k = 0; k < s.size(); ++k) {
    if ((static_cast<unsigned char>(s[k]) & 0xC0) != 0x80) out.push_back(k);
  }
  out.push_back(s.size());
  return out;
}

std::size_t py_space_at(std::string_view s, std::size_t pos) {
  if (pos >= s.size()) return 0;
  const auto c = static_cast<unsigned char>(s[pos]);
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
  if (c < 0x80) return 0;
  // Decode one code point (the text is valid UTF-8).
  std::uint32_t cp = 0;
  std::size_t len = 0;
  if ((c & 0xE0) == 0xC0) {
    cp = c & 0x1F;
    len = 2;
  } else if ((c & 0xF0) == 0xE0) {
    cp = c & 0x0F;
    len = 3;
  } else if ((c & 0xF8) == 0xF0) {
    cp = c & 0x07;
    len = 4;
  } else {
    return 0;
  }
  if (pos + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[pos + k]) & 0x3F);
  const bool space = cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
                     cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
  return space ? len : 0;
}

std::string_view py_strip(std::string_view s, bool left, bool right) {
  if (left) {
    std::size_t p = 0;
    while (std::size_t n = py_space_at(s, p)) p += n;
    s.remove_prefix(p);
  }
  if (right) {
    // Walk forward remembering where the trailing whitespace run starts.
    std::size_t p = 0, run = s.size();
    bool in_run = false;
    while (p < s.size()) {
      if (std::size_t n = py_space_at(s, p)) {
        if (!in_run) {
          run = p;
          in_run = true;
        }
        p += n;
      } else {
        in_run = false;
        run = s.size();
        ++p;
        while (p < s.size() && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) ++p;
      }
    }
    if (in_run) s = s.substr(0, run);
  }
  return s;
}

}  // namespace speclab::jinja
