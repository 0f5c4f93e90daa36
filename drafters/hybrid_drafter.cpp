#include "drafters/hybrid_drafter.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "base/error.h"
#include "base/json_input.h"
#include "drafters/registry.h"

namespace speclab {

namespace {

constexpr DrafterKey kHybridKeys[] = {
    {"parts", "", "2 to 4 drafter specs joined by '+' (required); [a:x=1,y=2+b] when a spec has commas"},
    {"state", "cold", "cold|warm: given to every part with cross-prompt state; warm also keeps the calibration"},
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Applies the hybrid's state to a part with cross-prompt state.
std::string with_state(const std::string& spec, bool warm) {
  const DrafterParams p = DrafterParams::parse(spec);
  const DrafterKind* kind = find_drafter_kind(p.drafter());
  if (kind == nullptr || !kind->cross_prompt_state) return spec;
  auto values = p.values();
  values["state"] = warm ? "warm" : "cold";
  return DrafterParams(p.drafter(), values).to_string();
}

HybridOptions read_hybrid(ParamReader& r, const DrafterEnv& env) {
  HybridOptions o;
  o.env = env;
  o.warm = r.get_choice("state", "cold", {"cold", "warm"}) == "warm";
  const std::string value = r.get_string("parts", "");
  if (value.empty()) {
    r.problem("parts", "", "required: 2 to 4 drafter specs joined by '+' (e.g. parts=ngram+sam)");
    return o;
  }
  std::vector<std::string> parts;
  try {
    parts = split_hybrid_parts(value);
  } catch (const Error& e) {
    r.problem("parts", value, e.what());
    return o;
  }
  if (parts.size() < 2 || parts.size() > static_cast<std::size_t>(HybridDrafter::kMaxParts)) {
    r.problem("parts", value, fmt::format("{} parts: give 2 to {}", parts.size(), HybridDrafter::kMaxParts));
    return o;
  }
  for (const auto& part : parts) {
    try {
      const DrafterParams p = DrafterParams::parse(part);
      if (is_autoregressive(p.drafter()) || p.drafter() == "hybrid") {
        r.problem("parts", part, "a part must be a drafter other than none and hybrid");
        continue;
      }
      if (p.drafter() == "early-exit" || p.drafter() == "del") {
        r.problem("parts", part, "self-speculative drafters leave rows in the target's cache and cannot be merged");
        continue;
      }
      if (p.has("state")) {
        r.problem("parts", part, "set state= on the hybrid (it applies to every part with cross-prompt state)");
        continue;
      }
      for (const auto& problem : drafter_spec_problems(p, env)) r.problem("parts", part, problem);
      o.parts.push_back(with_state(part, o.warm));
    } catch (const Error& e) {
      r.problem("parts", part, e.what());
    }
  }
  return o;
}

const HybridOptions& hybrid_options(const DrafterOptions& o) { return std::any_cast<const HybridOptions&>(o); }

}  // namespace

std::vector<std::string> split_hybrid_parts(const std::string& value) {
  std::vector<std::string> out;
  std::string_view v = trim(value);
  if (!v.empty() && v.front() == '[') {
    if (v.size() > 1 && v[1] == '"') {  // a JSON list of strings (spec files' object form)
      const nlohmann::json j = parse_json(v, "parts");
      if (!j.is_array()) fail("parts = {}: must be a list of drafter specs", quote_untrusted(value));
      for (const auto& e : j) out.push_back(json_string(e, "parts", "entry"));
      return out;
    }
    if (v.back() != ']') fail("parts = {}: '[' without a closing ']'", quote_untrusted(value));
    v = v.substr(1, v.size() - 2);
  }
  std::size_t start = 0;
  int depth = 0;
  for (std::size_t i = 0; i <= v.size(); ++i) {
    if (i < v.size() && (v[i] == '[' || v[i] == '(')) ++depth;
    if (i < v.size() && (v[i] == ']' || v[i] == ')')) --depth;
    if (i == v.size() || (v[i] == '+' && depth == 0)) {
      const std::string_view part = trim(v.substr(start, i - start));
      if (part.empty()) fail("parts = {}: empty drafter spec between '+'", quote_untrusted(value));
      out.emplace_back(part);
      start = i + 1;
    }
  }
  return out;
}

const DrafterKind& hybrid_drafter_kind() {
  static const DrafterKind kind{
      .name = "hybrid",
      .summary = "several drafters under one budget: their trees merged, nodes taken by calibrated acceptance estimates",
      .keys = kHybridKeys,
      .cross_prompt_state = true,
      .parse = [](ParamReader& r, const DrafterEnv& env) -> DrafterOptions { return read_hybrid(r, env); },
      // Building loads the parts: their own checks (files) run through make_drafter.
      .check = [](const DrafterOptions& o, const DrafterEnv&) {
        for (const auto& part : hybrid_options(o).parts) validate_drafter_spec(part, hybrid_options(o).env);
      },
      .make = [](const DrafterOptions& o, const DrafterEnv&) -> std::unique_ptr<Drafter> {
        return std::make_unique<HybridDrafter>(hybrid_options(o));
      },
      .children = [](const DrafterOptions&, const SamplingParams&) { return ChildSampling::kDeterministic; },
  };
  return kind;
}

HybridDrafter::HybridDrafter(const HybridOptions& options) : options_(options) {
  if (options_.parts.size() < 2 || options_.parts.size() > static_cast<std::size_t>(kMaxParts)) {
    fail("drafter hybrid: parts: {} given: must be 2 to {}", options_.parts.size(), kMaxParts);
  }
  for (const auto& spec : options_.parts) {
    std::unique_ptr<Drafter> d;
    try {
      d = make_drafter(spec, options_.env);
    } catch (const Error& e) {
      fail("drafter hybrid: part '{}': {}", quote_untrusted(spec), e.what());
    }
    SPECLAB_ASSERT(d != nullptr);
    const DrafterNeeds n = d->needs();
    if (n.self_speculative) fail("drafter hybrid: part '{}': self-speculative drafters cannot be merged", spec);
    needs_.target_hidden |= n.target_hidden;
    needs_.target_layer_hidden |= n.target_layer_hidden;
    if (n.target_features) {
      if (needs_.target_features && n.feature_layers != needs_.feature_layers) {
        fail("drafter hybrid: part '{}' reads target features of layers [{}], an earlier part of [{}]: parts must "
             "read the same features",
             spec, fmt::join(n.feature_layers, ","), fmt::join(needs_.feature_layers, ","));
      }
      needs_.feature_layers = n.feature_layers;
    }
    needs_.target_features |= n.target_features;
    // Its calibration and its parts' observe() read the merged tree it proposed.
    needs_.fixed_tree = true;
    parts_.push_back(std::move(d));
  }
  part_trees_.resize(parts_.size());
  cells_.assign(parts_.size() * kMaxDepth * kRanks, Cell{});
  std::vector<std::string> names;
  for (const auto& p : parts_) names.emplace_back(p->name());
  name_ = fmt::format("hybrid:parts=[{}],state={}", fmt::join(names, "+"), options_.warm ? "warm" : "cold");
}

HybridDrafter::Cell& HybridDrafter::cell(int p, int depth, int rank) {
  const int d = std::clamp(depth, 1, kMaxDepth) - 1, r = std::clamp(rank, 0, kRanks - 1);
  return cells_[(static_cast<std::size_t>(p) * kMaxDepth + d) * kRanks + r];
}

double HybridDrafter::rate(int p, int depth, int rank) const {
  const Cell& c = const_cast<HybridDrafter*>(this)->cell(p, depth, rank);
  return (c.hits + 1.0) / (c.tries + 2.0);
}

void HybridDrafter::reset_calibration() { std::fill(cells_.begin(), cells_.end(), Cell{}); }

void HybridDrafter::begin(std::span<const Token> prompt) {
  if (!options_.warm) reset_calibration();
  for (auto& p : parts_) p->begin(prompt);
}

DraftFacts HybridDrafter::propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) {
  SPECLAB_ASSERT(!ctx.tokens.empty());
  const Token root = ctx.tokens.back();
  const bool greedy = ctx.sampling == nullptr || ctx.sampling->greedy();
  // The merged trie: node 0 = root.
  m_token_.assign(1, root);
  m_parent_.assign(1, -1);
  m_depth_.assign(1, 0);
  m_first_child_.assign(1, -1);
  m_next_sibling_.assign(1, -1);
  m_value_.assign(1, 1.0f);
  m_rank_.assign(1, {-1, -1, -1, -1});
  for (std::size_t p = 0; p < parts_.size(); ++p) {
    DraftTree& t = part_trees_[p];
    parts_[p]->propose(ctx, budget, t);
    SPECLAB_ASSERT(t.size() >= 1 && t.token[0] == root);
    if (!greedy && t.size() > 1 && t.children != ChildSampling::kDeterministic) {
      fail("drafter hybrid: part '{}' samples its children at temperature {}: hybrid merges fixed candidates only",
           parts_[p]->name(), ctx.sampling->temperature);
    }
    map_.assign(static_cast<std::size_t>(t.size()), 0);
    part_value_.assign(static_cast<std::size_t>(t.size()), 1.0f);
    for (std::int32_t i = 1; i < t.size(); ++i) {  // parents come before children
      const std::int32_t tp = t.parent[i], mp = map_[tp];
      std::int32_t rank = 0;
      for (std::int32_t j = i - 1; j > tp; --j) rank += t.parent[j] == tp;
      const float v = part_value_[tp] * static_cast<float>(rate(static_cast<int>(p), t.depth[i], rank));
      part_value_[i] = v;
      std::int32_t m = m_first_child_[mp], last = -1;
      while (m >= 0 && m_token_[m] != t.token[i]) {
        last = m;
        m = m_next_sibling_[m];
      }
      if (m < 0) {
        m = static_cast<std::int32_t>(m_token_.size());
        m_token_.push_back(t.token[i]);
        m_parent_.push_back(mp);
        m_depth_.push_back(m_depth_[mp] + 1);
        m_first_child_.push_back(-1);
        m_next_sibling_.push_back(-1);
        m_value_.push_back(0.0f);
        m_rank_.push_back({-1, -1, -1, -1});
        if (last < 0) m_first_child_[mp] = m; else m_next_sibling_[last] = m;
      }
      m_value_[m] = std::max(m_value_[m], v);
      std::int8_t& r = m_rank_[m][p];
      if (r < 0) r = static_cast<std::int8_t>(std::min(rank, 127));
      map_[i] = m;
    }
  }
  out.reset(root, ChildSampling::kDeterministic);
  out_rank_.assign(1, {-1, -1, -1, -1});
  const auto n = static_cast<std::int32_t>(m_token_.size());
  order_.clear();
  for (std::int32_t i = 1; i < n; ++i) order_.push_back(i);
  // A child's value never exceeds its parent's (rates <= 1, parents take the max), and ties go
  // to the shallower node: every prefix of this order is a tree.
  std::sort(order_.begin(), order_.end(), [&](std::int32_t a, std::int32_t b) {
    if (m_value_[a] != m_value_[b]) return m_value_[a] > m_value_[b];
    if (m_depth_[a] != m_depth_[b]) return m_depth_[a] < m_depth_[b];
    return a < b;
  });
  m_out_.assign(static_cast<std::size_t>(n), -1);
  m_out_[0] = 0;
  const std::int32_t take = std::min<std::int32_t>(budget.max_nodes, n - 1);
  for (std::int32_t k = 0; k < take; ++k) {
    const std::int32_t m = order_[k];
    const std::int32_t par = m_out_[m_parent_[m]];
    SPECLAB_ASSERT(par >= 0);
    m_out_[m] = out.add(m_token_[m], par, std::log(m_value_[m]));
    out_rank_.push_back(m_rank_[m]);
  }
  return {};
}

void HybridDrafter::observe(const StepFeedback& fb) {
  const DraftTree& t = *fb.tree;
  if (static_cast<std::int32_t>(out_rank_.size()) == t.size()) {  // calibrate on our own tree
    accepted_.assign(static_cast<std::size_t>(t.size()), 0);
    for (const std::int32_t i : fb.acceptance->path) accepted_[static_cast<std::size_t>(i)] = 1;
    for (std::int32_t i = 1; i < t.size(); ++i) {
      if (!accepted_[static_cast<std::size_t>(t.parent[i])]) continue;  // never got its chance
      for (std::size_t p = 0; p < parts_.size(); ++p) {
        const int rank = out_rank_[static_cast<std::size_t>(i)][p];
        if (rank < 0) continue;
        Cell& c = cell(static_cast<int>(p), t.depth[i], rank);
        c.tries += 1;
        c.hits += accepted_[static_cast<std::size_t>(i)];
      }
    }
  }
  for (auto& p : parts_) p->observe(fb);
}

}  // namespace speclab
