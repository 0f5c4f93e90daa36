// The EAGLE head (heads/eagle_head.h): its forward equals a naive double-precision reference of
// the same architecture written here (fc over [e(x), f], one Llama layer without input norm,
// RoPE attention over its own cache, post-attention RMSNorm, SwiGLU, the target's classifier
// without norm), also with the optional input norm, q/k/v biases and half-split RoPE; chunked
// appends, truncation, tree masks and thread counts give bit-identical rows; save / load
// round-trips bit for bit; every load error names the file and the field or tensor.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <utility>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/rng.h"
#include "formats/safetensors.h"
#include "heads/eagle_head.h"
#include "heads/head_net.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/heads_test_util.h"

namespace speclab {
namespace {

using testing::TempDir;

// A GQA target: dim 32, 4 heads / 2 KV heads (head_dim 8), FFN 64, vocab 60, untied.
std::shared_ptr<const LlamaWeights> tiny_target(std::uint64_t seed = 21, RopeStyle style = RopeStyle::kInterleaved) {
  ModelInfo info = synthetic_info(32, 64, 2, 4, 2, 60, 512);
  info.tied_classifier = false;
  info.rope_style = style;
  info.rope_theta = 500.0f;  // fast rotations: positions matter in the test
  return std::make_shared<const LlamaWeights>(random_llama_weights(info, seed));
}

std::vector<float> random_rows(std::int32_t n, std::int32_t dim, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<std::size_t>(n) * dim);
  for (float& x : v) x = static_cast<float>(rng.normal());
  return v;
}

// ---- the naive reference (double) ----------------------------------------------------------

using Vec = std::vector<double>;

Vec mat_vec(const WeightMatrix& m, const Vec& x) {
  const std::vector<float> w = m.to_f32();
  Vec y(static_cast<std::size_t>(m.rows()), 0.0);
  for (std::int64_t r = 0; r < m.rows(); ++r) {
    for (std::int64_t c = 0; c < m.cols(); ++c) y[r] += static_cast<double>(w[r * m.cols() + c]) * x[c];
  }
  return y;
}

Vec rms(const Vec& x, const std::vector<float>& gain, double eps) {
  double ss = 0.0;
  for (double v : x) ss += v * v;
  const double r = 1.0 / std::sqrt(ss / x.size() + eps);
  Vec y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * r * gain[i];
  return y;
}

void rotate(Vec& v, int n_heads, int hd, bool interleaved, double pos, double theta) {
  for (int h = 0; h < n_heads; ++h) {
    for (int p = 0; p < hd / 2; ++p) {
      const int a = h * hd + (interleaved ? 2 * p : p), b = h * hd + (interleaved ? 2 * p + 1 : p + hd / 2);
      const double ang = pos * std::pow(theta, -2.0 * p / hd);
      const double x0 = v[a], x1 = v[b];
      v[a] = x0 * std::cos(ang) - x1 * std::sin(ang);
      v[b] = x0 * std::sin(ang) + x1 * std::cos(ang);
    }
  }
}

// Rows processed in order; row t sees the rows listed in visible[t] (indices < t) and itself.
struct Reference {
  const EagleWeights& w;
  const LlamaWeights& target;
  std::vector<Vec> keys, values;  // per processed row

  Vec row(const float* feature, Token token, std::int32_t pos, const std::vector<int>& visible) {
    const EagleConfig& c = w.config;
    const int d = c.dim, hd = c.head_dim, group = c.n_heads / c.n_kv_heads;
    Vec u(2 * d);
    std::vector<float> e(d);
    target.token_embedding.dequantize_row(token, e.data());
    for (int i = 0; i < d; ++i) {
      u[i] = e[i];  // embedding first (EAGLE's cat((inputs_embeds, hidden_states)))
      u[d + i] = feature[i];
    }
    Vec h = mat_vec(w.fc, u);
    for (int i = 0; i < d && !w.fc_bias.empty(); ++i) h[i] += w.fc_bias[i];
    const Vec in = c.input_norm ? rms(h, w.layer.attn_norm, c.norm_eps) : h;
    Vec q = mat_vec(w.layer.wq, in), k = mat_vec(w.layer.wk, in), v = mat_vec(w.layer.wv, in);
    if (c.qkv_bias) {
      for (std::size_t i = 0; i < q.size(); ++i) q[i] += w.layer.bq[i];
      for (std::size_t i = 0; i < k.size(); ++i) k[i] += w.layer.bk[i], v[i] += w.layer.bv[i];
    }
    const bool il = c.rope_style == RopeStyle::kInterleaved;
    rotate(q, c.n_heads, hd, il, pos, c.rope_theta);
    rotate(k, c.n_kv_heads, hd, il, pos, c.rope_theta);
    keys.push_back(k);
    values.push_back(v);
    std::vector<int> seen = visible;
    seen.push_back(static_cast<int>(keys.size()) - 1);
    Vec att(q.size(), 0.0);
    for (int hh = 0; hh < c.n_heads; ++hh) {
      const int kvh = hh / group;
      std::vector<double> s;
      for (int j : seen) {
        double dot = 0.0;
        for (int i = 0; i < hd; ++i) dot += q[hh * hd + i] * keys[j][kvh * hd + i];
        s.push_back(dot / std::sqrt(static_cast<double>(hd)));
      }
      double mx = s[0], z = 0.0;
      for (double x : s) mx = std::max(mx, x);
      for (double& x : s) z += (x = std::exp(x - mx));
      for (std::size_t jj = 0; jj < seen.size(); ++jj) {
        for (int i = 0; i < hd; ++i) att[hh * hd + i] += s[jj] / z * values[seen[jj]][kvh * hd + i];
      }
    }
    const Vec o = mat_vec(w.layer.wo, att);
    Vec a(d);
    for (int i = 0; i < d; ++i) a[i] = h[i] + o[i];
    const Vec m = rms(a, w.layer.ffn_norm, c.norm_eps);
    const Vec g = mat_vec(w.layer.w1, m), up = mat_vec(w.layer.w3, m);
    Vec act(g.size());
    for (std::size_t i = 0; i < g.size(); ++i) act[i] = g[i] / (1.0 + std::exp(-g[i])) * up[i];
    const Vec down = mat_vec(w.layer.w2, act);
    for (int i = 0; i < d; ++i) a[i] += down[i];
    return a;
  }
  Vec logits(const Vec& f) const { return mat_vec(target.classifier_matrix(), f); }
};

double max_rel_err(std::span<const float> got, const Vec& want) {
  double scale = 0.0, err = 0.0;
  for (double v : want) scale = std::max(scale, std::abs(v));
  for (std::size_t i = 0; i < want.size(); ++i) err = std::max(err, std::abs(got[i] - want[i]));
  return err / std::max(scale, 1e-30);
}

// The head's variants: EAGLE-1/2 as published, and with every optional part on.
EagleWeights variant(const LlamaWeights& target, bool all_options, std::uint64_t seed) {
  EagleWeights w = random_eagle_weights(target, seed);
  if (all_options) {
    Rng rng(seed + 100);
    EagleConfig& c = w.config;
    c.input_norm = true;
    c.qkv_bias = true;
    c.fc_bias = false;
    w.fc_bias.clear();
    auto noise = [&](std::size_t n, double mean) {
      std::vector<float> v(n);
      for (float& x : v) x = static_cast<float>(mean + 0.1 * rng.normal());
      return v;
    };
    w.layer.attn_norm = noise(c.dim, 1.0);
    w.layer.bq = noise(static_cast<std::size_t>(c.n_heads) * c.head_dim, 0.0);
    w.layer.bk = noise(static_cast<std::size_t>(c.n_kv_heads) * c.head_dim, 0.0);
    w.layer.bv = noise(static_cast<std::size_t>(c.n_kv_heads) * c.head_dim, 0.0);
  }
  return w;
}

TEST(EagleHead, ForwardEqualsTheDoubleReference) {
  for (const RopeStyle style : {RopeStyle::kInterleaved, RopeStyle::kHalfSplit}) {
    for (const bool all_options : {false, true}) {
      const auto target = tiny_target(21, style);
      auto w = std::make_shared<const EagleWeights>(variant(*target, all_options, 3));
      EagleHead head(w, target, 1);
      const std::int32_t n = 9, d = w->config.dim, vocab = w->config.vocab;
      const auto feats = random_rows(n, d, 5);
      std::vector<Token> toks;
      std::vector<std::int32_t> pos;
      for (std::int32_t t = 0; t < n; ++t) {
        toks.push_back((7 * t + 3) % vocab);
        pos.push_back(t + 2);  // any positions: the head does not assume its slot
      }
      std::vector<float> out(static_cast<std::size_t>(n) * d), logits(static_cast<std::size_t>(n) * vocab);
      head.append(feats, toks, pos, out);
      head.logits(out, n, logits);
      Reference ref{*w, *target, {}, {}};
      for (std::int32_t t = 0; t < n; ++t) {
        std::vector<int> visible;
        for (int j = 0; j < t; ++j) visible.push_back(j);
        const Vec f = ref.row(feats.data() + static_cast<std::size_t>(t) * d, toks[t], pos[t], visible);
        const auto got = std::span<const float>(out).subspan(static_cast<std::size_t>(t) * d, d);
        EXPECT_LT(max_rel_err(got, f), 1e-4) << "row " << t << " style " << int(style) << " options " << all_options;
        const auto got_logits = std::span<const float>(logits).subspan(static_cast<std::size_t>(t) * vocab, vocab);
        EXPECT_LT(max_rel_err(got_logits, ref.logits(f)), 1e-4) << "logits of row " << t;
      }
    }
  }
}

// A tree-masked batch: every row equals the reference row that sees exactly the committed rows,
// its ancestors and itself.
TEST(EagleHead, TreeMaskEqualsTheReference) {
  const auto target = tiny_target();
  auto w = std::make_shared<const EagleWeights>(random_eagle_weights(*target, 4));
  EagleHead head(w, target, 1);
  const std::int32_t d = w->config.dim, n_commit = 5;
  const auto commit_feats = random_rows(n_commit, d, 6);
  const std::vector<Token> commit_toks = {1, 5, 9, 13, 17};
  const std::vector<std::int32_t> commit_pos = {0, 1, 2, 3, 4};
  std::vector<float> out(static_cast<std::size_t>(n_commit) * d);
  head.append(commit_feats, commit_toks, commit_pos, out);
  Reference ref{*w, *target, {}, {}};
  std::vector<int> seen;
  for (int t = 0; t < n_commit; ++t) {
    ref.row(commit_feats.data() + static_cast<std::size_t>(t) * d, commit_toks[t], commit_pos[t], seen);
    seen.push_back(t);
  }
  // Level 1: two siblings (slots 5, 6); level 2: children of slot 6 and of slot 5 (slots 7, 8).
  const auto l1 = random_rows(2, d, 7);
  std::vector<float> o1(2 * static_cast<std::size_t>(d));
  const std::vector<std::uint8_t> m1 = {1, 0, 0, 1};  // w = 0 drafted + 2
  head.append(l1, std::vector<Token>{20, 21}, std::vector<std::int32_t>{5, 5}, o1, n_commit, m1);
  const auto l2 = random_rows(2, d, 8);
  std::vector<float> o2(2 * static_cast<std::size_t>(d));
  const std::vector<std::uint8_t> m2 = {0, 1, 1, 0,   // row 0 under slot 6
                                        1, 0, 0, 1};  // row 1 under slot 5
  head.append(l2, std::vector<Token>{30, 31}, std::vector<std::int32_t>{6, 6}, o2, n_commit, m2);
  const Vec r10 = ref.row(l1.data(), 20, 5, seen);                  // ref row 5
  const Vec r11 = ref.row(l1.data() + d, 21, 5, seen);              // ref row 6
  auto with = [&](int extra) { auto v = seen; v.push_back(extra); return v; };
  const Vec r20 = ref.row(l2.data(), 30, 6, with(6));
  const Vec r21 = ref.row(l2.data() + d, 31, 6, with(5));
  EXPECT_LT(max_rel_err(std::span<const float>(o1).first(d), r10), 1e-4);
  EXPECT_LT(max_rel_err(std::span<const float>(o1).subspan(d), r11), 1e-4);
  EXPECT_LT(max_rel_err(std::span<const float>(o2).first(d), r20), 1e-4);
  EXPECT_LT(max_rel_err(std::span<const float>(o2).subspan(d), r21), 1e-4);

  // Bit for bit: the masked row equals running its path as a chain after the committed rows.
  head.truncate(n_commit);
  std::vector<float> chain(2 * static_cast<std::size_t>(d));
  std::vector<float> in(l1.begin() + d, l1.end());
  in.insert(in.end(), l2.begin(), l2.begin() + d);
  head.append(in, std::vector<Token>{21, 30}, std::vector<std::int32_t>{5, 6}, chain);
  EXPECT_EQ(std::memcmp(chain.data(), o1.data() + d, d * sizeof(float)), 0) << "level-1 row";
  EXPECT_EQ(std::memcmp(chain.data() + d, o2.data(), d * sizeof(float)), 0) << "level-2 row";
}

// Incremental appends in chunks, with drafted rows appended and truncated in between, give
// bit-identical rows and logits to one-shot processing, for 1 and 2 threads.
TEST(EagleHead, ChunksAndTruncationAreBitIdenticalToOneShot) {
  const auto target = tiny_target();
  auto w = std::make_shared<const EagleWeights>(random_eagle_weights(*target, 9));
  const std::int32_t n = 12, d = w->config.dim, vocab = w->config.vocab;
  const auto feats = random_rows(n, d, 10);
  std::vector<Token> toks;
  std::vector<std::int32_t> pos;
  for (std::int32_t t = 0; t < n; ++t) {
    toks.push_back((5 * t + 1) % vocab);
    pos.push_back(t);
  }
  EagleHead one(w, target, 1);
  std::vector<float> want(static_cast<std::size_t>(n) * d), want_logits(static_cast<std::size_t>(n) * vocab);
  one.append(feats, toks, pos, want);
  one.logits(want, n, want_logits);
  for (const int threads : {1, 2}) {
    EagleHead head(w, target, threads);
    std::vector<float> got(static_cast<std::size_t>(n) * d);
    std::int32_t at = 0;
    for (const std::int32_t chunk : {3, 1, 5, 3}) {
      const std::size_t off = static_cast<std::size_t>(at) * d, len = static_cast<std::size_t>(chunk) * d;
      head.append(std::span<const float>(feats).subspan(off, len), std::span<const Token>(toks).subspan(at, chunk),
                  std::span<const std::int32_t>(pos).subspan(at, chunk), std::span<float>(got).subspan(off, len));
      at += chunk;
      // Drafted rows (garbage) come and go.
      const auto junk = random_rows(4, d, 50 + at);
      std::vector<float> junk_out(4 * static_cast<std::size_t>(d));
      head.append(junk, std::vector<Token>{2, 3, 4, 5}, std::vector<std::int32_t>{at, at, at + 1, at + 2}, junk_out);
      head.truncate(at);
      EXPECT_EQ(head.n_cached(), at);
    }
    ASSERT_EQ(at, n);
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0) << threads << " threads";
    std::vector<float> logits(static_cast<std::size_t>(n) * vocab);
    head.logits(got, n, logits);
    EXPECT_EQ(std::memcmp(logits.data(), want_logits.data(), logits.size() * sizeof(float)), 0);
  }
}

TEST(EagleHead, RandomWeightsAreDeterministicForASeed) {
  const auto target = tiny_target();
  const EagleWeights a = random_eagle_weights(*target, 1), b = random_eagle_weights(*target, 1),
                     c = random_eagle_weights(*target, 2);
  EXPECT_TRUE(a.fc == b.fc && a.layer.wq == b.layer.wq && a.layer.w2 == b.layer.w2);
  EXPECT_EQ(a.fc_bias, b.fc_bias);
  EXPECT_EQ(a.layer.ffn_norm, b.layer.ffn_norm);
  EXPECT_FALSE(a.fc == c.fc);
  EXPECT_EQ(a.config.model_fingerprint, model_fingerprint(*target));
  EXPECT_TRUE(a.config.fc_bias);
  EXPECT_FALSE(a.config.input_norm);  // EAGLE-1/2: no input norm in the head's layer
  EXPECT_TRUE(a.layer.attn_norm.empty());
}

// ---- files ----------------------------------------------------------------------------------

TEST(EagleHead, SaveLoadRoundTripsBitForBit) {
  const auto target = tiny_target();
  TempDir dir;
  for (const bool all_options : {false, true}) {
    const EagleWeights w = variant(*target, all_options, 11);
    const std::string path = dir.sub(all_options ? "all" : "plain");
    save_eagle_head(w, path);
    EXPECT_TRUE(std::filesystem::exists(path + "/eagle.json"));
    EXPECT_TRUE(std::filesystem::exists(path + "/eagle.safetensors"));
    const EagleWeights l = load_eagle_head(path, *target);
    EXPECT_EQ(to_json(l.config), to_json(w.config));
    EXPECT_EQ(l.fc.to_f32(), w.fc.to_f32());
    EXPECT_EQ(l.fc_bias, w.fc_bias);
    using Pair = std::pair<const WeightMatrix*, const WeightMatrix*>;
    for (const Pair& m : std::initializer_list<Pair>{{&l.layer.wq, &w.layer.wq}, {&l.layer.wk, &w.layer.wk},
                                                     {&l.layer.wv, &w.layer.wv}, {&l.layer.wo, &w.layer.wo},
                                                     {&l.layer.w1, &w.layer.w1}, {&l.layer.w2, &w.layer.w2},
                                                     {&l.layer.w3, &w.layer.w3}}) {
      EXPECT_EQ(m.first->to_f32(), m.second->to_f32());
    }
    EXPECT_EQ(l.layer.ffn_norm, w.layer.ffn_norm);
    EXPECT_EQ(l.layer.attn_norm, w.layer.attn_norm);
    EXPECT_EQ(l.layer.bq, w.layer.bq);
    EXPECT_EQ(l.layer.bv, w.layer.bv);
    // The published EAGLE tensor names.
    const SafetensorsFile st(path + "/eagle.safetensors");
    for (const char* name : {"fc.weight", "layers.0.self_attn.q_proj.weight", "layers.0.self_attn.o_proj.weight",
                             "layers.0.post_attention_layernorm.weight", "layers.0.mlp.gate_proj.weight",
                             "layers.0.mlp.up_proj.weight", "layers.0.mlp.down_proj.weight"}) {
      EXPECT_NE(st.find(name), nullptr) << name;
    }
    EXPECT_EQ(st.find("fc.bias") != nullptr, !all_options);
    EXPECT_EQ(st.find("layers.0.input_layernorm.weight") != nullptr, all_options);
    // Same outputs.
    EagleHead a(std::make_shared<const EagleWeights>(w), target), b(std::make_shared<const EagleWeights>(l), target);
    const auto f = random_rows(3, w.config.dim, 12);
    std::vector<float> oa(f.size()), ob(f.size());
    a.append(f, std::vector<Token>{1, 2, 3}, std::vector<std::int32_t>{0, 1, 2}, oa);
    b.append(f, std::vector<Token>{1, 2, 3}, std::vector<std::int32_t>{0, 1, 2}, ob);
    EXPECT_EQ(oa, ob);
  }
}

std::string error_of(const std::function<void()>& f) { return testing::error_of(f); }

void expect_contains(const std::string& msg, std::initializer_list<std::string> parts) {
  for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
}

// Rewrites DIR/eagle.safetensors with `edit` applied to the list of (name, shape, values).
struct Tensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};
void rewrite_tensors(const std::string& dir, const std::function<void(std::vector<Tensor>&)>& edit) {
  const std::string path = dir + "/eagle.safetensors";
  std::vector<Tensor> ts;
  {
    const SafetensorsFile st(path);
    for (const auto& t : st.tensors()) ts.push_back({t.name, t.shape, st.read_f32(t)});
  }
  edit(ts);
  std::vector<SafetensorsOut> out;
  for (const Tensor& t : ts) out.push_back({t.name, t.shape, t.data});
  write_safetensors_f32(path, out);
}

void rewrite_json(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
  const std::string path = dir + "/eagle.json";
  nlohmann::json j;
  std::ifstream(path) >> j;
  edit(j);
  std::ofstream(path, std::ios::trunc) << j.dump(2);
}

TEST(EagleHead, LoadErrorsNameTheFileAndTheField) {
  const auto target = tiny_target();
  const EagleWeights w = random_eagle_weights(*target, 13);
  TempDir dir;
  auto fresh = [&](const std::string& name) {
    const std::string p = dir.sub(name);
    save_eagle_head(w, p);
    return p;
  };
  auto load = [&](const std::string& p) { return error_of([&] { load_eagle_head(p, *target); }); };

  // Missing directory and files.
  expect_contains(load(dir.sub("nope")), {dir.sub("nope"), "not found"});
  {
    const std::string p = fresh("no_json");
    std::filesystem::remove(p + "/eagle.json");
    expect_contains(load(p), {p + "/eagle.json", "cannot open"});
  }
  {
    const std::string p = fresh("no_tensors");
    std::filesystem::remove(p + "/eagle.safetensors");
    expect_contains(load(p), {p + "/eagle.safetensors"});
  }
  // A missing tensor.
  {
    const std::string p = fresh("missing");
    rewrite_tensors(p, [](std::vector<Tensor>& ts) {
      std::erase_if(ts, [](const Tensor& t) { return t.name == "layers.0.mlp.up_proj.weight"; });
    });
    expect_contains(load(p), {p + "/eagle.safetensors", "tensor layers.0.mlp.up_proj.weight missing"});
  }
  // A tensor of the wrong shape.
  {
    const std::string p = fresh("shape");
    rewrite_tensors(p, [](std::vector<Tensor>& ts) {
      for (Tensor& t : ts) {
        if (t.name == "fc.weight") {
          t.shape = {32, 32};
          t.data.resize(32 * 32);
        }
      }
    });
    expect_contains(load(p), {p + "/eagle.safetensors", "tensor fc.weight has shape [32, 32]", "expected [32, 64]"});
  }
  // A non-finite value.
  {
    const std::string p = fresh("nan");
    rewrite_tensors(p, [](std::vector<Tensor>& ts) {
      for (Tensor& t : ts) {
        if (t.name == "fc.bias") t.data[3] = std::nanf("");
      }
    });
    expect_contains(load(p), {p + "/eagle.safetensors", "tensor fc.bias", "non-finite"});
  }
  // Another target: the fingerprint.
  {
    const std::string p = fresh("foreign");
    const auto other = tiny_target(99);
    const std::string msg = error_of([&] { load_eagle_head(p, *other); });
    expect_contains(msg, {p + "/eagle.json", "model_fingerprint = " + w.config.model_fingerprint,
                          model_fingerprint(*other), "only with its own target"});
  }
  // Bad JSON fields: mistyped, missing, out of range, an unknown enum value, a broken rule.
  {
    const std::string p = fresh("json");
    const std::string jp = p + "/eagle.json";
    rewrite_json(p, [](nlohmann::json& j) { j["n_heads"] = "four"; });
    expect_contains(load(p), {jp, "field 'n_heads'", "\"four\""});
    save_eagle_head(w, p);
    rewrite_json(p, [](nlohmann::json& j) { j.erase("rope_style"); });
    expect_contains(load(p), {jp, "missing field 'rope_style'"});
    save_eagle_head(w, p);
    rewrite_json(p, [](nlohmann::json& j) { j["rope_style"] = "diagonal"; });
    expect_contains(load(p), {jp, "field 'rope_style'", "diagonal", "interleaved"});
    save_eagle_head(w, p);
    rewrite_json(p, [](nlohmann::json& j) { j["fc_bias"] = 1; });
    expect_contains(load(p), {jp, "field 'fc_bias'", "true or false"});
    save_eagle_head(w, p);
    rewrite_json(p, [](nlohmann::json& j) { j["n_kv_heads"] = 3; });
    expect_contains(load(p), {jp, "n_kv_heads = 3", "must divide n_heads = 4"});
    save_eagle_head(w, p);
    rewrite_json(p, [](nlohmann::json& j) { j["dim"] = 0; });
    expect_contains(load(p), {jp, "field 'dim'", "must be an integer in [1, "});
    save_eagle_head(w, p);
    rewrite_json(p, [](nlohmann::json& j) { j["format"] = "speclab-heads-v1"; });
    expect_contains(load(p), {jp, "field 'format'", "speclab-eagle-v1"});
    save_eagle_head(w, p);
    std::ofstream(jp, std::ios::trunc) << "{\"dim\": ";
    expect_contains(load(p), {jp, "not valid JSON"});
    // A config that validates but disagrees with the tensors: fc_bias off, input_norm on.
    save_eagle_head(w, p);
    rewrite_json(p, [](nlohmann::json& j) { j["input_norm"] = true; });
    expect_contains(load(p), {p + "/eagle.safetensors", "tensor layers.0.input_layernorm.weight missing"});
  }
}

// A fused head (EagleConfig::feature_layers, EAGLE-3-style input): fuse.weight [dim, F dim] saves
// and loads with its layers; fuse() is that product (a copy for an unfused head); its errors
// name the file and the field.
TEST(EagleHead, FusedHeadsRoundTripAndCheckTheirLayers) {
  const auto target = tiny_target();
  const std::vector<std::int32_t> layers = {0, kFinalNormedHidden, target->info.n_layers};
  const EagleWeights w = random_eagle_weights(*target, 13, layers);
  const EagleWeights plain = random_eagle_weights(*target, 13);
  const std::int32_t d = w.config.dim;
  EXPECT_EQ(w.config.feature_width(), 3 * d);
  EXPECT_EQ(w.fuse.rows(), d);
  EXPECT_EQ(w.fuse.cols(), 3 * d);
  EXPECT_TRUE(w.fc == plain.fc && w.layer.w2 == plain.layer.w2) << "fuse is drawn after the other tensors";
  TempDir dir;
  const std::string p = dir.sub("fused");
  save_eagle_head(w, p);
  const EagleWeights l = load_eagle_head(p, *target);
  EXPECT_EQ(l.config.feature_layers, layers);
  EXPECT_EQ(l.fuse.to_f32(), w.fuse.to_f32());
  EXPECT_NE(SafetensorsFile(p + "/eagle.safetensors").find("fuse.weight"), nullptr);
  // fuse(): out = z fuse^T, row by row (a double reference), and a copy when unfused.
  EagleHead head(std::make_shared<const EagleWeights>(l), target);
  const auto z = random_rows(2, 3 * d, 5);
  std::vector<float> f(2 * d);
  head.fuse(z, 2, f);
  const std::vector<float> m = w.fuse.to_f32();
  for (int r = 0; r < 2; ++r) {
    for (int i = 0; i < d; ++i) {
      double ref = 0.0;
      for (int k = 0; k < 3 * d; ++k) ref += static_cast<double>(m[i * 3 * d + k]) * z[r * 3 * d + k];
      EXPECT_NEAR(f[r * d + i], ref, 1e-4 * (1.0 + std::abs(ref)));
    }
  }
  EXPECT_NE(error_of([&] { head.fuse(std::span<const float>(z).first(d), 2, f); }).find("need"), std::string::npos);
  EagleHead unfused(std::make_shared<const EagleWeights>(plain), target);
  const auto z1 = random_rows(2, d, 6);
  unfused.fuse(z1, 2, f);
  EXPECT_EQ(f, z1);
  // Errors: a layer beyond the target, a repeated layer, a mistyped list, a missing fuse.weight,
  // a fuse.weight on an unfused head.
  expect_contains(error_of([&] { random_eagle_weights(*target, 1, {target->info.n_layers + 1}); }),
                  {"feature_layers[0]", "the target has"});
  expect_contains(error_of([&] { random_eagle_weights(*target, 1, {1, 1}); }), {"feature_layers[1] = 1", "repeats"});
  const std::string jp = p + "/eagle.json";
  rewrite_json(p, [](nlohmann::json& j) { j["feature_layers"] = {1, "two"}; });
  expect_contains(error_of([&] { load_eagle_head(p, *target); }), {jp, "field 'feature_layers[1]'"});
  rewrite_json(p, [&](nlohmann::json& j) { j["feature_layers"] = {1, target->info.n_layers + 5}; });
  expect_contains(error_of([&] { load_eagle_head(p, *target); }), {jp, "feature_layers[1]", "the target has"});
  save_eagle_head(w, p);
  rewrite_tensors(p, [](std::vector<Tensor>& ts) { std::erase_if(ts, [](const Tensor& t) { return t.name == "fuse.weight"; }); });
  expect_contains(error_of([&] { load_eagle_head(p, *target); }), {"tensor fuse.weight missing"});
  EagleWeights bad = plain;
  bad.fuse = w.fuse;
  expect_contains(error_of([&] { save_eagle_head(bad, dir.sub("bad")); }), {"fuse.weight given but feature_layers is empty"});
}

TEST(EagleHead, BadCallsThrow) {
  const auto target = tiny_target();
  auto w = std::make_shared<const EagleWeights>(random_eagle_weights(*target, 1));
  EagleHead head(w, target);
  const auto f = random_rows(2, 32, 1);
  std::vector<float> out(64);
  EXPECT_NE(error_of([&] { head.append(f, std::vector<Token>{1, 60}, std::vector<std::int32_t>{0, 1}, out); })
                .find("tokens[1] = 60"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              head.append(f, std::vector<Token>{1, 2}, std::vector<std::int32_t>{0, 1}, out, 0,
                          std::vector<std::uint8_t>{1, 1, 0, 1});
            }).find("later batch row"),
            std::string::npos);
  EXPECT_EQ(head.n_cached(), 0) << "a refused append changes nothing";
  EXPECT_NE(error_of([&] { head.truncate(1); }).find("n_keep = 1"), std::string::npos);
  auto small = std::make_shared<const LlamaWeights>(random_llama_weights(synthetic_info(16, 32, 1, 2, 2, 60, 64), 1));
  EXPECT_NE(error_of([&] { EagleHead h(w, small); }).find("dim 32"), std::string::npos);
  EXPECT_NE(error_of([&] { EagleHead h(nullptr, target); }).find("required"), std::string::npos);
}

}  // namespace
}  // namespace speclab
