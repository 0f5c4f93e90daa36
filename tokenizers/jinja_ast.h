// The syntax tree of a parsed Jinja template (internal to tokenizers/jinja_*.cpp).
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizers/jinja.h"
#include "tokenizers/jinja_value.h"

namespace speclab::jinja {

enum class NodeKind : std::uint8_t {
  // Expressions.
  kConst,      // value
  kName,       // name
  kGetAttr,    // kids[0].name
  kGetItem,    // kids[0][kids[1]]
  kSlice,      // kids[0][kids[1]:kids[2]:kids[3]] (null kids = omitted)
  kCall,       // kids[0](kids[1..], kwargs)
  kFilter,     // kids[0] | name(kids[1..], kwargs); kids[0] null in filter blocks / block set
  kTest,       // kids[0] is [not: flag] name(kids[1..], kwargs)
  kUnary,      // name in {"-", "+", "not"} kids[0]
  kBinary,     // kids[0] name kids[1]; name in {+ - * / // % ** ~ and or}
  kCompare,    // kids[0] ops[0] kids[1] ops[1] kids[2] ... (chained); ops in {== != < <= > >= in notin}
  kCond,       // kids[0] if kids[1] else kids[2] (kids[2] may be null)
  kList,       // [kids...]
  kTuple,      // (kids...)
  kDict,       // {kids[0]: kids[1], ...}
  // Statements.
  kBody,       // kids: statements in order
  kText,       // name: literal output
  kEmit,       // {{ kids[0] }}
  kIf,         // kids: cond0, body0, cond1, body1, ...; else_body
  kFor,        // names = targets; kids[0] = iterable; cond = loop filter; body; else_body; flag = recursive
  kSet,        // names = targets (one or a tuple), kids[0] = value; attr non-empty: set names[0].attr
  kSetBlock,   // names[0] = target; body; kids = filters (kFilter with null operand)
  kMacro,      // name; names = parameters; kids = defaults (null = none); body
  kCallBlock,  // kids[0] = the call (kCall); names = caller's parameters; kids[1..] = their defaults; body
  kFilterBlock,  // kids = filters; body
  kWith,       // names = targets; kids = values; body
  kBreak,
  kContinue,
};

struct Node {
  NodeKind kind = NodeKind::kConst;
  int line = 0;
  bool flag = false;
  std::string name;
  std::string attr;
  Value value;
  std::vector<std::unique_ptr<Node>> kids;
  std::vector<std::string> names;
  std::vector<std::string> ops;
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> kwargs;
  std::unique_ptr<Node> cond, body, else_body;
};

using NodePtr = std::unique_ptr<Node>;

// Parses `source` (jinja_parse.cpp). Throws Error "<name>:<line>: <rule>".
NodePtr parse_template(std::string_view source, const std::string& name, const Limits& limits);

// Whether `name` is a filter / test the evaluator implements (jinja_eval.cpp), so that the
// parser can refuse unknown ones as Jinja does at compile time.
bool known_filter(const std::string& name);
bool known_test(const std::string& name);

}  // namespace speclab::jinja
