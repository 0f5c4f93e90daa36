// Lexer and parser of the Jinja subset (tokenizers/jinja.h), following Jinja2 3.x's lexer
// (whitespace control, trim_blocks, lstrip_blocks, bracket balancing inside tags) and its
// recursive-descent parser (operator precedence of jinja2/parser.py).
#include <fmt/format.h>

#include <cstdlib>
#include <string_view>

#include "base/error.h"
#include "tokenizers/jinja_ast.h"

namespace speclab::jinja {

namespace {

enum class Tok : std::uint8_t {
  kData,
  kVarBegin,
  kVarEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInt,
  kFloat,
  kOp,
  kEof,
};

struct Token {
  Tok type;
  int line;
  std::string text;  // data, name, operator, decoded string, number digits
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

int count_newlines(std::string_view s) {
  int n = 0;
  for (const char c : s) n += c == '\n';
  return n;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool valid_utf8(std::string_view s, std::size_t& bad_at) {
  std::size_t k = 0;
  while (k < s.size()) {
    const auto c = static_cast<unsigned char>(s[k]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++k;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      bad_at = k;
      return false;
    }
    if (k + len > s.size()) {
      bad_at = k;
      return false;
    }
    for (std::size_t j = 1; j < len; ++j) {
      const auto d = static_cast<unsigned char>(s[k + j]);
      if ((d & 0xC0) != 0x80) {
        bad_at = k;
        return false;
      }
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
      bad_at = k;
      return false;
    }
    k += len;
  }
  return true;
}

class Lexer {
 public:
  Lexer(std::string_view src, const std::string& name) : src_(src), name_(name) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const std::size_t start = find_tag_start(pos_);
      if (start == std::string_view::npos) {
        emit_data(src_.substr(pos_));
        pos_ = src_.size();
        break;
      }
      const char kind = src_[start + 1];
      char sign = 0;
      if (start + 2 < src_.size() && (src_[start + 2] == '-' || src_[start + 2] == '+')) sign = src_[start + 2];
      std::string_view text = src_.substr(pos_, start - pos_);
      const bool raw = kind == '%' && is_raw_begin(start);
      if (sign == '-') {
        text = rstrip(text);
      } else if (sign != '+' && kind != '{') {
        // lstrip_blocks: drop the spaces between the line start and a block or comment tag.
        const std::size_t nl = text.rfind('\n');
        const std::size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
        if ((l_pos > 0 || line_starting_) && l_pos < text.size() && all_space(text.substr(l_pos))) {
          text = text.substr(0, l_pos);
        }
      }
      emit_data(text);
      line_ += count_newlines(src_.substr(pos_, start - pos_));
      pos_ = start + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        lex_comment();
      } else if (raw) {
        lex_raw();
      } else {
        lex_tag(kind == '{');
      }
    }
    out_.push_back(Token{Tok::kEof, line_, {}});
    return std::move(out_);
  }

 private:
  [[noreturn]] void error(const std::string& what) const { fail("{}:{}: {}", name_, line_, what); }

  std::size_t find_tag_start(std::size_t from) const {
    for (std::size_t k = src_.find('{', from); k != std::string_view::npos; k = src_.find('{', k + 1)) {
      if (k + 1 < src_.size() && (src_[k + 1] == '{' || src_[k + 1] == '%' || src_[k + 1] == '#')) return k;
    }
    return std::string_view::npos;
  }

  static std::string_view rstrip(std::string_view s) { return py_strip(s, false, true); }
  static bool all_space(std::string_view s) { return py_strip(s, true, false).empty(); }

  std::size_t skip_space(std::size_t p) const {
    while (std::size_t n = py_space_at(src_, p)) p += n;
    return p;
  }

  bool is_raw_begin(std::size_t start) const {
    std::size_t p = start + 2;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
    p = skip_space(p);
    if (src_.substr(p, 3) != "raw") return false;
    p = skip_space(p + 3);
    return src_.substr(p, 2) == "%}" || src_.substr(p, 3) == "-%}";
  }

  void emit_data(std::string_view text) {
    if (!text.empty()) out_.push_back(Token{Tok::kData, line_, std::string(text)});
  }

  // Consumes a tag end at pos_ ("-X}" eats the following whitespace; "%}" / "#}" eat one
  // newline with trim_blocks) and updates line_starting_.
  void consume_end(std::size_t end_at, std::size_t len, char sign, bool trim_newline) {
    std::size_t p = end_at + len;
    if (sign == '-') {
      p = skip_space(p);
    } else if (sign == 0 && trim_newline && p < src_.size() && src_[p] == '\n') {
      ++p;
    }
    line_ += count_newlines(src_.substr(pos_, p - pos_));
    line_starting_ = p > 0 && src_[p - 1] == '\n';
    pos_ = p;
  }

  void lex_comment() {
    const std::size_t q = src_.find("#}", pos_);
    if (q == std::string_view::npos) error("missing end of comment tag '#}'");
    char sign = 0;
    std::size_t at = q;
    if (q > pos_ && (src_[q - 1] == '-' || src_[q - 1] == '+')) {
      sign = src_[q - 1];
      at = q - 1;
    }
    consume_end(at, sign ? 3 : 2, sign, true);
  }

  void lex_raw() {
    // pos_ is after "{%" and its sign; skip "raw" and the end of the opening tag.
    std::size_t p = skip_space(pos_);
    p = skip_space(p + 3);
    if (src_[p] == '-') {
      p = skip_space(p + 3);
    } else {
      p += 2;
    }
    line_ += count_newlines(src_.substr(pos_, p - pos_));
    pos_ = p;
    for (std::size_t k = src_.find("{%", pos_); k != std::string_view::npos; k = src_.find("{%", k + 1)) {
      std::size_t r = k + 2;
      char sign = 0;
      if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) sign = src_[r++];
      r = skip_space(r);
      if (src_.substr(r, 6) != "endraw") continue;
      r = skip_space(r + 6);
      char end_sign = 0;
      if (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) end_sign = src_[r++];
      if (src_.substr(r, 2) != "%}") continue;
      std::string_view text = src_.substr(pos_, k - pos_);
      if (sign == '-') text = rstrip(text);
      emit_data(text);
      consume_end(r - (end_sign ? 1 : 0), end_sign ? 3 : 2, end_sign, true);
      return;
    }
    error("missing '{% endraw %}' for '{% raw %}'");
  }

  void lex_tag(bool variable) {
    out_.push_back(Token{variable ? Tok::kVarBegin : Tok::kBlockBegin, line_, {}});
    std::vector<char> brackets;
    for (;;) {
      // Whitespace.
      std::size_t p = pos_;
      while (std::size_t n = py_space_at(src_, p)) p += n;
      line_ += count_newlines(src_.substr(pos_, p - pos_));
      pos_ = p;
      if (pos_ >= src_.size()) error(variable ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'");
      const char close = variable ? '}' : '%';
      if (brackets.empty()) {
        const std::string_view rest = src_.substr(pos_);
        if (rest.size() >= 3 && rest[0] == '-' && rest[1] == close && rest[2] == '}') {
          out_.push_back(Token{variable ? Tok::kVarEnd : Tok::kBlockEnd, line_, {}});
          consume_end(pos_, 3, '-', !variable);
          return;
        }
        if (!variable && rest.size() >= 3 && rest[0] == '+' && rest[1] == '%' && rest[2] == '}') {
          out_.push_back(Token{Tok::kBlockEnd, line_, {}});
          consume_end(pos_, 3, '+', true);
          return;
        }
        if (rest.size() >= 2 && rest[0] == close && rest[1] == '}') {
          out_.push_back(Token{variable ? Tok::kVarEnd : Tok::kBlockEnd, line_, {}});
          consume_end(pos_, 2, 0, !variable);
          return;
        }
      }
      const char c = src_[pos_];
      if (is_digit(c)) {
        lex_number();
      } else if (is_name_start(c)) {
        std::size_t e = pos_;
        while (e < src_.size() && is_name_char(src_[e])) ++e;
        out_.push_back(Token{Tok::kName, line_, std::string(src_.substr(pos_, e - pos_))});
        pos_ = e;
      } else if (c == '\'' || c == '"') {
        lex_string(c);
      } else {
        lex_operator(brackets);
      }
    }
  }

  void lex_number() {
    auto digits = [&](std::size_t p, std::string& out) {
      // (\d+_)*\d+
      const std::size_t begin = p;
      while (p < src_.size() && (is_digit(src_[p]) || (src_[p] == '_' && p > begin && p + 1 < src_.size() && is_digit(src_[p + 1])))) {
        if (src_[p] != '_') out.push_back(src_[p]);
        ++p;
      }
      return p;
    };
    std::string text;
    std::size_t p = pos_;
    // 0x / 0o / 0b integers.
    if (src_[p] == '0' && p + 2 < src_.size() && (src_[p + 1] == 'x' || src_[p + 1] == 'X' || src_[p + 1] == 'o' ||
                                                  src_[p + 1] == 'O' || src_[p + 1] == 'b' || src_[p + 1] == 'B')) {
      const int base = (src_[p + 1] == 'x' || src_[p + 1] == 'X') ? 16 : (src_[p + 1] == 'o' || src_[p + 1] == 'O') ? 8 : 2;
      std::size_t e = p + 2;
      std::string body;
      while (e < src_.size() && (std::isxdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) {
        if (src_[e] != '_') body.push_back(src_[e]);
        ++e;
      }
      errno = 0;
      char* end = nullptr;
      const unsigned long long v = std::strtoull(body.c_str(), &end, base);
      if (body.empty() || *end || errno || v > static_cast<unsigned long long>(INT64_MAX)) error(fmt::format("invalid integer literal '{}'", src_.substr(pos_, e - pos_)));
      out_.push_back(Token{Tok::kInt, line_, std::to_string(v)});
      pos_ = e;
      return;
    }
    p = digits(p, text);
    bool is_float = false;
    if (p + 1 < src_.size() && src_[p] == '.' && is_digit(src_[p + 1])) {
      text.push_back('.');
      p = digits(p + 1, text);
      is_float = true;
    }
    if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
      std::size_t q = p + 1;
      std::string exp = "e";
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) exp.push_back(src_[q++]);
      if (q < src_.size() && is_digit(src_[q])) {
        q = digits(q, exp);
        text += exp;
        p = q;
        is_float = true;
      }
    }
    out_.push_back(Token{is_float ? Tok::kFloat : Tok::kInt, line_, text});
    pos_ = p;
  }

  void lex_string(char quote) {
    std::string out;
    std::size_t p = pos_ + 1;
    const int start_line = line_;
    auto hex = [&](std::size_t at, int n) -> std::uint32_t {
      if (at + static_cast<std::size_t>(n) > src_.size()) error("truncated \\x / \\u escape in a string literal");
      std::uint32_t v = 0;
      for (int k = 0; k < n; ++k) {
        const char h = src_[at + static_cast<std::size_t>(k)];
        if (!std::isxdigit(static_cast<unsigned char>(h))) error("truncated \\x / \\u escape in a string literal");
        v = v * 16 + static_cast<std::uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
      }
      return v;
    };
    while (true) {
      if (p >= src_.size()) {
        line_ = start_line;
        error("unexpected end of template inside a string literal");
      }
      const char c = src_[p];
      if (c == quote) break;
      if (c == '\n') ++line_;
      if (c != '\\') {
        out.push_back(c);
        ++p;
        continue;
      }
      if (p + 1 >= src_.size()) {  // a trailing backslash: unterminated, reported above
        ++p;  // fuzz finding: without advancing this looped forever
        continue;
      }
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case '\n': ++line_; break;  // line continuation
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'v': out.push_back('\v'); break;
        case 'x': append_utf8(out, hex(p, 2)); p += 2; break;
        case 'u': {
          const std::uint32_t cp = hex(p, 4);
          if (cp >= 0xD800 && cp <= 0xDFFF) error("surrogate \\u escape in a string literal");
          append_utf8(out, cp);
          p += 4;
          break;
        }
        case 'U': {
          const std::uint32_t cp = hex(p, 8);
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) error("invalid \\U escape in a string literal");
          append_utf8(out, cp);
          p += 8;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            std::uint32_t v = static_cast<std::uint32_t>(e - '0');
            for (int k = 0; k < 2 && p < src_.size() && src_[p] >= '0' && src_[p] <= '7'; ++k) v = v * 8 + static_cast<std::uint32_t>(src_[p++] - '0');
            append_utf8(out, v);
          } else {
            out.push_back('\\');  // unknown escapes stay as written (Python)
            out.push_back(e);
            if (e == '\n') ++line_;
          }
      }
    }
    out_.push_back(Token{Tok::kString, start_line, std::move(out)});
    pos_ = p + 1;
  }

  void lex_operator(std::vector<char>& brackets) {
    static const char* const kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
    const std::string_view rest = src_.substr(pos_);
    for (const char* op : kTwo) {
      if (rest.starts_with(op)) {
        out_.push_back(Token{Tok::kOp, line_, op});
        pos_ += 2;
        return;
      }
    }
    const char c = rest[0];
    static const std::string_view kOne = "+-*/%~[](){}<>=.:|,;";
    if (kOne.find(c) == std::string_view::npos) {
      error(fmt::format("unexpected character '{}' in a tag", c < 0x20 || c == 0x7f ? '?' : c));
    }
    if (c == '(' || c == '[' || c == '{') {
      brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (brackets.empty() || brackets.back() != c) error(fmt::format("unexpected '{}'", c));
      brackets.pop_back();
    }
    out_.push_back(Token{Tok::kOp, line_, std::string(1, c)});
    ++pos_;
  }

  std::string_view src_;
  const std::string& name_;
  std::size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> out_;
};

// ----- parser ------------------------------------------------------------------------------

class Parser {
 public:
  Parser(std::vector<Token> toks, const std::string& name, const Limits& limits)
      : toks_(std::move(toks)), name_(name), limits_(limits) {}

  NodePtr parse_root() {
    NodePtr body = subparse({});
    if (cur().type != Tok::kEof) error(cur().line, "unexpected tag");
    return body;
  }

 private:
  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > p.limits_.max_depth) {
        p.error(p.cur().line, fmt::format("nesting deeper than {} levels (the limit for templates)", p.limits_.max_depth));
      }
    }
    ~DepthGuard() { --p.depth_; }
  };

  [[noreturn]] void error(int line, const std::string& what) const { fail("{}:{}: {}", name_, line, what); }

  const Token& cur() const { return toks_[pos_]; }
  const Token& peek(std::size_t k = 1) const { return toks_[std::min(pos_ + k, toks_.size() - 1)]; }
  Token next() { return toks_[pos_ < toks_.size() - 1 ? pos_++ : pos_]; }

  bool is_op(const char* op) const { return cur().type == Tok::kOp && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::kName && cur().text == n; }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::kData: return "template text";
      case Tok::kVarBegin: return "'{{'";
      case Tok::kVarEnd: return "'}}'";
      case Tok::kBlockBegin: return "'{%'";
      case Tok::kBlockEnd: return "'%}'";
      case Tok::kName: return "'" + t.text + "'";
      case Tok::kString: return "a string";
      case Tok::kInt:
      case Tok::kFloat: return "a number";
      case Tok::kOp: return "'" + t.text + "'";
      case Tok::kEof: return "end of template";
    }
    return "?";
  }
  void expect_op(const char* op) {
    if (!is_op(op)) error(cur().line, fmt::format("expected '{}', got {}", op, describe(cur())));
    next();
  }
  std::string expect_name() {
    if (cur().type != Tok::kName) error(cur().line, fmt::format("expected a name, got {}", describe(cur())));
    return next().text;
  }
  void expect_block_end() {
    if (cur().type != Tok::kBlockEnd) error(cur().line, fmt::format("expected end of statement '%}}', got {}", describe(cur())));
    next();
  }

  NodePtr make(NodeKind k, int line) {
    auto n = std::make_unique<Node>();
    n->kind = k;
    n->line = line;
    return n;
  }

  // Statements until a block whose first name is in `ends` (left unconsumed: the '{%' and the
  // name are current) or the end of the template (an error when `ends` is not empty).
  NodePtr subparse(const std::vector<std::string>& ends) {
    DepthGuard guard(*this);
    NodePtr body = make(NodeKind::kBody, cur().line);
    for (;;) {
      const Token& t = cur();
      if (t.type == Tok::kEof) {
        if (!ends.empty()) {
          std::string list;
          for (const auto& e : ends) list += (list.empty() ? "'" : " or '") + e + "'";
          error(t.line, fmt::format("unexpected end of template, expected {}", list));
        }
        return body;
      }
      if (t.type == Tok::kData) {
        NodePtr n = make(NodeKind::kText, t.line);
        n->name = t.text;
        body->kids.push_back(std::move(n));
        next();
      } else if (t.type == Tok::kVarBegin) {
        next();
        NodePtr n = make(NodeKind::kEmit, t.line);
        n->kids.push_back(parse_tuple(true, false));
        if (cur().type != Tok::kVarEnd) error(cur().line, fmt::format("expected end of print statement '}}}}', got {}", describe(cur())));
        next();
        body->kids.push_back(std::move(n));
      } else if (t.type == Tok::kBlockBegin) {
        const Token& name = peek();
        if (name.type == Tok::kName) {
          for (const auto& e : ends) {
            if (name.text == e) {
              next();  // '{%'; the caller reads the name
              return body;
            }
          }
        }
        next();
        body->kids.push_back(parse_statement());
      } else {
        error(t.line, fmt::format("unexpected {}", describe(t)));
      }
    }
  }

  NodePtr parse_statement() {
    const Token t = cur();
    if (t.type != Tok::kName) error(t.line, "tag name expected");
    const std::string& s = t.text;
    if (s == "if") return parse_if();
    if (s == "for") return parse_for();
    if (s == "set") return parse_set();
    if (s == "macro") return parse_macro();
    if (s == "call") return parse_call_block();
    if (s == "filter") return parse_filter_block();
    if (s == "with") return parse_with();
    if (s == "generation") {
      next();
      expect_block_end();
      NodePtr body = subparse({"endgeneration"});
      next();
      expect_block_end();
      return body;
    }
    if (s == "break" || s == "continue") {
      if (loop_depth_ == 0) error(t.line, fmt::format("'{}' outside of a for loop", s));
      next();
      expect_block_end();
      return make(s == "break" ? NodeKind::kBreak : NodeKind::kContinue, t.line);
    }
    static const char* const kEnds[] = {"endif", "endfor", "endmacro", "endset", "endcall", "endfilter", "endwith",
                                        "endraw", "endgeneration", "elif", "else"};
    for (const char* e : kEnds) {
      if (s == e) error(t.line, fmt::format("unexpected '{{% {} %}}': no open block here that it could end", s));
    }
    if (s == "extends" || s == "include" || s == "import" || s == "from" || s == "block") {
      error(t.line, fmt::format("tag '{}' is not supported (chat templates are single files)", s));
    }
    error(t.line, fmt::format("unknown tag '{}'", s));
  }

  NodePtr parse_if() {
    NodePtr n = make(NodeKind::kIf, cur().line);
    next();  // if / elif
    for (;;) {
      n->kids.push_back(parse_tuple(false, false));
      expect_block_end();
      n->kids.push_back(subparse({"elif", "else", "endif"}));
      const std::string tag = next().text;
      if (tag == "elif") continue;
      if (tag == "else") {
        expect_block_end();
        n->else_body = subparse({"endif"});
        next();
      }
      expect_block_end();
      return n;
    }
  }

  void parse_targets(std::vector<std::string>& names, bool allow_attr, std::string* attr) {
    const bool paren = is_op("(");
    if (paren) next();
    for (;;) {
      names.push_back(expect_name());
      if (allow_attr && names.size() == 1 && is_op(".")) {
        next();
        *attr = expect_name();
        return;
      }
      if (!is_op(",")) break;
      next();
      if (paren && is_op(")")) break;
      if (!paren && (is_name("in") || is_op("="))) break;
    }
    if (paren) expect_op(")");
  }

  NodePtr parse_for() {
    NodePtr n = make(NodeKind::kFor, cur().line);
    next();
    parse_targets(n->names, false, nullptr);
    if (!is_name("in")) error(cur().line, fmt::format("expected 'in' in for loop, got {}", describe(cur())));
    next();
    n->kids.push_back(parse_tuple(true, false, /*with_condexpr=*/false));
    if (is_name("if")) {
      next();
      n->cond = parse_expression(true);
    }
    if (is_name("recursive")) {
      next();
      n->flag = true;
    }
    expect_block_end();
    ++loop_depth_;
    n->body = subparse({"endfor", "else"});
    --loop_depth_;
    if (next().text == "else") {
      expect_block_end();
      n->else_body = subparse({"endfor"});
      next();
    }
    expect_block_end();
    return n;
  }

  NodePtr parse_set() {
    const int line = cur().line;
    next();
    std::vector<std::string> names;
    std::string attr;
    parse_targets(names, true, &attr);
    if (is_op("=")) {
      next();
      NodePtr n = make(NodeKind::kSet, line);
      n->names = std::move(names);
      n->attr = std::move(attr);
      n->kids.push_back(parse_tuple(true, false));
      expect_block_end();
      return n;
    }
    if (names.size() != 1 || !attr.empty()) error(line, "block set takes one name ({% set name %}...{% endset %})");
    NodePtr n = make(NodeKind::kSetBlock, line);
    n->names = std::move(names);
    parse_filter_chain(n->kids);
    expect_block_end();
    n->body = subparse({"endset"});
    next();
    expect_block_end();
    return n;
  }

  void parse_params(std::vector<std::string>& names, std::vector<NodePtr>& defaults) {
    expect_op("(");
    while (!is_op(")")) {
      if (!names.empty()) expect_op(",");
      if (is_op(")")) break;
      names.push_back(expect_name());
      if (is_op("=")) {
        next();
        defaults.push_back(parse_expression(true));
      } else {
        if (!defaults.empty() && defaults.back()) error(cur().line, "non-default argument follows default argument");
        defaults.push_back(nullptr);
      }
    }
    next();
  }

  NodePtr parse_macro() {
    NodePtr n = make(NodeKind::kMacro, cur().line);
    next();
    n->name = expect_name();
    parse_params(n->names, n->kids);
    expect_block_end();
    const int saved = loop_depth_;
    loop_depth_ = 0;
    n->body = subparse({"endmacro"});
    loop_depth_ = saved;
    next();
    expect_block_end();
    return n;
  }

  NodePtr parse_call_block() {
    NodePtr n = make(NodeKind::kCallBlock, cur().line);
    next();
    std::vector<NodePtr> defaults;
    if (is_op("(")) parse_params(n->names, defaults);
    NodePtr call = parse_expression(true);
    if (call->kind != NodeKind::kCall) error(n->line, "expected a call after {% call %}");
    n->kids.push_back(std::move(call));
    for (auto& d : defaults) n->kids.push_back(std::move(d));
    expect_block_end();
    n->body = subparse({"endcall"});
    next();
    expect_block_end();
    return n;
  }

  void parse_filter_chain(std::vector<NodePtr>& out) {
    while (is_op("|")) {
      next();
      out.push_back(parse_filter(nullptr));
    }
  }

  NodePtr parse_filter_block() {
    NodePtr n = make(NodeKind::kFilterBlock, cur().line);
    next();
    n->kids.push_back(parse_filter(nullptr));
    parse_filter_chain(n->kids);
    expect_block_end();
    n->body = subparse({"endfilter"});
    next();
    expect_block_end();
    return n;
  }

  NodePtr parse_with() {
    NodePtr n = make(NodeKind::kWith, cur().line);
    next();
    while (cur().type != Tok::kBlockEnd) {
      if (!n->names.empty()) expect_op(",");
      n->names.push_back(expect_name());
      expect_op("=");
      n->kids.push_back(parse_expression(true));
    }
    expect_block_end();
    n->body = subparse({"endwith"});
    next();
    expect_block_end();
    return n;
  }

  // ----- expressions (jinja2/parser.py precedence) -----

  bool at_expression_end() const {
    const Token& t = cur();
    return t.type == Tok::kVarEnd || t.type == Tok::kBlockEnd || t.type == Tok::kEof ||
           (t.type == Tok::kOp && (t.text == ")" || t.text == "]" || t.text == "}"));
  }

  // expr (',' expr)* as a tuple when there is a comma (or when `explicit_parens` and empty).
  NodePtr parse_tuple(bool simplified_ok, bool explicit_parens, bool with_condexpr = true) {
    const int line = cur().line;
    std::vector<NodePtr> items;
    bool comma = false;
    for (;;) {
      if (!items.empty()) {
        if (!is_op(",")) break;
        next();
        comma = true;
      }
      if (at_expression_end() || (is_name("if") && !with_condexpr)) break;
      items.push_back(with_condexpr ? parse_expression(true) : parse_or());
    }
    (void)simplified_ok;
    if (!comma && items.size() == 1) return std::move(items[0]);
    if (items.empty() && !explicit_parens) error(line, fmt::format("expected an expression, got {}", describe(cur())));
    NodePtr n = make(NodeKind::kTuple, line);
    n->kids = std::move(items);
    return n;
  }

  NodePtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    if (!with_condexpr) return parse_or();
    NodePtr expr = parse_or();
    while (is_name("if")) {
      const int line = cur().line;
      next();
      NodePtr cond = parse_or();
      NodePtr alt;
      if (is_name("else")) {
        next();
        alt = parse_expression(true);
      }
      NodePtr n = make(NodeKind::kCond, line);
      n->kids.push_back(std::move(expr));
      n->kids.push_back(std::move(cond));
      n->kids.push_back(std::move(alt));
      expr = std::move(n);
    }
    return expr;
  }

  NodePtr binary(const std::string& op, NodePtr a, NodePtr b, int line) {
    NodePtr n = make(NodeKind::kBinary, line);
    n->name = op;
    n->kids.push_back(std::move(a));
    n->kids.push_back(std::move(b));
    return n;
  }

  NodePtr parse_or() {
    NodePtr left = parse_and();
    while (is_name("or")) {
      const int line = next().line;
      left = binary("or", std::move(left), parse_and(), line);
    }
    return left;
  }

  NodePtr parse_and() {
    NodePtr left = parse_not();
    while (is_name("and")) {
      const int line = next().line;
      left = binary("and", std::move(left), parse_not(), line);
    }
    return left;
  }

  NodePtr parse_not() {
    DepthGuard guard(*this);
    if (is_name("not")) {
      NodePtr n = make(NodeKind::kUnary, next().line);
      n->name = "not";
      n->kids.push_back(parse_not());
      return n;
    }
    return parse_compare();
  }

  NodePtr parse_compare() {
    const int line = cur().line;
    NodePtr first = parse_math1();
    NodePtr n;
    for (;;) {
      std::string op;
      if (cur().type == Tok::kOp && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                     cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
        op = next().text;
      } else if (is_name("in")) {
        next();
        op = "in";
      } else if (is_name("not") && peek().type == Tok::kName && peek().text == "in") {
        next();
        next();
        op = "notin";
      } else {
        break;
      }
      if (!n) {
        n = make(NodeKind::kCompare, line);
        n->kids.push_back(std::move(first));
      }
      n->ops.push_back(op);
      n->kids.push_back(parse_math1());
    }
    return n ? std::move(n) : std::move(first);
  }

  NodePtr parse_math1() {
    NodePtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token t = next();
      left = binary(t.text, std::move(left), parse_concat(), t.line);
    }
    return left;
  }

  NodePtr parse_concat() {
    NodePtr left = parse_math2();
    while (is_op("~")) {
      const int line = next().line;
      left = binary("~", std::move(left), parse_math2(), line);
    }
    return left;
  }

  NodePtr parse_math2() {
    NodePtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token t = next();
      left = binary(t.text, std::move(left), parse_pow(), t.line);
    }
    return left;
  }

  NodePtr parse_pow() {
    NodePtr left = parse_unary(true);
    while (is_op("**")) {
      const int line = next().line;
      left = binary("**", std::move(left), parse_unary(true), line);
    }
    return left;
  }

  NodePtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    NodePtr node;
    if (is_op("-") || is_op("+")) {
      const Token t = next();
      node = make(NodeKind::kUnary, t.line);
      node->name = t.text;
      node->kids.push_back(parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filter_expr(std::move(node));
    return node;
  }

  NodePtr parse_primary() {
    DepthGuard guard(*this);
    const Token t = cur();
    switch (t.type) {
      case Tok::kName: {
        next();
        NodePtr n = make(NodeKind::kConst, t.line);
        if (t.text == "true" || t.text == "True") {
          n->value = Value::boolean(true);
        } else if (t.text == "false" || t.text == "False") {
          n->value = Value::boolean(false);
        } else if (t.text == "none" || t.text == "None") {
          n->value = Value::none();
        } else {
          n->kind = NodeKind::kName;
          n->name = t.text;
        }
        return n;
      }
      case Tok::kString: {
        std::string s = next().text;
        while (cur().type == Tok::kString) s += next().text;
        NodePtr n = make(NodeKind::kConst, t.line);
        n->value = Value::string(std::move(s));
        return n;
      }
      case Tok::kInt: {
        next();
        NodePtr n = make(NodeKind::kConst, t.line);
        errno = 0;
        char* end = nullptr;
        const long long v = std::strtoll(t.text.c_str(), &end, 10);
        if (errno == ERANGE) error(t.line, fmt::format("integer literal {} does not fit in 64 bits", t.text));
        n->value = Value::integer(v);
        return n;
      }
      case Tok::kFloat: {
        next();
        NodePtr n = make(NodeKind::kConst, t.line);
        n->value = Value::number(std::strtod(t.text.c_str(), nullptr));
        return n;
      }
      case Tok::kOp:
        if (t.text == "(") {
          next();
          NodePtr n = parse_tuple(true, true);
          expect_op(")");
          return n;
        }
        if (t.text == "[") {
          next();
          NodePtr n = make(NodeKind::kList, t.line);
          while (!is_op("]")) {
            if (!n->kids.empty()) expect_op(",");
            if (is_op("]")) break;
            n->kids.push_back(parse_expression(true));
          }
          next();
          return n;
        }
        if (t.text == "{") {
          next();
          NodePtr n = make(NodeKind::kDict, t.line);
          while (!is_op("}")) {
            if (!n->kids.empty()) expect_op(",");
            if (is_op("}")) break;
            n->kids.push_back(parse_expression(true));
            expect_op(":");
            n->kids.push_back(parse_expression(true));
          }
          next();
          return n;
        }
        break;
      default:
        break;
    }
    error(t.line, fmt::format("unexpected {}", describe(t)));
  }

  NodePtr parse_postfix(NodePtr node) {
    for (;;) {
      if (is_op(".")) {
        const int line = next().line;
        if (cur().type == Tok::kName) {
          NodePtr n = make(NodeKind::kGetAttr, line);
          n->name = next().text;
          n->kids.push_back(std::move(node));
          node = std::move(n);
        } else if (cur().type == Tok::kInt) {
          NodePtr n = make(NodeKind::kGetItem, line);
          NodePtr idx = make(NodeKind::kConst, line);
          idx->value = Value::integer(std::strtoll(next().text.c_str(), nullptr, 10));
          n->kids.push_back(std::move(node));
          n->kids.push_back(std::move(idx));
          node = std::move(n);
        } else {
          error(line, fmt::format("expected a name after '.', got {}", describe(cur())));
        }
      } else if (is_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  NodePtr parse_subscript(NodePtr node) {
    const int line = next().line;  // '['
    std::vector<NodePtr> parts(3);
    bool slice = false;
    int part = 0;
    std::vector<NodePtr> tuple_items;
    for (;;) {
      if (is_op(":")) {
        next();
        slice = true;
        if (++part > 2) error(line, "too many ':' in a slice");
        continue;
      }
      if (is_op("]")) break;
      if (is_op(",") && !slice) {
        // Fuzz finding: "{{1[,]}}" pushed an empty item (a null node) into the tuple.
        if (!parts[0]) error(cur().line, "expected an expression before ',' in a subscript");
        next();
        tuple_items.push_back(std::move(parts[0]));
        continue;
      }
      if (parts[part]) error(cur().line, fmt::format("expected ':' or ']', got {}", describe(cur())));
      parts[part] = parse_expression(true);
    }
    next();
    if (slice) {
      NodePtr n = make(NodeKind::kSlice, line);
      n->kids.push_back(std::move(node));
      for (auto& p : parts) n->kids.push_back(std::move(p));
      return n;
    }
    NodePtr index;
    if (!tuple_items.empty()) {
      index = make(NodeKind::kTuple, line);
      index->kids = std::move(tuple_items);
      if (parts[0]) index->kids.push_back(std::move(parts[0]));
    } else {
      index = std::move(parts[0]);
    }
    if (!index) error(line, "empty subscript []");
    NodePtr n = make(NodeKind::kGetItem, line);
    n->kids.push_back(std::move(node));
    n->kids.push_back(std::move(index));
    return n;
  }

  // '(' args ')' into n->kids (after any existing kids) and n->kwargs.
  void parse_call_args(Node& n) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) error(cur().line, "*args / **kwargs in calls are not supported");
      if (cur().type == Tok::kName && peek().type == Tok::kOp && peek().text == "=") {
        std::string key = next().text;
        next();
        n.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!n.kwargs.empty()) error(cur().line, "positional argument follows keyword argument");
        n.kids.push_back(parse_expression(true));
      }
    }
    next();
  }

  NodePtr parse_call(NodePtr callee) {
    NodePtr n = make(NodeKind::kCall, cur().line);
    n->kids.push_back(std::move(callee));
    parse_call_args(*n);
    return n;
  }

  NodePtr parse_filter(NodePtr operand) {
    const int line = cur().line;
    std::string name = expect_name();
    while (is_op(".")) {
      next();
      name += "." + expect_name();
    }
    if (!known_filter(name)) error(line, fmt::format("unknown filter '{}'", name));
    NodePtr n = make(NodeKind::kFilter, line);
    n->name = std::move(name);
    n->kids.push_back(std::move(operand));
    if (is_op("(")) parse_call_args(*n);
    return n;
  }

  NodePtr parse_filter_expr(NodePtr node) {
    for (;;) {
      if (is_op("|")) {
        next();
        node = parse_filter(std::move(node));
      } else if (is_name("is")) {
        node = parse_test(std::move(node));
      } else if (is_op("(")) {
        node = parse_call(std::move(node));
      } else {
        return node;
      }
    }
  }

  NodePtr parse_test(NodePtr node) {
    const int line = next().line;  // 'is'
    NodePtr n = make(NodeKind::kTest, line);
    if (is_name("not")) {
      next();
      n->flag = true;
    }
    std::string name = expect_name();
    while (is_op(".")) {
      next();
      name += "." + expect_name();
    }
    if (!known_test(name)) error(line, fmt::format("unknown test '{}'", name));
    n->name = std::move(name);
    n->kids.push_back(std::move(node));
    if (is_op("(")) {
      parse_call_args(*n);
    } else {
      const Token& t = cur();
      const bool arg_start = t.type == Tok::kString || t.type == Tok::kInt || t.type == Tok::kFloat ||
                             (t.type == Tok::kOp && (t.text == "[" || t.text == "{")) ||
                             (t.type == Tok::kName && t.text != "else" && t.text != "or" && t.text != "and");
      if (arg_start) {
        if (is_name("is")) error(t.line, "You cannot chain multiple tests with is");
        n->kids.push_back(parse_postfix(parse_primary()));
      }
    }
    return n;
  }

  std::vector<Token> toks_;
  std::size_t pos_ = 0;
  const std::string& name_;
  const Limits& limits_;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

NodePtr parse_template(std::string_view source, const std::string& name, const Limits& limits) {
  if (source.size() > limits.max_source_bytes) {
    fail("{}: template size {} bytes: larger than the limit of {} bytes", name, source.size(), limits.max_source_bytes);
  }
  std::size_t bad_at = 0;
  if (!valid_utf8(source, bad_at)) {
    fail("{}:{}: invalid UTF-8 at byte {}", name, 1 + count_newlines(source.substr(0, bad_at)), bad_at);
  }
  // Jinja normalises \r\n and \r to \n and drops one trailing newline.
  std::string src;
  src.reserve(source.size());
  for (std::size_t k = 0; k < source.size(); ++k) {
    if (source[k] == '\r') {
      src.push_back('\n');
      if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
    } else {
      src.push_back(source[k]);
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  Lexer lexer(src, name);
  Parser parser(lexer.run(), name, limits);
  return parser.parse_root();
}

}  // namespace speclab::jinja
