#include "experiments/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "base/error.h"

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
  explicit CsvWriter(const std::vector<std::string>& header) {
    for (const auto& h : header) add(h);
    end();
  }
  CsvWriter& add(std::string_view s) {
    if (!first_) out_ += ',';
    out_ += cell(s);
    first_ = false;
    return *this;
  }
  template <typename T>
  CsvWriter& num(T v) { return add(fmt::format("{}", v)); }
  CsvWriter& fixed(double v, int digits) { return add(fmt::format("{:.{}f}", v, digits)); }
  CsvWriter& list(const std::vector<std::int32_t>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ";" : "") + std::to_string(v[i]);
    return add(s);
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

const std::vector<std::string> kSequenceHeader = {
    "unit", "config", "rep", "prompt_set", "prompt_id", "category", "temperature", "top_k",
    "top_p", "seed", "drafter", "params", "rule", "lossless", "budget", "depth_cap",
    "prompt_tokens", "new_tokens", "target_forwards", "drafted_tokens", "accepted_tokens",
    "stop", "tokens_hash", "prefill_ms", "decode_ms", "draft_ms", "verify_ms"};

const std::vector<std::string> kStepHeader = {
    "unit", "config", "rep", "prompt_set", "prompt_id", "drafter", "params", "rule", "budget",
    "depth_cap", "temperature", "step", "n_drafted", "tree_depth", "n_accepted", "n_emitted",
    "bonus", "drafted_by_depth", "accepted_rank", "draft_ms", "verify_ms", "exit_layer"};

const std::vector<std::string> kSummaryHeader = {
    "model", "config", "drafter", "params", "rule", "lossless", "budget", "depth_cap",
    "temperature", "top_k", "top_p", "n_sequences", "new_tokens", "target_forwards", "tau",
    "drafted_tokens", "accepted_tokens", "alpha", "tokens_per_s", "ar_tokens_per_s", "speedup",
    "draft_ms_per_step", "verify_ms_per_step", "matches_ar"};

const std::vector<std::string> kDepthHeader = {
    "config", "drafter", "params", "rule", "budget", "depth_cap", "temperature", "depth",
    "drafted_nodes", "trees_reaching", "cond_trials", "accepted", "accept_rate",
    "cond_accept_rate"};

const std::vector<std::string> kRankHeader = {
    "config", "drafter", "params", "rule", "budget", "depth_cap", "temperature", "rank",
    "accepted_nodes", "share"};

// ---- CSV reading ----

struct RowReader {
  const CsvTable& t;
  const std::vector<std::string>& row;
  const std::string& source;
  std::size_t line;

  const std::string& str(const char* name) const {
    const std::int32_t c = t.column(name);
    if (c < 0) fail("{}: column '{}': missing", source, name);
    return row[c];
  }
  long long integer(const char* name) const {
    const std::string& s = str(name);
    try {
      std::size_t used = 0;
      const long long v = std::stoll(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
    fail("{}:{}: column '{}' = '{}': not an integer", source, line, name, s);
  }
  std::uint64_t u64(const char* name) const {
    const std::string& s = str(name);
    try {
      std::size_t used = 0;
      const unsigned long long v = std::stoull(s, &used);
      if (used == s.size() && !s.empty() && s[0] != '-') return v;
    } catch (const std::exception&) {
    }
    fail("{}:{}: column '{}' = '{}': not a non-negative integer", source, line, name, s);
  }
  double real(const char* name) const {
    const std::string& s = str(name);
    try {
      std::size_t used = 0;
      const double v = std::stod(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
    fail("{}:{}: column '{}' = '{}': not a number", source, line, name, s);
  }
  bool boolean(const char* name) const {
    const std::string& s = str(name);
    if (s == "true") return true;
    if (s == "false") return false;
    fail("{}:{}: column '{}' = '{}': must be true or false", source, line, name, s);
  }
  std::vector<std::int32_t> list(const char* name) const {
    std::vector<std::int32_t> out;
    const std::string& s = str(name);
    if (s.empty()) return out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ';')) {
      try {
        std::size_t used = 0;
        const int v = std::stoi(item, &used);
        if (used != item.size()) throw std::invalid_argument("");
        out.push_back(v);
      } catch (const std::exception&) {
        fail("{}:{}: column '{}' = '{}': not a ';'-separated list of integers", source, line, name, s);
      }
    }
    return out;
  }
};

void check_header(const CsvTable& t, const std::vector<std::string>& want, const std::string& source) {
  if (t.header != want) {
    fail("{}: header does not match this speclab version's schema (expected {} columns starting '{}')",
         source, want.size(), want[0]);
  }
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
  r.temperature = s.temperature;
}

// (unit, config) -> sequence row index.
std::map<std::pair<std::int32_t, std::int32_t>, std::size_t> sequence_index(const std::vector<SequenceRow>& seqs) {
  std::map<std::pair<std::int32_t, std::int32_t>, std::size_t> idx;
  for (std::size_t i = 0; i < seqs.size(); ++i) idx[{seqs[i].unit, seqs[i].config}] = i;
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

bool is_timing_column(std::string_view n) {
  auto ends = [&](std::string_view suf) {
    return n.size() >= suf.size() && n.substr(n.size() - suf.size()) == suf;
  };
  return ends("_ms") || ends("_per_s") || ends("_ms_per_step") || n == "speedup";
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

std::string sequences_csv(const std::vector<SequenceRow>& rows) {
  CsvWriter w(kSequenceHeader);
  for (const auto& r : rows) {
    w.num(r.unit).num(r.config).num(r.rep).add(r.prompt_set).add(r.prompt_id).add(r.category);
    w.num(r.temperature).num(r.top_k).num(r.top_p).num(r.seed);
    w.add(r.drafter).add(r.params).add(r.rule).add(bool_text(r.lossless)).num(r.budget).num(r.depth_cap);
    w.num(r.prompt_tokens).num(r.new_tokens).num(r.target_forwards).num(r.drafted_tokens).num(r.accepted_tokens);
    w.add(r.stop).add(r.tokens_hash);
    w.fixed(r.prefill_ms, 4).fixed(r.decode_ms, 4).fixed(r.draft_ms, 4).fixed(r.verify_ms, 4);
    w.end();
  }
  return w.take();
}

std::string steps_csv(const std::vector<StepRow>& rows, const std::vector<SequenceRow>& seqs) {
  const auto idx = sequence_index(seqs);
  CsvWriter w(kStepHeader);
  for (const auto& r : rows) {
    const auto it = idx.find({r.unit, r.config});
    SPECLAB_ASSERT(it != idx.end());
    const SequenceRow& s = seqs[it->second];
    w.num(r.unit).num(r.config).num(s.rep).add(s.prompt_set).add(s.prompt_id).add(s.drafter);
    w.add(s.params).add(s.rule).num(s.budget).num(s.depth_cap).num(s.temperature);
    w.num(r.step).num(r.n_drafted).num(r.tree_depth).num(r.n_accepted).num(r.n_emitted).num(r.bonus);
    w.list(r.drafted_by_depth).list(r.accepted_rank);
    w.fixed(r.draft_ms, 4).fixed(r.verify_ms, 4).num(r.exit_layer);
    w.end();
  }
  return w.take();
}

std::string summary_csv(const std::vector<SummaryRow>& rows) {
  CsvWriter w(kSummaryHeader);
  for (const auto& r : rows) {
    w.add(r.model).num(r.config).add(r.drafter).add(r.params).add(r.rule).add(bool_text(r.lossless));
    w.num(r.budget).num(r.depth_cap).num(r.temperature).num(r.top_k).num(r.top_p);
    w.num(r.n_sequences).num(r.new_tokens).num(r.target_forwards).fixed(r.tau, 6);
    w.num(r.drafted_tokens).num(r.accepted_tokens).fixed(r.alpha, 6);
    w.fixed(r.tokens_per_s, 2).fixed(r.ar_tokens_per_s, 2).fixed(r.speedup, 4);
    w.fixed(r.draft_ms_per_step, 5).fixed(r.verify_ms_per_step, 5).add(r.matches_ar);
    w.end();
  }
  return w.take();
}

std::string by_depth_csv(const std::vector<DepthRow>& rows) {
  CsvWriter w(kDepthHeader);
  for (const auto& r : rows) {
    w.num(r.config).add(r.drafter).add(r.params).add(r.rule).num(r.budget).num(r.depth_cap);
    w.num(r.temperature).num(r.depth).num(r.drafted_nodes).num(r.trees_reaching).num(r.cond_trials);
    w.num(r.accepted).fixed(r.accept_rate, 6).fixed(r.cond_accept_rate, 6);
    w.end();
  }
  return w.take();
}

std::string by_rank_csv(const std::vector<RankRow>& rows) {
  CsvWriter w(kRankHeader);
  for (const auto& r : rows) {
    w.num(r.config).add(r.drafter).add(r.params).add(r.rule).num(r.budget).num(r.depth_cap);
    w.num(r.temperature).num(r.rank).num(r.accepted_nodes).fixed(r.share, 6);
    w.end();
  }
  return w.take();
}

std::vector<SequenceRow> parse_sequences_csv(const std::string& text, const std::string& source) {
  const CsvTable t = parse_csv(text, source);
  check_header(t, kSequenceHeader, source);
  std::vector<SequenceRow> out;
  out.reserve(t.rows.size());
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    const RowReader g{t, t.rows[i], source, i + 2};
    SequenceRow r;
    r.unit = static_cast<std::int32_t>(g.integer("unit"));
    r.config = static_cast<std::int32_t>(g.integer("config"));
    r.rep = static_cast<std::int32_t>(g.integer("rep"));
    r.prompt_set = g.str("prompt_set");
    r.prompt_id = g.str("prompt_id");
    r.category = g.str("category");
    r.temperature = g.real("temperature");
    r.top_k = static_cast<std::int32_t>(g.integer("top_k"));
    r.top_p = g.real("top_p");
    r.seed = g.u64("seed");
    r.drafter = g.str("drafter");
    r.params = g.str("params");
    r.rule = g.str("rule");
    r.lossless = g.boolean("lossless");
    r.budget = static_cast<std::int32_t>(g.integer("budget"));
    r.depth_cap = static_cast<std::int32_t>(g.integer("depth_cap"));
    r.prompt_tokens = static_cast<std::int32_t>(g.integer("prompt_tokens"));
    r.new_tokens = static_cast<std::int32_t>(g.integer("new_tokens"));
    r.target_forwards = static_cast<std::int32_t>(g.integer("target_forwards"));
    r.drafted_tokens = g.integer("drafted_tokens");
    r.accepted_tokens = g.integer("accepted_tokens");
    r.stop = g.str("stop");
    r.tokens_hash = g.str("tokens_hash");
    r.prefill_ms = g.real("prefill_ms");
    r.decode_ms = g.real("decode_ms");
    r.draft_ms = g.real("draft_ms");
    r.verify_ms = g.real("verify_ms");
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<StepRow> parse_steps_csv(const std::string& text, const std::string& source) {
  const CsvTable t = parse_csv(text, source);
  // steps.csv written before the exit_layer column (the last one) existed stays readable.
  const bool has_exit = t.header == kStepHeader;
  if (!has_exit) {
    check_header(t, std::vector<std::string>(kStepHeader.begin(), kStepHeader.end() - 1), source);
  }
  std::vector<StepRow> out;
  out.reserve(t.rows.size());
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    const RowReader g{t, t.rows[i], source, i + 2};
    StepRow r;
    r.unit = static_cast<std::int32_t>(g.integer("unit"));
    r.config = static_cast<std::int32_t>(g.integer("config"));
    r.step = static_cast<std::int32_t>(g.integer("step"));
    r.n_drafted = static_cast<std::int32_t>(g.integer("n_drafted"));
    r.tree_depth = static_cast<std::int32_t>(g.integer("tree_depth"));
    r.n_accepted = static_cast<std::int32_t>(g.integer("n_accepted"));
    r.n_emitted = static_cast<std::int32_t>(g.integer("n_emitted"));
    r.bonus = static_cast<Token>(g.integer("bonus"));
    r.drafted_by_depth = g.list("drafted_by_depth");
    r.accepted_rank = g.list("accepted_rank");
    r.draft_ms = g.real("draft_ms");
    r.verify_ms = g.real("verify_ms");
    if (has_exit) r.exit_layer = static_cast<std::int32_t>(g.integer("exit_layer"));
    if (static_cast<std::int32_t>(r.drafted_by_depth.size()) != r.tree_depth ||
        static_cast<std::int32_t>(r.accepted_rank.size()) != r.n_accepted || r.n_accepted > r.tree_depth) {
      fail("{}:{}: drafted_by_depth / accepted_rank lengths disagree with tree_depth = {} / n_accepted = {}",
           source, i + 2, r.tree_depth, r.n_accepted);
    }
    out.push_back(std::move(r));
  }
  return out;
}

void sort_rows(std::vector<SequenceRow>& seqs, std::vector<StepRow>& steps) {
  std::stable_sort(seqs.begin(), seqs.end(), [](const SequenceRow& a, const SequenceRow& b) {
    return std::tie(a.unit, a.config) < std::tie(b.unit, b.config);
  });
  std::stable_sort(steps.begin(), steps.end(), [](const StepRow& a, const StepRow& b) {
    return std::tie(a.unit, a.config, a.step) < std::tie(b.unit, b.config, b.step);
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
      const auto it = idx.find({s.unit, 0});
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
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<DepthRow> acceptance_by_depth(const std::vector<SequenceRow>& seqs,
                                          const std::vector<StepRow>& steps) {
  const auto idx = sequence_index(seqs);
  std::map<GroupKey, std::vector<DepthRow>> acc;
  for (const auto& st : steps) {
    const auto it = idx.find({st.unit, st.config});
    if (it == idx.end()) fail("steps: unit {} config {}: no matching sequence row", st.unit, st.config);
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
  }
  std::vector<DepthRow> out;
  for (const GroupKey& key : group_order(seqs)) {
    auto it = acc.find(key);
    if (it == acc.end()) continue;
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
    const auto it = idx.find({st.unit, st.config});
    if (it == idx.end()) fail("steps: unit {} config {}: no matching sequence row", st.unit, st.config);
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

void read_records(const std::string& dir, std::vector<SequenceRow>& seqs, std::vector<StepRow>& steps) {
  const std::string sp = dir + "/sequences.csv", tp = dir + "/steps.csv";
  seqs = parse_sequences_csv(read_text_file(sp), sp);
  steps = parse_steps_csv(read_text_file(tp), tp);
}

ReportSet write_reports(const std::string& dir, std::vector<SequenceRow> seqs,
                        std::vector<StepRow> steps, const std::string& model) {
  std::filesystem::create_directories(dir);
  sort_rows(seqs, steps);
  write_text_file(dir + "/sequences.csv", sequences_csv(seqs));
  write_text_file(dir + "/steps.csv", steps_csv(steps, seqs));
  // Recompute from the text just written so single runs and merges agree to the byte.
  read_records(dir, seqs, steps);
  ReportSet rs;
  rs.summary = summarize(seqs, model);
  rs.by_depth = acceptance_by_depth(seqs, steps);
  rs.by_rank = acceptance_by_rank(seqs, steps);
  write_text_file(dir + "/summary.csv", summary_csv(rs.summary));
  write_text_file(dir + "/by_depth.csv", by_depth_csv(rs.by_depth));
  write_text_file(dir + "/by_rank.csv", by_rank_csv(rs.by_rank));
  return rs;
}

}  // namespace speclab
