// A Jinja2 interpreter for the subset chat templates use, with the semantics of Jinja2 3.x as
// Hugging Face transformers configures it: ImmutableSandboxedEnvironment(trim_blocks=True,
// lstrip_blocks=True, extensions=[loopcontrols]), the default Undefined, keep_trailing_newline
// off (one trailing newline of the source is dropped), newlines normalised to "\n".
//
// Syntax: {{ expr }}, {% stmt %}, {# comment #}, whitespace control with '-' and '+' on either
// side, {% raw %}. Statements: if / elif / else, for (tuple targets, `if` filter, else,
// recursive loops via loop(...)), break / continue, set (names, tuples, namespace attributes,
// block set with filters), macro (defaults, caller), call blocks, filter blocks, with, and
// transformers' generation / endgeneration (rendered as its body). Expressions: literals
// (strings with Python escapes, ints, floats, lists, tuples, dicts, true/false/none), and/or/not,
// comparisons (chained), in / not in, + - * / // % ** ~, conditional expressions, attribute and
// subscript access, slices [a:b:c], calls with keyword arguments, filters and tests. Built-in
// filters, tests, globals and string/dict methods: see jinja_eval.cpp (Jinja2's names and
// behaviour). Unsupported tags (extends, include, import, block) and unknown filters or tests
// are parse errors naming the line.
//
// Every error is a speclab::Error "<template name>:<line>: <rule>", e.g.
// "chat_template.jinja:3: unknown filter 'foo'" or "t.jinja:7: raise_exception: Conversation
// roles must alternate". Hostile templates are bounded by Limits: source size, nesting depth of
// the parse and of the evaluation (macros calling themselves included), value nesting, output
// and string size, loop iterations, and a work budget (every evaluation step and every byte
// built counts), so that a render always ends, in an Error at worst.
#pragma once
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizers/jinja_value.h"

namespace speclab::jinja {

struct Limits {
  std::size_t max_source_bytes = std::size_t{1} << 20;
  std::size_t max_output_bytes = std::size_t{16} << 20;  // the rendering and every string value
  int max_depth = 200;                                    // parse nesting; evaluation recursion
  std::int64_t max_loop_iterations = 1'000'000;           // loop bodies run per render, in total
  std::int64_t max_work = 200'000'000;                    // evaluation steps + bytes copied / 16
};

// The variables of one render, plus what strftime_now() returns as the current time.
struct Context {
  std::vector<std::pair<std::string, Value>> variables;
  std::tm now{};  // local broken-down time for strftime_now
  void set(std::string name, Value v) { variables.emplace_back(std::move(name), std::move(v)); }
};

struct Node;

class Template {
 public:
  // Lexes and parses `source`. `name` names the template in errors. Throws Error for syntax
  // errors, unknown filters/tests/tags, invalid UTF-8 and sources beyond the limits.
  Template(std::string_view source, std::string name, Limits limits = {});
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Renders with `context`; throws Error (runtime errors, raise_exception, limits).
  std::string render(const Context& context) const;

  const std::string& name() const { return name_; }

 private:
  std::string name_;
  Limits limits_;
  std::unique_ptr<Node> root_;
};

}  // namespace speclab::jinja
