// "auto" rules resolve from the drafter registry (drafters/registry.h drafter_child_sampling),
// not from a proposal. For every drafter and mode at temperatures 0 and 1, one table gives the
// rule; the test checks that (1) the registry resolves it, (2) a proposed tree of the built
// drafter has the ChildSampling kind the registry claims (what the runner's dry run used to
// read), (3) the runner's prepare_experiment resolves "auto" to it. The synthetic target (the
// runner's preset) gets a draft model file, Medusa / Hydra heads and exit adapters.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "drafters/registry.h"
#include "experiments/runner.h"
#include "heads/head_net.h"
#include "model/llama_model.h"
#include "synthetic/synthetic_preset.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/model_writers.h"
#include "verifiers/rules.h"

namespace speclab {
namespace {

std::string no_tokenizer(const std::string&, const std::string&, std::int32_t) {
  throw Error("no tokenizer in this test");
}

// Files the drafters need, made for the synthetic preset target.
struct Fixture {
  testing::ScopedTempDir tmp;
  std::shared_ptr<const LlamaWeights> target =
      std::make_shared<const LlamaWeights>(synthetic_preset_weights());
  std::string prompts = tmp.path("p.jsonl");
  std::string draft = tmp.path("draft.bin");
  std::string medusa = tmp.path("medusa"), hydra = tmp.path("hydra"), exits = tmp.path("exits");

  Fixture() {
    std::ofstream(prompts) << "{\"id\": \"a\", \"prompt\": \"the cat sat. the cat sat. the cat\"}\n";
    testing::write_llama2c(random_llama_weights(synthetic_info(32, 64, 1, 2, 2, 512, 1024), 7), draft, 0);
    HeadConfig cfg;
    cfg.n_heads = 3;
    cfg.kind = HeadKind::kMedusa;
    save_heads(HeadNet::init(cfg, target), medusa);
    cfg.kind = HeadKind::kHydra;
    save_heads(HeadNet::init(cfg, target), hydra);
    cfg.kind = HeadKind::kExitAdapter;
    cfg.n_heads = 1;
    cfg.exit_layers = {1};
    save_heads(HeadNet::init(cfg, target), exits);
  }
  DrafterEnv env() const {
    DrafterEnv e;
    e.target = &target->info;
    e.target_weights = target;
    e.draft_model_path = draft;
    return e;
  }
};

struct AutoRule {
  std::string spec;          // "{heads}" etc. expand to the fixture's directories
  std::string rule_t0, rule_t1;
};

// The rule "auto" resolves to, per drafter and mode, at temperature 0 and 1.
const std::vector<AutoRule>& auto_rules() {
  static const std::vector<AutoRule> table = {
      {"ngram", "greedy", "deterministic"},
      {"ngram:order=frequent", "greedy", "deterministic"},
      {"recycling", "greedy", "deterministic"},
      {"recycling:branching=8x2x1", "greedy", "deterministic"},
      {"recycling:choices=[[0],[1],[0,0]]", "greedy", "deterministic"},
      {"aded", "greedy", "deterministic"},
      {"sam", "greedy", "deterministic"},
      {"sam:state=warm", "greedy", "deterministic"},
      {"suffix", "greedy", "deterministic"},
      {"suffix:state=warm", "greedy", "deterministic"},
      {"lookahead", "greedy", "multi-iid"},  // SJD chain at T > 0
      {"lookahead:window=8,ngram=2,candidates=0", "greedy", "multi-iid"},
      {"hybrid:parts=ngram+sam", "greedy", "deterministic"},
      {"hybrid:parts=[medusa:heads={medusa}+suffix]", "greedy", "deterministic"},
      {"draft-model", "greedy", "multi-iid"},  // chain
      {"draft-model:mode=topk", "greedy", "deterministic"},
      {"draft-model:mode=iid", "greedy", "multi-iid"},
      {"draft-model:mode=swor", "greedy", "without-replacement"},
      {"draft-model:mode=dynamic", "greedy", "deterministic"},
      {"medusa:heads={medusa}", "greedy", "deterministic"},
      {"medusa:heads={medusa},choices=[[0],[0,0],[1]]", "greedy", "deterministic"},
      {"hydra:heads={hydra}", "greedy", "deterministic"},
      {"hydra:heads={hydra},tree=template", "greedy", "deterministic"},
      {"eagle:random_seed=1", "greedy", "deterministic"},
      {"eagle:random_seed=1,tree=chain", "greedy", "deterministic"},
      {"early-exit", "greedy", "multi-iid"},
      {"early-exit:adapters={exits}", "greedy", "multi-iid"},
      {"del", "greedy", "multi-iid"},
      {"del:adapters={exits}", "greedy", "multi-iid"},
  };
  return table;
}

std::string expand(std::string spec, const Fixture& fx) {
  for (const auto& [key, dir] : {std::pair<std::string, std::string>{"{medusa}", fx.medusa},
                                 {"{hydra}", fx.hydra}, {"{exits}", fx.exits}}) {
    if (const auto at = spec.find(key); at != std::string::npos) spec.replace(at, key.size(), dir);
  }
  return spec;
}

SamplingParams at(double temperature) {
  SamplingParams s;
  s.temperature = static_cast<float>(temperature);
  return s;
}

TEST(AutoRules, EveryDrafterKindIsInTheTable) {
  for (const DrafterKind* k : drafter_kinds()) {
    bool found = false;
    for (const auto& r : auto_rules()) found |= DrafterParams::parse(r.spec).drafter() == k->name;
    EXPECT_TRUE(found) << k->name;
  }
}

TEST(AutoRules, RegistryResolvesTheTable) {
  Fixture fx;
  for (const auto& r : auto_rules()) {
    const std::string spec = expand(r.spec, fx);
    EXPECT_EQ(default_rule_for(drafter_child_sampling(spec, fx.env(), at(0)), true), r.rule_t0) << spec;
    EXPECT_EQ(default_rule_for(drafter_child_sampling(spec, fx.env(), at(1)), false), r.rule_t1) << spec;
  }
}

// What the runner's dry run read: the kind of a tree the drafter actually proposes on the
// prompt (self-speculative drafters on the target's cache, head drafters with a hidden state).
TEST(AutoRules, ProposedTreesHaveTheRegistrysChildSampling) {
  Fixture fx;
  LlamaModel target(fx.target, 1);
  const std::vector<Token> prompt = {1, 40, 2, 59, 17, 17, 8, 40, 2};
  std::vector<float> hidden(fx.target->info.dim);
  Rng fill(3);
  for (float& v : hidden) v = static_cast<float>(fill.normal());
  for (const auto& r : auto_rules()) {
    const std::string spec = expand(r.spec, fx);
    for (const double t : {0.0, 1.0}) {
      const SamplingParams sampling = at(t);
      auto drafter = make_drafter(spec, fx.env());
      ASSERT_NE(drafter, nullptr) << spec;
      drafter->begin(prompt);
      Rng rng(0);
      DraftContext ctx{prompt, &sampling, &rng};
      if (drafter->needs().target_hidden) ctx.hidden = hidden;
      target.truncate(0);
      if (drafter->needs().self_speculative) {
        std::vector<std::int32_t> pos(prompt.size() - 1);
        for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = static_cast<std::int32_t>(i);
        ForwardBatch batch;
        batch.tokens = std::span<const Token>(prompt).first(prompt.size() - 1);
        batch.positions = pos;
        batch.all_logits = false;
        ForwardOutput out;
        target.forward(batch, out);
        ctx.target = &target;
      }
      DraftTree tree;
      drafter->propose(ctx, DraftBudget{16, 0}, tree);
      EXPECT_EQ(to_string(tree.children), to_string(drafter_child_sampling(spec, fx.env(), sampling)))
          << spec << " at temperature " << t;
    }
  }
}

TEST(AutoRules, RunnerResolvesAutoAsTheTable) {
  Fixture fx;
  ExperimentSpec s;
  s.model = "synthetic";
  s.prompts = {fx.prompts};
  s.draft_model = fx.draft;
  for (const auto& r : auto_rules()) s.drafters.push_back({expand(r.spec, fx), {}, false});
  s.budgets = {16};
  s.temperatures = {0.0, 1.0};
  s.max_new_tokens = 4;
  const PreparedExperiment exp = prepare_experiment(s, no_tokenizer);
  ASSERT_EQ(exp.configs.size(), auto_rules().size() + 1);
  for (std::size_t i = 0; i < auto_rules().size(); ++i) {
    const Configuration& c = exp.configs[i + 1];
    EXPECT_EQ(exp.resolved_rule[c.index][0], auto_rules()[i].rule_t0) << c.drafter_spec;
    EXPECT_EQ(exp.resolved_rule[c.index][1], auto_rules()[i].rule_t1) << c.drafter_spec;
    // And the registry agrees with the runner for the spec the runner built (state policy in).
    for (std::size_t ti = 0; ti < 2; ++ti) {
      const SamplingParams sampling = at(s.temperatures[ti]);
      EXPECT_EQ(exp.resolved_rule[c.index][ti],
                default_rule_for(drafter_child_sampling(c.drafter_spec, fx.env(), sampling), sampling.greedy()))
          << c.drafter_spec;
    }
  }
}

}  // namespace
}  // namespace speclab
