#include "drafters/medusa_drafter.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"

namespace speclab {

namespace head_drafter {

HeadConfig read_config(const std::string& dir, HeadKind want, std::string_view drafter) {
  namespace fs = std::filesystem;
  if (dir.empty()) fail("drafter {}: heads: no heads directory given (heads=DIR)", drafter);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    fail("drafter {}: heads = {}: directory not found (expected heads.json and "
         "heads.safetensors written by save_heads)",
         drafter, dir);
  }
  const std::string json_path = (fs::path(dir) / "heads.json").string();
  if (!fs::exists(json_path, ec)) fail("drafter {}: heads = {}: {} not found", drafter, dir, json_path);
  const nlohmann::json j = parse_json(read_input_file(json_path, kMaxTextInputBytes, "a heads.json"),
                                      fmt::format("drafter {}: heads = {}: {}", drafter, dir, json_path));
  HeadConfig cfg = head_config_from_json(j, json_path);
  if (cfg.kind != want) {
    const std::string_view hint = cfg.kind == HeadKind::kMedusa  ? " (use the medusa drafter)"
                                  : cfg.kind == HeadKind::kHydra ? " (use the hydra drafter)"
                                                                 : "";
    fail("drafter {}: heads = {}: kind = {}: this drafter needs {} heads{}", drafter, dir,
         to_string(cfg.kind), to_string(want), hint);
  }
  return cfg;
}

HeadNet load(const std::string& dir, HeadKind want, std::string_view drafter,
             std::shared_ptr<const LlamaWeights> target) {
  if (!target) {
    fail("drafter {}: {} needs a Llama target (the heads read its weights and check its "
         "fingerprint): the target's weights are not available",
         drafter, drafter);
  }
  read_config(dir, want, drafter);
  return load_heads(dir, std::move(target));
}

AcceptanceProfile profile_of(const HeadConfig& cfg, std::int32_t top_k) {
  SPECLAB_ASSERT(top_k >= 1);
  const std::int32_t width = std::min(top_k, kTopKTracked);
  AcceptanceProfile prof;
  if (!cfg.topk_accuracy.empty()) {
    for (const auto& acc : cfg.topk_accuracy) {
      std::vector<double> row(width);
      for (std::int32_t r = 0; r < width; ++r) {
        const double v = r == 0 ? acc[0] : acc[r] - acc[r - 1];
        row[r] = std::clamp(v, 0.0, 1.0);
      }
      prof.by_depth.push_back(std::move(row));
    }
    return prof;
  }
  // Fallback: roughly the shape of trained Medusa heads (top-1 ~0.55 at depth 1, a long tail).
  static constexpr double kBase[kTopKTracked] = {0.55, 0.12, 0.06, 0.04, 0.03,
                                                 0.02, 0.015, 0.012, 0.01, 0.008};
  const std::int32_t n_rows = std::max<std::int32_t>(cfg.n_heads, 1);
  double decay = 1.0;
  for (std::int32_t d = 0; d < n_rows; ++d, decay *= 0.75) {
    std::vector<double> row(width);
    for (std::int32_t r = 0; r < width; ++r) row[r] = kBase[r] * decay;
    prof.by_depth.push_back(std::move(row));
  }
  return prof;
}

TreeTemplate cap_ranks(const TreeTemplate& t, std::int32_t max_rank) {
  TreeTemplate out = root_template();
  std::vector<std::int32_t> node_of(t.size(), -1);
  node_of[0] = 0;
  for (std::int32_t i = 1; i < t.size(); ++i) {
    const std::int32_t par = node_of[t.parent[i]];
    if (par < 0 || t.rank[i] >= max_rank) continue;
    node_of[i] = out.size();
    out.parent.push_back(par);
    out.rank.push_back(t.rank[i]);
    out.depth.push_back(t.depth[i]);
  }
  return out;
}

TemplateCache::TemplateCache(const std::vector<std::vector<std::int32_t>>* choices,
                             AcceptanceProfile profile, std::int32_t max_rank,
                             std::int32_t depth_cap)
    : from_choices_(choices != nullptr),
      profile_(std::move(profile)),
      max_rank_(max_rank),
      depth_cap_(depth_cap) {
  SPECLAB_ASSERT(max_rank >= 1 && depth_cap >= 1);
  if (from_choices_) {
    choices_ = cap_ranks(template_from_choices(*choices), max_rank);
  } else {
    profile_.validate();
  }
}

const TreeTemplate& TemplateCache::get(const DraftBudget& budget) {
  if (budget.max_nodes < 0) fail("draft budget: max_nodes = {}: must be >= 0", budget.max_nodes);
  if (budget.max_depth < 0) fail("draft budget: max_depth = {}: must be >= 0", budget.max_depth);
  const std::int32_t depth =
      budget.max_depth > 0 ? std::min(budget.max_depth, depth_cap_) : depth_cap_;
  for (const Entry& e : entries_) {
    if (e.max_nodes == budget.max_nodes && e.max_depth == depth) return e.tmpl;
  }
  const DraftBudget b{budget.max_nodes, depth};
  TreeTemplate t = from_choices_ ? cut_to_budget(choices_, b) : optimal_template(profile_, b);
  entries_.push_back(Entry{budget.max_nodes, depth, std::move(t)});
  return entries_.back().tmpl;
}

std::vector<std::vector<std::int32_t>> parse_choices_param(const DrafterParams& p,
                                                           std::string_view key) {
  const std::string text = p.get_string(key, "");
  try {
    auto choices = parse_choices(text);
    template_from_choices(choices);  // prefix-closed, no duplicates
    return choices;
  } catch (const Error& e) {
    p.fail_value(key, text, e.what());
  }
}

void top_candidates(std::span<const float> logits, std::int32_t k, std::span<Candidate> out,
                    std::span<std::int32_t> idx, std::span<float> probs) {
  const std::size_t n = logits.size();
  SPECLAB_ASSERT(k >= 0 && static_cast<std::size_t>(k) <= n && out.size() >= static_cast<std::size_t>(k));
  SPECLAB_ASSERT(idx.size() >= n && (probs.empty() || probs.size() == n));
  float mx = logits[0];
  for (const float v : logits) mx = std::max(mx, v);
  double z = 0.0;
  for (const float v : logits) z += std::exp(static_cast<double>(v) - mx);
  const double lse = static_cast<double>(mx) + std::log(z);
  if (!probs.empty()) {
    for (std::size_t i = 0; i < n; ++i) {
      probs[i] = static_cast<float>(std::exp(static_cast<double>(logits[i]) - lse));
    }
  }
  std::iota(idx.begin(), idx.begin() + n, 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.begin() + n,
                    [&logits](std::int32_t a, std::int32_t b) {
                      return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
                    });
  for (std::int32_t r = 0; r < k; ++r) {
    const double lp = static_cast<double>(logits[idx[r]]) - lse;
    out[r] = Candidate{idx[r], static_cast<float>(std::min(lp, 0.0))};
  }
}

}  // namespace head_drafter

namespace {

constexpr DrafterKey kMedusaKeys[] = {
    {"heads", "", "DIR: medusa heads trained for the target (speclab train-heads --kind medusa); required",
     OptionalFile::kHeadsDir},
    {"tree", "auto", "auto: the budget-optimal template from the heads' held-out top-k accuracies"},
    {"choices", "", "a Medusa choices list, e.g. [[0],[0,0],[1]] (instead of tree=auto)"},
    {"top_k", "10", "largest sibling rank + 1, in [1, 64]"},
    {"q", "1", "1|0: record the heads' softmax as q rows"},
};

const MedusaOptions& medusa_options_of(const DrafterOptions& o) { return std::any_cast<const MedusaOptions&>(o); }

}  // namespace

MedusaOptions medusa_options(ParamReader& r) {
  const DrafterParams& p = r.params();
  MedusaOptions o;
  if (!p.has("heads")) r.problem("drafter medusa: heads: required (heads=DIR, written by save_heads)");
  o.heads_dir = r.get_string("heads", "");
  const std::string tree = r.get_choice("tree", "auto", {"auto"});
  if (p.has("tree") && p.has("choices")) {
    r.problem("tree", tree, "give either tree=auto or choices=[[...]], not both");
  } else if (p.has("choices")) {
    o.choices = r.get_string("choices", "");
    r.attempt([&] { head_drafter::parse_choices_param(p, "choices"); });
  }
  o.top_k = r.get_int("top_k", o.top_k, 1, 64);
  o.record_q = r.get_bool("q", o.record_q);
  return o;
}

const DrafterKind& medusa_drafter_kind() {
  static const DrafterKind kind{
      .name = "medusa",
      .summary = "Medusa heads on the target's hidden state: one head per depth, static template of their top-k",
      .keys = kMedusaKeys,
      .parse = [](ParamReader& r, const DrafterEnv&) -> DrafterOptions { return medusa_options(r); },
      .check =
          [](const DrafterOptions& o, const DrafterEnv& env) {
            if (!env.target_weights) {
              fail("drafter medusa: medusa needs a Llama target (the heads read its weights): the target's weights "
                   "are not available");
            }
            head_drafter::read_config(medusa_options_of(o).heads_dir, HeadKind::kMedusa, "medusa");
          },
      .make = [](const DrafterOptions& o, const DrafterEnv& env) -> std::unique_ptr<Drafter> {
        MedusaOptions mo = medusa_options_of(o);
        mo.n_threads = env.n_threads;
        HeadNet net = head_drafter::load(mo.heads_dir, HeadKind::kMedusa, "medusa", env.target_weights);
        return std::make_unique<MedusaDrafter>(std::move(net), std::move(mo));
      },
      .children = [](const DrafterOptions&, const SamplingParams&) { return ChildSampling::kDeterministic; },
  };
  return kind;
}

MedusaDrafter::MedusaDrafter(HeadNet heads, MedusaOptions options)
    : net_(std::move(heads)), opt_(std::move(options)) {
  scratch_.n_threads = std::max(1, opt_.n_threads);
  const HeadConfig& cfg = net_.config();
  if (cfg.kind != HeadKind::kMedusa) {
    fail("drafter medusa: heads = {}: kind = {}: this drafter needs medusa heads", opt_.heads_dir,
         to_string(cfg.kind));
  }
  if (opt_.top_k < 1) fail("drafter medusa: topk = {}: must be >= 1", opt_.top_k);
  if (cfg.n_heads < 1) fail("drafter medusa: heads = {}: n_heads = 0", opt_.heads_dir);
  vocab_ = cfg.vocab;
  const std::int32_t max_rank = std::min(opt_.top_k, vocab_);
  std::vector<std::vector<std::int32_t>> choices;
  if (!opt_.choices.empty()) {
    try {
      choices = parse_choices(opt_.choices);
    } catch (const Error& e) {
      fail("drafter medusa: choices = {}: {}", opt_.choices, e.what());
    }
  }
  templates_ = head_drafter::TemplateCache(opt_.choices.empty() ? nullptr : &choices,
                                           head_drafter::profile_of(cfg, max_rank),
                                           max_rank, cfg.n_heads);
  width_.reserve(cfg.n_heads);
  logits_.resize(vocab_);
  probs_.resize(static_cast<std::size_t>(cfg.n_heads) * vocab_);
  cands_.resize(static_cast<std::size_t>(cfg.n_heads) * max_rank);
  idx_.resize(vocab_);
}

DraftFacts MedusaDrafter::propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) {
  SPECLAB_ASSERT(!ctx.tokens.empty());
  const Token root = ctx.tokens.back();
  if (ctx.hidden.empty() || budget.max_nodes == 0) {
    if (budget.max_nodes < 0) fail("draft budget: max_nodes = {}: must be >= 0", budget.max_nodes);
    out.reset(root);
    return {};
  }
  const TreeTemplate& t = templates_.get(budget);
  const std::int32_t n_depth = t.max_depth();
  const std::size_t max_rank = cands_.size() / net_.n_heads();
  // Candidates of head d = children of every node at depth d (ranks 0 .. width_[d] - 1).
  width_.assign(n_depth, 0);
  for (std::int32_t i = 1; i < t.size(); ++i) {
    width_[t.depth[i] - 1] = std::max(width_[t.depth[i] - 1], t.rank[i] + 1);
  }
  for (std::int32_t d = 0; d < n_depth; ++d) {
    net_.logits(d, ctx.hidden, {}, 1, logits_, scratch_);
    const std::span<float> probs =
        opt_.record_q ? std::span<float>(probs_).subspan(static_cast<std::size_t>(d) * vocab_, vocab_)
                      : std::span<float>();
    head_drafter::top_candidates(logits_, width_[d],
                                 std::span<Candidate>(cands_).subspan(d * max_rank, max_rank),
                                 idx_, probs);
  }
  // The cached template is already cut and rank-capped, and every head has all the ranks it
  // needs, so template node i becomes tree node i (what instantiate_template would build,
  // without its per-call buffers).
  out.reset(root, ChildSampling::kDeterministic, opt_.record_q ? vocab_ : 0);
  for (std::int32_t i = 1; i < t.size(); ++i) {
    const std::int32_t par = t.parent[i];
    const Candidate& c = cands_[static_cast<std::size_t>(t.depth[par]) * max_rank + t.rank[i]];
    out.add(c.token, par, out.score[par] + c.log_prob, std::exp(c.log_prob));
  }
  if (opt_.record_q) {
    for (std::int32_t i = 0; i < out.size(); ++i) {
      const std::int32_t d = out.depth[i];
      if (d >= n_depth) continue;  // children would come from an undrafted depth: zero row
      const auto src = std::span<const float>(probs_).subspan(static_cast<std::size_t>(d) * vocab_, vocab_);
      std::copy(src.begin(), src.end(), out.q_row_mut(i).begin());
    }
  }
  return {};
}

}  // namespace speclab
