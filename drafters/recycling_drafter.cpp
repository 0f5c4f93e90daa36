#include "drafters/recycling_drafter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include "base/error.h"
#include "base/input_file.h"
#include "trees/choices.h"

namespace speclab {
namespace {

constexpr char kMagic[8] = {'S', 'P', 'L', 'T', 'R', 'C', 'Y', '1'};
constexpr std::uint32_t kVersion = 1;
constexpr std::int32_t kMaxTemplateNodes = 4096;

// Fitted so the 80 best paths of depth <= 6 have level sizes 8,21,25,13,11,2, near the paper's
// default tree (8,21,25,15,8,3).
constexpr double kRankProfile[8] = {0.55, 0.15, 0.095, 0.062, 0.0422, 0.0303, 0.0232, 0.0189};

void finish_template(RecyclingTemplate& t) {
  t.depth.assign(t.parent.size(), 0);
  for (std::size_t i = 1; i < t.parent.size(); ++i) t.depth[i] = t.depth[t.parent[i]] + 1;
}

}  // namespace

std::int32_t RecyclingTemplate::max_depth() const {
  return depth.empty() ? 0 : *std::max_element(depth.begin(), depth.end());
}

std::vector<std::int32_t> RecyclingTemplate::level_sizes() const {
  std::vector<std::int32_t> sizes(max_depth(), 0);
  for (std::size_t i = 1; i < depth.size(); ++i) ++sizes[depth[i] - 1];
  return sizes;
}

double recycling_rank_profile(std::int32_t rank) {
  SPECLAB_ASSERT(rank >= 0);
  if (rank < 8) return kRankProfile[rank];
  return kRankProfile[7] * std::pow(0.8, rank - 7);
}

RecyclingTemplate recycling_auto_template(std::int32_t n_nodes, std::int32_t max_depth,
                                          std::int32_t k) {
  SPECLAB_ASSERT(n_nodes >= 0 && max_depth >= 1 && k >= 1);
  RecyclingTemplate t;
  t.parent = {-1};
  t.rank = {0};
  std::vector<double> score = {1.0};
  std::vector<std::int32_t> depth = {0};
  // Frontier of (parent, rank) not yet taken; the best-scoring entry is taken each round.
  // O(n_nodes * frontier): run once at construction.
  struct Cand { std::int32_t parent, rank; double score; };
  std::vector<Cand> frontier;
  for (std::int32_t r = 0; r < k; ++r) frontier.push_back({0, r, recycling_rank_profile(r)});
  while (t.size() - 1 < n_nodes && !frontier.empty()) {
    std::size_t best = 0;
    for (std::size_t i = 1; i < frontier.size(); ++i) {
      const Cand& a = frontier[i];
      const Cand& b = frontier[best];
      // Ties: shallower first, then earlier parent, then lower rank (deterministic).
      if (a.score > b.score ||
          (a.score == b.score && (depth[a.parent] < depth[b.parent] ||
                                  (depth[a.parent] == depth[b.parent] &&
                                   (a.parent < b.parent ||
                                    (a.parent == b.parent && a.rank < b.rank)))))) {
        best = i;
      }
    }
    const Cand c = frontier[best];
    frontier.erase(frontier.begin() + static_cast<std::ptrdiff_t>(best));
    const auto id = t.size();
    t.parent.push_back(c.parent);
    t.rank.push_back(c.rank);
    score.push_back(c.score);
    depth.push_back(depth[c.parent] + 1);
    if (depth[id] < max_depth) {
      for (std::int32_t r = 0; r < k; ++r) {
        frontier.push_back({id, r, c.score * recycling_rank_profile(r)});
      }
    }
  }
  finish_template(t);
  return t;
}

std::vector<std::int32_t> parse_branching(std::string_view text, std::string_view what) {
  std::vector<std::int32_t> out;
  std::size_t i = 0;
  if (text.empty()) fail("{} = '': empty branching list", what);
  while (i <= text.size()) {
    std::size_t j = i;
    std::int64_t v = 0;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') {
      v = v * 10 + (text[j] - '0');
      if (v > kMaxTemplateNodes) fail("{} = {}: branching factor too large (max {})", what, text, kMaxTemplateNodes);
      ++j;
    }
    if (j == i) fail("{} = {}: expected factors like 8x2x1 (or 8-2-1)", what, text);
    if (v < 1) fail("{} = {}: branching factors must be >= 1", what, text);
    out.push_back(static_cast<std::int32_t>(v));
    if (j == text.size()) break;
    if (text[j] != 'x' && text[j] != '-') {
      fail("{} = {}: expected factors like 8x2x1 (or 8-2-1)", what, text);
    }
    i = j + 1;
    if (i == text.size()) fail("{} = {}: trailing separator", what, text);
  }
  return out;
}

RecyclingTemplate recycling_branching_template(std::span<const std::int32_t> branching) {
  if (branching.empty()) fail("recycling: branching list is empty");
  std::int64_t level = 1, total = 0;
  for (const std::int32_t b : branching) {
    if (b < 1) fail("recycling: branching factor {}: must be >= 1", b);
    level *= b;
    total += level;
    if (total > kMaxTemplateNodes) {
      fail("recycling: branching template exceeds {} nodes", kMaxTemplateNodes);
    }
  }
  const TreeTemplate shape = template_from_branching(branching);  // trees/choices.h, BFS order
  RecyclingTemplate t;
  t.parent = shape.parent;
  t.rank = shape.rank;
  t.depth = shape.depth;
  return t;
}

RecyclingTemplate recycling_choices_template(std::string_view text, std::string_view what) {
  // Parsing and shape checks are trees/choices.h's; errors are re-thrown naming the key.
  TreeTemplate shape;
  try {
    shape = template_from_choices(parse_choices(text));
  } catch (const Error& e) {
    fail("{} = {}: {}", what, text, e.what());
  }
  if (shape.size() <= 1) fail("{} = {}: empty choices list (no draft nodes)", what, text);
  if (shape.size() > kMaxTemplateNodes + 1) {
    fail("{} = {}: more than {} nodes", what, text, kMaxTemplateNodes);
  }
  RecyclingTemplate t;
  t.parent = shape.parent;
  t.rank = shape.rank;
  t.depth = shape.depth;
  return t;
}

namespace {

constexpr DrafterKey kRecyclingKeys[] = {
    {"k", "8", "candidates kept per token (row of the adjacency matrix), in [1, 256]"},
    {"state", "cold", "cold|warm: restore the initial matrix for every prompt, or keep it across prompts"},
    {"load", "", "PATH: start from a saved matrix (save_state format) instead of an empty one"},
    {"nodes", "80", "auto template: the best `nodes` paths under the rank profile, in [1, 4096]"},
    {"depth", "6", "auto template: deepest path, in [1, 64]"},
    {"branching", "", "template of per-depth children, e.g. 8x2x1x1 (instead of nodes/depth)"},
    {"choices", "", "template as a Medusa choices list, e.g. [[0],[1],[0,0]] (instead of nodes/depth)"},
};

RecyclingOptions read_recycling(ParamReader& r) {
  const DrafterParams& p = r.params();
  RecyclingOptions o;
  o.k = r.get_int("k", o.k, 1, 256);
  o.state = r.get_choice("state", "cold", {"cold", "warm"}) == "cold" ? StatePolicy::kCold : StatePolicy::kWarm;
  o.load_path = r.get_string("load", "");
  const int n_shapes = int(p.has("branching")) + int(p.has("choices")) + int(p.has("nodes") || p.has("depth"));
  if (n_shapes > 1) {
    r.attempt([&] {
      fail("drafter {}: give at most one template: nodes/depth (auto), branching or choices", p.drafter());
    });
    return o;
  }
  if (p.has("branching")) {
    const std::string v = r.get_string("branching", "");
    r.attempt([&] {
      o.tree = recycling_branching_template(parse_branching(v, fmt::format("drafter {}: branching", p.drafter())));
    });
    o.template_desc = "branching=" + v;
  } else if (p.has("choices")) {
    const std::string v = r.get_string("choices", "");
    r.attempt([&] { o.tree = recycling_choices_template(v, fmt::format("drafter {}: choices", p.drafter())); });
    o.template_desc = "choices=" + v;
  } else {
    const std::int32_t nodes = r.get_int("nodes", 80, 1, kMaxTemplateNodes);
    const std::int32_t depth = r.get_int("depth", 6, 1, 64);
    o.tree = recycling_auto_template(nodes, depth, o.k);
    o.template_desc = fmt::format("auto(nodes={},depth={})", nodes, depth);
  }
  return o;
}

const RecyclingOptions& recycling_options(const DrafterOptions& o) {
  return std::any_cast<const RecyclingOptions&>(o);
}

}  // namespace

const DrafterKind& recycling_drafter_kind() {
  static const DrafterKind kind{
      .name = "recycling",
      .summary = "Token Recycling: the target's top-k after every verified node, expanded along a static template",
      .keys = kRecyclingKeys,
      .cross_prompt_state = true,
      .parse = [](ParamReader& r, const DrafterEnv&) -> DrafterOptions { return read_recycling(r); },
      // Cheap to build; building reads and checks the load= file.
      .check = [](const DrafterOptions& o, const DrafterEnv&) { RecyclingDrafter d(recycling_options(o)); },
      .make = [](const DrafterOptions& o, const DrafterEnv&) -> std::unique_ptr<Drafter> {
        return std::make_unique<RecyclingDrafter>(recycling_options(o));
      },
      .children = [](const DrafterOptions&, const SamplingParams&) { return ChildSampling::kDeterministic; },
  };
  return kind;
}

RecyclingOptions RecyclingOptions::from_params(const DrafterParams& p) {
  ParamReader r(p, kRecyclingKeys);
  RecyclingOptions o = read_recycling(r);
  r.throw_if_problems();
  return o;
}

RecyclingDrafter::RecyclingDrafter()
    : RecyclingDrafter(RecyclingOptions::from_params(DrafterParams("recycling", {}))) {}

RecyclingDrafter::RecyclingDrafter(RecyclingOptions options) : options_(std::move(options)) {
  if (options_.k < 1 || options_.k > 256) fail("drafter recycling: k = {}: must be in [1, 256]", options_.k);
  if (options_.tree.size() == 0) options_.tree = recycling_auto_template(80, 6, options_.k);
  if (options_.tree.depth.size() != options_.tree.parent.size()) finish_template(options_.tree);
  if (!options_.load_path.empty()) {
    load_state(options_.load_path);
    initial_adj_ = adj_;
    initial_vocab_ = vocab_;
  }
  name_ = fmt::format("recycling:k={},state={},template={}{}", options_.k,
                      options_.state == StatePolicy::kCold ? "cold" : "warm",
                      options_.template_desc,
                      options_.load_path.empty() ? "" : ",load=" + options_.load_path);
  map_.reserve(options_.tree.size());
}

RecyclingDrafter::RecyclingDrafter(const DrafterParams& params)
    : RecyclingDrafter(RecyclingOptions::from_params(params)) {}

std::span<const Token> RecyclingDrafter::row(Token t) const {
  if (vocab_ == 0 || t < 0 || t >= vocab_) return {};
  return std::span<const Token>(adj_).subspan(static_cast<std::size_t>(t) * options_.k,
                                              options_.k);
}

void RecyclingDrafter::begin(std::span<const Token> prompt) {
  if (options_.state == StatePolicy::kWarm) return;
  if (initial_vocab_ > 0) {
    adj_ = initial_adj_;  // same size: copies without allocating
    vocab_ = initial_vocab_;
  } else {
    std::fill(adj_.begin(), adj_.end(), -1);
  }
}

void RecyclingDrafter::ensure_vocab(std::int32_t vocab) {
  if (vocab_ == vocab) return;
  if (vocab_ != 0) {
    fail("drafter recycling: the matrix has vocab {} but the model has {}", vocab_, vocab);
  }
  SPECLAB_ASSERT(vocab > 0);
  vocab_ = vocab;
  adj_.assign(static_cast<std::size_t>(vocab) * options_.k, -1);
}

void top_k_ids(std::span<const float> row, std::int32_t k, Token* ids, float* vals) {
  SPECLAB_ASSERT(k >= 1);
  for (std::int32_t j = 0; j < k; ++j) {
    ids[j] = -1;
    vals[j] = -std::numeric_limits<float>::infinity();
  }
  float thr = vals[k - 1];
  const float* x = row.data();
  const auto n = static_cast<std::int32_t>(row.size());
  auto insert = [&](std::int32_t i) {
    const float v = x[i];
    if (!(v > thr)) return;
    std::int32_t p = k - 1;  // drop the last; shift smaller values right (equal ones stay ahead)
    while (p > 0 && vals[p - 1] < v) {
      vals[p] = vals[p - 1];
      ids[p] = ids[p - 1];
      --p;
    }
    vals[p] = v;
    ids[p] = i;
    thr = vals[k - 1];
  };
  constexpr std::int32_t kBlock = 32;
  std::int32_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    int any = 0;
    for (std::int32_t t = 0; t < kBlock; ++t) any |= static_cast<int>(x[i + t] > thr);
    if (!any) continue;
    for (std::int32_t t = 0; t < kBlock; ++t) insert(i + t);
  }
  for (; i < n; ++i) insert(i);
}

void RecyclingDrafter::observe(const StepFeedback& fb) {
  SPECLAB_ASSERT(fb.tree != nullptr);
  const DraftTree& tree = *fb.tree;
  ensure_vocab(fb.vocab);
  SPECLAB_ASSERT(fb.logits.size() >= static_cast<std::size_t>(tree.size()) * fb.vocab);
  topk_val_.resize(options_.k);
  auto update = [&](std::int32_t i) {
    const Token t = tree.token[i];
    if (t < 0 || t >= vocab_) return;
    top_k_ids(fb.logits.subspan(static_cast<std::size_t>(i) * fb.vocab, fb.vocab), options_.k,
              &adj_[static_cast<std::size_t>(t) * options_.k], topk_val_.data());
  };
  // Nodes off the accepted path first (in index order), then the path (root to leaf): when a
  // token occurs at several nodes, the prediction made in the real context wins.
  on_path_.assign(tree.size(), 0);
  if (fb.acceptance != nullptr) {
    for (const std::int32_t i : fb.acceptance->path) on_path_[i] = 1;
  }
  for (std::int32_t i = 0; i < tree.size(); ++i) {
    if (!on_path_[i]) update(i);
  }
  if (fb.acceptance != nullptr) {
    for (const std::int32_t i : fb.acceptance->path) update(i);
  }
}

DraftFacts RecyclingDrafter::propose(const DraftContext& ctx, const DraftBudget& budget,
                               DraftTree& out) {
  SPECLAB_ASSERT(!ctx.tokens.empty());
  out.reset(ctx.tokens.back(), ChildSampling::kDeterministic);
  if (budget.max_nodes <= 0 || vocab_ == 0) return {};
  const RecyclingTemplate& tpl = options_.tree;
  const std::int32_t k = options_.k;
  const auto n_max = static_cast<std::size_t>(budget.max_nodes) + 1;
  map_.assign(tpl.size(), -1);
  if (first_child_.size() < n_max) {  // grows once per larger budget
    first_child_.resize(n_max);
    next_sibling_.resize(n_max);
  }
  map_[0] = 0;
  first_child_[0] = -1;
  for (std::int32_t t = 1; t < tpl.size() && out.size() < static_cast<std::int32_t>(n_max); ++t) {
    const std::int32_t p = map_[tpl.parent[t]];
    if (p < 0) continue;
    if (budget.max_depth > 0 && out.depth[p] + 1 > budget.max_depth) continue;
    const std::int32_t r = tpl.rank[t];
    const Token pt = out.token[p];
    if (r >= k || pt < 0 || pt >= vocab_) continue;
    const Token c = adj_[static_cast<std::size_t>(pt) * k + r];
    if (c < 0) continue;  // cold row (or fewer than k candidates)
    std::int32_t last = -1, s = first_child_[p];
    while (s >= 0 && out.token[s] != c) {
      last = s;
      s = next_sibling_[s];
    }
    if (s >= 0) {  // duplicate sibling: merge
      map_[t] = s;
      continue;
    }
    const auto score = out.score[p] + static_cast<float>(std::log(recycling_rank_profile(r)));
    const std::int32_t id = out.add(c, p, score);
    first_child_[id] = -1;
    next_sibling_[id] = -1;
    if (last < 0) first_child_[p] = id; else next_sibling_[last] = id;
    map_[t] = id;
  }
  return {};
}

void RecyclingDrafter::save_state(const std::string& path) const {
  if (vocab_ == 0) fail("drafter recycling: save_state {}: the matrix is empty (vocab unknown)", path);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) fail("drafter recycling: save_state {}: cannot open for writing", path);
  const std::int32_t header[2] = {vocab_, options_.k};
  f.write(kMagic, sizeof(kMagic));
  f.write(reinterpret_cast<const char*>(&kVersion), sizeof(kVersion));
  f.write(reinterpret_cast<const char*>(header), sizeof(header));
  f.write(reinterpret_cast<const char*>(adj_.data()),
          static_cast<std::streamsize>(adj_.size() * sizeof(Token)));
  if (!f) fail("drafter recycling: save_state {}: write failed", path);
}

void RecyclingDrafter::load_state(const std::string& path) {
  std::string bytes;
  try {
    // Header (20 bytes) + at most 2^24 x k ids: larger files are refused before reading.
    bytes = read_input_file(path, 20 + (std::uint64_t{1} << 24) * static_cast<std::uint64_t>(options_.k) * 4,
                            "a Token Recycling state file");
  } catch (const Error& e) {
    fail("drafter recycling: load {}: {}", path, e.what());
  }
  if (bytes.size() < 20) fail("drafter recycling: load {}: file shorter than the 20-byte header", path);
  char magic[8] = {};
  std::uint32_t version = 0;
  std::int32_t header[2] = {0, 0};
  std::memcpy(magic, bytes.data(), sizeof(magic));
  std::memcpy(&version, bytes.data() + 8, sizeof(version));
  std::memcpy(header, bytes.data() + 12, sizeof(header));
  if (std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    fail("drafter recycling: load {}: magic: not a Token Recycling state file (expected SPLTRCY1)", path);
  }
  if (version != kVersion) fail("drafter recycling: load {}: version = {}: expected {}", path, version, kVersion);
  const std::int32_t vocab = header[0], k = header[1];
  if (vocab <= 0 || vocab > (1 << 24)) fail("drafter recycling: load {}: vocab = {}: must be in [1, 2^24]", path, vocab);
  if (k != options_.k) fail("drafter recycling: load {}: k = {}: the drafter has k = {}", path, k, options_.k);
  const std::uint64_t want = 20 + static_cast<std::uint64_t>(vocab) * static_cast<std::uint64_t>(k) * sizeof(Token);
  if (bytes.size() < want) fail("drafter recycling: load {}: truncated: expected {} x {} ids after the header", path, vocab, k);
  if (bytes.size() > want) fail("drafter recycling: load {}: trailing bytes after {} x {} ids", path, vocab, k);
  std::vector<Token> adj(static_cast<std::size_t>(vocab) * k);
  std::memcpy(adj.data(), bytes.data() + 20, adj.size() * sizeof(Token));
  for (std::size_t i = 0; i < adj.size(); ++i) {
    if (adj[i] < -1 || adj[i] >= vocab) {
      fail("drafter recycling: load {}: row {} entry {} = {}: ids must be in [-1, {})", path,
           i / k, i % k, adj[i], vocab);
    }
  }
  adj_ = std::move(adj);
  vocab_ = vocab;
}

}  // namespace speclab
