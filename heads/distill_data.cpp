#include "heads/distill_data.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/error.h"
#include "base/rng.h"
#include "ops/sampling.h"

namespace speclab {

std::int64_t DistillData::n_positions() const {
  std::int64_t n = 0;
  for (const auto& s : seqs) n += s.size();
  return n;
}

DistillSplit split_holdout(const DistillData& data, float holdout_frac, std::int32_t min_tokens) {
  const std::int32_t n_seq = static_cast<std::int32_t>(data.seqs.size());
  DistillSplit sp;
  if (holdout_frac > 0.0f) {
    if (n_seq < 2) fail("train-heads: {} sequence(s): a held-out split needs at least 2 (or holdout 0)", n_seq);
    sp.n_heldout = std::clamp(static_cast<std::int32_t>(std::lround(holdout_frac * n_seq)), 1, n_seq - 1);
  }
  for (std::int32_t s = 0; s < n_seq; ++s) {
    const bool held = s >= n_seq - sp.n_heldout;
    if (held) sp.heldout_positions += data.seqs[s].size();
    if (data.seqs[s].size() < min_tokens) continue;
    if (!held) sp.train_positions += data.seqs[s].size();
    (held ? sp.heldout : sp.train).push_back(s);
  }
  if (sp.heldout.empty()) sp.heldout = sp.train;
  return sp;
}

double target_top1(const DistillData& data, std::span<const std::int32_t> seq_ids) {
  std::int64_t hit = 0, total = 0;
  for (const std::int32_t s : seq_ids) {
    const DistillSequence& q = data.seqs[s];
    for (std::int32_t t = 0; t + 1 < q.size(); ++t, ++total) {
      hit += q.teacher_ids[static_cast<std::size_t>(t) * data.teacher_top] == q.tokens[t + 1];
    }
  }
  return total ? static_cast<double>(hit) / static_cast<double>(total) : 0.0;
}

void DistillOptions::validate(const ModelInfo& info) const {
  if (samples_per_prompt < 1 || samples_per_prompt > 100000) {
    fail("distill: samples_per_prompt = {}: must be in [1, 100000]", samples_per_prompt);
  }
  if (max_len < 2 || max_len > info.max_seq_len) {
    fail("distill: max_len = {}: must be in [2, max_seq_len = {}]", max_len, info.max_seq_len);
  }
  if (!(temperature >= 0.0f) || temperature > 100.0f) {
    fail("distill: temperature = {}: must be in [0, 100]", temperature);
  }
  if (teacher_top < 1 || teacher_top > info.vocab_size) {
    fail("distill: teacher_top = {}: must be in [1, vocab = {}]", teacher_top, info.vocab_size);
  }
  for (const auto l : layers) {
    if (l < 0 || l > info.n_layers) {  // residual after l layers (0: the embeddings)
      fail("distill: layer {}: must be in [0, n_layers = {}]", l, info.n_layers);
    }
  }
}

namespace {

// Appends the rows of one forward (all rows have logits and hidden states) to `s`.
void append_rows(const ForwardOutput& out, std::int32_t n, std::int32_t dim, std::int32_t T,
                 DistillSequence& s, std::vector<float>& probs, std::vector<std::int32_t>& idx) {
  const std::size_t nd = static_cast<std::size_t>(n) * dim;
  s.hidden.insert(s.hidden.end(), out.hidden[0].begin(), out.hidden[0].begin() + nd);
  for (std::size_t l = 0; l < s.layer_hidden.size(); ++l) {
    s.layer_hidden[l].insert(s.layer_hidden[l].end(), out.hidden[l + 1].begin(),
                             out.hidden[l + 1].begin() + nd);
  }
  for (std::int32_t r = 0; r < n; ++r) {
    const auto row = out.row(r);
    const float m = *std::max_element(row.begin(), row.end());
    probs.resize(row.size());
    for (std::size_t j = 0; j < row.size(); ++j) probs[j] = std::exp(row[j] - m);
    idx.resize(row.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + T, idx.end(), [&](std::int32_t a, std::int32_t b) {
      return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
    });
    double kept = 0.0;
    for (std::int32_t k = 0; k < T; ++k) kept += probs[idx[k]];
    for (std::int32_t k = 0; k < T; ++k) {
      s.teacher_ids.push_back(idx[k]);
      s.teacher_p.push_back(static_cast<float>(probs[idx[k]] / kept));
    }
  }
}

}  // namespace

DistillSequence record_sequence(LanguageModel& target, std::span<const Token> prefix, bool generate,
                                const DistillOptions& opts, std::uint64_t seed) {
  const ModelInfo& info = target.info();
  if (prefix.empty()) fail("distill: empty sequence (a prompt must have at least one token)");
  for (const Token t : prefix) {
    if (t < 0 || t >= info.vocab_size) fail("distill: token id {}: must be in [0, {})", t, info.vocab_size);
  }
  if (static_cast<std::int32_t>(prefix.size()) > opts.max_len) prefix = prefix.first(opts.max_len);
  const std::int32_t dim = info.dim, T = opts.teacher_top;
  std::vector<std::int32_t> selectors = {kFinalNormedHidden};
  selectors.insert(selectors.end(), opts.layers.begin(), opts.layers.end());
  DistillSequence s;
  s.layer_hidden.resize(opts.layers.size());
  target.truncate(0);
  ForwardOutput out;
  std::vector<float> probs;
  std::vector<std::int32_t> idx, positions;
  ForwardBatch batch;
  batch.hidden_layers = selectors;
  // Prefix in chunks (the model's preallocated batch is bounded).
  constexpr std::int32_t kChunk = 128;
  for (std::size_t start = 0; start < prefix.size(); start += kChunk) {
    const std::int32_t n = static_cast<std::int32_t>(std::min<std::size_t>(kChunk, prefix.size() - start));
    positions.resize(n);
    std::iota(positions.begin(), positions.end(), static_cast<std::int32_t>(start));
    batch.tokens = prefix.subspan(start, n);
    batch.positions = positions;
    target.forward(batch, out);
    append_rows(out, n, dim, T, s, probs, idx);
  }
  s.tokens.assign(prefix.begin(), prefix.end());
  if (generate) {
    Rng rng(seed);
    SamplingParams sp;
    sp.temperature = opts.temperature;
    std::vector<float> p(static_cast<std::size_t>(info.vocab_size));
    while (s.size() < opts.max_len) {
      logits_to_probs(out.row(out.n_rows - 1), sp, p, idx);
      const Token next = sample_from(p, rng);
      if (opts.stop_at_eos && (info.is_eos(next) || next == info.bos_id)) break;
      const std::int32_t pos = s.size();
      batch.tokens = std::span<const Token>(&next, 1);
      batch.positions = std::span<const std::int32_t>(&pos, 1);
      target.forward(batch, out);
      append_rows(out, 1, dim, T, s, probs, idx);
      s.tokens.push_back(next);
    }
  }
  target.truncate(0);
  return s;
}

namespace {

DistillData empty_data(const ModelInfo& info, const DistillOptions& opts) {
  DistillData d;
  d.dim = info.dim;
  d.vocab = info.vocab_size;
  d.teacher_top = opts.teacher_top;
  d.layers = opts.layers;
  return d;
}

}  // namespace

DistillData distill_from_prompts(LanguageModel& target, const std::vector<std::vector<Token>>& prompts,
                                 const DistillOptions& opts, std::ostream* log) {
  opts.validate(target.info());
  if (prompts.empty()) fail("distill: no prompts");
  DistillData d = empty_data(target.info(), opts);
  Rng seeds(opts.seed);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    for (std::int32_t j = 0; j < opts.samples_per_prompt; ++j) {
      d.seqs.push_back(record_sequence(target, prompts[i], true, opts, seeds.next_u64()));
    }
    if (log) {
      *log << "distill: prompt " << (i + 1) << "/" << prompts.size() << ", "
           << d.n_positions() << " positions so far\n";
    }
  }
  return d;
}

DistillData distill_from_corpus(LanguageModel& target, std::span<const Token> corpus,
                                const DistillOptions& opts, std::ostream* log) {
  opts.validate(target.info());
  if (corpus.size() < 2) fail("distill: corpus has {} tokens: need at least 2", corpus.size());
  DistillData d = empty_data(target.info(), opts);
  for (std::size_t start = 0; start + 1 < corpus.size(); start += static_cast<std::size_t>(opts.max_len)) {
    const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(opts.max_len), corpus.size() - start);
    if (n < 2) break;
    d.seqs.push_back(record_sequence(target, corpus.subspan(start, n), false, opts, 0));
    if (log && d.seqs.size() % 16 == 0) *log << "distill: " << d.n_positions() << " corpus positions\n";
  }
  return d;
}

}  // namespace speclab
