// Seed corpora for the fuzz harnesses, regenerated from the test fixture writers (tests/testing:
// model_writers.h, hf_writer.h) and small hand-written inputs on every run of scripts/fuzz.sh.
//   make_corpus OUT_DIR
// writes OUT_DIR/corpus/<target>/seed-NNN for every target (without the "fuzz_" prefix) and
// OUT_DIR/dict-gen/drafter_spec.dict (every drafter name and key, from the registry). The seed-*
// files of an earlier run are replaced; the units libFuzzer added (named by their hash) stay.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "drafters/registry.h"
#include "formats/safetensors.h"
#include "fuzz/fuzz_fixtures.h"
#include "fuzz/fuzz_util.h"
#include "heads/eagle_checkpoint.h"
#include "heads/head_net.h"
#include "synthetic/synthetic_weights.h"
#include "tests/testing/hf_writer.h"
#include "tests/testing/model_writers.h"

namespace fs = std::filesystem;
using namespace speclab;
using speclab::testing::ByteWriter;

namespace {

class Corpus {
 public:
  explicit Corpus(fs::path root) : root_(std::move(root)) {}

  void add(const std::string& target, const std::string& bytes) {
    const fs::path dir = root_ / "corpus" / target;
    fs::create_directories(dir);
    char name[32];
    std::snprintf(name, sizeof(name), "seed-%03d", count_[target]++);
    fuzz::write_file((dir / name).string(), bytes);
  }
  void add(const std::string& target, const std::vector<std::uint8_t>& bytes) {
    add(target, std::string(bytes.begin(), bytes.end()));
  }
  void write_dict(const std::string& target, const std::vector<std::string>& tokens) {
    const fs::path dir = root_ / "dict-gen";
    fs::create_directories(dir);
    std::string text;
    for (const std::string& t : tokens) {
      text += '"';
      for (const char c : t) {
        if (c == '"' || c == '\\') text += '\\';
        text += c;
      }
      text += "\"\n";
    }
    fuzz::write_file((dir / (target + ".dict")).string(), text);
  }
  const std::map<std::string, int>& counts() const { return count_; }

 private:
  fs::path root_;
  std::map<std::string, int> count_;
};

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Small models: tied and untied, GQA, with q/k/v biases (for the HF writer).
std::vector<LlamaWeights> small_models() {
  std::vector<LlamaWeights> out;
  out.push_back(random_llama_weights(synthetic_info(8, 16, 1, 2, 2, 16, 8), 1));
  ModelInfo untied = synthetic_info(16, 32, 2, 4, 2, 24, 16);
  untied.tied_classifier = false;
  out.push_back(random_llama_weights(untied, 2));
  return out;
}

speclab::testing::GgufVocab llama_vocab(std::int32_t n) {
  speclab::testing::GgufVocab v;
  v.model = "llama";
  const char* pieces[] = {"<unk>", "<s>", "</s>", "<0x41>", "\xE2\x96\x81", "a", "b", ("\xE2\x96\x81" "a"), "ab", "c"};
  for (std::int32_t i = 0; i < n; ++i) {
    v.tokens.push_back(i < 10 ? pieces[i] : "t" + std::to_string(i));
    v.scores.push_back(-static_cast<float>(i));
    v.token_types.push_back(i < 3 ? 3 : (i == 3 ? 6 : 1));
  }
  return v;
}

speclab::testing::GgufVocab gpt2_vocab(std::int32_t n) {
  speclab::testing::GgufVocab v;
  v.model = "gpt2";
  const char* pieces[] = {"a", "b", "c", "\xC4\xA0", "ab", "abc", ("\xC4\xA0" "a"), "1", "<|endoftext|>"};
  for (std::int32_t i = 0; i < n; ++i) {
    v.tokens.push_back(i < 9 ? pieces[i] : "x" + std::to_string(i));
    v.token_types.push_back(i == 8 ? 3 : 1);
  }
  v.merges = {"a b", "ab c", "\xC4\xA0 a"};
  v.bos = 8;
  v.eos = 8;
  return v;
}

void model_files(Corpus& c) {
  using speclab::testing::GgufTensorType;
  for (const LlamaWeights& w : small_models()) {
    for (const int version : {0, 1, 2}) c.add("llama2c", speclab::testing::llama2c_bytes(w, version, 8));
    for (const GgufTensorType t : {GgufTensorType::kF32, GgufTensorType::kF16, GgufTensorType::kBF16,
                                   GgufTensorType::kQ8_0}) {
      if (t == GgufTensorType::kQ8_0 && w.info.dim % 32 != 0) continue;
      const auto bytes = speclab::testing::gguf_bytes(w, t);
      c.add("gguf", bytes);
      c.add("gguf_weights", bytes);
    }
    const auto lv = llama_vocab(w.info.vocab_size);
    const auto gv = gpt2_vocab(w.info.vocab_size);
    c.add("gguf", speclab::testing::gguf_bytes(w, GgufTensorType::kF32, &lv));
    c.add("gguf", speclab::testing::gguf_bytes(w, GgufTensorType::kF16, &gv));
    c.add("gguf_weights", speclab::testing::gguf_bytes(w, GgufTensorType::kF32, &lv));
  }
  // A header-only GGUF with one key of every scalar type and nested arrays (no tensors).
  ByteWriter g;
  g.put<std::uint32_t>(0x46554747);  // "GGUF"
  g.put<std::uint32_t>(3);
  g.put<std::uint64_t>(0);   // tensors
  g.put<std::uint64_t>(9);   // kv pairs
  g.put_gguf_string("general.architecture");
  g.put<std::uint32_t>(8);
  g.put_gguf_string("llama");
  g.put_gguf_string("general.alignment");
  g.put<std::uint32_t>(4);
  g.put<std::uint32_t>(64);
  g.put_gguf_string("k.i8");
  g.put<std::uint32_t>(1);
  g.put<std::int8_t>(-3);
  g.put_gguf_string("k.u16");
  g.put<std::uint32_t>(2);
  g.put<std::uint16_t>(7);
  g.put_gguf_string("k.f64");
  g.put<std::uint32_t>(12);
  g.put<double>(2.5);
  g.put_gguf_string("k.bool");
  g.put<std::uint32_t>(7);
  g.put<std::uint8_t>(1);
  g.put_gguf_string("k.i64");
  g.put<std::uint32_t>(11);
  g.put<std::int64_t>(-9);
  g.put_gguf_string("k.arr.f32");
  g.put<std::uint32_t>(9);
  g.put<std::uint32_t>(6);
  g.put<std::uint64_t>(2);
  g.put<float>(1.0f);
  g.put<float>(-2.0f);
  g.put_gguf_string("k.arr.nested");
  g.put<std::uint32_t>(9);
  g.put<std::uint32_t>(9);
  g.put<std::uint64_t>(1);
  g.put<std::uint32_t>(5);
  g.put<std::uint64_t>(2);
  g.put<std::int32_t>(4);
  g.put<std::int32_t>(5);
  c.add("gguf", g.bytes());
}

void safetensors_files(Corpus& c, const fs::path& tmp) {
  using speclab::testing::HfTensor;
  using speclab::testing::safetensors_bytes;
  const std::vector<HfTensor> tensors = {{"a", {2, 3}, {1, 2, 3, 4, 5, 6}}, {"b", {4}, {0.5f, -1, 2, 8}},
                                         {"s", {}, {3}}};
  for (const SafetensorsDtype d : {SafetensorsDtype::kF32, SafetensorsDtype::kF16, SafetensorsDtype::kBF16}) {
    const fs::path p = tmp / "t.safetensors";
    speclab::testing::write_safetensors(p.string(), tensors, d);
    c.add("safetensors", read_file(p));
  }
  c.add("safetensors", safetensors_bytes(R"({"__metadata__": {"format": "pt"}})", ""));
  c.add("safetensors", safetensors_bytes(
                           R"({"x": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]},)"
                           R"( "y": {"dtype": "U8", "shape": [1, 0], "data_offsets": [16, 16]}})",
                           std::string(16, '\x01')));
  c.add("safetensors", safetensors_bytes(R"({"z": {"dtype": "BOOL", "shape": [3], "data_offsets": [0, 3]}})",
                                         std::string("\x00\x01\x00", 3)));
}

void hf_files(Corpus& c, const fs::path& tmp) {
  std::vector<ModelInfo> infos;
  for (const LlamaWeights& w : small_models()) infos.push_back(w.info);
  ModelInfo qwen = synthetic_info(8, 16, 1, 2, 1, 16, 8);
  qwen.arch = "qwen2";
  qwen.qkv_bias = true;
  qwen.rope_style = RopeStyle::kHalfSplit;
  infos.push_back(qwen);
  ModelInfo mistral = synthetic_info(8, 16, 1, 2, 2, 16, 8);
  mistral.arch = "mistral";
  mistral.rope_scaling.type = RopeScalingType::kLinear;
  mistral.rope_scaling.factor = 2.0f;
  mistral.eos_ids = {2, 3};
  infos.push_back(mistral);
  ModelInfo llama3 = synthetic_info(8, 16, 1, 2, 2, 16, 8);
  llama3.rope_scaling.type = RopeScalingType::kLlama3;
  llama3.rope_scaling.factor = 8.0f;
  infos.push_back(llama3);
  for (const ModelInfo& info : infos) c.add("hf_config", speclab::testing::hf_config_json(info));
  const fs::path real = fs::path(SPECLAB_SOURCE_DIR) / "../shared/models/tokenizers/smollm2-135m-config.json";
  if (fs::exists(real)) c.add("hf_config", read_file(real));

  int n = 0;
  for (const ModelInfo& info : infos) {
    const LlamaWeights w = random_llama_weights(info, 3);
    for (const int shards : {1, 2}) {
      if (shards == 2 && n % 2 == 1) continue;
      const fs::path dir = tmp / ("hf" + std::to_string(n++));
      speclab::testing::HfWriteOptions o;
      o.n_shards = shards;
      o.dtype = n % 3 == 0 ? SafetensorsDtype::kBF16 : SafetensorsDtype::kF32;
      speclab::testing::write_hf_directory(w, dir.string(), o);
      std::vector<std::string> parts = {read_file(dir / "config.json")};
      if (shards == 1) {
        parts.push_back(read_file(dir / "model.safetensors"));
      } else {
        parts.push_back(read_file(dir / "model-00001-of-00002.safetensors"));
        parts.push_back(read_file(dir / "model.safetensors.index.json"));
        parts.push_back(read_file(dir / "model-00002-of-00002.safetensors"));
      }
      c.add("hf_dir", fuzz::join_parts(parts));
    }
  }
}

void tokenizer_files(Corpus& c) {
  // llama2.c tokenizer.bin: max_token_length, then (score, length, bytes) records.
  auto tok_bin = [](const std::vector<std::string>& pieces, std::int32_t max_len) {
    ByteWriter w;
    w.put<std::int32_t>(max_len);
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      w.put<float>(-static_cast<float>(i));
      w.put<std::int32_t>(static_cast<std::int32_t>(pieces[i].size()));
      w.put_bytes(pieces[i].data(), pieces[i].size());
    }
    return w.bytes();
  };
  std::vector<std::string> pieces = {"<unk>", "\n<s>\n", "\n</s>\n"};
  for (int b = 0; b < 256; b += 37) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    pieces.push_back(buf);
  }
  for (const char* p : {" ", "e", "h", "l", "o", " h", "ll", " he", " hell", " hello", "1", "2", "!"}) pieces.push_back(p);
  c.add("llama2c_tokenizer", tok_bin(pieces, 8));
  c.add("llama2c_tokenizer", tok_bin({"a", "b", "ab", " "}, 2));
  const fs::path tok512 = fs::path(SPECLAB_SOURCE_DIR) / "../shared/models/tok512.bin";
  if (fs::exists(tok512)) c.add("llama2c_tokenizer", read_file(tok512));

  // tokenizer.json: SentencePiece-style (Metaspace + byte fallback) and byte-level BPE.
  const std::string sp = "\xE2\x96\x81";
  std::string vocab = R"("<unk>": 0, "<s>": 1, "</s>": 2)";
  int id = 3;
  for (int b = 0; b < 256; b += 15) vocab += ", \"<0x" + fmt::format("{:02X}", b) + "\": " + std::to_string(id++);
  for (const std::string& p : {sp, std::string("h"), std::string("e"), std::string("l"), std::string("o"),
                               sp + "h", std::string("ll"), sp + "he", sp + "hell", sp + "hello"}) {
    vocab += ", \"" + p + "\": " + std::to_string(id++);
  }
  const std::string merges = "\"" + sp + " h\", \"l l\", \"" + sp + "h e\", \"" + sp + "he ll\", \"" + sp + "hell o\"";
  const std::string added =
      R"("added_tokens": [{"id": 0, "content": "<unk>", "special": true, "lstrip": false, "rstrip": false},
        {"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true, "rstrip": true}])";
  c.add("hf_tokenizer", "{" + added + R"(, "normalizer": null,
    "pre_tokenizer": {"type": "Metaspace", "replacement": ")" + sp + R"(", "prepend_scheme": "first", "split": false},
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]},
    "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Metaspace", "replacement": ")" + sp +
                                           R"(", "prepend_scheme": "first"}]},
    "model": {"type": "BPE", "dropout": null, "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
              "vocab": {)" + vocab + "}, \"merges\": [" + merges + "]}}");
  c.add("hf_tokenizer", "{" + added + R"(,
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": ")" + sp + R"("},
                   {"type": "Replace", "pattern": {"String": " "}, "content": ")" + sp + R"("}, {"type": "NFC"}]},
    "pre_tokenizer": null,
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": ")" + sp + R"("}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "byte_fallback": true, "vocab": {)" + vocab + "}, \"merges\": [[\"l\", \"l\"], [\"" + sp + "\", \"h\"]]}}");
  const std::string bl_vocab =
      R"("a": 0, "b": 1, "c": 2, "\u0120": 3, "ab": 4, "abc": 5, "\u0120abc": 6, "1": 7, "2": 8, "3": 9, "12": 10,
         "123": 11, "!": 12, "bc": 13, "<|eot|>": 14)";
  c.add("hf_tokenizer", R"({"added_tokens": [{"id": 14, "content": "<|eot|>", "special": true, "lstrip": true, "rstrip": false}],
    "normalizer": null,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}| ?[a-z]+|[^a-z0-9]"}, "behavior": "Isolated", "invert": false},
      {"type": "Digits", "individual_digits": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "ignore_merges": false, "vocab": {)" + bl_vocab +
                                R"(}, "merges": ["a b", "ab c", "1 2", "12 3", "\u0120 abc"]}})");
  c.add("hf_tokenizer", R"({"added_tokens": [{"id": 14, "content": "<|endoftext|>", "special": true}],
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": true, "use_regex": true},
    "decoder": {"type": "Sequence", "decoders": [{"type": "ByteLevel"}, {"type": "Strip", "content": " ", "start": 0, "stop": 1}]},
    "model": {"type": "BPE", "ignore_merges": true, "vocab": {)" + bl_vocab + R"(}, "merges": [["a", "b"], ["ab", "c"]]}})");
  c.add("hf_tokenizer", R"({"pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithNext", "invert": true},
    "normalizer": {"type": "Replace", "pattern": {"Regex": "[0-9]+"}, "content": "#"},
    "model": {"type": "BPE", "unk_token": "a", "vocab": {)" + bl_vocab + R"(}, "merges": []}})");
}

void json_files(Corpus& c) {
  for (const auto& e : fs::directory_iterator(fs::path(SPECLAB_SOURCE_DIR) / "experiments/specs")) {
    if (e.path().extension() == ".json") c.add("spec", read_file(e.path()));
  }
  for (const auto& e : fs::directory_iterator(fs::path(SPECLAB_SOURCE_DIR) / "experiments/hardware")) {
    if (e.path().extension() == ".json") c.add("cost_profile", read_file(e.path()));
  }
  c.add("cost_profile", R"({"format": "speclab-profile", "version": 1, "name": "host", "kind": "measured",
    "machine": {"cpu": "x"}, "target": {"n": [1, 2, 4], "cached": [0, 64], "ms": [[1, 1.1, 1.3], [1.2, 1.3, 1.6]]},
    "draft": {"n": [1], "cached": [0], "ms": [[0.1]]}, "drafters": {"ngram": {"propose_ms": 0.01}}})");
  c.add("spec", R"({"prompts": ["p.jsonl"]})");
  c.add("spec", R"({"name": "x", "model": "synthetic", "tokenizer": "bytes", "prompts": ["a.jsonl", "b.jsonl"],
    "max_prompts": 2, "drafters": ["ngram:max_n=4", {"name": "recycling", "params": {"k": 4, "choices": "[[0],[1]]"},
    "rules": ["deterministic"]}], "rules": ["auto", "typical"], "budgets": [1, 64], "depths": [0, 3],
    "temperatures": [0, 0.7], "top_k": 5, "top_p": 0.9, "seeds": [1, 18446744073709551615], "max_new_tokens": 16,
    "state": "warm", "threads": 2, "repetitions": 3})");

  for (const char* set : {"stories.jsonl", "instruct.jsonl", "copy.jsonl"}) {
    const std::string text = read_file(fs::path(SPECLAB_SOURCE_DIR) / "data" / set);
    c.add("prompts", text.substr(0, text.find('\n', 600) == std::string::npos ? text.size() : text.find('\n', 600) + 1));
  }
  c.add("prompts", "{\"id\": 1, \"prompt\": \"a\"}\n\n{\"id\": \"2\", \"prompt\": \"b\\u00e9\\n\", \"category\": \"c\"}\n");
}

void heads_files(Corpus& c, const fs::path& tmp) {
  const auto target = fuzz::heads_target();
  int n = 0;
  for (const HeadKind kind : {HeadKind::kMedusa, HeadKind::kHydra, HeadKind::kExitAdapter}) {
    HeadConfig cfg;
    cfg.kind = kind;
    cfg.n_heads = kind == HeadKind::kExitAdapter ? 1 : 2;
    cfg.n_blocks = kind == HeadKind::kHydra ? 2 : 1;
    if (kind == HeadKind::kExitAdapter) cfg.exit_layers = {1};
    if (kind == HeadKind::kMedusa) {
      std::array<double, kTopKTracked> acc{};
      for (int r = 0; r < kTopKTracked; ++r) acc[r] = 0.3 + 0.05 * r;
      cfg.topk_accuracy = {acc, acc};
    }
    const HeadNet net = HeadNet::init(cfg, target);
    const fs::path dir = tmp / ("heads" + std::to_string(n++));
    save_heads(net, dir.string());
    c.add("heads", fuzz::join_parts({read_file(dir / "heads.json"), read_file(dir / "heads.safetensors")}));
  }
}

// Published EAGLE-1/2 heads for the fixed target: config.json alone (with and without the
// optional fields) and config.json + model.safetensors (eagle.safetensors uses the same names).
void eagle_config_files(Corpus& c, const fs::path& tmp) {
  const auto target = fuzz::heads_target();
  const ModelInfo& m = target->info;
  nlohmann::json cfg = {{"architectures", {"LlamaForCausalLM"}}, {"hidden_act", "silu"},
                        {"hidden_size", m.dim}, {"intermediate_size", m.hidden_dim},
                        {"max_position_embeddings", m.max_seq_len}, {"num_attention_heads", m.n_heads},
                        {"num_hidden_layers", 1}, {"num_key_value_heads", m.n_kv_heads},
                        {"rms_norm_eps", m.norm_eps}, {"rope_theta", m.rope_theta}, {"rope_scaling", nullptr},
                        {"torch_dtype", "float16"}, {"vocab_size", m.vocab_size}, {"bias", true}};
  c.add("eagle_config", cfg.dump(2));
  nlohmann::json bare = cfg;
  for (const char* k : {"architectures", "num_key_value_heads", "rope_theta", "bias", "rope_scaling"}) bare.erase(k);
  c.add("eagle_config", bare.dump());
  EagleWeights w = random_eagle_weights(*target, 3);
  w.config.rope_style = RopeStyle::kHalfSplit;
  const fs::path dir = tmp / "eagle0";
  save_eagle_head(w, dir.string());
  c.add("eagle_config", fuzz::join_parts({cfg.dump(2), read_file(dir / "eagle.safetensors")}));
  // speclab's own layout (the harness also reads the parts as eagle.json + eagle.safetensors).
  c.add("eagle_config", fuzz::join_parts({read_file(dir / "eagle.json"), read_file(dir / "eagle.safetensors")}));
  // A fused (EAGLE-3 style) head: eagle.json's feature_layers and the fuse.weight tensor.
  EagleWeights fused = random_eagle_weights(*target, 4, {1, -1});
  const fs::path fdir = tmp / "eagle1";
  save_eagle_head(fused, fdir.string());
  c.add("eagle_config", fuzz::join_parts({read_file(fdir / "eagle.json"), read_file(fdir / "eagle.safetensors")}));
}

void spec_strings(Corpus& c) {
  std::vector<std::string> dict = {":", ",", "=", "[", "]", "[[0],[1],[0,0]]", "8x2x1", "1-2", "true", "off",
                                   "-1", "0", "1e9", "2147483648", "nan", "inf", "none", "ar"};
  c.add("drafter_spec", "none");
  for (const DrafterKind* kind : drafter_kinds()) {
    dict.emplace_back(kind->name);
    std::string spec(kind->name);
    c.add("drafter_spec", spec);
    std::string sep = ":";
    for (const DrafterKey& key : kind->keys) {
      dict.emplace_back(key.name);
      if (!key.default_value.empty()) {
        spec += sep + std::string(key.name) + "=" + std::string(key.default_value);
        sep = ",";
      }
    }
    c.add("drafter_spec", spec);
  }
  c.add("drafter_spec", "recycling:choices=[[0],[1],[0,0]],k=8");
  c.add("drafter_spec", "recycling:branching=8x2x1x1,state=warm");
  c.add("drafter_spec", "draft-model:mode=dynamic,top_k=4,expand_top=4,depth=6");
  c.add("drafter_spec", "del:layers=1,max_d=3,threshold=0.5");
  c.add("drafter_spec", "aded:iterations=8,c_puct=2,depth=3,top_c=4");
  c.add("drafter_spec", "medusa:heads=h,choices=[[0],[0,0],[1]],top_k=3");
  c.add("drafter_spec", "eagle:random_seed=3,random_layers=1+final,tree=chain,depth=4");
  c.add("drafter_spec", "hydra:heads=h,tree=template,choices=[[0],[0,0]]");
  c.write_dict("drafter_spec", dict);

  for (const char* s : {"[]", "[[0]]", "[[0],[1],[0,0],[0,1],[1,0],[0,0,0]]", " [ [0] , [ 1 ] ] ",
                        "[[0],[0,0],[0,0,0],[0,0,0,0],[0,0,0,0,0]]", "8x2x1", "4-4-2-1", "1", "[[3],[0],[3,2]]"}) {
    c.add("choices", s);
  }
}

// Chat templates: the stress cases of the Jinja tests (template + their variables as a
// messages document) and the shared real templates when they are there.
void chat_template_files(Corpus& c) {
  const auto fixture = nlohmann::ordered_json::parse(
      read_file(fs::path(SPECLAB_SOURCE_DIR) / "tests/tokenizers/data/jinja_cases.json"));
  for (const auto& k : fixture["cases"]) {
    nlohmann::ordered_json doc = k["vars"];
    if (!doc.contains("messages")) doc["messages"] = nlohmann::ordered_json::array();
    c.add("chat_template", fuzz::join_parts({k["template"].get<std::string>(), doc.dump()}));
  }
  const fs::path shared = fs::path(SPECLAB_SOURCE_DIR) / "../shared/data/chat_templates";
  std::error_code ec;
  if (fs::is_directory(shared, ec)) {
    for (const auto& e : fs::directory_iterator(shared)) {
      if (e.path().extension() == ".jinja") c.add("chat_template", read_file(e.path()));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus OUT_DIR\n");
    return 2;
  }
  try {
    const fs::path out = argv[1];
    if (fs::is_directory(out / "corpus")) {
      for (const auto& target : fs::directory_iterator(out / "corpus")) {
        if (!target.is_directory()) continue;
        for (const auto& f : fs::directory_iterator(target.path())) {
          if (f.path().filename().string().rfind("seed-", 0) == 0) fs::remove(f.path());
        }
      }
    }
    fs::remove_all(out / "dict-gen");
    Corpus c(out);
    const fs::path tmp = fs::temp_directory_path() / ("speclab-make-corpus-" + std::to_string(::getpid()));
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    model_files(c);
    safetensors_files(c, tmp);
    hf_files(c, tmp);
    tokenizer_files(c);
    json_files(c);
    heads_files(c, tmp);
    eagle_config_files(c, tmp);
    spec_strings(c);
    chat_template_files(c);
    fs::remove_all(tmp);
    for (const auto& [target, n] : c.counts()) std::printf("%-18s %d seeds\n", target.c_str(), n);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
