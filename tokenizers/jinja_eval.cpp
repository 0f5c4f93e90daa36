// Evaluator of the Jinja subset (tokenizers/jinja.h): statements, expressions with Python
// semantics, and the filters, tests, globals and str/dict/list methods of Jinja2 3.1 that chat
// templates use.
//
// Filters: abs attr batch capitalize center count d default dictsort e escape first float
// forceescape format indent int items join last length list lower map max min reject
// rejectattr replace reverse round safe select selectattr sort string sum title tojson trim
// unique upper wordcount.
// Tests: boolean callable defined divisibleby eq equalto escaped even false filter float ge gt
// greaterthan in integer iterable le lower lt lessthan mapping ne none number odd sameas
// sequence string test true undefined upper, and == != < <= > >=.
// Globals: range (at most 100000 items, as Jinja's sandbox), namespace, dict,
// raise_exception(msg), strftime_now(format).
// Methods: str: strip lstrip rstrip startswith endswith split rsplit splitlines replace upper
// lower title capitalize swapcase find rfind index rindex count join isdigit isalpha isalnum
// isspace islower isupper istitle zfill center ljust rjust format (positional {} / {0} only);
// dict: items keys values get; list: index count. Mutating methods (append, update, pop, ...)
// are refused as transformers' immutable sandbox refuses them.
// Case mapping (upper, lower, title, capitalize, swapcase, case-insensitive sorts) covers ASCII
// letters only; other characters are left as they are.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "base/error.h"
#include "tokenizers/jinja_ast.h"

namespace speclab::jinja {

struct Frame {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Frame> parent;
};

struct Callable {
  enum class Type { kBuiltin, kMacro, kMethod, kLoopCall, kCaller, kCycle } type = Type::kBuiltin;
  std::string name;                // builtin / method / macro name
  Value self;                      // method receiver; kLoopCall / kCycle: the loop
  const Node* node = nullptr;      // macro definition or call block
  std::weak_ptr<Frame> closure;    // where the macro / call block was defined
  std::shared_ptr<const Callable> caller;  // macro called from a call block
};

struct LoopState {
  std::shared_ptr<const ValueList> items;
  std::int64_t index0 = 0;
  int depth0 = 0;
  const Node* node = nullptr;      // the for statement (recursive loops)
  std::weak_ptr<Frame> outer;      // the frame the loop runs in
};

namespace {

// An Error that already names the template and line.
class TemplateError : public Error {
 public:
  using Error::Error;
};

enum class Flow { kNormal, kBreak, kContinue };

bool ascii_upper_char(char c) { return c >= 'A' && c <= 'Z'; }
bool ascii_lower_char(char c) { return c >= 'a' && c <= 'z'; }
char to_upper(char c) { return ascii_lower_char(c) ? static_cast<char>(c - 32) : c; }
char to_lower(char c) { return ascii_upper_char(c) ? static_cast<char>(c + 32) : c; }
std::string upper(std::string s) {
  for (char& c : s) c = to_upper(c);
  return s;
}
std::string lower(std::string s) {
  for (char& c : s) c = to_lower(c);
  return s;
}
bool is_alpha(char c) { return ascii_upper_char(c) || ascii_lower_char(c); }

// Code points of a UTF-8 string, as substrings.
std::vector<std::string> chars_of(const std::string& s) {
  std::vector<std::string> out;
  const auto off = utf8_offsets(s);
  out.reserve(off.size() - 1);
  for (std::size_t k = 0; k + 1 < off.size(); ++k) out.push_back(s.substr(off[k], off[k + 1] - off[k]));
  return out;
}

// Python's str.splitlines() line boundaries (ASCII ones plus U+0085, U+2028, U+2029).
std::vector<std::string> splitlines(const std::string& s, bool keepends) {
  std::vector<std::string> out;
  std::size_t start = 0, k = 0;
  while (k < s.size()) {
    std::size_t len = 0;
    const auto c = static_cast<unsigned char>(s[k]);
    if (c == '\r' && k + 1 < s.size() && s[k + 1] == '\n') {
      len = 2;
    } else if (c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e) {
      len = 1;
    } else if (c == 0xC2 && k + 1 < s.size() && static_cast<unsigned char>(s[k + 1]) == 0x85) {
      len = 2;
    } else if (c == 0xE2 && k + 2 < s.size() && static_cast<unsigned char>(s[k + 1]) == 0x80 &&
               (static_cast<unsigned char>(s[k + 2]) == 0xA8 || static_cast<unsigned char>(s[k + 2]) == 0xA9)) {
      len = 3;
    }
    if (len) {
      out.push_back(s.substr(start, (keepends ? k + len : k) - start));
      k += len;
      start = k;
    } else {
      ++k;
    }
  }
  if (start < s.size()) out.push_back(s.substr(start));
  return out;
}

struct Args {
  ValueList pos;
  std::vector<std::pair<std::string, Value>> kw;
};

class Renderer {
 public:
  Renderer(const std::string& name, const Limits& limits, const Context& ctx)
      : name_(name), limits_(limits), ctx_(ctx) {
    globals_ = std::make_shared<Frame>();
    for (const auto& [k, v] : ctx.variables) globals_->vars[k] = v;
  }

  std::string render(const Node& root) {
    std::string out;
    exec_body(root, globals_, out);
    return out;
  }

 private:
  struct DepthGuard {
    Renderer& r;
    const Node& n;
    DepthGuard(Renderer& renderer, const Node& node) : r(renderer), n(node) {
      if (++r.depth_ > r.limits_.max_depth * 2) {
        r.located(n.line, fmt::format("evaluation nested deeper than {} levels (recursion limit for templates)",
                                      r.limits_.max_depth * 2));
      }
    }
    ~DepthGuard() { --r.depth_; }
  };

  [[noreturn]] void located(int line, const std::string& what) const {
    throw TemplateError(fmt::format("{}:{}: {}", name_, line, what));
  }

  void charge(std::int64_t units) {
    work_ += units;
    if (work_ > limits_.max_work) {
      fail("template work budget of {} steps exhausted (the limit for templates)", limits_.max_work);
    }
  }

  void check_string_size(std::size_t n) {
    if (n > limits_.max_output_bytes) {
      fail("string of {} bytes: larger than the limit of {} bytes for template output", n, limits_.max_output_bytes);
    }
    charge(static_cast<std::int64_t>(n / 16));
  }

  Value make_string(std::string s) {
    check_string_size(s.size());
    return Value::string(std::move(s));
  }

  // Runtime errors thrown by helpers (plain Error) get the line of the node being evaluated.
  template <typename F>
  auto at(const Node& n, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const TemplateError&) {
      throw;
    } catch (const Error& e) {
      located(n.line, e.what());
    }
  }

  [[noreturn]] static void undefined_error(const Value& v) {
    fail("{}", v.s.empty() ? std::string("undefined value") : v.s);
  }

  // ----- statements -----

  Flow exec_body(const Node& body, const std::shared_ptr<Frame>& frame, std::string& out) {
    for (const auto& stmt : body.kids) {
      const Flow f = exec(*stmt, frame, out);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

  void emit(std::string& out, std::string_view text) {
    out += text;
    charge(1 + static_cast<std::int64_t>(text.size() / 16));
    if (out.size() > limits_.max_output_bytes) {
      fail("rendering larger than the limit of {} bytes", limits_.max_output_bytes);
    }
  }

  Flow exec(const Node& n, const std::shared_ptr<Frame>& frame, std::string& out) {
    DepthGuard guard(*this, n);
    return at(n, [&]() -> Flow {
      charge(1);
      switch (n.kind) {
        case NodeKind::kBody:
          return exec_body(n, frame, out);
        case NodeKind::kText:
          emit(out, n.name);
          return Flow::kNormal;
        case NodeKind::kEmit: {
          const Value v = eval(*n.kids[0], frame);
          emit(out, to_str(v));
          return Flow::kNormal;
        }
        case NodeKind::kIf: {
          for (std::size_t k = 0; k + 1 < n.kids.size(); k += 2) {
            if (truthy(eval(*n.kids[k], frame))) return exec_body(*n.kids[k + 1], frame, out);
          }
          if (n.else_body) return exec_body(*n.else_body, frame, out);
          return Flow::kNormal;
        }
        case NodeKind::kFor: {
          const Value iterable = eval(*n.kids[0], frame);
          run_for(n, iterable, 0, frame, out);
          return Flow::kNormal;
        }
        case NodeKind::kSet: {
          Value v = eval(*n.kids[0], frame);
          if (!n.attr.empty()) {
            const Value ns = lookup(n.names[0], frame);
            if (ns.kind != Kind::kNamespace) {
              fail("cannot assign attribute '{}' on '{}' ({}): only namespace() objects take attributes",
                   n.attr, n.names[0], type_name(ns));
            }
            ns.dict->set(n.attr, std::move(v));
          } else {
            assign(n.names, std::move(v), *frame);
          }
          return Flow::kNormal;
        }
        case NodeKind::kSetBlock: {
          std::string captured;
          exec_body(*n.body, frame, captured);
          Value v = make_string(std::move(captured));
          for (const auto& f : n.kids) v = apply_filter_node(*f, std::move(v), frame);
          frame->vars[n.names[0]] = std::move(v);
          return Flow::kNormal;
        }
        case NodeKind::kMacro: {
          auto c = std::make_shared<Callable>();
          c->type = Callable::Type::kMacro;
          c->name = n.name;
          c->node = &n;
          c->closure = frame;
          Value v;
          v.kind = Kind::kCallable;
          v.fn = std::move(c);
          frame->vars[n.name] = std::move(v);
          return Flow::kNormal;
        }
        case NodeKind::kCallBlock: {
          const Node& call = *n.kids[0];
          auto caller = std::make_shared<Callable>();
          caller->type = Callable::Type::kCaller;
          caller->name = "caller";
          caller->node = &n;
          caller->closure = frame;
          const Value callee = eval(*call.kids[0], frame);
          Args args = eval_args(call, 1, frame);
          if (callee.kind != Kind::kCallable || callee.fn->type != Callable::Type::kMacro) {
            fail("{{% call %}} needs a macro, got {}", type_name(callee));
          }
          const Value r = call_macro(*callee.fn, std::move(args), caller, call.line);
          emit(out, to_str(r));
          return Flow::kNormal;
        }
        case NodeKind::kFilterBlock: {
          std::string captured;
          exec_body(*n.body, frame, captured);
          Value v = make_string(std::move(captured));
          for (const auto& f : n.kids) v = apply_filter_node(*f, std::move(v), frame);
          emit(out, to_str(v));
          return Flow::kNormal;
        }
        case NodeKind::kWith: {
          auto inner = std::make_shared<Frame>();
          inner->parent = frame;
          for (std::size_t k = 0; k < n.names.size(); ++k) inner->vars[n.names[k]] = eval(*n.kids[k], frame);
          return exec_body(*n.body, inner, out);
        }
        case NodeKind::kBreak:
          return Flow::kBreak;
        case NodeKind::kContinue:
          return Flow::kContinue;
        default:
          fail("internal: not a statement");
      }
    });
  }

  void assign(const std::vector<std::string>& names, Value v, Frame& frame) {
    if (names.size() == 1) {
      frame.vars[names[0]] = std::move(v);
      return;
    }
    const ValueList items = iterate(v);
    if (items.size() != names.size()) {
      fail("cannot unpack {} value(s) into {} names ({})", items.size(), names.size(), type_name(v));
    }
    for (std::size_t k = 0; k < names.size(); ++k) frame.vars[names[k]] = items[k];
  }

  void run_for(const Node& n, const Value& iterable, int depth0, const std::shared_ptr<Frame>& frame, std::string& out) {
    ValueList all = iterate(iterable);
    ValueList items;
    if (n.cond) {
      for (Value& item : all) {
        count_iteration();
        auto probe = std::make_shared<Frame>();
        probe->parent = frame;
        assign(n.names, item, *probe);
        if (truthy(eval(*n.cond, probe))) items.push_back(std::move(item));
      }
    } else {
      items = std::move(all);
    }
    if (items.empty()) {
      if (n.else_body) exec_body(*n.else_body, frame, out);
      return;
    }
    auto state = std::make_shared<LoopState>();
    state->items = std::make_shared<const ValueList>(std::move(items));
    state->depth0 = depth0;
    state->node = &n;
    state->outer = frame;
    Value loop;
    loop.kind = Kind::kLoop;
    loop.loop = state;
    for (std::size_t k = 0; k < state->items->size(); ++k) {
      count_iteration();
      state->index0 = static_cast<std::int64_t>(k);
      auto inner = std::make_shared<Frame>();
      inner->parent = frame;
      inner->vars["loop"] = loop;
      assign(n.names, (*state->items)[k], *inner);
      if (exec_body(*n.body, inner, out) == Flow::kBreak) break;
    }
  }

  void count_iteration() {
    if (++iterations_ > limits_.max_loop_iterations) {
      fail("more than {} loop iterations (the limit for templates)", limits_.max_loop_iterations);
    }
  }

  // Python iteration: list/tuple items, dict keys, string characters, undefined: nothing.
  ValueList iterate(const Value& v) {
    switch (v.kind) {
      case Kind::kUndefined:
        return {};
      case Kind::kList:
      case Kind::kTuple:
        return *v.list;
      case Kind::kDict: {
        ValueList out;
        for (const auto& [k, val] : v.dict->entries) out.push_back(Value::string(k));
        return out;
      }
      case Kind::kString: {
        ValueList out;
        for (auto& c : chars_of(v.s)) out.push_back(Value::string(std::move(c)));
        charge(static_cast<std::int64_t>(out.size()));
        return out;
      }
      case Kind::kLoop:
        return *v.loop->items;
      default:
        fail("'{}' object is not iterable", type_name(v));
    }
  }

  // ----- expressions -----

  Value lookup(const std::string& name, const std::shared_ptr<Frame>& frame) {
    for (const Frame* f = frame.get(); f; f = f->parent.get()) {
      auto it = f->vars.find(name);
      if (it != f->vars.end()) return it->second;
    }
    static const char* const kBuiltins[] = {"range", "namespace", "dict", "raise_exception", "strftime_now"};
    for (const char* b : kBuiltins) {
      if (name == b) {
        auto c = std::make_shared<Callable>();
        c->type = Callable::Type::kBuiltin;
        c->name = name;
        Value v;
        v.kind = Kind::kCallable;
        v.fn = std::move(c);
        return v;
      }
    }
    return Value::undefined(fmt::format("'{}' is undefined", name));
  }

  Value eval(const Node& n, const std::shared_ptr<Frame>& frame) {
    DepthGuard guard(*this, n);
    return at(n, [&]() -> Value {
      charge(1);
      return eval_inner(n, frame);
    });
  }

  Value eval_inner(const Node& n, const std::shared_ptr<Frame>& frame) {
    switch (n.kind) {
      case NodeKind::kConst:
        return n.value;
      case NodeKind::kName:
        return lookup(n.name, frame);
      case NodeKind::kGetAttr:
        return get_attr(eval(*n.kids[0], frame), n.name);
      case NodeKind::kGetItem:
        return get_item(eval(*n.kids[0], frame), eval(*n.kids[1], frame));
      case NodeKind::kSlice: {
        const Value obj = eval(*n.kids[0], frame);
        std::optional<std::int64_t> bounds[3];
        for (int k = 0; k < 3; ++k) {
          if (!n.kids[1 + k]) continue;
          const Value b = eval(*n.kids[1 + k], frame);
          if (b.is_none()) continue;
          if (b.kind != Kind::kInt && b.kind != Kind::kBool) fail("slice indices must be integers or None, got {}", type_name(b));
          bounds[k] = b.i;
        }
        return slice(obj, bounds[0], bounds[1], bounds[2]);
      }
      case NodeKind::kCall: {
        const Value callee = eval(*n.kids[0], frame);
        return call(callee, eval_args(n, 1, frame), n.line);
      }
      case NodeKind::kFilter:
        return apply_filter_node(n, eval(*n.kids[0], frame), frame);
      case NodeKind::kTest: {
        const Value v = eval(*n.kids[0], frame);
        Args args = eval_args(n, 1, frame);
        const bool r = apply_test(n.name, v, args);
        return Value::boolean(n.flag ? !r : r);
      }
      case NodeKind::kUnary: {
        const Value v = eval(*n.kids[0], frame);
        if (n.name == "not") return Value::boolean(!truthy(v));
        if (v.is_undefined()) undefined_error(v);
        if (v.kind == Kind::kFloat) return Value::number(n.name == "-" ? -v.f : v.f);
        if (v.kind == Kind::kInt || v.kind == Kind::kBool) {
          if (n.name == "+") return Value::integer(v.i);
          if (v.i == INT64_MIN) fail("integer overflow (speclab's template integers are 64-bit)");
          return Value::integer(-v.i);
        }
        fail("bad operand type for unary {}: '{}'", n.name, type_name(v));
      }
      case NodeKind::kBinary: {
        if (n.name == "and") {
          Value a = eval(*n.kids[0], frame);
          return truthy(a) ? eval(*n.kids[1], frame) : a;
        }
        if (n.name == "or") {
          Value a = eval(*n.kids[0], frame);
          return truthy(a) ? a : eval(*n.kids[1], frame);
        }
        const Value a = eval(*n.kids[0], frame);
        const Value b = eval(*n.kids[1], frame);
        return binary(n.name, a, b);
      }
      case NodeKind::kCompare: {
        Value left = eval(*n.kids[0], frame);
        for (std::size_t k = 0; k < n.ops.size(); ++k) {
          Value right = eval(*n.kids[k + 1], frame);
          if (!compare_op(n.ops[k], left, right)) return Value::boolean(false);
          left = std::move(right);
        }
        return Value::boolean(true);
      }
      case NodeKind::kCond: {
        if (truthy(eval(*n.kids[1], frame))) return eval(*n.kids[0], frame);
        if (n.kids[2]) return eval(*n.kids[2], frame);
        return Value::undefined("the conditional expression has no else branch");
      }
      case NodeKind::kList:
      case NodeKind::kTuple: {
        ValueList items;
        for (const auto& k : n.kids) items.push_back(eval(*k, frame));
        charge(static_cast<std::int64_t>(items.size()));
        return Value::make_list(std::move(items), n.kind == NodeKind::kTuple);
      }
      case NodeKind::kDict: {
        std::vector<std::pair<std::string, Value>> entries;
        for (std::size_t k = 0; k + 1 < n.kids.size(); k += 2) {
          const Value key = eval(*n.kids[k], frame);
          if (!key.is_string()) fail("dict keys must be strings in speclab's templates, got {}", type_name(key));
          entries.emplace_back(key.s, eval(*n.kids[k + 1], frame));
        }
        return Value::make_dict(std::move(entries));
      }
      default:
        fail("internal: not an expression");
    }
  }

  Args eval_args(const Node& n, std::size_t first, const std::shared_ptr<Frame>& frame) {
    Args a;
    for (std::size_t k = first; k < n.kids.size(); ++k) a.pos.push_back(eval(*n.kids[k], frame));
    for (const auto& [key, e] : n.kwargs) a.kw.emplace_back(key, eval(*e, frame));
    return a;
  }

  // Binds positional and keyword arguments to `params`; missing ones stay nullopt.
  static std::vector<std::optional<Value>> bind(const Args& a, std::initializer_list<const char*> params,
                                                const std::string& what) {
    std::vector<std::optional<Value>> out(params.size());
    if (a.pos.size() > params.size()) {
      fail("{}: takes at most {} argument(s), got {}", what, params.size(), a.pos.size());
    }
    for (std::size_t k = 0; k < a.pos.size(); ++k) out[k] = a.pos[k];
    for (const auto& [key, v] : a.kw) {
      std::size_t idx = 0;
      for (const char* p : params) {
        if (key == p) break;
        ++idx;
      }
      if (idx == params.size()) fail("{}: unexpected keyword argument '{}'", what, key);
      if (out[idx]) fail("{}: got multiple values for argument '{}'", what, key);
      out[idx] = v;
    }
    return out;
  }

  // ----- attribute and item access -----

  static bool is_dict_method(const std::string& name) {
    static const char* const kNames[] = {"items", "keys", "values", "get", "copy", "pop", "popitem", "update",
                                         "setdefault", "clear", "fromkeys"};
    for (const char* m : kNames) {
      if (name == m) return true;
    }
    return false;
  }
  static bool is_str_method(const std::string& name) {
    static const char* const kNames[] = {
        "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit", "splitlines", "replace",
        "upper", "lower", "title", "capitalize", "swapcase", "find", "rfind", "index", "rindex", "count", "join",
        "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper", "istitle", "zfill", "center", "ljust",
        "rjust", "format", "isnumeric", "isdecimal"};
    for (const char* m : kNames) {
      if (name == m) return true;
    }
    return false;
  }
  static bool is_list_method(const std::string& name) {
    static const char* const kNames[] = {"index", "count", "append", "extend", "insert", "pop", "remove",
                                         "reverse", "sort", "clear", "copy"};
    for (const char* m : kNames) {
      if (name == m) return true;
    }
    return false;
  }

  static Value method(const Value& self, const std::string& name) {
    auto c = std::make_shared<Callable>();
    c->type = Callable::Type::kMethod;
    c->name = name;
    c->self = self;
    Value v;
    v.kind = Kind::kCallable;
    v.fn = std::move(c);
    return v;
  }

  static Value missing(const Value& obj, const std::string& what) {
    return Value::undefined(fmt::format("'{}' has no attribute {}", obj.is_none() ? std::string("None") : type_name(obj) + " object", what));
  }

  // obj.name (Jinja's getattr: Python attribute first, then item).
  Value get_attr(const Value& obj, const std::string& name) {
    switch (obj.kind) {
      case Kind::kUndefined:
        undefined_error(obj);
      case Kind::kDict: {
        if (is_dict_method(name)) return method(obj, name);
        if (const Value* v = obj.dict->find(name)) return *v;
        return missing(obj, "'" + name + "'");
      }
      case Kind::kNamespace: {
        if (const Value* v = obj.dict->find(name)) return *v;
        return missing(obj, "'" + name + "'");
      }
      case Kind::kString:
        if (is_str_method(name)) return method(obj, name);
        return missing(obj, "'" + name + "'");
      case Kind::kList:
      case Kind::kTuple:
        if (is_list_method(name) && (obj.kind == Kind::kList || name == "index" || name == "count")) return method(obj, name);
        return missing(obj, "'" + name + "'");
      case Kind::kLoop:
        return loop_attr(obj, name);
      default:
        return missing(obj, "'" + name + "'");
    }
  }

  Value loop_attr(const Value& obj, const std::string& name) {
    const LoopState& s = *obj.loop;
    const auto n = static_cast<std::int64_t>(s.items->size());
    if (name == "index") return Value::integer(s.index0 + 1);
    if (name == "index0") return Value::integer(s.index0);
    if (name == "revindex") return Value::integer(n - s.index0);
    if (name == "revindex0") return Value::integer(n - s.index0 - 1);
    if (name == "first") return Value::boolean(s.index0 == 0);
    if (name == "last") return Value::boolean(s.index0 == n - 1);
    if (name == "length") return Value::integer(n);
    if (name == "depth") return Value::integer(s.depth0 + 1);
    if (name == "depth0") return Value::integer(s.depth0);
    if (name == "previtem") {
      if (s.index0 == 0) return Value::undefined("there is no previous item");
      return (*s.items)[static_cast<std::size_t>(s.index0 - 1)];
    }
    if (name == "nextitem") {
      if (s.index0 + 1 >= n) return Value::undefined("there is no next item");
      return (*s.items)[static_cast<std::size_t>(s.index0 + 1)];
    }
    if (name == "cycle") {
      auto c = std::make_shared<Callable>();
      c->type = Callable::Type::kCycle;
      c->self = obj;
      Value v;
      v.kind = Kind::kCallable;
      v.fn = std::move(c);
      return v;
    }
    return missing(obj, "'" + name + "'");
  }

  // obj[key] (Jinja's getitem: item first, then attribute for string keys).
  Value get_item(const Value& obj, const Value& key) {
    switch (obj.kind) {
      case Kind::kUndefined:
        undefined_error(obj);
      case Kind::kDict:
      case Kind::kNamespace:
        if (key.is_string()) {
          if (const Value* v = obj.dict->find(key.s)) return *v;
          if (obj.kind == Kind::kDict && is_dict_method(key.s)) return method(obj, key.s);
        }
        return missing(obj, to_repr(key));
      case Kind::kList:
      case Kind::kTuple:
        if (key.kind == Kind::kInt || key.kind == Kind::kBool) {
          std::int64_t i = key.i;
          const auto n = static_cast<std::int64_t>(obj.list->size());
          if (i < 0) i += n;
          if (i < 0 || i >= n) return missing(obj, to_repr(key));
          return (*obj.list)[static_cast<std::size_t>(i)];
        }
        if (key.is_string()) return get_attr(obj, key.s);
        return missing(obj, to_repr(key));
      case Kind::kString:
        if (key.kind == Kind::kInt || key.kind == Kind::kBool) {
          const auto off = utf8_offsets(obj.s);
          const auto n = static_cast<std::int64_t>(off.size() - 1);
          std::int64_t i = key.i;
          if (i < 0) i += n;
          if (i < 0 || i >= n) return missing(obj, to_repr(key));
          return Value::string(obj.s.substr(off[static_cast<std::size_t>(i)], off[static_cast<std::size_t>(i) + 1] - off[static_cast<std::size_t>(i)]));
        }
        if (key.is_string()) return get_attr(obj, key.s);
        return missing(obj, to_repr(key));
      case Kind::kLoop:
        if (key.is_string()) return loop_attr(obj, key.s);
        return missing(obj, to_repr(key));
      default:
        return missing(obj, to_repr(key));
    }
  }

  // Python slice semantics on lists, tuples and strings (code points).
  Value slice(const Value& obj, std::optional<std::int64_t> start, std::optional<std::int64_t> stop,
              std::optional<std::int64_t> step_opt) {
    if (obj.is_undefined()) undefined_error(obj);
    const std::int64_t step = step_opt.value_or(1);
    if (step == 0) fail("slice step cannot be zero");
    std::vector<std::size_t> off;
    std::int64_t n = 0;
    if (obj.is_string()) {
      off = utf8_offsets(obj.s);
      n = static_cast<std::int64_t>(off.size() - 1);
    } else if (obj.is_sequence()) {
      n = static_cast<std::int64_t>(obj.list->size());
    } else {
      fail("'{}' object is not subscriptable", type_name(obj));
    }
    auto norm = [&](std::optional<std::int64_t> v, std::int64_t dflt, bool is_stop) {
      if (!v) return dflt;
      std::int64_t x = *v;
      if (x < 0) x += n;
      if (step > 0) return std::clamp<std::int64_t>(x, 0, n);
      (void)is_stop;
      return std::clamp<std::int64_t>(x, -1, n - 1);
    };
    const std::int64_t a = norm(start, step > 0 ? 0 : n - 1, false);
    const std::int64_t b = norm(stop, step > 0 ? n : -1, true);
    std::vector<std::int64_t> idx;
    if (step > 0) {
      for (std::int64_t k = a; k < b; k += step) idx.push_back(k);
    } else {
      for (std::int64_t k = a; k > b; k += step) idx.push_back(k);
    }
    charge(static_cast<std::int64_t>(idx.size()));
    if (obj.is_string()) {
      std::string out;
      for (const std::int64_t k : idx) {
        const auto u = static_cast<std::size_t>(k);
        out.append(obj.s, off[u], off[u + 1] - off[u]);
      }
      return Value::string(std::move(out));
    }
    ValueList out;
    out.reserve(idx.size());
    for (const std::int64_t k : idx) out.push_back((*obj.list)[static_cast<std::size_t>(k)]);
    return Value::make_list(std::move(out), obj.kind == Kind::kTuple);
  }

  // ----- operators -----

  static double as_double(const Value& v) { return v.kind == Kind::kFloat ? v.f : static_cast<double>(v.i); }

  static bool is_intlike(const Value& v) { return v.kind == Kind::kInt || v.kind == Kind::kBool; }

  [[noreturn]] static void bad_operands(const std::string& op, const Value& a, const Value& b) {
    if (a.is_undefined()) undefined_error(a);
    if (b.is_undefined()) undefined_error(b);
    fail("unsupported operand type(s) for {}: '{}' and '{}'", op, type_name(a), type_name(b));
  }

  [[noreturn]] static void overflowed() { fail("integer overflow (speclab's template integers are 64-bit)"); }
  static std::int64_t add_checked(std::int64_t a, std::int64_t b) {
    std::int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) overflowed();
    return r;
  }
  static std::int64_t sub_checked(std::int64_t a, std::int64_t b) {
    std::int64_t r = 0;
    if (__builtin_sub_overflow(a, b, &r)) overflowed();
    return r;
  }
  static std::int64_t mul_checked(std::int64_t a, std::int64_t b) {
    std::int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) overflowed();
    return r;
  }

  Value repeat(const Value& seq, std::int64_t times) {
    if (times <= 0) return seq.is_string() ? Value::string("") : Value::make_list({}, seq.kind == Kind::kTuple);
    const std::size_t unit = seq.is_string() ? seq.s.size() : seq.list->size();
    if (unit && static_cast<std::uint64_t>(times) > limits_.max_output_bytes / unit) {
      fail("repetition by {} is larger than the limit of {} bytes / items", times, limits_.max_output_bytes);
    }
    if (seq.is_string()) {
      std::string out;
      out.reserve(unit * static_cast<std::size_t>(times));
      for (std::int64_t k = 0; k < times; ++k) out += seq.s;
      return make_string(std::move(out));
    }
    ValueList out;
    for (std::int64_t k = 0; k < times; ++k) out.insert(out.end(), seq.list->begin(), seq.list->end());
    charge(static_cast<std::int64_t>(out.size()));
    return Value::make_list(std::move(out), seq.kind == Kind::kTuple);
  }

  Value binary(const std::string& op, const Value& a, const Value& b) {
    if (op == "~") return make_string(to_str(a) + to_str(b));
    const bool nums = a.is_number() && b.is_number();
    const bool floats = nums && (a.kind == Kind::kFloat || b.kind == Kind::kFloat);
    if (op == "+") {
      if (nums) {
        if (floats) return Value::number(as_double(a) + as_double(b));
        return Value::integer(add_checked(a.i, b.i));
      }
      if (a.is_string() && b.is_string()) return make_string(a.s + b.s);
      if (a.kind == b.kind && a.is_sequence()) {
        ValueList out = *a.list;
        out.insert(out.end(), b.list->begin(), b.list->end());
        charge(static_cast<std::int64_t>(out.size()));
        return Value::make_list(std::move(out), a.kind == Kind::kTuple);
      }
      bad_operands(op, a, b);
    }
    if (op == "-") {
      if (!nums) bad_operands(op, a, b);
      if (floats) return Value::number(as_double(a) - as_double(b));
      return Value::integer(sub_checked(a.i, b.i));
    }
    if (op == "*") {
      if (nums) {
        if (floats) return Value::number(as_double(a) * as_double(b));
        return Value::integer(mul_checked(a.i, b.i));
      }
      if ((a.is_string() || a.is_sequence()) && is_intlike(b)) return repeat(a, b.i);
      if ((b.is_string() || b.is_sequence()) && is_intlike(a)) return repeat(b, a.i);
      bad_operands(op, a, b);
    }
    if (op == "/") {
      if (!nums) bad_operands(op, a, b);
      if (as_double(b) == 0.0) fail("division by zero");
      return Value::number(as_double(a) / as_double(b));
    }
    if (op == "//" || op == "%") {
      if (a.is_string() && op == "%") return make_string(percent_format(a.s, b));
      if (!nums) bad_operands(op, a, b);
      if (floats) {
        const double x = as_double(a), y = as_double(b);
        if (y == 0.0) fail("float division by zero");
        double m = std::fmod(x, y);
        if (m != 0.0 && ((m < 0) != (y < 0))) m += y;
        if (op == "%") return Value::number(m);
        return Value::number(std::floor((x - m) / y + 0.5));
      }
      if (b.i == 0) fail("integer division or modulo by zero");
      if (a.i == INT64_MIN && b.i == -1) fail("integer overflow (speclab's template integers are 64-bit)");
      std::int64_t q = a.i / b.i, r = a.i % b.i;
      if (r != 0 && ((r < 0) != (b.i < 0))) {
        --q;
        r += b.i;
      }
      return Value::integer(op == "//" ? q : r);
    }
    if (op == "**") {
      if (!nums) bad_operands(op, a, b);
      if (!floats && b.i >= 0) {
        std::int64_t r = 1, base = a.i, e = b.i;
        while (e > 0) {
          if (e & 1) r = mul_checked(r, base);
          e >>= 1;
          if (e > 0) base = mul_checked(base, base);
        }
        return Value::integer(r);
      }
      if (as_double(a) == 0.0 && as_double(b) < 0) fail("0.0 cannot be raised to a negative power");
      return Value::number(std::pow(as_double(a), as_double(b)));
    }
    fail("internal: unknown operator {}", op);
  }

  // Python's printf-style formatting, for %s %r %d %i %f %% (Jinja's `format` filter and `%`).
  std::string percent_format(const std::string& fmt_str, const Value& args) {
    ValueList items = args.kind == Kind::kTuple ? *args.list : ValueList{args};
    std::string out;
    std::size_t next = 0;
    for (std::size_t k = 0; k < fmt_str.size(); ++k) {
      if (fmt_str[k] != '%') {
        out.push_back(fmt_str[k]);
        continue;
      }
      if (++k >= fmt_str.size()) fail("incomplete format");
      const char c = fmt_str[k];
      if (c == '%') {
        out.push_back('%');
        continue;
      }
      if (next >= items.size()) fail("not enough arguments for format string");
      const Value& v = items[next++];
      if (c == 's') {
        out += to_str(v);
      } else if (c == 'r') {
        out += to_repr(v);
      } else if (c == 'd' || c == 'i') {
        if (!v.is_number()) fail("%{} format: a number is required, not {}", c, type_name(v));
        out += std::to_string(v.kind == Kind::kFloat ? static_cast<std::int64_t>(v.f) : v.i);
      } else if (c == 'f') {
        if (!v.is_number()) fail("%f format: a number is required, not {}", type_name(v));
        out += fmt::format("{:.6f}", as_double(v));
      } else {
        fail("unsupported format character '{}' (speclab supports %s %r %d %i %f %%)", c);
      }
      check_string_size(out.size());
    }
    if (next < items.size()) fail("not all arguments converted during string formatting");
    return out;
  }

  // -1 / 0 / 1 for Python's ordering; Error for unorderable types.
  static int order(const Value& a, const Value& b) {
    if (a.is_number() && b.is_number()) {
      if (a.kind == Kind::kFloat || b.kind == Kind::kFloat) {
        const double x = as_double(a), y = as_double(b);
        return x < y ? -1 : (x > y ? 1 : 0);
      }
      return a.i < b.i ? -1 : (a.i > b.i ? 1 : 0);
    }
    if (a.is_string() && b.is_string()) {
      const int c = a.s.compare(b.s);
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    if (a.kind == b.kind && a.is_sequence()) {
      const std::size_t n = std::min(a.list->size(), b.list->size());
      for (std::size_t k = 0; k < n; ++k) {
        if (!equal((*a.list)[k], (*b.list)[k])) return order((*a.list)[k], (*b.list)[k]);
      }
      return a.list->size() < b.list->size() ? -1 : (a.list->size() > b.list->size() ? 1 : 0);
    }
    if (a.is_undefined()) undefined_error(a);
    if (b.is_undefined()) undefined_error(b);
    fail("'<' not supported between instances of '{}' and '{}'", type_name(a), type_name(b));
  }

  bool contains(const Value& container, const Value& item) {
    switch (container.kind) {
      case Kind::kString:
        if (!item.is_string()) {
          if (item.is_undefined()) undefined_error(item);
          fail("'in <string>' requires string as left operand, not {}", type_name(item));
        }
        return container.s.find(item.s) != std::string::npos;
      case Kind::kList:
      case Kind::kTuple:
        for (const Value& v : *container.list) {
          if (equal(v, item)) return true;
        }
        return false;
      case Kind::kDict:
        return item.is_string() && container.dict->find(item.s) != nullptr;
      case Kind::kUndefined:
        return false;
      default:
        fail("argument of type '{}' is not iterable", type_name(container));
    }
  }

  bool compare_op(const std::string& op, const Value& a, const Value& b) {
    if (op == "==") return equal(a, b);
    if (op == "!=") return !equal(a, b);
    if (op == "in") return contains(b, a);
    if (op == "notin") return !contains(b, a);
    const int c = order(a, b);
    if (op == "<") return c < 0;
    if (op == "<=") return c <= 0;
    if (op == ">") return c > 0;
    return c >= 0;
  }

  // ----- calls -----

  Value call(const Value& callee, Args args, int line) {
    if (callee.is_undefined()) undefined_error(callee);
    if (callee.kind == Kind::kLoop) return call_loop(*callee.loop, args);
    if (callee.kind != Kind::kCallable) fail("'{}' object is not callable", type_name(callee));
    const Callable& c = *callee.fn;
    switch (c.type) {
      case Callable::Type::kBuiltin:
        return call_builtin(c.name, args, line);
      case Callable::Type::kMacro:
        return call_macro(c, std::move(args), nullptr, line);
      case Callable::Type::kCaller:
        return call_caller(c, std::move(args), line);
      case Callable::Type::kMethod:
        return call_method(c.self, c.name, args);
      case Callable::Type::kCycle: {
        if (args.pos.empty()) fail("no items for cycling given");
        const auto i = static_cast<std::size_t>(c.self.loop->index0) % args.pos.size();
        return args.pos[i];
      }
      case Callable::Type::kLoopCall:
        break;
    }
    fail("internal: bad callable");
  }

  // loop(items) inside a `for ... recursive` loop: the loop body over `items`, one level deeper.
  Value call_loop(const LoopState& s, const Args& args) {
    if (!s.node->flag) fail("'LoopContext' object is not callable (the for loop is not marked recursive)");
    if (args.pos.size() != 1 || !args.kw.empty()) fail("loop() takes exactly one argument (the items)");
    std::shared_ptr<Frame> outer = s.outer.lock();
    if (!outer) fail("loop() called after its loop ended");
    std::string out;
    run_for(*s.node, args.pos[0], s.depth0 + 1, outer, out);
    return make_string(std::move(out));
  }

  static bool uses_name(const Node& n, const std::string& name) {
    if (n.kind == NodeKind::kName && n.name == name) return true;
    for (const auto& k : n.kids) {
      if (k && uses_name(*k, name)) return true;
    }
    for (const auto& [key, k] : n.kwargs) {
      if (k && uses_name(*k, name)) return true;
    }
    for (const Node* k : {n.cond.get(), n.body.get(), n.else_body.get()}) {
      if (k && uses_name(*k, name)) return true;
    }
    return false;
  }

  // Binds a macro's (or call block's) parameters in a new frame over its closure.
  std::shared_ptr<Frame> bind_macro_frame(const Callable& c, const std::vector<std::string>& params,
                                          const std::vector<const Node*>& defaults, Args args, const Node& body) {
    std::shared_ptr<Frame> closure = c.closure.lock();
    if (!closure) fail("macro '{}' called after the scope it was defined in ended", c.name);
    auto frame = std::make_shared<Frame>();
    frame->parent = closure;
    const bool takes_varargs = uses_name(body, "varargs");
    const bool takes_kwargs = uses_name(body, "kwargs");
    ValueList extra;
    for (std::size_t k = 0; k < args.pos.size(); ++k) {
      if (k < params.size()) {
        frame->vars[params[k]] = std::move(args.pos[k]);
      } else if (takes_varargs) {
        extra.push_back(std::move(args.pos[k]));
      } else {
        fail("macro '{}' takes not more than {} argument(s)", c.name, params.size());
      }
    }
    std::vector<std::pair<std::string, Value>> extra_kw;
    for (auto& [key, v] : args.kw) {
      const auto it = std::find(params.begin(), params.end(), key);
      if (it != params.end()) {
        if (static_cast<std::size_t>(it - params.begin()) < args.pos.size()) {
          fail("macro '{}' got multiple values for argument '{}'", c.name, key);
        }
        frame->vars[key] = std::move(v);
      } else if (takes_kwargs) {
        extra_kw.emplace_back(key, std::move(v));
      } else {
        fail("macro '{}' takes no keyword argument '{}'", c.name, key);
      }
    }
    for (std::size_t k = 0; k < params.size(); ++k) {
      if (frame->vars.count(params[k])) continue;
      if (k < defaults.size() && defaults[k]) {
        frame->vars[params[k]] = eval(*defaults[k], frame);
      } else {
        frame->vars[params[k]] = Value::undefined(fmt::format("parameter '{}' was not provided", params[k]));
      }
    }
    frame->vars["varargs"] = Value::make_list(std::move(extra), /*tuple=*/true);
    frame->vars["kwargs"] = Value::make_dict(std::move(extra_kw));
    return frame;
  }

  Value call_macro(const Callable& c, Args args, const std::shared_ptr<const Callable>& caller, int line) {
    const Node& def = *c.node;
    std::vector<const Node*> defaults;
    for (const auto& d : def.kids) defaults.push_back(d.get());
    std::shared_ptr<Frame> frame = bind_macro_frame(c, def.names, defaults, std::move(args), *def.body);
    if (caller) {
      Value v;
      v.kind = Kind::kCallable;
      v.fn = caller;
      frame->vars["caller"] = std::move(v);
    }
    std::string out;
    exec_body(*def.body, frame, out);
    (void)line;
    return make_string(std::move(out));
  }

  Value call_caller(const Callable& c, Args args, int line) {
    const Node& block = *c.node;
    std::vector<const Node*> defaults;
    for (std::size_t k = 1; k < block.kids.size(); ++k) defaults.push_back(block.kids[k].get());
    std::shared_ptr<Frame> frame = bind_macro_frame(c, block.names, defaults, std::move(args), *block.body);
    std::string out;
    exec_body(*block.body, frame, out);
    (void)line;
    return make_string(std::move(out));
  }

  Value call_builtin(const std::string& name, const Args& args, int line) {
    if (name == "range") {
      if (!args.kw.empty()) fail("range() takes no keyword arguments");
      if (args.pos.empty() || args.pos.size() > 3) fail("range expected 1 to 3 arguments, got {}", args.pos.size());
      for (const Value& v : args.pos) {
        if (!is_intlike(v)) fail("range(): '{}' object cannot be interpreted as an integer", type_name(v));
      }
      std::int64_t start = 0, stop = 0, step = 1;
      if (args.pos.size() == 1) {
        stop = args.pos[0].i;
      } else {
        start = args.pos[0].i;
        stop = args.pos[1].i;
        if (args.pos.size() == 3) step = args.pos[2].i;
      }
      if (step == 0) fail("range() arg 3 must not be zero");
      // Item count without overflow.
      const long double count_ld = step > 0 ? (stop > start ? (static_cast<long double>(stop) - start + step - 1) / step : 0)
                                            : (stop < start ? (static_cast<long double>(start) - stop - step - 1) / -step : 0);
      if (count_ld > 100000) fail("range too big: the sandbox blocks ranges larger than 100000 items");
      ValueList out;
      for (std::int64_t k = 0, v = start; k < static_cast<std::int64_t>(count_ld); ++k, v += step) out.push_back(Value::integer(v));
      charge(static_cast<std::int64_t>(out.size()));
      return Value::make_list(std::move(out));
    }
    if (name == "namespace" || name == "dict") {
      auto d = std::make_shared<Dict>();
      for (const Value& p : args.pos) {
        if (p.kind != Kind::kDict) fail("{}(): positional arguments must be dicts, got {}", name, type_name(p));
        for (const auto& [k, v] : p.dict->entries) d->set(k, v);
      }
      for (const auto& [k, v] : args.kw) d->set(k, v);
      Value v;
      v.kind = name == "namespace" ? Kind::kNamespace : Kind::kDict;
      v.dict = std::move(d);
      return v;
    }
    if (name == "raise_exception") {
      const std::string msg = args.pos.empty() ? std::string() : to_str(args.pos[0]);
      located(line, "raise_exception: " + msg);
    }
    if (name == "strftime_now") {
      if (args.pos.size() != 1 || !args.pos[0].is_string()) fail("strftime_now(format) takes one string");
      const std::string& f = args.pos[0].s;
      if (f.size() > 256) fail("strftime_now: format of {} bytes is longer than 256", f.size());
      if (f.empty()) return Value::string("");
      std::vector<char> buf(4096);
      const std::size_t n = std::strftime(buf.data(), buf.size(), f.c_str(), &ctx_.now);
      if (n == 0) fail("strftime_now: format '{}' produced no text or more than 4096 bytes", f);
      return Value::string(std::string(buf.data(), n));
    }
    fail("internal: unknown builtin {}", name);
  }

  // ----- methods -----

  static std::string arg_str(const std::vector<std::optional<Value>>& b, std::size_t k, const char* what) {
    if (!b[k] || b[k]->is_none()) return {};
    if (!b[k]->is_string()) fail("{}: argument must be a string, not {}", what, type_name(*b[k]));
    return b[k]->s;
  }

  // Strips characters of `chars` (a set of code points; empty = whitespace) from the ends.
  static std::string strip_chars(const std::string& s, const std::optional<Value>& chars, bool left, bool right) {
    if (!chars || chars->is_none()) return std::string(py_strip(s, left, right));
    if (!chars->is_string()) fail("strip arg must be None or str, not {}", type_name(*chars));
    const std::vector<std::string> set = chars_of(chars->s);
    std::vector<std::string> cs = chars_of(s);
    auto in_set = [&](const std::string& c) { return std::find(set.begin(), set.end(), c) != set.end(); };
    std::size_t a = 0, b = cs.size();
    if (left) {
      while (a < b && in_set(cs[a])) ++a;
    }
    if (right) {
      while (b > a && in_set(cs[b - 1])) --b;
    }
    std::string out;
    for (std::size_t k = a; k < b; ++k) out += cs[k];
    return out;
  }

  Value split(const std::string& s, const std::optional<Value>& sep_v, const std::optional<Value>& max_v, bool from_right) {
    std::int64_t maxsplit = -1;
    if (max_v) {
      if (!is_intlike(*max_v)) fail("split: maxsplit must be an integer");
      maxsplit = max_v->i;
    }
    std::vector<std::string> parts;
    if (!sep_v || sep_v->is_none()) {
      // Runs of whitespace; no empty strings.
      std::vector<std::pair<std::size_t, std::size_t>> words;
      std::size_t p = 0;
      while (p < s.size()) {
        while (std::size_t n = py_space_at(s, p)) p += n;
        if (p >= s.size()) break;
        const std::size_t start = p;
        while (p < s.size() && !py_space_at(s, p)) ++p;
        words.emplace_back(start, p);
      }
      if (maxsplit < 0 || static_cast<std::size_t>(maxsplit) >= words.size()) {
        for (auto [a, b] : words) parts.push_back(s.substr(a, b - a));
      } else if (!from_right) {
        for (std::int64_t k = 0; k < maxsplit; ++k) parts.push_back(s.substr(words[k].first, words[k].second - words[k].first));
        parts.push_back(s.substr(words[static_cast<std::size_t>(maxsplit)].first));
      } else {
        const std::size_t keep = words.size() - static_cast<std::size_t>(maxsplit);
        parts.push_back(s.substr(0, words[keep - 1].second));
        for (std::size_t k = keep; k < words.size(); ++k) parts.push_back(s.substr(words[k].first, words[k].second - words[k].first));
      }
    } else {
      if (!sep_v->is_string()) fail("split: separator must be a string or None");
      const std::string& sep = sep_v->s;
      if (sep.empty()) fail("split: empty separator");
      if (!from_right) {
        std::size_t start = 0;
        std::int64_t n = 0;
        for (;;) {
          const std::size_t at = (maxsplit >= 0 && n >= maxsplit) ? std::string::npos : s.find(sep, start);
          if (at == std::string::npos) {
            parts.push_back(s.substr(start));
            break;
          }
          parts.push_back(s.substr(start, at - start));
          start = at + sep.size();
          ++n;
        }
      } else {
        std::size_t end = s.size();
        std::int64_t n = 0;
        std::vector<std::string> rev;
        for (;;) {
          const std::size_t at = (maxsplit >= 0 && n >= maxsplit) || end < sep.size() ? std::string::npos : s.rfind(sep, end - sep.size());
          if (at == std::string::npos) {
            rev.push_back(s.substr(0, end));
            break;
          }
          rev.push_back(s.substr(at + sep.size(), end - at - sep.size()));
          end = at;
          ++n;
        }
        parts.assign(rev.rbegin(), rev.rend());
      }
    }
    ValueList out;
    for (auto& p : parts) out.push_back(Value::string(std::move(p)));
    charge(static_cast<std::int64_t>(out.size()));
    return Value::make_list(std::move(out));
  }

  std::string replace(const std::string& s, const std::string& old, const std::string& neu, std::int64_t count) {
    std::string out;
    std::int64_t n = 0;
    if (old.empty()) {
      const auto cs = chars_of(s);
      for (std::size_t k = 0; k <= cs.size(); ++k) {
        if (count < 0 || n < count) {
          out += neu;
          ++n;
        }
        if (k < cs.size()) out += cs[k];
        check_string_size(out.size());
      }
      return out;
    }
    std::size_t start = 0;
    for (;;) {
      const std::size_t at = (count >= 0 && n >= count) ? std::string::npos : s.find(old, start);
      if (at == std::string::npos) break;
      out.append(s, start, at - start);
      out += neu;
      check_string_size(out.size());
      start = at + old.size();
      ++n;
    }
    out.append(s, start);
    return out;
  }

  static std::string python_title(const std::string& s) {
    std::string out = s;
    bool prev_cased = false;
    for (char& c : out) {
      if (is_alpha(c)) {
        c = prev_cased ? to_lower(c) : to_upper(c);
        prev_cased = true;
      } else {
        prev_cased = false;
      }
    }
    return out;
  }

  static std::string capitalize(const std::string& s) {
    std::string out = lower(s);
    if (!out.empty()) out[0] = to_upper(out[0]);
    return out;
  }

  // Position (code points) of `sub` in s[start:end], or -1.
  static std::int64_t find_cp(const std::string& s, const std::string& sub, bool reverse) {
    const std::size_t at = reverse ? s.rfind(sub) : s.find(sub);
    if (at == std::string::npos) return -1;
    return static_cast<std::int64_t>(utf8_length(std::string_view(s).substr(0, at)));
  }

  std::string pad(const std::string& s, std::int64_t width, const std::string& fill, int where) {
    const auto n = static_cast<std::int64_t>(utf8_length(s));
    if (width <= n) return s;
    if (width > static_cast<std::int64_t>(limits_.max_output_bytes)) fail("padding width {} too large", width);
    const std::int64_t total = width - n;
    std::int64_t left = 0;
    if (where == 0) left = total / 2 + (total & width & 1);
    else if (where > 0) left = total;
    std::string out;
    for (std::int64_t k = 0; k < left; ++k) out += fill;
    out += s;
    for (std::int64_t k = 0; k < total - left; ++k) out += fill;
    check_string_size(out.size());
    return out;
  }

  Value call_method(const Value& self, const std::string& name, const Args& args) {
    const std::string what = type_name(self) + "." + name + "()";
    if (self.kind == Kind::kDict) {
      if (name == "items" || name == "keys" || name == "values") {
        bind(args, {}, what);
        ValueList out;
        for (const auto& [k, v] : self.dict->entries) {
          if (name == "items") {
            out.push_back(Value::make_list({Value::string(k), v}, true));
          } else {
            out.push_back(name == "keys" ? Value::string(k) : v);
          }
        }
        charge(static_cast<std::int64_t>(out.size()));
        return Value::make_list(std::move(out));
      }
      if (name == "get") {
        const auto b = bind(args, {"key", "default"}, what);
        if (!b[0]) fail("{}: missing argument 'key'", what);
        if (b[0]->is_string()) {
          if (const Value* v = self.dict->find(b[0]->s)) return *v;
        }
        return b[1] ? *b[1] : Value::none();
      }
      if (name == "copy") return self;
      fail("access to attribute '{}' of 'dict' object is unsafe (templates cannot modify values)", name);
    }
    if (self.is_sequence()) {
      if (name == "index" || name == "count") {
        const auto b = bind(args, {"value"}, what);
        if (!b[0]) fail("{}: missing argument", what);
        std::int64_t n = 0;
        for (std::size_t k = 0; k < self.list->size(); ++k) {
          if (equal((*self.list)[k], *b[0])) {
            if (name == "index") return Value::integer(static_cast<std::int64_t>(k));
            ++n;
          }
        }
        if (name == "index") fail("{}: value is not in list", what);
        return Value::integer(n);
      }
      if (name == "copy") return self;
      fail("access to attribute '{}' of 'list' object is unsafe (templates cannot modify values)", name);
    }
    if (!self.is_string()) fail("internal: method on {}", type_name(self));
    const std::string& s = self.s;
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      const auto b = bind(args, {"chars"}, what);
      return Value::string(strip_chars(s, b[0], name != "rstrip", name != "lstrip"));
    }
    if (name == "startswith" || name == "endswith") {
      const auto b = bind(args, {"prefix", "start", "end"}, what);
      if (!b[0]) fail("{}: missing argument", what);
      if (b[1] || b[2]) fail("{}: start/end arguments are not supported", what);
      ValueList cands = b[0]->kind == Kind::kTuple ? *b[0]->list : ValueList{*b[0]};
      for (const Value& c : cands) {
        if (!c.is_string()) fail("{}: argument must be str or a tuple of str, not {}", what, type_name(c));
        if (name == "startswith" ? s.starts_with(c.s) : s.ends_with(c.s)) return Value::boolean(true);
      }
      return Value::boolean(false);
    }
    if (name == "split" || name == "rsplit") {
      const auto b = bind(args, {"sep", "maxsplit"}, what);
      return split(s, b[0], b[1], name == "rsplit");
    }
    if (name == "splitlines") {
      const auto b = bind(args, {"keepends"}, what);
      ValueList out;
      for (auto& l : splitlines(s, b[0] && truthy(*b[0]))) out.push_back(Value::string(std::move(l)));
      return Value::make_list(std::move(out));
    }
    if (name == "replace") {
      const auto b = bind(args, {"old", "new", "count"}, what);
      if (!b[0] || !b[1] || !b[0]->is_string() || !b[1]->is_string()) fail("{}: takes two strings", what);
      std::int64_t count = -1;
      if (b[2]) {
        if (!is_intlike(*b[2])) fail("{}: count must be an integer", what);
        count = b[2]->i;
      }
      return make_string(replace(s, b[0]->s, b[1]->s, count));
    }
    if (name == "upper") return Value::string(upper(s));
    if (name == "lower") return Value::string(lower(s));
    if (name == "title") return Value::string(python_title(s));
    if (name == "capitalize") return Value::string(capitalize(s));
    if (name == "swapcase") {
      std::string out = s;
      for (char& c : out) c = ascii_upper_char(c) ? to_lower(c) : to_upper(c);
      return Value::string(std::move(out));
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
      const auto b = bind(args, {"sub"}, what);
      if (!b[0] || !b[0]->is_string()) fail("{}: argument must be a string", what);
      if (name == "count") {
        const std::string& sub = b[0]->s;
        if (sub.empty()) return Value::integer(static_cast<std::int64_t>(utf8_length(s)) + 1);
        std::int64_t n = 0;
        for (std::size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
        return Value::integer(n);
      }
      const std::int64_t at = find_cp(s, b[0]->s, name[0] == 'r');
      if (at < 0 && (name == "index" || name == "rindex")) fail("{}: substring not found", what);
      return Value::integer(at);
    }
    if (name == "join") {
      const auto b = bind(args, {"iterable"}, what);
      if (!b[0]) fail("{}: missing argument", what);
      std::string out;
      bool first = true;
      for (const Value& v : iterate(*b[0])) {
        if (!v.is_string()) fail("{}: sequence item: expected str instance, {} found", what, type_name(v));
        if (!first) out += s;
        first = false;
        out += v.s;
        check_string_size(out.size());
      }
      return Value::string(std::move(out));
    }
    if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "isnumeric" ||
        name == "isdecimal") {
      bind(args, {}, what);
      if (s.empty()) return Value::boolean(false);
      if (name == "isspace") return Value::boolean(py_strip(s, true, false).empty());
      for (const char c : s) {
        const bool digit = c >= '0' && c <= '9';
        const bool ok = (name == "isalpha") ? is_alpha(c) : (name == "isalnum") ? (is_alpha(c) || digit) : digit;
        if (!ok) return Value::boolean(false);
      }
      return Value::boolean(true);
    }
    if (name == "islower" || name == "isupper") {
      bool cased = false;
      for (const char c : s) {
        if (ascii_upper_char(c)) {
          if (name == "islower") return Value::boolean(false);
          cased = true;
        } else if (ascii_lower_char(c)) {
          if (name == "isupper") return Value::boolean(false);
          cased = true;
        }
      }
      return Value::boolean(cased);
    }
    if (name == "istitle") return Value::boolean(!s.empty() && python_title(s) == s && s != lower(s));
    if (name == "zfill" || name == "center" || name == "ljust" || name == "rjust") {
      const auto b = bind(args, {"width", "fillchar"}, what);
      if (!b[0] || !is_intlike(*b[0])) fail("{}: width must be an integer", what);
      std::string fill = " ";
      if (b[1]) {
        if (!b[1]->is_string() || utf8_length(b[1]->s) != 1) fail("{}: the fill character must be one character", what);
        fill = b[1]->s;
      }
      if (name == "zfill") {
        const bool sign = !s.empty() && (s[0] == '-' || s[0] == '+');
        std::string body = pad(sign ? s.substr(1) : s, b[0]->i - (sign ? 1 : 0), "0", 1);
        return Value::string(sign ? s.substr(0, 1) + body : body);
      }
      return Value::string(pad(s, b[0]->i, fill, name == "center" ? 0 : (name == "rjust" ? 1 : -1)));
    }
    if (name == "format") {
      if (!args.kw.empty()) fail("{}: keyword fields are not supported", what);
      std::string out;
      std::size_t auto_index = 0;
      for (std::size_t k = 0; k < s.size(); ++k) {
        if (s[k] == '{' && k + 1 < s.size() && s[k + 1] == '{') {
          out.push_back('{');
          ++k;
        } else if (s[k] == '}' && k + 1 < s.size() && s[k + 1] == '}') {
          out.push_back('}');
          ++k;
        } else if (s[k] == '{') {
          const std::size_t close = s.find('}', k);
          if (close == std::string::npos) fail("{}: single '{{' encountered in format string", what);
          const std::string field = s.substr(k + 1, close - k - 1);
          std::size_t idx = auto_index++;
          if (!field.empty()) {
            if (field.find_first_not_of("0123456789") != std::string::npos) fail("{}: field '{}' is not supported (only {{}} and {{N}})", what, field);
            idx = std::stoul(field);
          }
          if (idx >= args.pos.size()) fail("{}: replacement index {} out of range", what, idx);
          out += to_str(args.pos[idx]);
          check_string_size(out.size());
          k = close;
        } else if (s[k] == '}') {
          fail("{}: single '}}' encountered in format string", what);
        } else {
          out.push_back(s[k]);
        }
      }
      return Value::string(std::move(out));
    }
    fail("internal: unknown method {}", name);
  }

  // ----- filters -----

  Value apply_filter_node(const Node& f, Value operand, const std::shared_ptr<Frame>& frame) {
    Args args = eval_args(f, 1, frame);
    return apply_filter(f.name, std::move(operand), args);
  }

  // Jinja's environment.getitem over a dotted path ("a.b.0").
  Value attr_path(const Value& obj, const std::string& path) {
    Value cur = obj;
    std::size_t start = 0;
    for (;;) {
      const std::size_t dot = path.find('.', start);
      const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      Value key = Value::string(part);
      if (!part.empty() && part.find_first_not_of("0123456789") == std::string::npos && part.size() < 18) {
        key = Value::integer(std::stoll(part));
      }
      if (cur.is_undefined()) return cur;
      cur = get_item(cur, key);
      if (dot == std::string::npos) return cur;
      start = dot + 1;
    }
  }

  static std::string as_filter_string(const Value& v) { return to_str(v); }

  static Value lower_if_string(const Value& v, bool case_sensitive) {
    if (!case_sensitive && v.is_string()) return Value::string(lower(v.s));
    return v;
  }

  ValueList sorted(ValueList items, bool reverse, bool case_sensitive, const std::string& attribute) {
    std::vector<Value> keys;
    keys.reserve(items.size());
    for (const Value& v : items) keys.push_back(lower_if_string(attribute.empty() ? v : attr_path(v, attribute), case_sensitive));
    std::vector<std::size_t> idx(items.size());
    for (std::size_t k = 0; k < idx.size(); ++k) idx[k] = k;
    charge(static_cast<std::int64_t>(items.size()) * 8);
    std::stable_sort(idx.begin(), idx.end(), [&](std::size_t a, std::size_t b) {
      return reverse ? order(keys[b], keys[a]) < 0 : order(keys[a], keys[b]) < 0;
    });
    ValueList out;
    out.reserve(items.size());
    for (const std::size_t k : idx) out.push_back(std::move(items[k]));
    return out;
  }

  static std::string html_escape(const std::string& s) {
    std::string out;
    for (const char c : s) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out.push_back(c);
      }
    }
    return out;
  }

  std::int64_t length_of(const Value& v) {
    switch (v.kind) {
      case Kind::kUndefined: return 0;
      case Kind::kString: return static_cast<std::int64_t>(utf8_length(v.s));
      case Kind::kList:
      case Kind::kTuple: return static_cast<std::int64_t>(v.list->size());
      case Kind::kDict: return static_cast<std::int64_t>(v.dict->entries.size());
      case Kind::kLoop: return static_cast<std::int64_t>(v.loop->items->size());
      default: fail("object of type '{}' has no len()", type_name(v));
    }
  }

  // select / reject / selectattr / rejectattr.
  Value select(const Value& seq, const Args& args, bool with_attr, bool keep) {
    std::size_t k = 0;
    std::string attribute;
    if (with_attr) {
      if (args.pos.empty() || !args.pos[0].is_string()) fail("selectattr/rejectattr: the first argument is an attribute name");
      attribute = args.pos[0].s;
      k = 1;
    }
    std::string test;
    Args test_args;
    if (k < args.pos.size()) {
      if (!args.pos[k].is_string()) fail("select/reject: the test name must be a string");
      test = args.pos[k].s;
      if (!known_test(test)) fail("no test named '{}'", test);
      test_args.pos.assign(args.pos.begin() + static_cast<std::ptrdiff_t>(k + 1), args.pos.end());
      test_args.kw = args.kw;
    } else if (!args.kw.empty()) {
      fail("select/reject: unexpected keyword arguments");
    }
    ValueList out;
    for (const Value& item : iterate(seq)) {
      charge(1);
      const Value v = with_attr ? attr_path(item, attribute) : item;
      const bool r = test.empty() ? truthy(v) : apply_test(test, v, test_args);
      if (r == keep) out.push_back(item);
    }
    return Value::make_list(std::move(out));
  }

  Value apply_filter(const std::string& name, Value v, const Args& args) {
    const std::string what = "filter " + name;
    if (name == "safe" || name == "list") {
      if (name == "safe") return v;
      if (v.kind == Kind::kList) return v;
      return Value::make_list(iterate(v));
    }
    if (name == "trim") {
      const auto b = bind(args, {"chars"}, what);
      return Value::string(strip_chars(as_filter_string(v), b[0], true, true));
    }
    if (name == "tojson") {
      const auto b = bind(args, {"ensure_ascii", "indent", "separators", "sort_keys"}, what);
      int indent = -1;
      if (b[1] && !b[1]->is_none()) {
        if (b[1]->is_string()) fail("{}: a string indent is not supported", what);
        if (!is_intlike(*b[1]) || b[1]->i < 0 || b[1]->i > 64) fail("{}: indent must be an integer in [0, 64]", what);
        indent = static_cast<int>(b[1]->i);
      }
      std::string item_sep, key_sep;
      const bool custom_sep = b[2] && !b[2]->is_none();
      if (custom_sep) {
        if (!b[2]->is_sequence() || b[2]->list->size() != 2 || !(*b[2]->list)[0].is_string() || !(*b[2]->list)[1].is_string()) {
          fail("{}: separators must be a pair of strings", what);
        }
        item_sep = (*b[2]->list)[0].s;
        key_sep = (*b[2]->list)[1].s;
      }
      std::string out = to_json(v, indent, b[3] && truthy(*b[3]), custom_sep ? &item_sep : nullptr,
                                custom_sep ? &key_sep : nullptr);
      if (b[0] && truthy(*b[0])) out = ascii_escape(out);
      return make_string(std::move(out));
    }
    if (name == "length" || name == "count") return Value::integer(length_of(v));
    if (name == "default" || name == "d") {
      const auto b = bind(args, {"default_value", "boolean"}, what);
      const bool boolean = b[1] && truthy(*b[1]);
      if (v.is_undefined() || (boolean && !truthy(v))) return b[0] ? *b[0] : Value::string("");
      return v;
    }
    if (name == "items") {
      if (v.is_undefined()) return Value::make_list({});
      if (v.kind != Kind::kDict) fail("can only get item pairs from a mapping, not {}", type_name(v));
      return call_method(v, "items", Args{});
    }
    if (name == "first" || name == "last") {
      ValueList items = iterate(v);
      if (items.empty()) return Value::undefined(fmt::format("No {} item, sequence was empty.", name));
      return name == "first" ? items.front() : items.back();
    }
    if (name == "join") {
      const auto b = bind(args, {"d", "attribute"}, what);
      const std::string sep = b[0] ? to_str(*b[0]) : std::string();
      std::string out;
      bool first = true;
      for (const Value& item : iterate(v)) {
        if (!first) out += sep;
        first = false;
        out += to_str(b[1] && !b[1]->is_none() ? attr_path(item, to_str(*b[1])) : item);
        check_string_size(out.size());
      }
      return Value::string(std::move(out));
    }
    if (name == "upper") return Value::string(upper(to_str(v)));
    if (name == "lower") return Value::string(lower(to_str(v)));
    if (name == "capitalize") return Value::string(capitalize(to_str(v)));
    if (name == "title") {
      // Jinja: words start after runs of - whitespace ( { [ <.
      std::string s = to_str(v), out;
      bool start = true;
      for (std::size_t k = 0; k < s.size();) {
        const std::size_t sp = py_space_at(s, k);
        const char c = s[k];
        if (sp || c == '-' || c == '(' || c == '{' || c == '[' || c == '<') {
          const std::size_t n = sp ? sp : 1;
          out.append(s, k, n);
          k += n;
          start = true;
          continue;
        }
        out.push_back(start ? to_upper(c) : to_lower(c));
        start = false;
        ++k;
      }
      return Value::string(std::move(out));
    }
    if (name == "string") return Value::string(to_str(v));
    if (name == "replace") {
      const auto b = bind(args, {"old", "new", "count"}, what);
      if (!b[0] || !b[1]) fail("{}: needs old and new", what);
      std::int64_t count = -1;
      if (b[2] && !b[2]->is_none()) {
        if (!is_intlike(*b[2])) fail("{}: count must be an integer", what);
        count = b[2]->i;
      }
      return make_string(replace(to_str(v), to_str(*b[0]), to_str(*b[1]), count));
    }
    if (name == "select" || name == "reject") return select(v, args, false, name == "select");
    if (name == "selectattr" || name == "rejectattr") return select(v, args, true, name == "selectattr");
    if (name == "map") {
      ValueList out;
      std::optional<Value> attribute, dflt;
      for (const auto& [k, val] : args.kw) {
        if (k == "attribute") attribute = val;
        if (k == "default") dflt = val;
      }
      if (attribute) {
        for (const Value& item : iterate(v)) {
          Value x = attr_path(item, to_str(*attribute));
          if (x.is_undefined() && dflt) x = *dflt;
          out.push_back(std::move(x));
        }
        return Value::make_list(std::move(out));
      }
      if (args.pos.empty() || !args.pos[0].is_string()) fail("{}: needs a filter name or attribute=", what);
      const std::string filter = args.pos[0].s;
      if (!known_filter(filter)) fail("no filter named '{}'", filter);
      Args rest;
      rest.pos.assign(args.pos.begin() + 1, args.pos.end());
      rest.kw = args.kw;
      for (const Value& item : iterate(v)) {
        charge(1);
        out.push_back(apply_filter(filter, item, rest));
      }
      return Value::make_list(std::move(out));
    }
    if (name == "abs") {
      if (v.kind == Kind::kFloat) return Value::number(std::fabs(v.f));
      if (is_intlike(v)) {
        if (v.i == INT64_MIN) fail("integer overflow");
        return Value::integer(v.i < 0 ? -v.i : v.i);
      }
      fail("bad operand type for abs(): '{}'", type_name(v));
    }
    if (name == "int") {
      const auto b = bind(args, {"default", "base"}, what);
      const Value dflt = b[0] ? *b[0] : Value::integer(0);
      const int base = b[1] && is_intlike(*b[1]) ? static_cast<int>(b[1]->i) : 10;
      if (is_intlike(v)) return Value::integer(v.i);
      if (v.kind == Kind::kFloat) {
        if (!std::isfinite(v.f) || std::fabs(v.f) >= 9.2e18) return dflt;
        return Value::integer(static_cast<std::int64_t>(v.f));
      }
      if (v.is_string()) {
        const std::string t(py_strip(v.s, true, true));
        errno = 0;
        char* end = nullptr;
        const long long x = std::strtoll(t.c_str(), &end, base);
        if (!t.empty() && *end == 0 && errno == 0) return Value::integer(x);
        const double d = std::strtod(t.c_str(), &end);
        if (!t.empty() && *end == 0 && std::isfinite(d) && std::fabs(d) < 9.2e18) return Value::integer(static_cast<std::int64_t>(d));
      }
      return dflt;
    }
    if (name == "float") {
      const auto b = bind(args, {"default"}, what);
      const Value dflt = b[0] ? *b[0] : Value::number(0.0);
      if (v.is_number()) return Value::number(as_double(v));
      if (v.is_string()) {
        const std::string t(py_strip(v.s, true, true));
        char* end = nullptr;
        const double d = std::strtod(t.c_str(), &end);
        if (!t.empty() && *end == 0) return Value::number(d);
      }
      return dflt;
    }
    if (name == "round") {
      const auto b = bind(args, {"precision", "method"}, what);
      const std::int64_t precision = b[0] && is_intlike(*b[0]) ? b[0]->i : 0;
      const std::string method = b[1] ? to_str(*b[1]) : "common";
      if (method != "common" && method != "ceil" && method != "floor") fail("{}: method must be common, ceil or floor", what);
      if (!v.is_number()) fail("{}: a number is required, not {}", what, type_name(v));
      if (precision < -300 || precision > 300) fail("{}: precision out of range", what);
      const double scale = std::pow(10.0, static_cast<double>(precision));
      const double x = as_double(v) * scale;
      double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::nearbyint(x);
      r /= scale;
      if (method == "common" && is_intlike(v)) return Value::integer(v.i);
      return Value::number(r);
    }
    if (name == "reverse") {
      if (v.is_string()) {
        auto cs = chars_of(v.s);
        std::string out;
        for (auto it = cs.rbegin(); it != cs.rend(); ++it) out += *it;
        return Value::string(std::move(out));
      }
      ValueList items = iterate(v);
      std::reverse(items.begin(), items.end());
      return Value::make_list(std::move(items));
    }
    if (name == "sort") {
      const auto b = bind(args, {"reverse", "case_sensitive", "attribute"}, what);
      return Value::make_list(sorted(iterate(v), b[0] && truthy(*b[0]), b[1] && truthy(*b[1]),
                                     b[2] && !b[2]->is_none() ? to_str(*b[2]) : std::string()));
    }
    if (name == "dictsort") {
      const auto b = bind(args, {"case_sensitive", "by", "reverse"}, what);
      if (v.kind != Kind::kDict) fail("{}: needs a dict, got {}", what, type_name(v));
      const bool by_value = b[1] && to_str(*b[1]) == "value";
      if (b[1] && !by_value && to_str(*b[1]) != "key") fail("{}: You can only sort by either \"key\" or \"value\"", what);
      ValueList pairs;
      for (const auto& [k, val] : v.dict->entries) pairs.push_back(Value::make_list({Value::string(k), val}, true));
      return Value::make_list(sorted(std::move(pairs), b[2] && truthy(*b[2]), b[0] && truthy(*b[0]), by_value ? "1" : "0"));
    }
    if (name == "unique") {
      const auto b = bind(args, {"case_sensitive", "attribute"}, what);
      const bool cs = b[0] && truthy(*b[0]);
      ValueList out, seen;
      for (const Value& item : iterate(v)) {
        const Value key = lower_if_string(b[1] && !b[1]->is_none() ? attr_path(item, to_str(*b[1])) : item, cs);
        bool dup = false;
        for (const Value& s : seen) {
          charge(1);
          if (equal(s, key)) {
            dup = true;
            break;
          }
        }
        if (!dup) {
          seen.push_back(key);
          out.push_back(item);
        }
      }
      return Value::make_list(std::move(out));
    }
    if (name == "min" || name == "max") {
      const auto b = bind(args, {"case_sensitive", "attribute"}, what);
      ValueList items = iterate(v);
      if (items.empty()) return Value::undefined(fmt::format("No aggregated item, sequence was empty."));
      const std::string attribute = b[1] && !b[1]->is_none() ? to_str(*b[1]) : std::string();
      const bool cs = b[0] && truthy(*b[0]);
      std::size_t best = 0;
      for (std::size_t k = 1; k < items.size(); ++k) {
        const Value a = lower_if_string(attribute.empty() ? items[k] : attr_path(items[k], attribute), cs);
        const Value c = lower_if_string(attribute.empty() ? items[best] : attr_path(items[best], attribute), cs);
        if (name == "min" ? order(a, c) < 0 : order(a, c) > 0) best = k;
      }
      return items[best];
    }
    if (name == "sum") {
      const auto b = bind(args, {"attribute", "start"}, what);
      Value total = b[1] ? *b[1] : Value::integer(0);
      for (const Value& item : iterate(v)) {
        total = binary("+", total, b[0] && !b[0]->is_none() ? attr_path(item, to_str(*b[0])) : item);
      }
      return total;
    }
    if (name == "batch") {
      const auto b = bind(args, {"linecount", "fill_with"}, what);
      if (!b[0] || !is_intlike(*b[0]) || b[0]->i <= 0) fail("{}: linecount must be a positive integer", what);
      const auto n = static_cast<std::size_t>(b[0]->i);
      ValueList out, cur;
      for (const Value& item : iterate(v)) {
        cur.push_back(item);
        if (cur.size() == n) {
          out.push_back(Value::make_list(std::move(cur)));
          cur.clear();
        }
      }
      if (!cur.empty()) {
        if (b[1] && !b[1]->is_none()) {
          while (cur.size() < n) cur.push_back(*b[1]);
        }
        out.push_back(Value::make_list(std::move(cur)));
      }
      return Value::make_list(std::move(out));
    }
    if (name == "attr") {
      const auto b = bind(args, {"name"}, what);
      if (!b[0] || !b[0]->is_string()) fail("{}: needs an attribute name", what);
      if (v.is_undefined()) return Value::undefined(v.s);
      if (v.kind == Kind::kDict) {
        return is_dict_method(b[0]->s) ? method(v, b[0]->s) : missing(v, "'" + b[0]->s + "'");
      }
      return get_attr(v, b[0]->s);
    }
    if (name == "escape" || name == "e" || name == "forceescape") return Value::string(html_escape(to_str(v)));
    if (name == "center") {
      const auto b = bind(args, {"width"}, what);
      const std::int64_t width = b[0] && is_intlike(*b[0]) ? b[0]->i : 80;
      return Value::string(pad(to_str(v), width, " ", 0));
    }
    if (name == "indent") {
      const auto b = bind(args, {"width", "first", "blank"}, what);
      std::string indention = "    ";
      if (b[0]) {
        if (b[0]->is_string()) {
          indention = b[0]->s;
        } else if (is_intlike(*b[0]) && b[0]->i >= 0 && b[0]->i <= 1024) {
          indention = std::string(static_cast<std::size_t>(b[0]->i), ' ');
        } else {
          fail("{}: width must be an integer in [0, 1024] or a string", what);
        }
      }
      const std::string s = to_str(v) + "\n";
      const std::vector<std::string> lines = splitlines(s, false);
      std::string out;
      if (b[2] && truthy(*b[2])) {
        for (std::size_t k = 0; k < lines.size(); ++k) {
          if (k) out += "\n" + indention;
          out += lines[k];
          check_string_size(out.size());
        }
      } else {
        out = lines.empty() ? std::string() : lines[0];
        for (std::size_t k = 1; k < lines.size(); ++k) {
          out += "\n";
          if (!lines[k].empty()) out += indention;
          out += lines[k];
          check_string_size(out.size());
        }
      }
      if (b[1] && truthy(*b[1])) out = indention + out;
      return make_string(std::move(out));
    }
    if (name == "wordcount") {
      // Runs of word characters (\w: letters, digits, underscore; non-ASCII counts as letter).
      std::int64_t n = 0;
      bool in_word = false;
      for (const char c : to_str(v)) {
        const bool w = is_alpha(c) || (c >= '0' && c <= '9') || c == '_' || static_cast<unsigned char>(c) >= 0x80;
        if (w && !in_word) ++n;
        in_word = w;
      }
      return Value::integer(n);
    }
    if (name == "format") {
      if (!args.kw.empty()) fail("{}: keyword arguments are not supported", what);
      return make_string(percent_format(to_str(v), Value::make_list(args.pos, true)));
    }
    fail("internal: unknown filter {}", name);
  }

  static std::string ascii_escape(const std::string& json) {
    // ensure_ascii=True: non-ASCII code points as \uXXXX (surrogate pairs above U+FFFF).
    std::string out;
    for (std::size_t k = 0; k < json.size();) {
      const auto c = static_cast<unsigned char>(json[k]);
      if (c < 0x80) {
        out.push_back(json[k++]);
        continue;
      }
      std::uint32_t cp = 0;
      std::size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
      cp = c & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
      for (std::size_t j = 1; j < len && k + j < json.size(); ++j) cp = (cp << 6) | (static_cast<unsigned char>(json[k + j]) & 0x3F);
      k += len;
      if (cp >= 0x10000) {
        cp -= 0x10000;
        out += fmt::format("\\u{:04x}\\u{:04x}", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
      } else {
        out += fmt::format("\\u{:04x}", cp);
      }
    }
    return out;
  }

  // ----- tests -----

  bool apply_test(const std::string& name, const Value& v, const Args& args) {
    auto arg = [&](std::size_t k) -> const Value& {
      if (k >= args.pos.size()) {
        if (!args.kw.empty() && k == 0) return args.kw[0].second;
        fail("test '{}' needs an argument", name);
      }
      return args.pos[k];
    };
    if (name == "defined") return !v.is_undefined();
    if (name == "undefined") return v.is_undefined();
    if (name == "none") return v.is_none();
    if (name == "string") return v.is_string();
    if (name == "mapping") return v.kind == Kind::kDict;
    if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_sequence() || v.kind == Kind::kDict || v.kind == Kind::kLoop;
    if (name == "sequence") return v.is_undefined() || v.is_string() || v.is_sequence() || v.kind == Kind::kDict;
    if (name == "number") return v.is_number();
    if (name == "integer") return v.kind == Kind::kInt;
    if (name == "float") return v.kind == Kind::kFloat;
    if (name == "boolean") return v.kind == Kind::kBool;
    if (name == "true") return v.kind == Kind::kBool && v.i == 1;
    if (name == "false") return v.kind == Kind::kBool && v.i == 0;
    if (name == "callable") return v.kind == Kind::kCallable;
    if (name == "escaped") return false;
    if (name == "odd" || name == "even") {
      if (!is_intlike(v)) fail("test '{}': needs an integer, got {}", name, type_name(v));
      return (((v.i % 2) + 2) % 2 == 1) == (name == "odd");
    }
    if (name == "divisibleby") {
      const Value& d = arg(0);
      if (!is_intlike(v) || !is_intlike(d)) fail("test 'divisibleby': needs integers");
      if (d.i == 0) fail("integer division or modulo by zero");
      if (d.i == -1) return true;
      return v.i % d.i == 0;
    }
    if (name == "lower" || name == "upper") {
      return truthy(call_method(Value::string(to_str(v)), name == "lower" ? "islower" : "isupper", Args{}));
    }
    if (name == "eq" || name == "equalto" || name == "==") return equal(v, arg(0));
    if (name == "ne" || name == "!=") return !equal(v, arg(0));
    if (name == "lt" || name == "lessthan" || name == "<") return order(v, arg(0)) < 0;
    if (name == "le" || name == "<=") return order(v, arg(0)) <= 0;
    if (name == "gt" || name == "greaterthan" || name == ">") return order(v, arg(0)) > 0;
    if (name == "ge" || name == ">=") return order(v, arg(0)) >= 0;
    if (name == "in") return contains(arg(0), v);
    if (name == "sameas") {
      const Value& o = arg(0);
      if (v.kind != o.kind) return false;
      switch (v.kind) {
        case Kind::kNone:
        case Kind::kUndefined:
          return true;
        case Kind::kBool:
          return v.i == o.i;
        case Kind::kInt:
          return v.i == o.i && v.i >= -5 && v.i <= 256;  // CPython's small-int cache
        case Kind::kList:
        case Kind::kTuple:
          return v.list == o.list;
        case Kind::kDict:
        case Kind::kNamespace:
          return v.dict == o.dict;
        default:
          return false;
      }
    }
    if (name == "filter") return v.is_string() && known_filter(v.s);
    if (name == "test") return v.is_string() && known_test(v.s);
    fail("internal: unknown test {}", name);
  }

  const std::string& name_;
  const Limits& limits_;
  const Context& ctx_;
  std::shared_ptr<Frame> globals_;
  std::int64_t work_ = 0;
  std::int64_t iterations_ = 0;
  int depth_ = 0;
};

}  // namespace

bool known_filter(const std::string& name) {
  static const char* const kNames[] = {
      "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
      "first", "float", "forceescape", "format", "indent", "int", "items", "join", "last", "length", "list",
      "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select",
      "selectattr", "sort", "string", "sum", "title", "tojson", "trim", "unique", "upper", "wordcount"};
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return false;
}

bool known_test(const std::string& name) {
  static const char* const kNames[] = {
      "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false", "filter",
      "float", "ge", "gt", "greaterthan", "in", "integer", "iterable", "le", "lower", "lt", "lessthan",
      "mapping", "ne", "none", "number", "odd", "sameas", "sequence", "string", "test", "true", "undefined",
      "upper", "==", "!=", "<", "<=", ">", ">="};
  for (const char* n : kNames) {
    if (name == n) return true;
  }
  return false;
}

Template::Template(std::string_view source, std::string name, Limits limits)
    : name_(std::move(name)), limits_(limits), root_(parse_template(source, name_, limits_)) {}

Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const Context& context) const {
  Renderer r(name_, limits_, context);
  try {
    return r.render(*root_);
  } catch (const TemplateError& e) {
    throw Error(e.what());
  }
}

}  // namespace speclab::jinja
