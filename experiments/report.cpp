#include "experiments/report.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <tuple>
#include <type_traits>
#include <variant>

#include "base/error.h"
#include "base/input_file.h"
#include "experiments/projection.h"

namespace speclab {

namespace {

// ---- CSV writing ----

std::string cell(std::string_view s) {
  if (s.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

class CsvWriter {
 public:
  explicit CsvWriter(const std::vector<std::string>& header, bool with_header = true) {
    if (!with_header) return;
    for (const auto& h : header) add(h);
    end();
  }
  CsvWriter& add(std::string_view s) {
    if (!first_) out_ += ',';
    out_ += cell(s);
    first_ = false;
    return *this;
  }
  void end() {
    out_ += '\n';
    first_ = true;
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  bool first_ = true;
};

const char* bool_text(bool b) { return b ? "true" : "false"; }

// ---- schemas: one declaration per row type ----
//
// A schema is a table of columns in file order. A column names the row member it holds; the
// member's type decides how the cell is written and parsed (integers as "{}", doubles as "{}" =
// shortest round-trip text or with fixed digits, bools as true/false, strings RFC-4180 quoted,
// int lists ';'-separated). The header, the writer, the parser, the timing-column set and the
// handling of legacy files all derive from the table, so adding a column is one line here (plus
// the member).

struct NoJoin {};  // the joined row of schemas that have none

// A pointer to the member a column holds: a member of the row, or of the row it is joined with
// (steps.csv repeats its sequence's identifying columns).
template <typename Row, typename Joined>
using ColumnMember =
    std::variant<std::int32_t Row::*, std::int64_t Row::*, std::uint64_t Row::*, double Row::*, bool Row::*,
                 std::string Row::*, std::vector<std::int32_t> Row::*, std::int32_t Joined::*,
                 std::int64_t Joined::*, std::uint64_t Joined::*, double Joined::*, bool Joined::*,
                 std::string Joined::*, std::vector<std::int32_t> Joined::*>;

struct ColumnOptions {
  int digits = -1;                  // doubles: fixed digits after the point; -1 = shortest text
  bool timing = false;              // measured time: the only columns that vary between runs
  const char* if_absent = nullptr;  // legacy: the cell assumed when a file predates the column
};

// Columns of a Joined member are written from the joined row and not parsed back (the joined
// row's own file holds them); the parser only checks that the header has them.
template <typename Row, typename Joined = NoJoin>
struct Column {
  std::string_view name;
  ColumnMember<Row, Joined> member;
  ColumnOptions options = {};
};

constexpr ColumnOptions kTimingMs{.digits = 4, .timing = true};

constexpr Column<SequenceRow> kSequenceColumns[] = {
    {"unit", &SequenceRow::unit},
    {"config", &SequenceRow::config},
    {"rep", &SequenceRow::rep},
    {"prompt_set", &SequenceRow::prompt_set},
    {"prompt_id", &SequenceRow::prompt_id},
    {"turn", &SequenceRow::turn, {.if_absent = "1"}},  // issue 16: multi-turn questions
    {"category", &SequenceRow::category},
    {"temperature", &SequenceRow::temperature},
    {"top_k", &SequenceRow::top_k},
    {"top_p", &SequenceRow::top_p},
    {"seed", &SequenceRow::seed},
    {"drafter", &SequenceRow::drafter},
    {"params", &SequenceRow::params},
    {"rule", &SequenceRow::rule},
    {"lossless", &SequenceRow::lossless},
    {"budget", &SequenceRow::budget},
    {"depth_cap", &SequenceRow::depth_cap},
    {"budget_policy", &SequenceRow::budget_policy, {.if_absent = "fixed"}},  // issue 17
    {"prompt_tokens", &SequenceRow::prompt_tokens},
    {"new_tokens", &SequenceRow::new_tokens},
    {"target_forwards", &SequenceRow::target_forwards},
    {"drafted_tokens", &SequenceRow::drafted_tokens},
    {"accepted_tokens", &SequenceRow::accepted_tokens},
    {"stop", &SequenceRow::stop},
    {"tokens_hash", &SequenceRow::tokens_hash},
    {"prefill_ms", &SequenceRow::prefill_ms, kTimingMs},
    {"decode_ms", &SequenceRow::decode_ms, kTimingMs},
    {"draft_ms", &SequenceRow::draft_ms, kTimingMs},
    {"verify_ms", &SequenceRow::verify_ms, kTimingMs},
};

constexpr Column<StepRow, SequenceRow> kStepColumns[] = {
    {"unit", &StepRow::unit},
    {"config", &StepRow::config},
    {"rep", &SequenceRow::rep},
    {"prompt_set", &SequenceRow::prompt_set},
    {"prompt_id", &SequenceRow::prompt_id},
    {"turn", &StepRow::turn, {.if_absent = "1"}},  // issue 16
    {"drafter", &SequenceRow::drafter},
    {"params", &SequenceRow::params},
    {"rule", &SequenceRow::rule},
    {"budget", &SequenceRow::budget},
    {"depth_cap", &SequenceRow::depth_cap},
    {"budget_policy", &SequenceRow::budget_policy, {.if_absent = "fixed"}},  // issue 17
    {"temperature", &SequenceRow::temperature},
    {"step", &StepRow::step},
    {"n_drafted", &StepRow::n_drafted},
    {"tree_depth", &StepRow::tree_depth},
    {"n_accepted", &StepRow::n_accepted},
    {"n_emitted", &StepRow::n_emitted},
    {"bonus", &StepRow::bonus},
    {"drafted_by_depth", &StepRow::drafted_by_depth},
    {"accepted_rank", &StepRow::accepted_rank},
    {"draft_ms", &StepRow::draft_ms, kTimingMs},
    {"verify_ms", &StepRow::verify_ms, kTimingMs},
    {"exit_layer", &StepRow::exit_layer, {.if_absent = "0"}},  // added after the first release
    {"opt_accept_bound", &StepRow::opt_accept_bound, {.digits = 6, .if_absent = "nan"}},  // issue 15
};

constexpr Column<SummaryRow> kSummaryColumns[] = {
    {"model", &SummaryRow::model},
    {"config", &SummaryRow::config},
    {"drafter", &SummaryRow::drafter},
    {"params", &SummaryRow::params},
    {"rule", &SummaryRow::rule},
    {"lossless", &SummaryRow::lossless},
    {"budget", &SummaryRow::budget},
    {"depth_cap", &SummaryRow::depth_cap},
    {"budget_policy", &SummaryRow::budget_policy, {.if_absent = "fixed"}},  // issue 17
    {"temperature", &SummaryRow::temperature},
    {"top_k", &SummaryRow::top_k},
    {"top_p", &SummaryRow::top_p},
    {"n_sequences", &SummaryRow::n_sequences},
    {"new_tokens", &SummaryRow::new_tokens},
    {"target_forwards", &SummaryRow::target_forwards},
    {"tau", &SummaryRow::tau, {.digits = 6}},
    {"drafted_tokens", &SummaryRow::drafted_tokens},
    {"accepted_tokens", &SummaryRow::accepted_tokens},
    {"alpha", &SummaryRow::alpha, {.digits = 6}},
    {"tokens_per_s", &SummaryRow::tokens_per_s, {.digits = 2, .timing = true}},
    {"ar_tokens_per_s", &SummaryRow::ar_tokens_per_s, {.digits = 2, .timing = true}},
    {"speedup", &SummaryRow::speedup, {.digits = 4, .timing = true}},
    {"draft_ms_per_step", &SummaryRow::draft_ms_per_step, {.digits = 5, .timing = true}},
    {"verify_ms_per_step", &SummaryRow::verify_ms_per_step, {.digits = 5, .timing = true}},
    {"matches_ar", &SummaryRow::matches_ar},
};

constexpr Column<DepthRow> kDepthColumns[] = {
    {"config", &DepthRow::config},
    {"drafter", &DepthRow::drafter},
    {"params", &DepthRow::params},
    {"rule", &DepthRow::rule},
    {"budget", &DepthRow::budget},
    {"depth_cap", &DepthRow::depth_cap},
    {"budget_policy", &DepthRow::budget_policy, {.if_absent = "fixed"}},  // issue 17
    {"temperature", &DepthRow::temperature},
    {"depth", &DepthRow::depth},
    {"drafted_nodes", &DepthRow::drafted_nodes},
    {"trees_reaching", &DepthRow::trees_reaching},
    {"cond_trials", &DepthRow::cond_trials},
    {"accepted", &DepthRow::accepted},
    {"accept_rate", &DepthRow::accept_rate, {.digits = 6}},
    {"cond_accept_rate", &DepthRow::cond_accept_rate, {.digits = 6}},
    {"opt_accept_bound", &DepthRow::opt_accept_bound, {.digits = 6}},
};

constexpr Column<RankRow> kRankColumns[] = {
    {"config", &RankRow::config},
    {"drafter", &RankRow::drafter},
    {"params", &RankRow::params},
    {"rule", &RankRow::rule},
    {"budget", &RankRow::budget},
    {"depth_cap", &RankRow::depth_cap},
    {"budget_policy", &RankRow::budget_policy, {.if_absent = "fixed"}},  // issue 17
    {"temperature", &RankRow::temperature},
    {"rank", &RankRow::rank},
    {"accepted_nodes", &RankRow::accepted_nodes},
    {"share", &RankRow::share, {.digits = 6}},
};

constexpr Column<CategoryRow> kCategoryColumns[] = {
    {"config", &CategoryRow::config},
    {"drafter", &CategoryRow::drafter},
    {"params", &CategoryRow::params},
    {"rule", &CategoryRow::rule},
    {"lossless", &CategoryRow::lossless},
    {"budget", &CategoryRow::budget},
    {"depth_cap", &CategoryRow::depth_cap},
    {"budget_policy", &CategoryRow::budget_policy, {.if_absent = "fixed"}},  // issue 17
    {"temperature", &CategoryRow::temperature},
    {"category", &CategoryRow::category},
    {"n_sequences", &CategoryRow::n_sequences},
    {"new_tokens", &CategoryRow::new_tokens},
    {"target_forwards", &CategoryRow::target_forwards},
    {"tau", &CategoryRow::tau, {.digits = 6}},
    {"drafted_tokens", &CategoryRow::drafted_tokens},
    {"accepted_tokens", &CategoryRow::accepted_tokens},
    {"alpha", &CategoryRow::alpha, {.digits = 6}},
    {"drafting_steps", &CategoryRow::drafting_steps},
    {"mean_accept_len", &CategoryRow::mean_accept_len, {.digits = 6}},
    {"tokens_per_s", &CategoryRow::tokens_per_s, {.digits = 2, .timing = true}},
    {"ar_tokens_per_s", &CategoryRow::ar_tokens_per_s, {.digits = 2, .timing = true}},
    {"speedup", &CategoryRow::speedup, {.digits = 4, .timing = true}},
    {"matches_ar", &CategoryRow::matches_ar},
};

constexpr Column<AcceptHistRow> kAcceptHistColumns[] = {
    {"config", &AcceptHistRow::config},
    {"drafter", &AcceptHistRow::drafter},
    {"params", &AcceptHistRow::params},
    {"rule", &AcceptHistRow::rule},
    {"budget", &AcceptHistRow::budget},
    {"depth_cap", &AcceptHistRow::depth_cap},
    {"budget_policy", &AcceptHistRow::budget_policy, {.if_absent = "fixed"}},  // issue 17
    {"temperature", &AcceptHistRow::temperature},
    {"n_accepted", &AcceptHistRow::n_accepted},
    {"steps", &AcceptHistRow::steps},
    {"drafting_steps", &AcceptHistRow::drafting_steps},
    {"share", &AcceptHistRow::share, {.digits = 6}},
};

// True iff f(column) holds for some column of some schema.
template <typename F>
constexpr bool any_column(F f) {
  auto in = [&](const auto& columns) {
    for (const auto& c : columns) {
      if (f(c)) return true;
    }
    return false;
  };
  return in(kSequenceColumns) || in(kStepColumns) || in(kSummaryColumns) || in(kDepthColumns) ||
         in(kRankColumns) || in(kCategoryColumns) || in(kAcceptHistColumns);
}

template <typename Member>
struct MemberTraits;
template <typename Class, typename Value>
struct MemberTraits<Value Class::*> {
  using Row = Class;
  using Type = Value;
};

// The README's promise to scripts that filter columns by name.
constexpr bool named_as_timing(std::string_view n) {
  return n.ends_with("_ms") || n.ends_with("_per_s") || n.ends_with("_per_step") || n == "speedup";
}
static_assert(!any_column([](const auto& c) { return c.options.timing != named_as_timing(c.name); }),
              "a column is timing iff its name says so (_ms, _per_s, _per_step, speedup)");
constexpr bool holds_double(const auto& member) {
  return std::visit([](auto m) { return std::is_same_v<typename MemberTraits<decltype(m)>::Type, double>; }, member);
}
static_assert(!any_column([](const auto& c) { return c.options.digits >= 0 && !holds_double(c.member); }),
              "fixed digits are for double columns");

template <typename Row, typename Joined, std::size_t N>
constexpr bool unique_names(const Column<Row, Joined> (&columns)[N]) {
  for (std::size_t i = 0; i < N; ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (columns[i].name == columns[j].name) return false;
    }
  }
  return true;
}
static_assert(unique_names(kSequenceColumns) && unique_names(kStepColumns) && unique_names(kSummaryColumns) &&
                  unique_names(kDepthColumns) && unique_names(kRankColumns) && unique_names(kCategoryColumns) &&
                  unique_names(kAcceptHistColumns),
              "column names are unique within a file");

// ---- writing rows ----

std::string format_cell(std::int32_t v, int) { return fmt::format("{}", v); }
std::string format_cell(std::int64_t v, int) { return fmt::format("{}", v); }
std::string format_cell(std::uint64_t v, int) { return fmt::format("{}", v); }
std::string format_cell(double v, int digits) {
  return digits < 0 ? fmt::format("{}", v) : fmt::format("{:.{}f}", v, digits);
}
std::string format_cell(bool v, int) { return bool_text(v); }
std::string format_cell(const std::string& v, int) { return v; }
std::string format_cell(const std::vector<std::int32_t>& v, int) {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ";" : "") + std::to_string(v[i]);
  return s;
}

template <typename Row, typename Joined, std::size_t N>
std::vector<std::string> column_names(const Column<Row, Joined> (&columns)[N]) {
  std::vector<std::string> out;
  for (const auto& c : columns) out.emplace_back(c.name);
  return out;
}

template <typename Row, typename Joined, std::size_t N>
void write_cells(CsvWriter& w, const Column<Row, Joined> (&columns)[N], const Row& row, const Joined& joined) {
  for (const auto& c : columns) {
    std::visit(
        [&](auto member) {
          if constexpr (std::is_same_v<typename MemberTraits<decltype(member)>::Row, Row>) {
            w.add(format_cell(row.*member, c.options.digits));
          } else {
            w.add(format_cell(joined.*member, c.options.digits));
          }
        },
        c.member);
  }
}

template <typename Row, typename Joined, std::size_t N>
void write_row(CsvWriter& w, const Column<Row, Joined> (&columns)[N], const Row& row, const Joined& joined) {
  write_cells(w, columns, row, joined);
  w.end();
}

template <typename Row, std::size_t N>
std::string rows_csv(const Column<Row> (&columns)[N], const std::vector<Row>& rows, bool header = true) {
  CsvWriter w(column_names(columns), header);
  for (const auto& r : rows) write_row(w, columns, r, NoJoin{});
  return w.take();
}

// Projected speedups (issue 17): one trailing column projected_speedup_<name> per cost profile,
// after the schema's columns; cells from `values(row)` (one per profile), 4 digits.
constexpr std::string_view kProjectedPrefix = "projected_speedup_";

template <typename Row, std::size_t N, typename Values>
std::string rows_csv_projected(const Column<Row> (&columns)[N], const std::vector<Row>& rows, bool header,
                               const std::vector<std::string>& projections, const Values& values) {
  std::vector<std::string> names = column_names(columns);
  for (const auto& p : projections) names.push_back(std::string(kProjectedPrefix) + p);
  CsvWriter w(names, header);
  for (const auto& r : rows) {
    write_cells(w, columns, r, NoJoin{});
    const std::vector<double> v = values(r);
    SPECLAB_ASSERT(v.size() == projections.size());
    for (const double x : v) w.add(format_cell(x, 4));
    w.end();
  }
  return w.take();
}

// ---- reading rows ----

// Where a cell comes from, for error messages.
struct CellSource {
  const std::string& source;
  std::size_t line;
  std::string_view column;
};

void parse_cell(const std::string& s, std::int64_t& v, const CellSource& at) {
  try {
    std::size_t used = 0;
    v = std::stoll(s, &used);
    if (used == s.size()) return;
  } catch (const std::exception&) {
  }
  fail("{}:{}: column '{}' = '{}': not an integer", at.source, at.line, at.column, s);
}
void parse_cell(const std::string& s, std::int32_t& v, const CellSource& at) {
  std::int64_t wide = 0;
  parse_cell(s, wide, at);
  if (wide < std::numeric_limits<std::int32_t>::min() || wide > std::numeric_limits<std::int32_t>::max()) {
    fail("{}:{}: column '{}' = '{}': out of range for a 32-bit integer", at.source, at.line, at.column, s);
  }
  v = static_cast<std::int32_t>(wide);
}
void parse_cell(const std::string& s, std::uint64_t& v, const CellSource& at) {
  try {
    std::size_t used = 0;
    v = std::stoull(s, &used);
    if (used == s.size() && !s.empty() && s[0] != '-') return;
  } catch (const std::exception&) {
  }
  fail("{}:{}: column '{}' = '{}': not a non-negative integer", at.source, at.line, at.column, s);
}
void parse_cell(const std::string& s, double& v, const CellSource& at) {
  try {
    std::size_t used = 0;
    v = std::stod(s, &used);
    if (used == s.size()) return;
  } catch (const std::exception&) {
  }
  fail("{}:{}: column '{}' = '{}': not a number", at.source, at.line, at.column, s);
}
void parse_cell(const std::string& s, bool& v, const CellSource& at) {
  if (s != "true" && s != "false") {
    fail("{}:{}: column '{}' = '{}': must be true or false", at.source, at.line, at.column, s);
  }
  v = s == "true";
}
void parse_cell(const std::string& s, std::string& v, const CellSource&) { v = s; }
void parse_cell(const std::string& s, std::vector<std::int32_t>& v, const CellSource& at) {
  v.clear();
  if (s.empty()) return;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ';')) {
    try {
      std::size_t used = 0;
      const int x = std::stoi(item, &used);
      if (used != item.size()) throw std::invalid_argument("");
      v.push_back(x);
    } catch (const std::exception&) {
      fail("{}:{}: column '{}' = '{}': not a ';'-separated list of integers", at.source, at.line, at.column, s);
    }
  }
}

// The file column of each schema column (-1: a legacy column the file predates). The header must
// be the schema's names in order, legacy columns optional; otherwise Error naming the column.
template <typename Row, typename Joined, std::size_t N>
std::array<std::int32_t, N> locate_columns(const Column<Row, Joined> (&columns)[N],
                                           const std::vector<std::string>& header, const std::string& source) {
  const std::string schema = fmt::format("{}", fmt::join(column_names(columns), ","));
  std::array<std::int32_t, N> where{};
  std::size_t next = 0;  // next file column
  for (std::size_t k = 0; k < N; ++k) {
    const Column<Row, Joined>& c = columns[k];
    if (next < header.size() && header[next] == c.name) {
      where[k] = static_cast<std::int32_t>(next++);
      continue;
    }
    if (c.options.if_absent) {
      where[k] = -1;
      continue;
    }
    if (std::find(header.begin(), header.end(), c.name) == header.end()) {
      fail("{}: header: column '{}' missing (this speclab version's schema: {})", source, c.name, schema);
    }
    fail("{}: header: column {} is '{}' where the schema has '{}' (this speclab version's schema: {})", source,
         next + 1, next < header.size() ? header[next] : "", c.name, schema);
  }
  // Trailing projected_speedup_<profile> columns (issue 17) are derived values: not read back.
  while (next < header.size() && header[next].starts_with(kProjectedPrefix) &&
         header[next].size() > kProjectedPrefix.size()) {
    ++next;
  }
  if (next < header.size()) {
    fail("{}: header: unexpected column '{}' (this speclab version's schema: {})", source, header[next], schema);
  }
  return where;
}

// Parses the rows of a file written with `columns` (Joined columns are checked in the header only).
template <typename Row, typename Joined, std::size_t N>
std::vector<Row> parse_rows(const Column<Row, Joined> (&columns)[N], const std::string& text,
                            const std::string& source) {
  const CsvTable t = parse_csv(text, source);
  const std::array<std::int32_t, N> where = locate_columns(columns, t.header, source);
  std::vector<Row> out;
  out.reserve(t.rows.size());
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    Row r;
    for (std::size_t k = 0; k < N; ++k) {
      std::visit(
          [&](auto member) {
            if constexpr (std::is_same_v<typename MemberTraits<decltype(member)>::Row, Row>) {
              const CellSource at{source, i + 2, columns[k].name};
              if (where[k] >= 0) {
                parse_cell(t.rows[i][where[k]], r.*member, at);
              } else {
                parse_cell(std::string(columns[k].options.if_absent), r.*member, at);
              }
            }
          },
          columns[k].member);
    }
    out.push_back(std::move(r));
  }
  return out;
}

// ---- aggregation ----

struct GroupKey {
  std::int32_t config;
  double temperature;
  bool operator<(const GroupKey& o) const {
    return std::tie(config, temperature) < std::tie(o.config, o.temperature);
  }
};

// Group order: config, then temperature by first appearance in unit order.
std::vector<GroupKey> group_order(const std::vector<SequenceRow>& seqs) {
  std::vector<double> temps;
  for (const auto& s : seqs) {
    if (std::find(temps.begin(), temps.end(), s.temperature) == temps.end()) temps.push_back(s.temperature);
  }
  std::map<GroupKey, bool> present;
  for (const auto& s : seqs) present[{s.config, s.temperature}] = true;
  std::vector<GroupKey> keys;
  for (const auto& [k, _] : present) keys.push_back(k);
  std::stable_sort(keys.begin(), keys.end(), [&](const GroupKey& a, const GroupKey& b) {
    if (a.config != b.config) return a.config < b.config;
    return std::find(temps.begin(), temps.end(), a.temperature) <
           std::find(temps.begin(), temps.end(), b.temperature);
  });
  return keys;
}

template <typename Row>
void fill_ids(Row& r, const SequenceRow& s) {
  r.config = s.config;
  r.drafter = s.drafter;
  r.params = s.params;
  r.rule = s.rule;
  r.budget = s.budget;
  r.depth_cap = s.depth_cap;
  r.budget_policy = s.budget_policy;
  r.temperature = s.temperature;
}

// Sums of the sequences' projected times per profile (SequenceRow::projected_*_ms).
struct ProjectionSums {
  std::vector<double> ar, spec;
  std::vector<double> speedups() const {
    std::vector<double> out(ar.size(), 0.0);
    for (std::size_t k = 0; k < out.size(); ++k) out[k] = spec[k] > 0 ? ar[k] / spec[k] : 0.0;
    return out;
  }
};
void add_projection(ProjectionSums& p, const SequenceRow& s) {
  if (p.ar.size() < s.projected_ar_ms.size()) {
    p.ar.resize(s.projected_ar_ms.size(), 0.0);
    p.spec.resize(s.projected_ar_ms.size(), 0.0);
  }
  for (std::size_t k = 0; k < s.projected_ar_ms.size() && k < s.projected_spec_ms.size(); ++k) {
    p.ar[k] += s.projected_ar_ms[k];
    p.spec[k] += s.projected_spec_ms[k];
  }
}

// (unit, config, turn) -> sequence row index.
using SequenceKey = std::tuple<std::int32_t, std::int32_t, std::int32_t>;
std::map<SequenceKey, std::size_t> sequence_index(const std::vector<SequenceRow>& seqs) {
  std::map<SequenceKey, std::size_t> idx;
  for (std::size_t i = 0; i < seqs.size(); ++i) idx[{seqs[i].unit, seqs[i].config, seqs[i].turn}] = i;
  return idx;
}

}  // namespace

std::string tokens_hash(const std::vector<Token>& tokens) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64 offset basis
  for (Token t : tokens) {
    const auto u = static_cast<std::uint32_t>(t);
    for (int b = 0; b < 4; ++b) {
      h ^= (u >> (8 * b)) & 0xffu;
      h *= 0x100000001b3ULL;  // FNV prime
    }
  }
  return fmt::format("{:016x}", h);
}

bool is_timing_column(std::string_view name) {
  // projected_speedup_<profile>: scaled from the run's measured host work (projection.h).
  if (name.starts_with(kProjectedPrefix) && name.size() > kProjectedPrefix.size()) return true;
  return any_column([&](const auto& c) { return c.name == name && c.options.timing; });
}

std::int32_t CsvTable::column(std::string_view name) const {
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return static_cast<std::int32_t>(i);
  }
  return -1;
}

CsvTable parse_csv(const std::string& text, const std::string& source) {
  CsvTable t;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, any = false;
  std::size_t line = 1;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
      any = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !field.empty()) {
        row.push_back(std::move(field));
        rows.push_back(std::move(row));
      }
      field.clear();
      row.clear();
      any = false;
      ++line;
    } else {
      field += c;
      any = true;
    }
  }
  if (quoted) fail("{}: line {}: unterminated quoted field", source, line);
  if (any || !field.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  if (rows.empty()) fail("{}: empty CSV (no header)", source);
  t.header = std::move(rows[0]);
  for (std::size_t r = 1; r < rows.size(); ++r) {
    if (rows[r].size() != t.header.size()) {
      fail("{}: row {}: {} cells, header has {}", source, r + 1, rows[r].size(), t.header.size());
    }
    t.rows.push_back(std::move(rows[r]));
  }
  return t;
}

namespace {

std::string steps_text(const std::vector<StepRow>& rows, const std::vector<SequenceRow>& seqs, bool header) {
  const auto idx = sequence_index(seqs);
  CsvWriter w(column_names(kStepColumns), header);
  for (const auto& r : rows) {
    const auto it = idx.find({r.unit, r.config, r.turn});
    SPECLAB_ASSERT(it != idx.end());
    write_row(w, kStepColumns, r, seqs[it->second]);
  }
  return w.take();
}

}  // namespace

std::string sequences_csv(const std::vector<SequenceRow>& rows) { return rows_csv(kSequenceColumns, rows); }
std::string sequences_csv_projected(const std::vector<SequenceRow>& rows, const std::vector<std::string>& projections) {
  return rows_csv_projected(kSequenceColumns, rows, true, projections, [&](const SequenceRow& r) {
    std::vector<double> v(projections.size(), 0.0);
    for (std::size_t k = 0; k < v.size() && k < r.projected_spec_ms.size(); ++k) {
      v[k] = r.projected_spec_ms[k] > 0 ? r.projected_ar_ms[k] / r.projected_spec_ms[k] : 0.0;
    }
    return v;
  });
}
std::string sequences_csv_body(const std::vector<SequenceRow>& rows) {
  return rows_csv(kSequenceColumns, rows, false);
}

std::string steps_csv(const std::vector<StepRow>& rows, const std::vector<SequenceRow>& seqs) {
  return steps_text(rows, seqs, true);
}
std::string steps_csv_body(const std::vector<StepRow>& rows, const std::vector<SequenceRow>& seqs) {
  return steps_text(rows, seqs, false);
}

std::string summary_csv(const std::vector<SummaryRow>& rows) { return rows_csv(kSummaryColumns, rows); }
std::string summary_csv_projected(const std::vector<SummaryRow>& rows, const std::vector<std::string>& projections) {
  return rows_csv_projected(kSummaryColumns, rows, true, projections,
                            [](const SummaryRow& r) { return r.projected_speedup; });
}
std::string by_depth_csv(const std::vector<DepthRow>& rows) { return rows_csv(kDepthColumns, rows); }
std::string by_rank_csv(const std::vector<RankRow>& rows) { return rows_csv(kRankColumns, rows); }
std::string by_category_csv(const std::vector<CategoryRow>& rows) { return rows_csv(kCategoryColumns, rows); }
std::string by_category_csv_projected(const std::vector<CategoryRow>& rows,
                                      const std::vector<std::string>& projections) {
  return rows_csv_projected(kCategoryColumns, rows, true, projections,
                            [](const CategoryRow& r) { return r.projected_speedup; });
}
std::string accept_hist_csv(const std::vector<AcceptHistRow>& rows) { return rows_csv(kAcceptHistColumns, rows); }

std::vector<SequenceRow> parse_sequences_csv(const std::string& text, const std::string& source) {
  return parse_rows(kSequenceColumns, text, source);
}

std::vector<StepRow> parse_steps_csv(const std::string& text, const std::string& source) {
  std::vector<StepRow> out = parse_rows(kStepColumns, text, source);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const StepRow& r = out[i];
    if (static_cast<std::int32_t>(r.drafted_by_depth.size()) != r.tree_depth ||
        static_cast<std::int32_t>(r.accepted_rank.size()) != r.n_accepted || r.n_accepted > r.tree_depth) {
      fail("{}:{}: drafted_by_depth / accepted_rank lengths disagree with tree_depth = {} / n_accepted = {}",
           source, i + 2, r.tree_depth, r.n_accepted);
    }
  }
  return out;
}

std::vector<SummaryRow> parse_summary_csv(const std::string& text, const std::string& source) {
  return parse_rows(kSummaryColumns, text, source);
}
std::vector<DepthRow> parse_by_depth_csv(const std::string& text, const std::string& source) {
  return parse_rows(kDepthColumns, text, source);
}
std::vector<RankRow> parse_by_rank_csv(const std::string& text, const std::string& source) {
  return parse_rows(kRankColumns, text, source);
}
std::vector<CategoryRow> parse_by_category_csv(const std::string& text, const std::string& source) {
  return parse_rows(kCategoryColumns, text, source);
}
std::vector<AcceptHistRow> parse_accept_hist_csv(const std::string& text, const std::string& source) {
  return parse_rows(kAcceptHistColumns, text, source);
}

void sort_rows(std::vector<SequenceRow>& seqs, std::vector<StepRow>& steps) {
  std::stable_sort(seqs.begin(), seqs.end(), [](const SequenceRow& a, const SequenceRow& b) {
    return std::tie(a.unit, a.config, a.turn) < std::tie(b.unit, b.config, b.turn);
  });
  std::stable_sort(steps.begin(), steps.end(), [](const StepRow& a, const StepRow& b) {
    return std::tie(a.unit, a.config, a.turn, a.step) < std::tie(b.unit, b.config, b.turn, b.step);
  });
}

std::vector<SummaryRow> summarize(const std::vector<SequenceRow>& seqs, const std::string& model) {
  const auto idx = sequence_index(seqs);
  // Baseline throughput per temperature: summed AR new tokens / summed AR decode time.
  std::map<double, std::pair<double, double>> ar;  // temperature -> (tokens, ms)
  for (const auto& s : seqs) {
    if (s.config != 0) continue;
    ar[s.temperature].first += s.new_tokens;
    ar[s.temperature].second += s.decode_ms;
  }
  std::vector<SummaryRow> out;
  for (const GroupKey& key : group_order(seqs)) {
    SummaryRow r;
    r.model = model;
    ProjectionSums proj;
    double decode_ms = 0, draft_ms = 0, verify_ms = 0;
    bool first = true, all_match = true;
    for (const auto& s : seqs) {
      if (s.config != key.config || s.temperature != key.temperature) continue;
      if (first) {
        fill_ids(r, s);
        r.lossless = s.lossless;
        r.top_k = s.top_k;
        r.top_p = s.top_p;
        first = false;
      }
      ++r.n_sequences;
      r.new_tokens += s.new_tokens;
      r.target_forwards += s.target_forwards;
      r.drafted_tokens += s.drafted_tokens;
      r.accepted_tokens += s.accepted_tokens;
      decode_ms += s.decode_ms;
      draft_ms += s.draft_ms;
      verify_ms += s.verify_ms;
      add_projection(proj, s);
      const auto it = idx.find({s.unit, 0, s.turn});
      if (it == idx.end() || seqs[it->second].tokens_hash != s.tokens_hash) all_match = false;
    }
    r.tau = r.target_forwards > 0 ? double(r.new_tokens) / double(r.target_forwards) : 0.0;
    r.alpha = r.drafted_tokens > 0 ? double(r.accepted_tokens) / double(r.drafted_tokens) : 0.0;
    r.tokens_per_s = decode_ms > 0 ? r.new_tokens / (decode_ms / 1000.0) : 0.0;
    const auto a = ar.find(key.temperature);
    if (a != ar.end() && a->second.second > 0) r.ar_tokens_per_s = a->second.first / (a->second.second / 1000.0);
    r.speedup = r.ar_tokens_per_s > 0 ? r.tokens_per_s / r.ar_tokens_per_s : 0.0;
    r.draft_ms_per_step = r.target_forwards > 0 ? draft_ms / double(r.target_forwards) : 0.0;
    r.verify_ms_per_step = r.target_forwards > 0 ? verify_ms / double(r.target_forwards) : 0.0;
    r.matches_ar = (key.temperature == 0.0 && key.config != 0) ? bool_text(all_match) : "na";
    r.projected_speedup = proj.speedups();
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<DepthRow> acceptance_by_depth(const std::vector<SequenceRow>& seqs,
                                          const std::vector<StepRow>& steps) {
  const auto idx = sequence_index(seqs);
  std::map<GroupKey, std::vector<DepthRow>> acc;
  struct Mean {
    double sum = 0;
    std::int64_t n = 0;
    double mean() const { return n ? sum / double(n) : std::numeric_limits<double>::quiet_NaN(); }
  };
  std::map<GroupKey, Mean> bound_sum;  // depth-1 opt_accept_bound over the steps that have one
  for (const auto& st : steps) {
    const auto it = idx.find({st.unit, st.config, st.turn});
    if (it == idx.end()) {
      fail("steps: unit {} config {} turn {}: no matching sequence row", st.unit, st.config, st.turn);
    }
    const SequenceRow& s = seqs[it->second];
    auto& rows = acc[{s.config, s.temperature}];
    while (static_cast<std::int32_t>(rows.size()) < st.tree_depth) {
      DepthRow r;
      fill_ids(r, s);
      r.depth = static_cast<std::int32_t>(rows.size()) + 1;
      rows.push_back(std::move(r));
    }
    for (std::int32_t d = 1; d <= st.tree_depth; ++d) {
      DepthRow& r = rows[d - 1];
      r.drafted_nodes += st.drafted_by_depth[d - 1];
      ++r.trees_reaching;
      if (st.n_accepted >= d - 1) ++r.cond_trials;
      if (st.n_accepted >= d) ++r.accepted;
    }
    if (st.tree_depth >= 1 && !std::isnan(st.opt_accept_bound)) {
      Mean& m = bound_sum[{s.config, s.temperature}];
      m.sum += st.opt_accept_bound;
      ++m.n;
    }
  }
  std::vector<DepthRow> out;
  for (const GroupKey& key : group_order(seqs)) {
    auto it = acc.find(key);
    if (it == acc.end()) continue;
    const auto b = bound_sum.find(key);
    if (b != bound_sum.end() && !it->second.empty()) it->second[0].opt_accept_bound = b->second.mean();
    for (auto& r : it->second) {
      r.accept_rate = r.trees_reaching ? double(r.accepted) / double(r.trees_reaching) : 0.0;
      r.cond_accept_rate = r.cond_trials ? double(r.accepted) / double(r.cond_trials) : 0.0;
      out.push_back(r);
    }
  }
  return out;
}

std::vector<RankRow> acceptance_by_rank(const std::vector<SequenceRow>& seqs,
                                        const std::vector<StepRow>& steps) {
  const auto idx = sequence_index(seqs);
  std::map<GroupKey, std::vector<RankRow>> acc;
  std::map<GroupKey, std::int64_t> totals;
  for (const auto& st : steps) {
    const auto it = idx.find({st.unit, st.config, st.turn});
    if (it == idx.end()) {
      fail("steps: unit {} config {} turn {}: no matching sequence row", st.unit, st.config, st.turn);
    }
    const SequenceRow& s = seqs[it->second];
    const GroupKey key{s.config, s.temperature};
    auto& rows = acc[key];
    for (std::int32_t rank : st.accepted_rank) {
      while (static_cast<std::int32_t>(rows.size()) <= rank) {
        RankRow r;
        fill_ids(r, s);
        r.rank = static_cast<std::int32_t>(rows.size());
        rows.push_back(std::move(r));
      }
      ++rows[rank].accepted_nodes;
      ++totals[key];
    }
  }
  std::vector<RankRow> out;
  for (const GroupKey& key : group_order(seqs)) {
    auto it = acc.find(key);
    if (it == acc.end()) continue;
    for (auto& r : it->second) {
      r.share = totals[key] ? double(r.accepted_nodes) / double(totals[key]) : 0.0;
      out.push_back(r);
    }
  }
  return out;
}

std::vector<CategoryRow> summarize_by_category(const std::vector<SequenceRow>& seqs,
                                               const std::vector<StepRow>& steps) {
  const auto idx = sequence_index(seqs);
  std::vector<std::int64_t> drafting(seqs.size(), 0);  // per sequence: steps with a draft
  for (const auto& st : steps) {
    const auto it = idx.find({st.unit, st.config, st.turn});
    if (it == idx.end()) {
      fail("steps: unit {} config {} turn {}: no matching sequence row", st.unit, st.config, st.turn);
    }
    if (st.n_drafted > 0) ++drafting[it->second];
  }
  std::vector<std::string> categories;  // first appearance
  for (const auto& s : seqs) {
    if (std::find(categories.begin(), categories.end(), s.category) == categories.end()) {
      categories.push_back(s.category);
    }
  }
  std::vector<CategoryRow> out;
  for (const GroupKey& key : group_order(seqs)) {
    for (std::size_t c = 0; c <= categories.size(); ++c) {
      const bool overall = c == categories.size();
      auto in_scope = [&](const SequenceRow& s) {
        return s.temperature == key.temperature && (overall || s.category == categories[c]);
      };
      CategoryRow r;
      ProjectionSums proj;
      r.category = overall ? std::string("overall") : categories[c];
      double decode_ms = 0, ar_tokens = 0, ar_ms = 0;
      bool all_match = true;
      for (std::size_t i = 0; i < seqs.size(); ++i) {
        const SequenceRow& s = seqs[i];
        if (!in_scope(s)) continue;
        if (s.config == 0) {
          ar_tokens += s.new_tokens;
          ar_ms += s.decode_ms;
        }
        if (s.config != key.config) continue;
        if (r.n_sequences == 0) {
          fill_ids(r, s);
          r.lossless = s.lossless;
        }
        ++r.n_sequences;
        r.new_tokens += s.new_tokens;
        r.target_forwards += s.target_forwards;
        r.drafted_tokens += s.drafted_tokens;
        r.accepted_tokens += s.accepted_tokens;
        r.drafting_steps += drafting[i];
        decode_ms += s.decode_ms;
        add_projection(proj, s);
        const auto it = idx.find({s.unit, 0, s.turn});
        if (it == idx.end() || seqs[it->second].tokens_hash != s.tokens_hash) all_match = false;
      }
      if (r.n_sequences == 0) continue;
      r.tau = r.target_forwards > 0 ? double(r.new_tokens) / double(r.target_forwards) : 0.0;
      r.alpha = r.drafted_tokens > 0 ? double(r.accepted_tokens) / double(r.drafted_tokens) : 0.0;
      r.mean_accept_len = r.drafting_steps > 0 ? 1.0 + double(r.accepted_tokens) / double(r.drafting_steps) : 0.0;
      r.tokens_per_s = decode_ms > 0 ? r.new_tokens / (decode_ms / 1000.0) : 0.0;
      r.ar_tokens_per_s = ar_ms > 0 ? ar_tokens / (ar_ms / 1000.0) : 0.0;
      r.speedup = r.ar_tokens_per_s > 0 ? r.tokens_per_s / r.ar_tokens_per_s : 0.0;
      r.matches_ar = (key.temperature == 0.0 && key.config != 0) ? bool_text(all_match) : "na";
      r.projected_speedup = proj.speedups();
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::vector<AcceptHistRow> acceptance_histogram(const std::vector<SequenceRow>& seqs,
                                                const std::vector<StepRow>& steps) {
  const auto idx = sequence_index(seqs);
  struct Counts {
    std::vector<std::int64_t> steps, drafting;  // [n_accepted]
    std::int64_t total = 0;
    const SequenceRow* first = nullptr;
  };
  std::map<GroupKey, Counts> acc;
  for (const auto& st : steps) {
    const auto it = idx.find({st.unit, st.config, st.turn});
    if (it == idx.end()) {
      fail("steps: unit {} config {} turn {}: no matching sequence row", st.unit, st.config, st.turn);
    }
    const SequenceRow& s = seqs[it->second];
    Counts& c = acc[{s.config, s.temperature}];
    if (c.first == nullptr) c.first = &s;
    const auto k = static_cast<std::size_t>(std::max(st.n_accepted, 0));
    if (c.steps.size() <= k) {
      c.steps.resize(k + 1, 0);
      c.drafting.resize(k + 1, 0);
    }
    ++c.steps[k];
    if (st.n_drafted > 0) ++c.drafting[k];
    ++c.total;
  }
  std::vector<AcceptHistRow> out;
  for (const GroupKey& key : group_order(seqs)) {
    const auto it = acc.find(key);
    if (it == acc.end()) continue;
    const Counts& c = it->second;
    for (std::size_t k = 0; k < c.steps.size(); ++k) {
      AcceptHistRow r;
      fill_ids(r, *c.first);
      r.n_accepted = static_cast<std::int32_t>(k);
      r.steps = c.steps[k];
      r.drafting_steps = c.drafting[k];
      r.share = double(c.steps[k]) / double(c.total);
      out.push_back(std::move(r));
    }
  }
  return out;
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) fail("{}: cannot open for writing", path);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out) fail("{}: write failed", path);
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open: file not found or unreadable", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

// write() of the whole text, retried on EINTR and short writes; Error naming `path`.
void write_all(int fd, const std::string& text, const std::string& path) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("{}: write failed: {}", path, std::strerror(errno));
    done += static_cast<std::size_t>(n);
  }
}

void sync_and_close(int fd, const std::string& path) {
  while (::fsync(fd) != 0) {
    if (errno == EINTR) continue;
    if (errno == EINVAL || errno == EROFS) break;  // a file system without fsync: nothing to wait for
    const int e = errno;
    ::close(fd);
    fail("{}: fsync failed: {}", path, std::strerror(e));
  }
  if (::close(fd) != 0 && errno != EINTR) fail("{}: close failed: {}", path, std::strerror(errno));
}

}  // namespace

void replace_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail("{}: cannot open for writing: {}", tmp, std::strerror(errno));
  try {
    write_all(fd, text, tmp);
  } catch (...) {
    ::close(fd);
    throw;
  }
  sync_and_close(fd, tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail("{}: cannot rename to {}: {}", tmp, path, std::strerror(errno));
}

void append_file(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open for appending: {}", path, std::strerror(errno));
  try {
    write_all(fd, text, path);
  } catch (...) {
    ::close(fd);
    throw;
  }
  sync_and_close(fd, path);
}

std::size_t whole_csv_lines(std::string_view text) {
  std::size_t end = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '"') quoted = !quoted;  // "" inside a quoted cell toggles twice
    if (!quoted && text[i] == '\n') end = i + 1;
  }
  return end;
}

void write_records(const std::string& dir, std::vector<SequenceRow> seqs, std::vector<StepRow> steps) {
  create_output_directory(dir);
  sort_rows(seqs, steps);
  replace_file(dir + "/steps.csv", steps_csv(steps, seqs));
  replace_file(dir + "/sequences.csv", sequences_csv(seqs));
}

void append_records(const std::string& dir, const std::vector<SequenceRow>& seqs, const std::vector<StepRow>& steps) {
  append_file(dir + "/steps.csv", steps_csv_body(steps, seqs));
  append_file(dir + "/sequences.csv", sequences_csv_body(seqs));
}

void read_records(const std::string& dir, std::vector<SequenceRow>& seqs, std::vector<StepRow>& steps) {
  const std::string sp = dir + "/sequences.csv", tp = dir + "/steps.csv";
  seqs = parse_sequences_csv(read_input_file(sp), sp);
  steps = parse_steps_csv(read_input_file(tp), tp);
}

ReportSet write_reports(const std::string& dir, std::vector<SequenceRow> seqs,
                        std::vector<StepRow> steps, const std::string& model,
                        const std::vector<CostProfile>& profiles) {
  write_records(dir, std::move(seqs), std::move(steps));
  // Recompute from the text just written so single runs and merges agree to the byte.
  read_records(dir, seqs, steps);
  ReportSet rs;
  if (!profiles.empty()) {
    project_sequences(seqs, steps, profiles);
    for (const auto& p : profiles) rs.projections.push_back(p.name);
    replace_file(dir + "/sequences.csv", sequences_csv_projected(seqs, rs.projections));
  }
  rs.summary = summarize(seqs, model);
  rs.by_depth = acceptance_by_depth(seqs, steps);
  rs.by_rank = acceptance_by_rank(seqs, steps);
  rs.by_category = summarize_by_category(seqs, steps);
  rs.accept_hist = acceptance_histogram(seqs, steps);
  replace_file(dir + "/summary.csv", summary_csv_projected(rs.summary, rs.projections));
  replace_file(dir + "/by_depth.csv", by_depth_csv(rs.by_depth));
  replace_file(dir + "/by_rank.csv", by_rank_csv(rs.by_rank));
  replace_file(dir + "/by_category.csv", by_category_csv_projected(rs.by_category, rs.projections));
  replace_file(dir + "/accept_hist.csv", accept_hist_csv(rs.accept_hist));
  return rs;
}

ReportSet write_reports(const std::string& dir, std::vector<SequenceRow> seqs,
                        std::vector<StepRow> steps, const std::string& model) {
  return write_reports(dir, std::move(seqs), std::move(steps), model, std::vector<CostProfile>{});
}

}  // namespace speclab
