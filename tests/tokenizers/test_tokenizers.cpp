// Tokenizers: llama2.c tokenizer.bin, SentencePiece-style BPE by scores (▁ pieces), GPT-2 style
// byte-level BPE, GGUF-embedded vocabularies and the content-based loader.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <random>

#include "tokenizers/bpe_tokenizer.h"
#include "base/error.h"
#include "formats/gguf_container.h"
#include "tokenizers/llama2c_tokenizer.h"
#include "tokenizers/spm_tokenizer.h"
#include "tokenizers/tokenizer_loader.h"
#include "tests/testing/model_writers.h"
#include "tests/testing/models_dir.h"

namespace speclab {
namespace {

using testing::ByteWriter;
using testing::ScopedTempDir;

// Varied text for round trips (ASCII, Latin-1, CJK, emoji, control bytes, whitespace runs).
const std::vector<std::string> kCorpus = {
    "Once upon a time",
    "Once upon a time, there was a little girl named Lily.",
    "Hello, world!",
    "  two  leading spaces",
    "trailing spaces   ",
    " ",
    "a",
    "line one\nline two\r\n\ttabbed",
    "Numbers: 0 1 12 123 3.14159 -42 1e10",
    "code: for (int i = 0; i < n; ++i) { x[i] *= 2; }",
    "héllo wörld, naïve café",
    "你好，世界",
    "emoji 🙂🚀 and ZWJ 👩‍💻",
    "mixed\x01\x7f control",
    "Lily's mom said, \"Don't worry.\"",
};

std::string write_file(const ScopedTempDir& dir, const std::string& name,
                       const std::vector<std::uint8_t>& bytes) {
  const std::string path = dir.path(name);
  testing::write_bytes(path, bytes);
  return path;
}

// A llama2.c tokenizer.bin image: max_token_length then (score, length, bytes) records.
std::vector<std::uint8_t> llama2c_image(std::int32_t max_len,
                                        const std::vector<std::pair<std::string, float>>& vocab) {
  ByteWriter w;
  w.put<std::int32_t>(max_len);
  for (const auto& [piece, score] : vocab) {
    w.put<float>(score);
    w.put<std::int32_t>(static_cast<std::int32_t>(piece.size()));
    w.put_bytes(piece.data(), piece.size());
  }
  return w.bytes();
}

// Naive twin of the llama2.c `encode` merge loop: rescans every pair each step and merges the
// one with the best score (strictly greater wins, so ties go left). Used to check the heap
// engine in merge_pairs.
std::vector<Token> naive_spm_merge(const SpmVocab& v, std::vector<Token> ids) {
  std::map<std::string, Token> index;
  for (std::size_t i = 0; i < v.pieces.size(); ++i) index.emplace(v.pieces[i], Token(i));
  while (true) {
    float best = -1e10f;
    int best_i = -1;
    Token best_id = -1;
    for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
      auto it = index.find(v.pieces[ids[i]] + v.pieces[ids[i + 1]]);
      if (it != index.end() && v.scores[it->second] > best) {
        best = v.scores[it->second];
        best_i = int(i);
        best_id = it->second;
      }
    }
    if (best_i < 0) break;
    ids[best_i] = best_id;
    ids.erase(ids.begin() + best_i + 1);
  }
  return ids;
}

// ----- merge engine ---------------------------------------------------------------------------

TEST(MergePairs, HeapMatchesNaiveRescanOnRandomVocabularies) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 30; ++trial) {
    // Pieces: single letters a..d plus random concatenations, scores with deliberate ties.
    SpmVocab v;
    v.space_marker = " ";
    v.pieces = {" ", "a", "b", "c", "d"};
    std::uniform_int_distribution<int> letter(0, 3), len(2, 5), score(0, 5);
    while (v.pieces.size() < 40) {
      std::string p;
      for (int k = len(rng); k > 0; --k) p += char('a' + letter(rng));
      if (std::find(v.pieces.begin(), v.pieces.end(), p) == v.pieces.end()) v.pieces.push_back(p);
    }
    for (std::size_t i = 0; i < v.pieces.size(); ++i) v.scores.push_back(float(score(rng)));
    SpmTokenizer tok(v, "random vocab");
    for (int s = 0; s < 20; ++s) {
      // Short texts take the stack-array path of merge_pairs, long ones (> 64 symbols) the heap.
      std::string text;
      for (int k = len(rng) * (s % 2 == 0 ? 4 : 40); k > 0; --k) text += char('a' + letter(rng));
      std::vector<Token> initial{0};
      for (char c : text) initial.push_back(Token(c - 'a' + 1));
      EXPECT_EQ(tok.encode(text, false), naive_spm_merge(v, initial)) << text;
    }
  }
}

TEST(MergePairs, RankedMergesGoLowestRankFirstAndLeftmostOnTies) {
  // ids: a=0 b=1 ab=2 bb=3; "abb": rank(a b)=1, rank(b b)=0 -> a + bb.
  std::vector<Token> ids{0, 1, 1};
  auto find = [](Token x, Token y) -> std::optional<PairMerge> {
    if (x == 0 && y == 1) return PairMerge{2, -1.0};
    if (x == 1 && y == 1) return PairMerge{3, 0.0};
    return std::nullopt;
  };
  merge_pairs(ids, find);
  EXPECT_EQ(ids, (std::vector<Token>{0, 3}));
  // "bbb": same priority everywhere -> leftmost pair first -> bb + b.
  std::vector<Token> ids2{1, 1, 1};
  merge_pairs(ids2, find);
  EXPECT_EQ(ids2, (std::vector<Token>{3, 1}));
}

// ----- llama2.c tokenizer.bin -----------------------------------------------------------------

class Tok512 : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = testing::model_path("tok512.bin");
    SPECLAB_REQUIRE_MODEL(path_);
    tok_ = load_llama2c_tokenizer(path_, 512);
  }
  std::string path_;
  std::unique_ptr<SpmTokenizer> tok_;
};

// Reference ids: the llama2.c merge loop traced on the file's pieces and scores (dummy prefix
// " " first, then best-score merges): " Once" " upon" " a" " time", etc.
TEST_F(Tok512, EncodesLikeLlama2c) {
  EXPECT_EQ(tok_->vocab_size(), 512);
  EXPECT_EQ(tok_->bos_id(), 1);
  EXPECT_EQ(tok_->eos_id(), 2);
  EXPECT_EQ(tok_->encode("Once upon a time", true), (std::vector<Token>{1, 403, 407, 261, 378}));
  EXPECT_EQ(tok_->encode("Once upon a time", false), (std::vector<Token>{403, 407, 261, 378}));
  EXPECT_EQ(tok_->piece(403), " Once");
  EXPECT_EQ(tok_->encode("Hello, world!", false),
            (std::vector<Token>{346, 306, 414, 432, 263, 304, 341, 443}));
  EXPECT_EQ(tok_->encode("a", false), (std::vector<Token>{261}));
  EXPECT_EQ(tok_->encode(" x", false), (std::vector<Token>{410, 410, 444}));
  EXPECT_EQ(tok_->encode("Lily's cat é", false),
            (std::vector<Token>{317, 439, 419, 280, 294, 410, 485}));
  EXPECT_EQ(tok_->encode("", false), (std::vector<Token>{}));
  EXPECT_EQ(tok_->encode("", true), (std::vector<Token>{1}));
}

TEST_F(Tok512, ByteFallbackForUnknownCodePoints) {
  // '你' (E4 BD A0) is not a piece: three byte tokens b + 3.
  const std::vector<Token> ids = tok_->encode("你", false);
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids[0], 410);  // dummy prefix " "
  EXPECT_EQ(ids[1], 0xE4 + 3);
  EXPECT_EQ(ids[2], 0xBD + 3);
  EXPECT_EQ(ids[3], 0xA0 + 3);
  EXPECT_EQ(tok_->decode_token(ids[1], ids[1]), "\xE4");
}

TEST_F(Tok512, DecodeTokenStripsSpaceAfterBosOnly) {
  EXPECT_EQ(tok_->decode_token(1, 403), "Once");
  EXPECT_EQ(tok_->decode_token(403, 407), " upon");
  EXPECT_EQ(tok_->decode_token(1, 13), "\n");  // <0x0A>
  EXPECT_THROW(tok_->decode_token(1, 512), Error);
  EXPECT_THROW(tok_->decode_token(1, -1), Error);
  const std::vector<Token> bad{403, 9999};
  EXPECT_THROW(tok_->decode(bad), Error);
}

TEST_F(Tok512, RoundTripsVariedText) {
  for (const std::string& s : kCorpus) {
    EXPECT_EQ(tok_->decode(tok_->encode(s, false)), s) << s;
    EXPECT_EQ(tok_->decode(tok_->encode(s, true)), s) << s;
    // Streaming with decode_token after BOS gives the same text.
    const std::vector<Token> ids = tok_->encode(s, true);
    std::string streamed;
    for (std::size_t i = 1; i < ids.size(); ++i) streamed += tok_->decode_token(ids[i - 1], ids[i]);
    EXPECT_EQ(streamed, s) << s;
  }
}

TEST(Llama2cTokenizer, Llama2VocabularyEncodesAndRoundTripsUnicode) {
  const std::string path = testing::model_path("tokenizers/llama2-tokenizer-32000.bin");
  SPECLAB_REQUIRE_MODEL(path);
  const auto tok = load_llama2c_tokenizer(path, 32000);
  EXPECT_EQ(tok->encode("Once upon a time", true), (std::vector<Token>{1, 9038, 2501, 263, 931}));
  EXPECT_EQ(tok->encode("Hello, world!", false), (std::vector<Token>{15043, 29892, 3186, 29991}));
  EXPECT_EQ(tok->encode("héllo wörld 你好 🙂", false),
            (std::vector<Token>{298, 3610, 417, 281, 1340, 430, 29871, 30919, 31076, 29871, 243,
                                162, 156, 133}));
  EXPECT_EQ(tok->encode("  two  spaces", false), (std::vector<Token>{259, 1023, 29871, 8162}));
  for (const std::string& s : kCorpus) EXPECT_EQ(tok->decode(tok->encode(s, true)), s) << s;
}

TEST(Llama2cTokenizer, PrintablePieceRule) {
  EXPECT_TRUE(is_printable_piece("a"));
  EXPECT_TRUE(is_printable_piece("\n"));
  EXPECT_TRUE(is_printable_piece(" hello"));
  EXPECT_TRUE(is_printable_piece("\xE4\xBD\xA0"));
  EXPECT_FALSE(is_printable_piece(""));
  EXPECT_FALSE(is_printable_piece("\x01"));
  EXPECT_FALSE(is_printable_piece("\xE4"));  // a lone UTF-8 lead byte
}

std::vector<std::pair<std::string, float>> tiny_llama2c_vocab() {
  return {{"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}, {" ", -1}, {"a", -2}, {" a", -0.5f}};
}

void expect_error_mentions(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no Error thrown";
  } catch (const Error& e) {
    for (const std::string& p : parts) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
    }
  }
}

TEST(Llama2cTokenizer, BadFilesThrowNamingFileAndToken) {
  ScopedTempDir dir;
  const auto good = llama2c_image(7, tiny_llama2c_vocab());
  const std::string ok = write_file(dir, "ok.bin", good);
  EXPECT_EQ(load_llama2c_tokenizer(ok)->vocab_size(), 6);
  EXPECT_EQ(load_llama2c_tokenizer(ok, 6)->encode("a", false), (std::vector<Token>{5}));

  // Vocabulary size disagrees with the file.
  expect_error_mentions([&] { load_llama2c_tokenizer(ok, 7); }, {ok, "token 6"});
  expect_error_mentions([&] { load_llama2c_tokenizer(ok, 5); }, {ok, "trailing"});
  // Truncated in the middle of a record and in the middle of the bytes.
  for (std::size_t cut : {good.size() - 2, good.size() - 5}) {
    std::vector<std::uint8_t> t(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    const std::string p = write_file(dir, "cut" + std::to_string(cut) + ".bin", t);
    expect_error_mentions([&] { load_llama2c_tokenizer(p); }, {p, "token 5"});
  }
  // Negative and absurd lengths.
  for (std::int32_t len : {-3, 1000000}) {
    std::vector<std::uint8_t> b = good;
    std::memcpy(b.data() + 4 + 4, &len, 4);  // length of token 0
    const std::string p = write_file(dir, "len" + std::to_string(len) + ".bin", b);
    expect_error_mentions([&] { load_llama2c_tokenizer(p); }, {p, "token 0", "length"});
  }
  // Bad header, empty file, missing file.
  std::vector<std::uint8_t> h = good;
  const std::int32_t bad_max = -1;
  std::memcpy(h.data(), &bad_max, 4);
  const std::string ph = write_file(dir, "hdr.bin", h);
  expect_error_mentions([&] { load_llama2c_tokenizer(ph); }, {ph, "max_token_length"});
  const std::string pe = write_file(dir, "empty.bin", {});
  EXPECT_THROW(load_llama2c_tokenizer(pe), Error);
  EXPECT_THROW(load_llama2c_tokenizer(dir.path("missing.bin")), Error);
}

// ----- SentencePiece-style vocabulary with ▁ -----------------------------------------------------

SpmVocab tiny_spm_vocab() {
  SpmVocab v;
  v.pieces = {"<unk>", "<s>", "</s>"};
  for (int b = 0; b < 256; ++b) v.pieces.push_back(fmt::format("<0x{:02X}>", b));
  // 259.. : ▁ h e l o ▁h ll ▁he ▁hell ▁hello
  for (const char* p : {"\xE2\x96\x81", "h", "e", "l", "o", "\xE2\x96\x81h", "ll",
                        "\xE2\x96\x81he", "\xE2\x96\x81hell", "\xE2\x96\x81hello"}) {
    v.pieces.push_back(p);
  }
  v.scores.assign(v.pieces.size(), 0.0f);
  // Higher merges first: ▁h (-1), ll (-2), ▁he (-3), ▁hell (-4), ▁hello (-5).
  for (int i = 0; i < 5; ++i) v.scores[264 + i] = -1.0f - float(i);
  v.types.assign(v.pieces.size(), int(SpmTokenType::kNormal));
  v.types[0] = int(SpmTokenType::kUnknown);
  v.types[1] = v.types[2] = int(SpmTokenType::kControl);
  for (int b = 0; b < 256; ++b) v.types[3 + b] = int(SpmTokenType::kByte);
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  return v;
}

TEST(SpmTokenizer, MergesByScoreWithMetaspaceAndByteFallback) {
  SpmTokenizer tok(tiny_spm_vocab(), "tiny");
  // "hello": ▁ h e l l o -> ▁h (-1) -> ll (-2) -> ▁he (-3) -> ▁he+ll = ▁hell (-4) -> ▁hello.
  EXPECT_EQ(tok.encode("hello", true), (std::vector<Token>{1, 268}));
  // "hell hex": second word: ▁h e x -> ▁he, 'x' -> <0x78> = 3 + 0x78.
  EXPECT_EQ(tok.encode("hell hex", false), (std::vector<Token>{267, 266, 3 + 0x78}));
  const std::vector<Token> ids = tok.encode("hello hex\n", true);
  EXPECT_EQ(tok.decode(ids), "hello hex\n");
  EXPECT_EQ(tok.decode_token(1, 268), "hello");
  EXPECT_EQ(tok.decode_token(268, 266), " he");
  const std::vector<Token> with_eos{1, 268, 2};
  EXPECT_EQ(tok.decode(with_eos), "hello");
}

TEST(SpmTokenizer, RejectsInconsistentVocabularies) {
  SpmVocab v = tiny_spm_vocab();
  v.scores.pop_back();
  EXPECT_THROW(SpmTokenizer(v, "x"), Error);
  v = tiny_spm_vocab();
  v.bos_id = 100000;
  EXPECT_THROW(SpmTokenizer(v, "x"), Error);
  v = tiny_spm_vocab();
  v.types.resize(3);
  EXPECT_THROW(SpmTokenizer(v, "x"), Error);
}

// ----- byte-level BPE ---------------------------------------------------------------------------

ByteLevelBpeTokenizer::Config tiny_byte_level_config() {
  ByteLevelBpeTokenizer::Config c;
  for (const std::string& ch : byte_level_alphabet()) c.pieces.push_back(ch);  // ids 0..255
  // 256 "Ġt", 257 "he", 258 "Ġthe", 259 "<|end|>"
  c.pieces.insert(c.pieces.end(), {"\xC4\xA0t", "he", "\xC4\xA0the", "<|end|>"});
  c.merges = {{"\xC4\xA0", "t"}, {"h", "e"}, {"\xC4\xA0t", "he"}};
  c.special.assign(c.pieces.size(), false);
  c.special[259] = true;
  c.eos_id = 259;
  return c;
}

TEST(ByteLevelBpe, AlphabetIsTheGpt2ByteMap) {
  const auto& a = byte_level_alphabet();
  EXPECT_EQ(a['A'], "A");
  EXPECT_EQ(a[' '], "\xC4\xA0");   // Ġ = U+0120
  EXPECT_EQ(a['\n'], "\xC4\x8A");  // Ċ = U+010A
  EXPECT_EQ(a[0], "\xC4\x80");     // U+0100
  EXPECT_EQ(a[0xAD], "\xC5\x83");  // soft hyphen is remapped (U+0143)
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(b);
  EXPECT_EQ(from_byte_level(to_byte_level(all)), all);
}

TEST(ByteLevelBpe, EncodesWithRanksAndRegexSplit) {
  ByteLevelBpeTokenizer tok(tiny_byte_level_config(), "tiny");
  // "the the": pieces "the", " the" -> t he / Ġthe.
  EXPECT_EQ(tok.encode("the the", false), (std::vector<Token>{'t', 257, 258}));
  EXPECT_EQ(tok.encode("x\n", false), (std::vector<Token>{'x', '\n'}));
  const std::vector<Token> ids = tok.encode("Hi, the 1234 é\n", false);
  EXPECT_EQ(tok.decode(ids), "Hi, the 1234 é\n");
  std::vector<Token> with_eos = ids;
  with_eos.push_back(259);
  EXPECT_EQ(tok.decode(with_eos), "Hi, the 1234 é\n");
  EXPECT_THROW(tok.decode_token(0, 260), Error);
}

TEST(ByteLevelBpe, RejectsBadConfigs) {
  auto c = tiny_byte_level_config();
  c.merges.push_back({"zz", "q"});
  EXPECT_THROW(ByteLevelBpeTokenizer(c, "x"), Error);
  c = tiny_byte_level_config();
  c.split_patterns = {"(unclosed"};
  EXPECT_THROW(ByteLevelBpeTokenizer(c, "x"), Error);
  c = tiny_byte_level_config();
  c.pieces[65] = "not-A";
  ByteLevelBpeTokenizer no_a(c, "x");
  EXPECT_EQ(no_a.encode("B", false), (std::vector<Token>{'B'}));
  EXPECT_THROW(no_a.encode("A", false), Error);  // byte 'A' has no piece
}

// ----- GGUF vocabularies and the loader -----------------------------------------------------

TEST(TokenizerLoader, GgufVocabularyMatchesTok512) {
  const std::string gguf = testing::model_path("stories260K.gguf");
  const std::string bin = testing::model_path("tok512.bin");
  SPECLAB_REQUIRE_MODEL(gguf);
  SPECLAB_REQUIRE_MODEL(bin);
  const auto a = load_tokenizer(gguf);
  const auto b = load_tokenizer(bin);
  ASSERT_EQ(a->vocab_size(), b->vocab_size());
  EXPECT_EQ(a->bos_id(), b->bos_id());
  EXPECT_EQ(a->eos_id(), b->eos_id());
  for (const std::string& s : kCorpus) {
    for (bool bos : {false, true}) {
      const std::vector<Token> ids = b->encode(s, bos);
      EXPECT_EQ(a->encode(s, bos), ids) << s;
      EXPECT_EQ(a->decode(ids), b->decode(ids)) << s;
    }
  }
  // Every ordinary piece decodes identically in both positions (ids 0..2 are <unk>/BOS/EOS,
  // spelled differently by the two exporters).
  for (Token t = 3; t < a->vocab_size(); ++t) {
    ASSERT_EQ(a->decode_token(1, t), b->decode_token(1, t)) << t;
    ASSERT_EQ(a->decode_token(5, t), b->decode_token(5, t)) << t;
  }
}

// A metadata-only GGUF v3 file (no tensors).
struct GgufKv {
  std::string key;
  std::function<void(ByteWriter&)> write;  // writes type + value
};

std::vector<std::uint8_t> gguf_image(const std::vector<GgufKv>& kvs) {
  ByteWriter w;
  w.put_bytes("GGUF", 4);
  w.put<std::uint32_t>(3);
  w.put<std::uint64_t>(0);
  w.put<std::uint64_t>(kvs.size());
  for (const GgufKv& kv : kvs) {
    w.put_gguf_string(kv.key);
    kv.write(w);
  }
  w.pad_to(32);
  return w.bytes();
}

GgufKv kv_string(std::string key, std::string value) {
  return {std::move(key), [value](ByteWriter& w) {
            w.put<std::uint32_t>(8);
            w.put_gguf_string(value);
          }};
}
GgufKv kv_u32(std::string key, std::uint32_t value) {
  return {std::move(key), [value](ByteWriter& w) {
            w.put<std::uint32_t>(4);
            w.put<std::uint32_t>(value);
          }};
}
GgufKv kv_strings(std::string key, std::vector<std::string> values) {
  return {std::move(key), [values](ByteWriter& w) {
            w.put<std::uint32_t>(9);
            w.put<std::uint32_t>(8);
            w.put<std::uint64_t>(values.size());
            for (const std::string& v : values) w.put_gguf_string(v);
          }};
}
GgufKv kv_i32s(std::string key, std::vector<std::int32_t> values) {
  return {std::move(key), [values](ByteWriter& w) {
            w.put<std::uint32_t>(9);
            w.put<std::uint32_t>(5);
            w.put<std::uint64_t>(values.size());
            for (std::int32_t v : values) w.put<std::int32_t>(v);
          }};
}

TEST(TokenizerLoader, GgufGpt2VocabularyUsesMergesAndControlTokens) {
  const auto c = tiny_byte_level_config();
  std::vector<std::string> merges;
  for (const auto& [x, y] : c.merges) merges.push_back(x + " " + y);
  std::vector<std::int32_t> types(c.pieces.size(), 1);
  types[259] = 3;
  ScopedTempDir dir;
  const std::string path = write_file(
      dir, "bpe.gguf",
      gguf_image({kv_string("tokenizer.ggml.model", "gpt2"),
                  kv_strings("tokenizer.ggml.tokens", c.pieces),
                  kv_strings("tokenizer.ggml.merges", merges),
                  kv_i32s("tokenizer.ggml.token_type", types),
                  kv_u32("tokenizer.ggml.eos_token_id", 259)}));
  const auto tok = load_tokenizer(path);
  EXPECT_EQ(tok->eos_id(), 259);
  EXPECT_EQ(tok->bos_id(), -1);
  EXPECT_EQ(tok->encode("the the", false), (std::vector<Token>{'t', 257, 258}));
  const std::vector<Token> ids{258, 259};
  EXPECT_EQ(tok->decode(ids), " the");

  const std::string bad = write_file(
      dir, "bad.gguf",
      gguf_image({kv_string("tokenizer.ggml.model", "wordpiece"),
                  kv_strings("tokenizer.ggml.tokens", c.pieces)}));
  expect_error_mentions([&] { load_tokenizer(bad); }, {bad, "wordpiece"});
  const std::string no_merges = write_file(
      dir, "nomerges.gguf",
      gguf_image({kv_string("tokenizer.ggml.model", "gpt2"),
                  kv_strings("tokenizer.ggml.tokens", c.pieces)}));
  expect_error_mentions([&] { load_tokenizer(no_merges); }, {"tokenizer.ggml.merges"});
  const std::string bad_pre = write_file(
      dir, "badpre.gguf",
      gguf_image({kv_string("tokenizer.ggml.model", "gpt2"), kv_string("tokenizer.ggml.pre", "??"),
                  kv_strings("tokenizer.ggml.tokens", c.pieces),
                  kv_strings("tokenizer.ggml.merges", merges)}));
  expect_error_mentions([&] { load_tokenizer(bad_pre); }, {"tokenizer.ggml.pre"});
}

TEST(TokenizerLoader, DispatchesOnContent) {
  ScopedTempDir dir;
  // A llama2.c file with a misleading .json name is still read as tokenizer.bin.
  const std::string bin = write_file(dir, "tok.json", llama2c_image(7, tiny_llama2c_vocab()));
  EXPECT_EQ(load_tokenizer(bin)->vocab_size(), 6);
  // JSON content -> tokenizer.json parser (which reports the JSON error).
  const std::string j = "  {\"model\": ";
  const std::string bad_json = write_file(dir, "t.bin", std::vector<std::uint8_t>(j.begin(), j.end()));
  expect_error_mentions([&] { load_tokenizer(bad_json); }, {bad_json, "byte"});
  EXPECT_THROW(load_tokenizer(dir.path("nothing-here")), Error);
  // A directory without tokenizer.json.
  expect_error_mentions([&] { load_tokenizer(dir.dir()); }, {"tokenizer.json"});
}

TEST(TokenizerLoader, HuggingFaceDirectoryTakesSpecialIdsFromConfig) {
  const std::string json = testing::model_path("tokenizers/smollm2-tokenizer.json");
  const std::string config = testing::model_path("tokenizers/smollm2-135m-config.json");
  SPECLAB_REQUIRE_MODEL(json);
  SPECLAB_REQUIRE_MODEL(config);
  ScopedTempDir dir;
  std::filesystem::create_symlink(json, dir.path("tokenizer.json"));
  std::filesystem::create_symlink(config, dir.path("config.json"));
  const auto tok = load_tokenizer(dir.dir());
  EXPECT_EQ(tok->vocab_size(), 49152);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_EQ(tok->encode("Hello world", true), (std::vector<Token>{1, 19556, 905}));
  // The file alone: no BOS, <|endoftext|> as EOS.
  const auto file_only = load_tokenizer(json);
  EXPECT_EQ(file_only->bos_id(), -1);
  EXPECT_EQ(file_only->eos_id(), 0);
}

}  // namespace
}  // namespace speclab
