#include "drafters/aded_drafter.h"

#include <algorithm>
#include <cstring>
#include <cmath>
#include <fstream>

#include "base/error.h"
#include "base/input_file.h"

namespace speclab {
namespace {

constexpr std::uint64_t kEmptyKey = ~0ull;
constexpr Token kBackoff = -2;   // t-2 of bigram (backoff) entries
constexpr Token kStart = -1;     // t-2 before the first token of a stream

}  // namespace

// ---- TrigramTable ----

TrigramTable::TrigramTable(std::int32_t top_c) : top_c_(top_c) {
  SPECLAB_ASSERT(top_c >= 1);
  keys_.assign(1 << 10, kEmptyKey);
  tok_.assign(keys_.size() * top_c_, -1);
  cnt_.assign(keys_.size() * top_c_, 0.0f);
}

void TrigramTable::clear() {
  std::fill(keys_.begin(), keys_.end(), kEmptyKey);
  std::fill(tok_.begin(), tok_.end(), -1);
  std::fill(cnt_.begin(), cnt_.end(), 0.0f);
  n_used_ = 0;
}

std::size_t TrigramTable::bytes() const {
  return keys_.size() * sizeof(std::uint64_t) + tok_.size() * sizeof(Token) +
         cnt_.size() * sizeof(float);
}

std::int32_t TrigramTable::slot_of(std::uint64_t k) const {
  const std::size_t mask = keys_.size() - 1;
  std::size_t i = static_cast<std::size_t>((k * 0x9E3779B97F4A7C15ull) >> 20) & mask;
  while (keys_[i] != kEmptyKey && keys_[i] != k) i = (i + 1) & mask;  // linear probing
  return static_cast<std::int32_t>(i);
}

void TrigramTable::grow() {
  std::vector<std::uint64_t> keys(keys_.size() * 2, kEmptyKey);
  std::vector<Token> tok(keys.size() * top_c_, -1);
  std::vector<float> cnt(keys.size() * top_c_, 0.0f);
  keys.swap(keys_);
  tok.swap(tok_);
  cnt.swap(cnt_);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == kEmptyKey) continue;
    const std::int32_t s = slot_of(keys[i]);
    keys_[s] = keys[i];
    std::copy_n(&tok[i * top_c_], top_c_, &tok_[static_cast<std::size_t>(s) * top_c_]);
    std::copy_n(&cnt[i * top_c_], top_c_, &cnt_[static_cast<std::size_t>(s) * top_c_]);
  }
}

void TrigramTable::add(Token a, Token b, Token c, float w) {
  const std::uint64_t k = key(a, b);
  std::int32_t s = slot_of(k);
  if (keys_[s] == kEmptyKey) {
    if (2 * (n_used_ + 1) > static_cast<std::int32_t>(keys_.size())) {
      grow();
      s = slot_of(k);
    }
    keys_[s] = k;
    ++n_used_;
  }
  Token* t = &tok_[static_cast<std::size_t>(s) * top_c_];
  float* n = &cnt_[static_cast<std::size_t>(s) * top_c_];
  std::int32_t min_j = 0;
  for (std::int32_t j = 0; j < top_c_; ++j) {
    if (t[j] == c) {
      n[j] += w;
      return;
    }
    if (t[j] < 0) {  // free slot (slots fill left to right)
      t[j] = c;
      n[j] = w;
      return;
    }
    if (n[j] < n[min_j]) min_j = j;
  }
  t[min_j] = c;  // Space-Saving: replace the least counted, inherit its count
  n[min_j] += w;
}

bool TrigramTable::find(Token a, Token b, const Token** tokens, const float** counts) const {
  const std::int32_t s = slot_of(key(a, b));
  if (keys_[s] == kEmptyKey) return false;
  *tokens = &tok_[static_cast<std::size_t>(s) * top_c_];
  *counts = &cnt_[static_cast<std::size_t>(s) * top_c_];
  return true;
}

void TrigramTable::scale(float f) {
  for (float& x : cnt_) x *= f;
}

// ---- options ----

namespace {

constexpr DrafterKey kAdedKeys[] = {
    {"iterations", "0", "MCTS simulations per step; 0 = auto: max(32, 2 x budget nodes)"},
    {"c_puct", "1", "PUCT exploration constant, >= 0"},
    {"depth", "6", "deepest draft node (also capped by the budget's depth), in [1, 256]"},
    {"top_c", "8", "candidates kept per tri-gram context, in [1, 256]"},
    {"decay", "0.9", "factor applied to all counts every decay_every learnt tokens, in (0, 1]"},
    {"decay_every", "256", "learnt tokens between decays, >= 1"},
    {"backoff", "1", "1|0: keep a bigram table for unknown tri-gram contexts"},
    {"tree_weight", "0", "weight of the target's top-1 after rejected tree nodes (0 = learn only the output)"},
    {"state", "cold", "cold|warm: restore the initial table for every prompt, or keep it across prompts"},
    {"corpus", "", "PATH: prefill the table from raw little-endian int32 token ids"},
};

AdedOptions read_aded(ParamReader& r) {
  AdedOptions o;
  o.iterations = r.get_int("iterations", o.iterations, 0, 1 << 20);
  o.c_puct = r.get_double("c_puct", o.c_puct, 0.0, 1e6);
  o.depth = r.get_int("depth", o.depth, 1, 256);
  o.top_c = r.get_int("top_c", o.top_c, 1, 256);
  o.decay = r.get_double("decay", o.decay, 1e-6, 1.0);
  o.decay_every = r.get_int("decay_every", o.decay_every, 1, 1 << 30);
  o.backoff = r.get_bool("backoff", o.backoff);
  o.tree_weight = r.get_double("tree_weight", o.tree_weight, 0.0, 1e6);
  o.warm = r.get_choice("state", "cold", {"cold", "warm"}) == "warm";
  o.corpus_path = r.get_string("corpus", "");
  return o;
}

const AdedOptions& aded_options(const DrafterOptions& o) { return std::any_cast<const AdedOptions&>(o); }

}  // namespace

const DrafterKind& aded_drafter_kind() {
  static const DrafterKind kind{
      .name = "aded",
      .summary = "ADED: an adaptive tri-gram table of the target's output, drafts by MCTS (PUCT)",
      .keys = kAdedKeys,
      .cross_prompt_state = true,
      .parse = [](ParamReader& r, const DrafterEnv&) -> DrafterOptions { return read_aded(r); },
      // Cheap to build; building reads and checks the corpus= file.
      .check = [](const DrafterOptions& o, const DrafterEnv&) { AdedDrafter d(aded_options(o)); },
      .make = [](const DrafterOptions& o, const DrafterEnv&) -> std::unique_ptr<Drafter> {
        return std::make_unique<AdedDrafter>(aded_options(o));
      },
      .children = [](const DrafterOptions&, const SamplingParams&) { return ChildSampling::kDeterministic; },
  };
  return kind;
}

AdedOptions AdedOptions::from_params(const DrafterParams& p) {
  ParamReader r(p, kAdedKeys);
  AdedOptions o = read_aded(r);
  r.throw_if_problems();
  return o;
}

void AdedOptions::validate() const {
  if (iterations < 0) fail("drafter aded: iterations = {}: must be >= 0 (0 = auto)", iterations);
  if (!(c_puct >= 0.0) || !std::isfinite(c_puct)) fail("drafter aded: c_puct = {}: must be >= 0", c_puct);
  if (depth < 1 || depth > 256) fail("drafter aded: depth = {}: must be in [1, 256]", depth);
  if (top_c < 1 || top_c > 256) fail("drafter aded: top_c = {}: must be in [1, 256]", top_c);
  if (!(decay > 0.0 && decay <= 1.0)) fail("drafter aded: decay = {}: must be in (0, 1]", decay);
  if (decay_every < 1) fail("drafter aded: decay_every = {}: must be >= 1", decay_every);
  if (!(tree_weight >= 0.0) || !std::isfinite(tree_weight)) {
    fail("drafter aded: tree_weight = {}: must be >= 0", tree_weight);
  }
}

// ---- drafter ----

namespace {
const AdedOptions& checked(const AdedOptions& o) {
  o.validate();
  return o;
}
}  // namespace

AdedDrafter::AdedDrafter(const AdedOptions& options)
    : options_(checked(options)), table_(options.top_c), initial_(options.top_c) {
  if (!options_.corpus_path.empty()) {
    std::string bytes;
    try {
      bytes = read_input_file(options_.corpus_path, kMaxTextInputBytes, "an ADED corpus");
    } catch (const Error& e) {
      fail("drafter aded: corpus = {}: {}", options_.corpus_path, e.what());
    }
    const auto size = static_cast<std::int64_t>(bytes.size());
    if (size <= 0 || size % 4 != 0) {
      fail("drafter aded: corpus = {}: size {} bytes: expected a non-empty stream of int32 ids",
           options_.corpus_path, size);
    }
    std::vector<Token> tokens(static_cast<std::size_t>(size / 4));
    std::memcpy(tokens.data(), bytes.data(), bytes.size());
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] < 0) fail("drafter aded: corpus = {}: token {} = {}: ids must be >= 0", options_.corpus_path, i, tokens[i]);
    }
    learn_sequence(tokens);
    initial_ = table_;
  }
  name_ = fmt::format(
      "aded:backoff={},c_puct={},decay={},decay_every={},depth={},iterations={},state={},"
      "top_c={},tree_weight={}{}",
      options_.backoff ? 1 : 0, options_.c_puct, options_.decay, options_.decay_every,
      options_.depth, options_.iterations == 0 ? std::string("auto") : std::to_string(options_.iterations),
      options_.warm ? "warm" : "cold", options_.top_c, options_.tree_weight,
      options_.corpus_path.empty() ? "" : ",corpus=" + options_.corpus_path);
}

AdedDrafter::AdedDrafter(const DrafterParams& params)
    : AdedDrafter(AdedOptions::from_params(params)) {}

void AdedDrafter::learn(Token a, Token b, Token c, float w) {
  table_.add(a, b, c, w);
  if (options_.backoff) table_.add(kBackoff, b, c, w);
}

void AdedDrafter::learn_sequence(std::span<const Token> tokens) {
  for (std::size_t j = 1; j < tokens.size(); ++j) {
    learn(j >= 2 ? tokens[j - 2] : kStart, tokens[j - 1], tokens[j], 1.0f);
  }
}

void AdedDrafter::begin(std::span<const Token> prompt) {
  if (!options_.warm) table_ = initial_;  // same capacity after the first prompt: no allocation
  learn_sequence(prompt);
  n_seen_ = prompt.size();
  since_decay_ = 0;
}

void AdedDrafter::observe(const StepFeedback& fb) {
  const std::span<const Token> seq = fb.tokens;
  if (n_seen_ > seq.size()) n_seen_ = seq.size();  // not an extension: learn nothing twice
  for (std::size_t j = std::max<std::size_t>(n_seen_, 1); j < seq.size(); ++j) {
    learn(j >= 2 ? seq[j - 2] : kStart, seq[j - 1], seq[j], 1.0f);
    ++since_decay_;
  }
  n_seen_ = seq.size();
  if (options_.tree_weight > 0.0 && fb.tree != nullptr && fb.acceptance != nullptr &&
      fb.vocab > 0) {
    const DraftTree& tree = *fb.tree;
    // Nodes on the accepted path were learnt above (their top-1 is the next emitted token).
    out_index_.assign(tree.size(), 0);
    for (const std::int32_t i : fb.acceptance->path) out_index_[i] = 1;
    for (std::int32_t i = 1; i < tree.size(); ++i) {
      if (out_index_[i]) continue;
      const auto row = fb.logits.subspan(static_cast<std::size_t>(i) * fb.vocab, fb.vocab);
      const Token top = static_cast<Token>(std::max_element(row.begin(), row.end()) - row.begin());
      learn(tree.token[tree.parent[i]], tree.token[i], top, static_cast<float>(options_.tree_weight));
      ++since_decay_;
    }
  }
  if (since_decay_ >= options_.decay_every) {
    if (options_.decay < 1.0) table_.scale(static_cast<float>(options_.decay));
    since_decay_ = 0;
  }
}

std::int32_t AdedDrafter::candidates(Token a, Token b) {
  const Token* tok = nullptr;
  const float* cnt = nullptr;
  bool found = table_.find(a, b, &tok, &cnt);
  if ((!found || tok[0] < 0) && options_.backoff) found = table_.find(kBackoff, b, &tok, &cnt);
  cand_tok_.clear();
  cand_p_.clear();
  if (!found) return 0;
  double total = 0.0;
  for (std::int32_t j = 0; j < table_.top_c(); ++j) {
    if (tok[j] < 0 || !(cnt[j] > 0.0f)) continue;
    cand_tok_.push_back(tok[j]);
    cand_p_.push_back(cnt[j]);
    total += cnt[j];
  }
  const auto n = static_cast<std::int32_t>(cand_tok_.size());
  // Insertion sort by count desc, ties to the lower id (n <= top_c, small).
  for (std::int32_t i = 1; i < n; ++i) {
    const Token t = cand_tok_[i];
    const float p = cand_p_[i];
    std::int32_t j = i;
    while (j > 0 && (cand_p_[j - 1] < p || (cand_p_[j - 1] == p && cand_tok_[j - 1] > t))) {
      cand_tok_[j] = cand_tok_[j - 1];
      cand_p_[j] = cand_p_[j - 1];
      --j;
    }
    cand_tok_[j] = t;
    cand_p_[j] = p;
  }
  for (float& p : cand_p_) p = static_cast<float>(p / total);
  return n;
}

void AdedDrafter::expand(std::int32_t v) {
  const Token a = v == 0 ? root_prev_ : node_token_[node_parent_[v]];
  const std::int32_t n = candidates(a, node_token_[v]);
  node_child_[v] = static_cast<std::int32_t>(node_token_.size());
  node_n_child_[v] = n;
  for (std::int32_t j = 0; j < n; ++j) {
    node_token_.push_back(cand_tok_[j]);
    node_parent_.push_back(v);
    node_depth_.push_back(node_depth_[v] + 1);
    node_child_.push_back(-1);
    node_n_child_.push_back(-1);  // not expanded
    node_visits_.push_back(0);
    node_p_.push_back(cand_p_[j]);
    node_value_.push_back(0.0);
  }
}

double AdedDrafter::rollout(Token a, Token b, std::int32_t steps, double prob) {
  double r = 0.0;
  for (std::int32_t s = 0; s < steps; ++s) {
    if (candidates(a, b) == 0) break;
    prob *= cand_p_[0];
    r += prob;
    a = b;
    b = cand_tok_[0];
  }
  return r;
}

void AdedDrafter::search(std::int32_t iterations, std::int32_t max_depth) {
  for (std::int32_t it = 0; it < iterations; ++it) {
    std::int32_t v = 0;
    path_.clear();
    double reward = 0.0, prob = 1.0;
    while (node_depth_[v] < max_depth) {
      if (node_n_child_[v] < 0) expand(v);
      if (node_n_child_[v] == 0) break;
      const double explore = options_.c_puct * std::sqrt(node_visits_[v] + 1.0);
      std::int32_t best = -1;
      double best_score = 0.0;
      for (std::int32_t c = node_child_[v]; c < node_child_[v] + node_n_child_[v]; ++c) {
        const double q = node_visits_[c] > 0 ? node_value_[c] / node_visits_[c] : 0.0;
        const double u = q + explore * node_p_[c] / (1.0 + node_visits_[c]);
        if (best < 0 || u > best_score) {
          best = c;
          best_score = u;
        }
      }
      v = best;
      path_.push_back(v);
      prob *= node_p_[v];
      reward += prob;
      if (node_visits_[v] == 0) break;  // new leaf
    }
    if (v != 0 && node_depth_[v] < max_depth) {
      reward += rollout(node_token_[node_parent_[v]], node_token_[v], max_depth - node_depth_[v], prob);
    }
    reward /= max_depth;
    ++node_visits_[0];
    node_value_[0] += reward;
    for (const std::int32_t u : path_) {
      ++node_visits_[u];
      node_value_[u] += reward;
    }
  }
}

DraftFacts AdedDrafter::propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) {
  SPECLAB_ASSERT(!ctx.tokens.empty());
  const Token root = ctx.tokens.back();
  out.reset(root, ChildSampling::kDeterministic);
  if (budget.max_nodes <= 0) return {};
  const std::int32_t max_depth =
      budget.max_depth > 0 ? std::min(budget.max_depth, options_.depth) : options_.depth;
  const std::int32_t iterations =
      options_.iterations > 0 ? options_.iterations : std::max(32, 2 * budget.max_nodes);
  root_prev_ = ctx.tokens.size() >= 2 ? ctx.tokens[ctx.tokens.size() - 2] : kStart;
  node_token_.assign(1, root);
  node_parent_.assign(1, -1);
  node_depth_.assign(1, 0);
  node_child_.assign(1, -1);
  node_n_child_.assign(1, -1);
  node_visits_.assign(1, 0);
  node_p_.assign(1, 1.0f);
  node_value_.assign(1, 0.0);
  search(iterations, max_depth);
  // Visited nodes by visits (desc), ties by creation: N(parent) >= N(child) and parents are
  // created first, so parents precede children and any prefix is a tree.
  order_.clear();
  for (std::int32_t i = 1; i < static_cast<std::int32_t>(node_token_.size()); ++i) {
    if (node_visits_[i] > 0) order_.push_back(i);
  }
  std::sort(order_.begin(), order_.end(), [&](std::int32_t a, std::int32_t b) {
    return node_visits_[a] != node_visits_[b] ? node_visits_[a] > node_visits_[b] : a < b;
  });
  out_index_.assign(node_token_.size(), -1);
  out_index_[0] = 0;
  const std::int32_t n_take = std::min<std::int32_t>(budget.max_nodes, static_cast<std::int32_t>(order_.size()));
  for (std::int32_t j = 0; j < n_take; ++j) {
    const std::int32_t i = order_[j];
    const std::int32_t par = out_index_[node_parent_[i]];
    SPECLAB_ASSERT(par >= 0);
    out_index_[i] = out.add(node_token_[i], par, out.score[par] + std::log(node_p_[i]));
  }
  return {};
}

}  // namespace speclab
