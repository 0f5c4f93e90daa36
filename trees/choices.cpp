#include "trees/choices.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "base/error.h"

namespace speclab {

std::int32_t TreeTemplate::max_depth() const {
  return depth.empty() ? 0 : *std::max_element(depth.begin(), depth.end());
}

void TreeTemplate::validate() const {
  const std::size_t n = parent.size();
  if (n == 0) fail("tree template: empty (it needs the root)");
  if (rank.size() != n || depth.size() != n) {
    fail("tree template: array sizes differ (parent {}, rank {}, depth {})", n, rank.size(),
         depth.size());
  }
  if (parent[0] != -1 || depth[0] != 0) fail("tree template: node 0 must be the root");
  std::set<std::pair<std::int32_t, std::int32_t>> seen;
  for (std::size_t i = 1; i < n; ++i) {
    if (parent[i] < 0 || static_cast<std::size_t>(parent[i]) >= i) {
      fail("tree template: node {} has parent {}: parents must precede children", i, parent[i]);
    }
    if (depth[i] != depth[parent[i]] + 1) fail("tree template: node {} has a wrong depth", i);
    if (depth[i] < depth[i - 1]) fail("tree template: node {} breaks breadth-first order", i);
    if (rank[i] < 0) fail("tree template: node {} has negative rank {}", i, rank[i]);
    if (!seen.insert({parent[i], rank[i]}).second) {
      fail("tree template: node {} repeats rank {} under parent {}", i, rank[i], parent[i]);
    }
  }
}

TreeTemplate root_template() { return TreeTemplate{{-1}, {0}, {0}}; }

namespace {

class ChoicesParser {
 public:
  explicit ChoicesParser(std::string_view s) : s_(s) {}

  std::vector<std::vector<std::int32_t>> parse() {
    std::vector<std::vector<std::int32_t>> out;
    expect('[');
    skip_ws();
    if (peek() == ']') {
      ++pos_;
    } else {
      while (true) {
        out.push_back(parse_path());
        skip_ws();
        if (peek() == ',') {
          ++pos_;
          continue;
        }
        expect(']');
        break;
      }
    }
    skip_ws();
    if (pos_ != s_.size()) error("trailing characters after the list");
    return out;
  }

 private:
  std::vector<std::int32_t> parse_path() {
    std::vector<std::int32_t> path;
    expect('[');
    skip_ws();
    if (peek() == ']') error("empty path [] (the root is implicit)");
    while (true) {
      path.push_back(parse_int());
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']');
      return path;
    }
  }

  std::int32_t parse_int() {
    skip_ws();
    const std::size_t start = pos_;
    if (peek() == '-') {
      ++pos_;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      error_at(start, fmt::format("negative rank {}: ranks are >= 0",
                                  std::string(s_.substr(start, pos_ - start))));
    }
    std::int64_t v = 0;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      v = v * 10 + (s_[pos_] - '0');
      if (v > 1000000) error_at(start, "rank too large (> 1000000)");
      ++pos_;
    }
    if (pos_ == start) error("expected a rank (non-negative integer)");
    return static_cast<std::int32_t>(v);
  }

  void skip_ws() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  char peek() {
    skip_ws();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  void expect(char c) {
    if (peek() != c) error(fmt::format("expected '{}'", c));
    ++pos_;
  }
  [[noreturn]] void error(const std::string& what) { error_at(pos_, what); }
  [[noreturn]] void error_at(std::size_t at, const std::string& what) {
    fail("tree choices '{}': at character {}: {}", s_, at, what);
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

}  // namespace

std::vector<std::vector<std::int32_t>> parse_choices(std::string_view text) {
  return ChoicesParser(text).parse();
}

std::string format_choices(const std::vector<std::vector<std::int32_t>>& choices) {
  std::string s = "[";
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (i) s += ",";
    s += "[";
    for (std::size_t j = 0; j < choices[i].size(); ++j) {
      if (j) s += ",";
      s += std::to_string(choices[i][j]);
    }
    s += "]";
  }
  return s + "]";
}

TreeTemplate template_from_choices(const std::vector<std::vector<std::int32_t>>& choices) {
  std::vector<std::vector<std::int32_t>> sorted = choices;
  for (const auto& path : sorted) {
    if (path.empty()) fail("tree choices: empty path (the root is implicit)");
    for (const std::int32_t r : path) {
      if (r < 0) fail("tree choices: path {} has negative rank {}", format_choices({path}), r);
    }
  }
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  TreeTemplate t = root_template();
  std::map<std::vector<std::int32_t>, std::int32_t> index;  // path -> node
  index[{}] = 0;
  for (const auto& path : sorted) {
    if (index.count(path)) fail("tree choices: duplicate path {}", format_choices({path}));
    const std::vector<std::int32_t> prefix(path.begin(), path.end() - 1);
    const auto it = index.find(prefix);
    if (it == index.end()) {
      fail("tree choices: path {} has no parent {}: the list must be prefix-closed",
           format_choices({path}), format_choices({prefix}));
    }
    const std::int32_t node = t.size();
    t.parent.push_back(it->second);
    t.rank.push_back(path.back());
    t.depth.push_back(static_cast<std::int32_t>(path.size()));
    index[path] = node;
  }
  return t;
}

std::vector<std::vector<std::int32_t>> choices_of(const TreeTemplate& t) {
  std::vector<std::vector<std::int32_t>> paths(t.size());
  for (std::int32_t i = 1; i < t.size(); ++i) {
    paths[i] = paths[t.parent[i]];
    paths[i].push_back(t.rank[i]);
  }
  paths.erase(paths.begin());
  return paths;
}

TreeTemplate template_from_branching(std::span<const std::int32_t> branching) {
  TreeTemplate t = root_template();
  std::int32_t level_begin = 0, level_end = 1;
  for (std::size_t d = 0; d < branching.size(); ++d) {
    if (branching[d] < 1) {
      fail("tree branching: factor {} at depth {}: must be >= 1", branching[d], d + 1);
    }
    if (static_cast<double>(level_end - level_begin) * branching[d] > 1e6) {
      fail("tree branching: more than 1e6 nodes at depth {}", d + 1);
    }
    for (std::int32_t u = level_begin; u < level_end; ++u) {
      for (std::int32_t r = 0; r < branching[d]; ++r) {
        t.parent.push_back(u);
        t.rank.push_back(r);
        t.depth.push_back(static_cast<std::int32_t>(d + 1));
      }
    }
    level_begin = level_end;
    level_end = t.size();
  }
  return t;
}

TreeTemplate cut_to_budget(const TreeTemplate& t, const DraftBudget& budget) {
  if (budget.max_nodes < 0) fail("draft budget: max_nodes = {}: must be >= 0", budget.max_nodes);
  if (budget.max_depth < 0) fail("draft budget: max_depth = {}: must be >= 0", budget.max_depth);
  TreeTemplate out = root_template();
  std::vector<std::int32_t> new_index(t.size(), -1);
  new_index[0] = 0;
  for (std::int32_t i = 1; i < t.size() && out.size() - 1 < budget.max_nodes; ++i) {
    if (budget.max_depth > 0 && t.depth[i] > budget.max_depth) continue;
    const std::int32_t par = new_index[t.parent[i]];
    if (par < 0) continue;  // its parent was cut (cannot happen for BFS templates)
    new_index[i] = out.size();
    out.parent.push_back(par);
    out.rank.push_back(t.rank[i]);
    out.depth.push_back(t.depth[i]);
  }
  return out;
}

}  // namespace speclab
