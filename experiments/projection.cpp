#include "experiments/projection.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "base/error.h"

namespace speclab {

namespace {

using Key = std::tuple<std::int32_t, std::int32_t, std::int32_t>;  // unit, config, turn

struct Walk {
  double spec = 0;        // sum of profile(n_s, L_s)
  double ar_steps = 0;    // sum of profile(1, L_s): the baseline's steps under the profile
  double verify_ms = 0;   // measured
};

Walk walk(const SequenceRow& s, const std::vector<const StepRow*>& steps, const CostProfile& p) {
  Walk w;
  double cached = s.prompt_tokens - 1.0;
  for (const StepRow* st : steps) {
    w.spec += p.forward_ms(st->n_drafted + 1.0, cached);
    w.ar_steps += p.forward_ms(1.0, cached);
    w.verify_ms += st->verify_ms;
    cached += st->n_emitted;
  }
  return w;
}

double ar_ms(const SequenceRow& s, const CostProfile& p) {
  const std::int32_t forwards = s.new_tokens + (s.stop == "eos" || s.stop == "bos" ? 1 : 0);
  double t = 0;
  for (std::int32_t i = 0; i < forwards; ++i) t += p.forward_ms(1.0, s.prompt_tokens - 1.0 + i);
  return t;
}

}  // namespace

void project_sequences(std::vector<SequenceRow>& seqs, const std::vector<StepRow>& steps,
                       const std::vector<CostProfile>& profiles) {
  std::map<Key, std::size_t> index;
  for (std::size_t i = 0; i < seqs.size(); ++i) index[{seqs[i].unit, seqs[i].config, seqs[i].turn}] = i;
  std::vector<std::vector<const StepRow*>> by_seq(seqs.size());
  for (const StepRow& st : steps) {
    const auto it = index.find({st.unit, st.config, st.turn});
    if (it == index.end()) {
      fail("steps: unit {} config {} turn {}: no matching sequence row", st.unit, st.config, st.turn);
    }
    by_seq[it->second].push_back(&st);
  }
  for (auto& v : by_seq) {
    std::stable_sort(v.begin(), v.end(), [](const StepRow* a, const StepRow* b) { return a->step < b->step; });
  }
  for (auto& s : seqs) {
    s.projected_ar_ms.assign(profiles.size(), 0.0);
    s.projected_spec_ms.assign(profiles.size(), 0.0);
  }
  for (std::size_t k = 0; k < profiles.size(); ++k) {
    const CostProfile& p = profiles[k];
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      SequenceRow& s = seqs[i];
      if (by_seq[i].empty()) continue;
      double r = 1.0;
      const auto b = index.find({s.unit, 0, s.turn});
      if (b != index.end() && !by_seq[b->second].empty()) {
        const Walk base = walk(seqs[b->second], by_seq[b->second], p);
        if (base.verify_ms > 0) r = base.ar_steps / base.verify_ms;
      }
      const Walk w = walk(s, by_seq[i], p);
      const double host_ms = std::max(0.0, s.decode_ms - w.verify_ms);
      s.projected_spec_ms[k] = w.spec + r * host_ms;
      s.projected_ar_ms[k] = ar_ms(s, p);
    }
  }
}

}  // namespace speclab
