// A drafter wrapper for contract tests (tests/drafters/test_drafter_contract.cpp). It forwards
// every call to the wrapped drafter and checks each proposal against the Drafter contract
// (drafters/drafter.h) before the decode loop sees it:
//   - the tree validates (DraftTree::validate), its root is ctx.tokens.back(), its tokens lie in
//     [0, vocab), it has at most budget.max_nodes draft nodes and (cap > 0) depth <= cap;
//   - the facts: n_resume in [0, tree size], both 0 for drafters that are not self-speculative,
//     and a self-speculative drafter leaves exactly n_before + n_resume slots in the target;
//   - optionally, the tree's ChildSampling equals an expected kind (the registry's).
// A violation is recorded as text; one that decode's always-on asserts would abort on is then
// repaired (root-only tree, the target's cache cut back), so a broken drafter fails a test
// instead of killing the test executable. Optionally records every tree and its facts, and
// counts the heap allocations made inside the wrapped propose() and observe() once warm.
#pragma once
#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "drafters/drafter.h"
#include "trees/draft_tree.h"

namespace speclab::testing {

class CheckedDrafter final : public Drafter {
 public:
  struct Options {
    std::int32_t vocab = 0;                  // token ids must lie in [0, vocab); 0 = unchecked
    std::optional<ChildSampling> children = std::nullopt;  // every tree's kind must be this
    bool record = false;                     // keep a copy of every tree and its facts (allocates)
    // Count allocations (the counter of tests/testing/alloc_counter.h) made inside propose() and
    // observe() from proposal number warm_steps on (0-based, counted since construction); see
    // also count_allocations_from_now().
    const std::atomic<long long>* allocation_counter = nullptr;
    std::int32_t warm_steps = 0;
  };
  static constexpr std::size_t kMaxViolations = 20;

  CheckedDrafter(Drafter& inner, Options options) : inner_(inner), opt_(options) {}

  std::string_view name() const override { return inner_.name(); }
  DrafterNeeds needs() const override { return inner_.needs(); }
  void begin(std::span<const Token> prompt) override { inner_.begin(prompt); }

  DraftFacts propose(const DraftContext& ctx, const DraftBudget& budget, DraftTree& out) override {
    const std::int32_t cached = ctx.target != nullptr ? ctx.target->n_cached() : 0;
    const bool count = counting();
    const long long a0 = count ? opt_.allocation_counter->load() : 0;
    DraftFacts facts = inner_.propose(ctx, budget, tree_);
    if (count) allocations_ += opt_.allocation_counter->load() - a0;
    out = tree_;  // the caller's tree may still grow: not the drafter's allocation
    ++n_proposals_;
    if (std::string problem = fatal_problem(ctx, budget, out, facts, cached); !problem.empty()) {
      violation(fmt::format("proposal {}: {}", n_proposals_ - 1, problem));
      if (ctx.target != nullptr && ctx.target->n_cached() > cached) ctx.target->truncate(cached);
      out.reset(ctx.tokens.back());
      facts = {};
    } else if (opt_.children && out.children != *opt_.children) {
      violation(fmt::format("proposal {}: children {} but the registry says {}", n_proposals_ - 1,
                            to_string(out.children), to_string(*opt_.children)));
    }
    n_drafted_ += out.size() - 1;
    if (opt_.record) {
      trees.push_back(out);
      facts_of.push_back(facts);
    }
    return facts;
  }

  void observe(const StepFeedback& fb) override {
    const bool count = opt_.allocation_counter != nullptr && n_proposals_ > opt_.warm_steps;
    const long long a0 = count ? opt_.allocation_counter->load() : 0;
    inner_.observe(fb);
    if (count) allocations_ += opt_.allocation_counter->load() - a0;
  }

  // Counts allocations from the next proposal on (e.g. after a warm-up decode).
  void count_allocations_from_now(const std::atomic<long long>* counter) {
    opt_.allocation_counter = counter;
    opt_.warm_steps = n_proposals_;
    allocations_ = 0;
  }
  const std::vector<std::string>& violations() const { return violations_; }
  std::int64_t n_violations() const { return n_violations_; }
  std::int32_t n_proposals() const { return n_proposals_; }
  std::int64_t n_drafted() const { return n_drafted_; }        // draft nodes of all proposals
  long long allocations() const { return allocations_; }      // counted so far (see Options)
  void clear_records() {
    trees.clear();
    facts_of.clear();
  }

  std::vector<DraftTree> trees;     // when Options::record: every proposal as returned
  std::vector<DraftFacts> facts_of;

 private:
  bool counting() const { return opt_.allocation_counter != nullptr && n_proposals_ >= opt_.warm_steps; }

  void violation(std::string text) {
    ++n_violations_;
    if (violations_.size() < kMaxViolations) violations_.push_back(std::move(text));
  }

  // The first violation decode would abort on (or could not verify), "" when none.
  std::string fatal_problem(const DraftContext& ctx, const DraftBudget& budget, const DraftTree& t,
                            const DraftFacts& facts, std::int32_t cached) const {
    try {
      t.validate();
    } catch (const std::exception& e) {
      return e.what();
    }
    if (t.token[0] != ctx.tokens.back()) {
      return fmt::format("root {} is not the last token {}", t.token[0], ctx.tokens.back());
    }
    if (t.size() - 1 > budget.max_nodes) {
      return fmt::format("{} draft nodes for a budget of {}", t.size() - 1, budget.max_nodes);
    }
    if (budget.max_depth > 0 && t.max_depth() > budget.max_depth) {
      return fmt::format("depth {} for a depth cap of {}", t.max_depth(), budget.max_depth);
    }
    for (std::int32_t i = 0; i < t.size() && opt_.vocab > 0; ++i) {
      if (t.token[i] < 0 || t.token[i] >= opt_.vocab) return fmt::format("node {} has token {}", i, t.token[i]);
    }
    if (facts.n_resume < 0 || facts.n_resume > t.size()) {
      return fmt::format("n_resume {} for a tree of {} nodes", facts.n_resume, t.size());
    }
    if (!inner_.needs().self_speculative && (facts.n_resume != 0 || facts.exit_layer != 0)) {
      return fmt::format("n_resume {}, exit layer {} from a drafter that is not self-speculative",
                         facts.n_resume, facts.exit_layer);
    }
    if (ctx.target != nullptr && ctx.target->n_cached() != cached + facts.n_resume) {
      return fmt::format("the target holds {} slots after propose: expected {} + n_resume {}",
                         ctx.target->n_cached(), cached, facts.n_resume);
    }
    return "";
  }

  Drafter& inner_;
  Options opt_;
  DraftTree tree_;  // what the drafter proposes into: kept across proposals, like decode's tree
  std::vector<std::string> violations_;
  std::int64_t n_violations_ = 0;
  std::int32_t n_proposals_ = 0;
  std::int64_t n_drafted_ = 0;
  long long allocations_ = 0;
};

}  // namespace speclab::testing
