// Projected speedups (issue 17): what a run's sequences would take on the machine a CostProfile
// describes, from the records alone (so a run, a resume and a merge compute the same numbers).
//
// For a sequence with steps s = 1..S (tree size n_s = n_drafted + 1, cached length L_s =
// prompt_tokens - 1 + the tokens emitted before step s):
//   spec_ms = sum_s profile(n_s, L_s) + r * host_ms
//   ar_ms   = sum_{i < F} profile(1, prompt_tokens - 1 + i),  F = new_tokens (+1 when the
//             sequence stopped at EOS / BOS: autoregressive decoding also runs the step that
//             produces the stop token)
// host_ms = decode_ms - sum_s verify_ms is the host-side work the profile does not cover
// (drafting, observe, bookkeeping), and r = sum profile(1, L) / sum verify_ms over the steps of the
// autoregressive baseline sequence of the same unit and turn: how much faster the profiled
// machine runs a one-token step than the machine that ran the experiment (r ~ 1 for this
// machine's own measured profile; 1 when the unit has no baseline row). Drafting work is thus
// assumed to scale with the machine like a target step does (a statement about the drafter's
// implementation, not a measurement). Self-speculative drafters' resumed rows are charged as
// full rows (an over-estimate of their verification, their draft forwards are in host_ms).
// The projected speedup of a sequence is ar_ms / spec_ms, of a group of sequences
// sum ar_ms / sum spec_ms (a ratio of token rates, as the measured speedup).
#pragma once
#include <vector>

#include "experiments/cost_model.h"
#include "experiments/report.h"

namespace speclab {

// Fills every sequence's projected_ar_ms / projected_spec_ms (one entry per profile, in order)
// from its steps (rows in any order; a sequence without steps gets 0 and 0). Throws Error for a
// step row with no sequence row.
void project_sequences(std::vector<SequenceRow>& seqs, const std::vector<StepRow>& steps,
                       const std::vector<CostProfile>& profiles);

}  // namespace speclab
