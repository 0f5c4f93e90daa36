// Hugging Face tokenizer.json: the real SmolLM2 file (byte-level BPE) and small fixtures built
// here (SentencePiece-style with byte fallback, Llama-3-style Split + ByteLevel, bad files).
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "tokenizers/hf_tokenizer.h"
#include "tests/testing/models_dir.h"

namespace speclab {
namespace {

const char* const kSp = "\xE2\x96\x81";  // ▁

void expect_error_mentions(const std::string& json, const std::vector<std::string>& parts) {
  try {
    HfTokenizer tok(json, "fixture.json");
    ADD_FAILURE() << "no Error thrown";
  } catch (const Error& e) {
    for (const std::string& p : parts) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
    }
  }
}

// ----- SmolLM2 (real file) ----------------------------------------------------------------------

class SmolLm2 : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = testing::model_path("tokenizers/smollm2-tokenizer.json");
    SPECLAB_REQUIRE_MODEL(path);
    tok_ = load_hf_tokenizer(path);
  }
  std::unique_ptr<HfTokenizer> tok_;
};

TEST_F(SmolLm2, MatchesReferenceIds) {
  EXPECT_EQ(tok_->vocab_size(), 49152);
  EXPECT_EQ(tok_->encode("Hello world", false), (std::vector<Token>{19556, 905}));
  EXPECT_EQ(tok_->encode("The quick brown fox jumps over the lazy dog.", false),
            (std::vector<Token>{504, 2365, 6354, 16438, 27003, 690, 260, 23790, 2767, 30}));
  EXPECT_EQ(tok_->encode("a  b   c    d", false),
            (std::vector<Token>{81, 216, 278, 256, 265, 333, 287}));
  EXPECT_EQ(tok_->encode("", false), (std::vector<Token>{}));
}

// Ids from an independent Python implementation of the classic GPT-2 BPE loop (merge every
// occurrence of the lowest-ranked pair, `regex` module for \p{L}/\p{N}) on this file's vocab
// and merges, after the Digits split.
TEST_F(SmolLm2, MatchesIndependentGpt2Reference) {
  EXPECT_EQ(tok_->encode("Windows line\r\nendings\r\n", false),
            (std::vector<Token>{25283, 1761, 201, 198, 486, 616, 2738}));
  EXPECT_EQ(tok_->encode("Numbers 3.14159, 1,000,000 and 2024-06-01.", false),
            (std::vector<Token>{39006, 216, 35, 30, 33, 36, 33, 37, 41, 28, 216, 33, 28, 32, 32,
                                32, 28, 32, 32, 32, 284, 216, 34, 32, 34, 36, 29, 32, 38, 29, 32,
                                33, 30}));
  EXPECT_EQ(tok_->encode("emoji: 🙂🚀👩‍💻🇫🇷 done", false),
            (std::vector<Token>{391, 33777, 42, 47526, 10813, 244, 218, 10813, 235, 119, 321, 231,
                                10813, 236, 136, 10813, 225, 121, 10813, 225, 132, 2294}));
}

TEST_F(SmolLm2, DigitsAreSplitIndividually) {
  // Digits(individual_digits) runs before ByteLevel: every digit is its own token.
  const std::vector<Token> ids = tok_->encode("12345", false);
  ASSERT_EQ(ids.size(), 5u);
  for (int d = 0; d < 5; ++d) EXPECT_EQ(tok_->decode_token(-1, ids[d]), std::string(1, char('1' + d)));
}

TEST_F(SmolLm2, AddedTokensMatchedInRawText) {
  const std::vector<Token> ids = tok_->encode("<|im_start|>user\nHi there<|im_end|>", false);
  std::vector<Token> expected{1};
  for (Token t : tok_->encode("user\nHi there", false)) expected.push_back(t);
  expected.push_back(2);
  EXPECT_EQ(ids, expected);
  // Special tokens are skipped by decode(), but decode_token spells them out.
  EXPECT_EQ(tok_->decode(ids), "user\nHi there");
  EXPECT_EQ(tok_->decode_token(-1, 1), "<|im_start|>");
  EXPECT_EQ(tok_->token_id("<|im_end|>"), 2);
}

TEST_F(SmolLm2, RoundTripsVariedCorpus) {
  const std::vector<std::string> corpus = {
      "Hello world",
      "  leading and trailing  ",
      "a  b   c    d\t\te\n\n\nf",
      "Windows line\r\nendings\r\n",
      "Numbers 3.14159, 1,000,000 and 2024-06-01.",
      "def f(x):\n    return {'a': [1, 2, 3]}  # comment\n",
      "int main() { printf(\"%d\\n\", 42); }",
      "Ünïcödé — “quotes” … naïve façade",
      "日本語のテキスト、中文文本。한국어 텍스트",
      "emoji: 🙂🚀👩‍💻🇫🇷 done",
      "Ελληνικά και русский текст",
      "mixed<|im_start|>special<|endoftext|>tokens",
      "don't you'll we've I'M",
      "\u00a0non-breaking\u2009thin space",
  };
  for (const std::string& s : corpus) {
    const std::vector<Token> ids = tok_->encode(s, false);
    if (s.find("<|") == std::string::npos) {
      EXPECT_EQ(tok_->decode(ids), s) << s;
    }
    // Streaming token by token reproduces the bytes (special tokens included).
    std::string streamed;
    Token prev = -1;
    for (Token t : ids) {
      streamed += tok_->decode_token(prev, t);
      prev = t;
    }
    EXPECT_EQ(streamed, s) << s;
  }
  // Invalid UTF-8 cannot be pre-tokenized by the Unicode regex: Error, not a crash.
  try {
    tok_->encode("bad \xff\xfe bytes", false);
    ADD_FAILURE() << "no Error thrown";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("smollm2-tokenizer.json"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tok_->decode_token(-1, 49152), Error);
  EXPECT_THROW(tok_->decode_token(-1, -5), Error);
}

// ----- SentencePiece-style fixture (Llama-2 layout) ---------------------------------------------

// Vocabulary: <unk> <s> </s>, <0x00>..<0xFF> (3..258), then 259 ▁, 260 h, 261 e, 262 l, 263 o,
// 264 ▁h, 265 ll, 266 ▁he, 267 ▁hell, 268 ▁hello. Merge ranks: ▁ h, l l, ▁h e, ▁he ll,
// ▁hell o.
std::string spm_fixture_json(bool metaspace_pre_tokenizer, bool merges_as_pairs) {
  std::string vocab = R"("<unk>": 0, "<s>": 1, "</s>": 2)";
  for (int b = 0; b < 256; ++b) vocab += fmt::format(R"(, "<0x{:02X}>": {})", b, 3 + b);
  const std::vector<std::string> extra = {
      kSp, "h", "e", "l", "o", std::string(kSp) + "h", "ll", std::string(kSp) + "he",
      std::string(kSp) + "hell", std::string(kSp) + "hello"};
  for (std::size_t i = 0; i < extra.size(); ++i) vocab += fmt::format(R"(, "{}": {})", extra[i], 259 + i);
  const std::vector<std::pair<std::string, std::string>> merge_list = {
      {kSp, "h"}, {"l", "l"}, {std::string(kSp) + "h", "e"}, {std::string(kSp) + "he", "ll"},
      {std::string(kSp) + "hell", "o"}};
  std::string merges;
  for (const auto& [a, b] : merge_list) {
    if (!merges.empty()) merges += ", ";
    merges += merges_as_pairs ? fmt::format(R"(["{}", "{}"])", a, b) : fmt::format(R"("{} {}")", a, b);
  }
  const std::string normalizer =
      metaspace_pre_tokenizer
          ? "null"
          : fmt::format(R"({{"type": "Sequence", "normalizers": [
              {{"type": "Prepend", "prepend": "{0}"}},
              {{"type": "Replace", "pattern": {{"String": " "}}, "content": "{0}"}}]}})",
                        kSp);
  const std::string pre_tokenizer =
      metaspace_pre_tokenizer
          ? fmt::format(R"({{"type": "Metaspace", "replacement": "{}", "prepend_scheme": "first",
                            "split": false}})",
                        kSp)
          : "null";
  const std::string decoder =
      metaspace_pre_tokenizer
          ? fmt::format(R"({{"type": "Sequence", "decoders": [{{"type": "ByteFallback"}},
              {{"type": "Metaspace", "replacement": "{}", "prepend_scheme": "first"}}]}})",
                        kSp)
          : fmt::format(R"({{"type": "Sequence", "decoders": [
              {{"type": "Replace", "pattern": {{"String": "{}"}}, "content": " "}},
              {{"type": "ByteFallback"}}, {{"type": "Fuse"}},
              {{"type": "Strip", "content": " ", "start": 1, "stop": 0}}]}})",
                        kSp);
  return fmt::format(R"({{
  "version": "1.0",
  "added_tokens": [
    {{"id": 0, "content": "<unk>", "special": true, "lstrip": false, "rstrip": false}},
    {{"id": 1, "content": "<s>", "special": true, "lstrip": false, "rstrip": false}},
    {{"id": 2, "content": "</s>", "special": true, "lstrip": false, "rstrip": false}}],
  "normalizer": {},
  "pre_tokenizer": {},
  "post_processor": {{"type": "TemplateProcessing",
    "single": [{{"SpecialToken": {{"id": "<s>", "type_id": 0}}}}, {{"Sequence": {{"id": "A", "type_id": 0}}}}]}},
  "decoder": {},
  "model": {{"type": "BPE", "dropout": null, "unk_token": "<unk>", "fuse_unk": true,
    "byte_fallback": true, "vocab": {{{}}}, "merges": [{}]}}
}})",
                     normalizer, pre_tokenizer, decoder, vocab, merges);
}

void check_spm_fixture(const HfTokenizer& tok, bool metaspace) {
  EXPECT_EQ(tok.vocab_size(), 269);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  // "hello": ▁ h e l l o -> (▁ h) -> (l l) -> (▁h e) -> (▁he ll) -> (▁hell o) = ▁hello.
  EXPECT_EQ(tok.encode("hello", true), (std::vector<Token>{1, 268}));
  // "hell hex": ▁hell, then ▁ h e x -> ▁he + 'x' via byte fallback <0x78>.
  EXPECT_EQ(tok.encode("hell hex", false), (std::vector<Token>{267, 266, 3 + 0x78}));
  // "oh": ▁ o h: no merges apply (▁ o is not a merge; o h neither).
  EXPECT_EQ(tok.encode("oh", false), (std::vector<Token>{259, 263, 260}));
  // '你' = E4 BD A0 -> three byte pieces.
  EXPECT_EQ(tok.encode("你", false), (std::vector<Token>{259, 3 + 0xE4, 3 + 0xBD, 3 + 0xA0}));
  // Added tokens split the text before normalization.
  EXPECT_EQ(tok.encode("hello</s>", false), (std::vector<Token>{268, 2}));
  // Metaspace (like Hugging Face) does not prepend ▁ to text already starting with a space, so
  // one leading space is lost there; the Prepend normalizer always prepends.
  if (metaspace) {
    EXPECT_EQ(tok.encode(" oh", false), tok.encode("oh", false));
  } else {
    EXPECT_EQ(tok.encode(" oh", false), (std::vector<Token>{259, 259, 263, 260}));
  }
  for (const std::string s : {"hello", "hello hex", "oh  hello\n  ", "你好 hello 🙂", "x"}) {
    const std::vector<Token> ids = tok.encode(s, true);
    EXPECT_EQ(tok.decode(ids), s) << s;
    std::string streamed;
    for (std::size_t i = 1; i < ids.size(); ++i) streamed += tok.decode_token(ids[i - 1], ids[i]);
    EXPECT_EQ(streamed, s) << s;
  }
  EXPECT_EQ(tok.decode_token(1, 268), "hello");
  EXPECT_EQ(tok.decode_token(268, 266), " he");
  EXPECT_EQ(tok.decode_token(266, 3 + 0x78), "x");
}

TEST(HfTokenizerSpm, NormalizerFormWithStripDecoder) {
  HfTokenizer tok(spm_fixture_json(false, false), "spm.json");
  check_spm_fixture(tok, false);
  const std::string s = " oh  hello\n";
  EXPECT_EQ(tok.decode(tok.encode(s, true)), s);
}

TEST(HfTokenizerSpm, MetaspaceFormWithPairMerges) {
  HfTokenizer tok(spm_fixture_json(true, true), "spm-metaspace.json");
  check_spm_fixture(tok, true);
}

// ----- byte-level fixture (Llama-3 layout: Split regex + ByteLevel without regex) ---------------

std::string byte_level_fixture_json(bool ignore_merges) {
  // ids 0..255: the byte-level alphabet in byte order is not needed here; the vocabulary only
  // has the characters used by the tests plus merges.
  const std::vector<std::string> pieces = {"a", "b", "c", "\xC4\xA0" /*Ġ*/, "ab", "abc",
                                           "\xC4\xA0" "abc", "1", "2", "3", "12", "123", "!",
                                           "bc"};
  std::string vocab;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    vocab += fmt::format(R"({}"{}": {})", i ? ", " : "", pieces[i], i);
  }
  return fmt::format(R"({{
  "added_tokens": [{{"id": 14, "content": "<|eot|>", "special": true, "lstrip": true, "rstrip": false}}],
  "normalizer": null,
  "pre_tokenizer": {{"type": "Sequence", "pretokenizers": [
    {{"type": "Split", "pattern": {{"Regex": "\\p{{N}}{{1,3}}| ?[a-z]+|[^a-z0-9]"}}, "behavior": "Isolated", "invert": false}},
    {{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}}]}},
  "decoder": {{"type": "ByteLevel"}},
  "model": {{"type": "BPE", "ignore_merges": {}, "vocab": {{{}}},
    "merges": ["a b", "ab c", "1 2", "12 3", "\u0120 abc"]}}
}})",
                     ignore_merges ? "true" : "false", vocab);
}

TEST(HfTokenizerByteLevel, SplitRegexThenByteLevel) {
  HfTokenizer tok(byte_level_fixture_json(false), "bl.json");
  EXPECT_EQ(tok.vocab_size(), 15);
  EXPECT_EQ(tok.bos_id(), -1);
  // "abc abc1234!": pieces "abc", " abc", "123", "4"?? -> '4' is not in the vocabulary: error.
  EXPECT_THROW(tok.encode("4", false), Error);
  // "abc abc123!": abc | Ġ abc -> Ġ + a b c merges: ab, abc, Ġabc | 1 2 3 -> 123 | !
  EXPECT_EQ(tok.encode("abc abc123!", false), (std::vector<Token>{5, 6, 11, 12}));
  // "bc" is in the vocabulary but no merge builds it: b, c stay apart without ignore_merges.
  EXPECT_EQ(tok.encode("bc", false), (std::vector<Token>{1, 2}));
  // lstrip: the space before <|eot|> is absorbed; the special token is skipped by decode.
  EXPECT_EQ(tok.encode("abc <|eot|>", false), (std::vector<Token>{5, 14}));
  EXPECT_EQ(tok.decode(tok.encode("abc abc123!", false)), "abc abc123!");
}

TEST(HfTokenizerByteLevel, IgnoreMergesTakesWholeWords) {
  HfTokenizer tok(byte_level_fixture_json(true), "bl.json");
  EXPECT_EQ(tok.encode("bc", false), (std::vector<Token>{13}));
  EXPECT_EQ(tok.encode("abc abc123!", false), (std::vector<Token>{5, 6, 11, 12}));
}

// ----- bad files ---------------------------------------------------------------------------------

TEST(HfTokenizerErrors, MalformedJsonNamesFileAndBytePosition) {
  try {
    HfTokenizer tok(R"({"model": {"type": "BPE", "vocab": {"a": 0,}}})", "broken.json");
    ADD_FAILURE() << "no Error thrown";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("broken.json"), std::string::npos) << what;
    EXPECT_NE(what.find("byte 43"), std::string::npos) << what;  // 0-based offset of the stray "}"
  }
  EXPECT_THROW(load_hf_tokenizer("/nonexistent/tokenizer.json"), Error);
}

TEST(HfTokenizerErrors, UnsupportedComponentsAreNamed) {
  const std::string model = R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";
  expect_error_mentions(R"({"model": {"type": "Unigram", "vocab": []}})", {"fixture.json", "Unigram"});
  expect_error_mentions(R"({"model": {"type": "WordPiece", "vocab": {}}})", {"WordPiece"});
  expect_error_mentions(R"({"pre_tokenizer": {"type": "Whitespace"}, )" + model + "}",
                        {"pre_tokenizer", "Whitespace"});
  expect_error_mentions(R"({"normalizer": {"type": "Lowercase"}, )" + model + "}",
                        {"normalizer", "Lowercase"});
  expect_error_mentions(R"({"decoder": {"type": "WordPiece"}, )" + model + "}",
                        {"decoder", "WordPiece"});
  expect_error_mentions(R"({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "ByteLevel"}, {"type": "Digits"}]}, )" + model + "}",
                        {"ByteLevel", "last"});
  expect_error_mentions(
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}})",
      {"merges[0]"});
  expect_error_mentions(
      R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b c"]}})",
      {"merges[0]"});
  expect_error_mentions(
      R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}})",
      {"unk_token"});
  expect_error_mentions(R"({"model": {"type": "BPE", "vocab": [1, 2], "merges": []}})",
                        {"fixture.json", "vocab"});
  expect_error_mentions(
      R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(("}, "behavior": "Isolated"}, )" +
          model + "}",
      {"fixture.json", "(("});
  expect_error_mentions(R"([1, 2, 3])", {"fixture.json"});
  expect_error_mentions(R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})",
                        {"fixture.json"});
}

TEST(HfTokenizerErrors, UnknownCharacterWithoutFallbackThrows) {
  HfTokenizer tok(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})",
                  "tiny.json");
  EXPECT_EQ(tok.encode("abab", false), (std::vector<Token>{2, 2}));
  EXPECT_THROW(tok.encode("abc", false), Error);
}

}  // namespace
}  // namespace speclab
