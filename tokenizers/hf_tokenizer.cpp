#include "tokenizers/hf_tokenizer.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>

#include "tokenizers/bpe_tokenizer.h"
#include "base/error.h"
#include "base/input_file.h"
#include "base/json_input.h"

namespace speclab {

namespace {

using Json = nlohmann::json;
using Span = std::pair<std::size_t, std::size_t>;

const char* const kMetaspace = "\xE2\x96\x81";  // U+2581

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (true) {
    const std::size_t j = s.find(from, i);
    if (j == std::string::npos) break;
    out.append(s, i, j - i).append(to);
    i = j + from.size();
  }
  out.append(s, i, std::string::npos);
  s = std::move(out);
}

std::string type_of(const Json& j) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return "<missing type>";
  return j["type"].get<std::string>();
}

// A String-or-Regex pattern as used by Split and Replace.
struct Pattern {
  std::string literal;                 // when not a regex
  std::unique_ptr<Pcre2Regex> regex;   // when a regex
  std::vector<Span> find_all(std::string_view text) const {
    if (regex) return regex->find_all(text);
    std::vector<Span> out;
    if (literal.empty()) return out;
    for (std::size_t i = text.find(literal); i != std::string_view::npos;
         i = text.find(literal, i + literal.size())) {
      out.emplace_back(i, i + literal.size());
    }
    return out;
  }
};

Pattern parse_pattern(const Json& j, const std::string& where) {
  Pattern p;
  if (j.is_object() && j.contains("String")) {
    p.literal = j["String"].get<std::string>();
  } else if (j.is_object() && j.contains("Regex")) {
    p.regex = std::make_unique<Pcre2Regex>(j["Regex"].get<std::string>(), where);
  } else {
    fail("{}: pattern = {}: must be {{\"String\": ...}} or {{\"Regex\": ...}}", where, json_excerpt(j));
  }
  return p;
}

std::string replace_pattern(std::string_view text, const Pattern& p, std::string_view content) {
  std::string out;
  std::size_t last = 0;
  for (const auto& [b, e] : p.find_all(text)) {
    out.append(text.substr(last, b - last)).append(content);
    last = e;
  }
  out.append(text.substr(last));
  return out;
}

// ----- normalizers -----------------------------------------------------------------------------

struct NormalizerStep {
  enum class Kind { kPrepend, kReplace, kAsciiOnlyUnicodeForm } kind;
  std::string text;  // prepend text / replacement content / form name
  Pattern pattern;
};

void parse_normalizer(const Json& j, const std::string& where, std::vector<NormalizerStep>& out) {
  if (j.is_null()) return;
  const std::string type = type_of(j);
  if (type == "Sequence") {
    for (const Json& n : j.at("normalizers")) parse_normalizer(n, where, out);
  } else if (type == "Prepend") {
    out.push_back({NormalizerStep::Kind::kPrepend, j.at("prepend").get<std::string>(), {}});
  } else if (type == "Replace") {
    out.push_back({NormalizerStep::Kind::kReplace, j.at("content").get<std::string>(),
                   parse_pattern(j.at("pattern"), where + ": normalizer Replace")});
  } else if (type == "NFC" || type == "NFKC") {
    out.push_back({NormalizerStep::Kind::kAsciiOnlyUnicodeForm, type, {}});
  } else {
    fail("{}: normalizer type = {}: unsupported (supported: Sequence, Prepend, Replace, NFC, "
         "NFKC)",
         where, type);
  }
}

// ----- pre-tokenizers --------------------------------------------------------------------------

enum class SplitBehavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreTokStep {
  enum class Kind { kSplit, kByteLevel, kMetaspace } kind = Kind::kSplit;
  Pattern pattern;                  // kSplit (Digits are a Split on \p{N})
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;    // kByteLevel
  bool use_regex = true;            // kByteLevel
  std::string replacement;          // kMetaspace
  std::string prepend_scheme;       // kMetaspace: always / first / never
  bool split = false;               // kMetaspace
};

SplitBehavior parse_behavior(const std::string& b, const std::string& where) {
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  fail("{}: Split behavior = {}: unsupported", where, b);
}

void parse_pre_tokenizer(const Json& j, const std::string& where, std::vector<PreTokStep>& out) {
  if (j.is_null()) return;
  const std::string type = type_of(j);
  if (type == "Sequence") {
    for (const Json& p : j.at("pretokenizers")) parse_pre_tokenizer(p, where, out);
  } else if (type == "Split") {
    PreTokStep s;
    s.kind = PreTokStep::Kind::kSplit;
    s.pattern = parse_pattern(j.at("pattern"), where + ": Split");
    s.behavior = parse_behavior(j.value("behavior", std::string("Isolated")), where);
    s.invert = j.value("invert", false);
    out.push_back(std::move(s));
  } else if (type == "Digits") {
    PreTokStep s;
    s.kind = PreTokStep::Kind::kSplit;
    const bool individual = j.value("individual_digits", false);
    s.pattern.regex = std::make_unique<Pcre2Regex>(individual ? "\\p{N}" : "\\p{N}+", where);
    out.push_back(std::move(s));
  } else if (type == "ByteLevel") {
    PreTokStep s;
    s.kind = PreTokStep::Kind::kByteLevel;
    s.add_prefix_space = j.value("add_prefix_space", false);
    s.use_regex = j.value("use_regex", true);
    if (s.use_regex) s.pattern.regex = std::make_unique<Pcre2Regex>(kGpt2SplitPattern, where);
    out.push_back(std::move(s));
  } else if (type == "Metaspace") {
    PreTokStep s;
    s.kind = PreTokStep::Kind::kMetaspace;
    s.replacement = j.value("replacement", std::string(kMetaspace));
    if (j.contains("prepend_scheme")) {
      s.prepend_scheme = j["prepend_scheme"].get<std::string>();
    } else {
      s.prepend_scheme = j.value("add_prefix_space", true) ? "always" : "never";
    }
    if (s.prepend_scheme != "always" && s.prepend_scheme != "first" &&
        s.prepend_scheme != "never") {
      fail("{}: Metaspace prepend_scheme = {}: must be always, first or never", where,
           s.prepend_scheme);
    }
    s.split = j.value("split", true);
    out.push_back(std::move(s));
  } else {
    fail("{}: pre_tokenizer type = {}: unsupported (supported: Sequence, Split, Digits, "
         "ByteLevel, Metaspace)",
         where, type);
  }
}

// Splits `piece` by the matches of `pattern` according to `behavior` (Hugging Face
// `SplitDelimiterBehavior`), appending the non-empty parts to `out`.
void split_piece(std::string_view piece, const Pattern& pattern, SplitBehavior behavior,
                 bool invert, std::vector<std::string>& out) {
  // Cover the piece with (begin, end, is_match) spans.
  struct Part {
    std::size_t b, e;
    bool match;
  };
  std::vector<Part> parts;
  std::size_t last = 0;
  for (const auto& [b, e] : pattern.find_all(piece)) {
    if (b > last) parts.push_back({last, b, false});
    parts.push_back({b, e, true});
    last = e;
  }
  if (last < piece.size()) parts.push_back({last, piece.size(), false});
  if (invert) {
    for (Part& p : parts) p.match = !p.match;
  }
  std::string pending;  // for MergedWithNext
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const Part& p = parts[i];
    std::string_view text = piece.substr(p.b, p.e - p.b);
    switch (behavior) {
      case SplitBehavior::kIsolated:
        out.emplace_back(text);
        break;
      case SplitBehavior::kRemoved:
        if (!p.match) out.emplace_back(text);
        break;
      case SplitBehavior::kMergedWithPrevious:
        if (p.match && !out.empty() && i > 0 && !parts[i - 1].match) {
          out.back().append(text);
        } else {
          out.emplace_back(text);
        }
        break;
      case SplitBehavior::kMergedWithNext:
        if (p.match) {
          pending.append(text);
        } else {
          out.emplace_back(pending + std::string(text));
          pending.clear();
        }
        break;
      case SplitBehavior::kContiguous:
        if (p.match && i > 0 && parts[i - 1].match) {
          out.back().append(text);
        } else {
          out.emplace_back(text);
        }
        break;
    }
  }
  if (!pending.empty()) out.push_back(std::move(pending));
}

// ----- decoders --------------------------------------------------------------------------------

struct DecoderStep {
  enum class Kind { kByteLevel, kByteFallback, kFuse, kStrip, kReplace, kMetaspace } kind =
      Kind::kFuse;
  std::string content;     // Strip content / Replace content / Metaspace replacement
  std::size_t start = 0;   // Strip
  std::size_t stop = 0;    // Strip
  bool strip_first = true; // Metaspace: prepend_scheme != never
  Pattern pattern;         // Replace
};

void parse_decoder(const Json& j, const std::string& where, std::vector<DecoderStep>& out) {
  if (j.is_null()) return;
  const std::string type = type_of(j);
  if (type == "Sequence") {
    for (const Json& d : j.at("decoders")) parse_decoder(d, where, out);
  } else if (type == "ByteLevel") {
    DecoderStep s;
    s.kind = DecoderStep::Kind::kByteLevel;
    out.push_back(std::move(s));
  } else if (type == "ByteFallback") {
    DecoderStep s;
    s.kind = DecoderStep::Kind::kByteFallback;
    out.push_back(std::move(s));
  } else if (type == "Fuse") {
    DecoderStep s;
    s.kind = DecoderStep::Kind::kFuse;
    out.push_back(std::move(s));
  } else if (type == "Strip") {
    DecoderStep s;
    s.kind = DecoderStep::Kind::kStrip;
    s.content = j.at("content").get<std::string>();
    // Characters stripped from each end: an integer in [0, 2^20] (1e20 or -1 is an Error, not a cast).
    s.start = j.contains("start") ? json_integer<std::size_t>(j["start"], where, "decoder Strip start", 0, 1 << 20) : 0;
    s.stop = j.contains("stop") ? json_integer<std::size_t>(j["stop"], where, "decoder Strip stop", 0, 1 << 20) : 0;
    out.push_back(std::move(s));
  } else if (type == "Replace") {
    DecoderStep s;
    s.kind = DecoderStep::Kind::kReplace;
    s.content = j.at("content").get<std::string>();
    s.pattern = parse_pattern(j.at("pattern"), where + ": decoder Replace");
    out.push_back(std::move(s));
  } else if (type == "Metaspace") {
    DecoderStep s;
    s.kind = DecoderStep::Kind::kMetaspace;
    s.content = j.value("replacement", std::string(kMetaspace));
    if (j.contains("prepend_scheme")) {
      s.strip_first = j["prepend_scheme"].get<std::string>() != "never";
    } else {
      s.strip_first = j.value("add_prefix_space", true);
    }
    out.push_back(std::move(s));
  } else {
    fail("{}: decoder type = {}: unsupported (supported: Sequence, ByteLevel, ByteFallback, "
         "Fuse, Strip, Replace, Metaspace)",
         where, type);
  }
}

// Removes up to `n` copies of `content` from the front (or back) of `s`.
void strip_front(std::string& s, std::string_view content, std::size_t n) {
  for (std::size_t k = 0; k < n && !content.empty() && s.starts_with(content); ++k) {
    s.erase(0, content.size());
  }
}
void strip_back(std::string& s, std::string_view content, std::size_t n) {
  for (std::size_t k = 0; k < n && !content.empty() && s.ends_with(content); ++k) {
    s.erase(s.size() - content.size());
  }
}

struct AddedToken {
  std::string content;
  Token id;
  bool special, lstrip, rstrip;
};

}  // namespace

struct HfTokenizer::Impl {
  std::string source;
  std::vector<NormalizerStep> normalizer;
  std::vector<PreTokStep> pre_tokenizer;
  std::vector<DecoderStep> decoder;
  std::unique_ptr<BpeModel> model;
  bool byte_level = false;          // the pre-tokenizer maps bytes to the byte-level alphabet
  bool fuse_unk = false;
  Token unk_id = -1;
  std::vector<AddedToken> added;    // longest content first
  std::array<bool, 256> added_first_byte{};
  std::vector<bool> special;        // per id: skipped by decode()
  Token bos = -1, eos = -1;

  void normalize(std::string& s) const;
  void pre_tokenize(std::string_view segment, bool first, std::vector<std::string>& out) const;
  void encode_segment(std::string_view segment, bool first, std::vector<Token>& out) const;
  // Runs the decoder chain; `at_start` enables the steps that act on a text's first token.
  std::string run_decoders(std::vector<std::string> pieces, bool at_start) const;
  const std::string& piece(Token id) const;
  // Finds the added token starting at `pos` (longest first), or nullptr.
  const AddedToken* match_added(std::string_view text, std::size_t pos) const;
};

void HfTokenizer::Impl::normalize(std::string& s) const {
  for (const NormalizerStep& step : normalizer) {
    switch (step.kind) {
      case NormalizerStep::Kind::kPrepend:
        if (!s.empty()) s.insert(0, step.text);
        break;
      case NormalizerStep::Kind::kReplace:
        s = replace_pattern(s, step.pattern, step.text);
        break;
      case NormalizerStep::Kind::kAsciiOnlyUnicodeForm:
        for (unsigned char c : s) {
          if (c >= 0x80) {
            fail("{}: normalizer {} of non-ASCII text is not supported (no Unicode tables)",
                 source, step.text);
          }
        }
        break;
    }
  }
}

void HfTokenizer::Impl::pre_tokenize(std::string_view segment, bool first,
                                     std::vector<std::string>& out) const {
  std::vector<std::string> pieces{std::string(segment)};
  std::vector<std::string> next;
  for (const PreTokStep& step : pre_tokenizer) {
    next.clear();
    for (std::string& p : pieces) {
      switch (step.kind) {
        case PreTokStep::Kind::kSplit:
          split_piece(p, step.pattern, step.behavior, step.invert, next);
          break;
        case PreTokStep::Kind::kByteLevel:
          if (step.add_prefix_space && !p.starts_with(' ')) p.insert(0, " ");
          if (step.use_regex) {
            split_piece(p, step.pattern, SplitBehavior::kIsolated, false, next);
          } else {
            next.push_back(std::move(p));
          }
          break;
        case PreTokStep::Kind::kMetaspace: {
          replace_all(p, " ", step.replacement);
          const bool prepend =
              step.prepend_scheme == "always" || (step.prepend_scheme == "first" && first);
          if (prepend && !p.starts_with(step.replacement)) p.insert(0, step.replacement);
          if (step.split) {
            Pattern marker;
            marker.literal = step.replacement;
            split_piece(p, marker, SplitBehavior::kMergedWithNext, false, next);
          } else {
            next.push_back(std::move(p));
          }
          break;
        }
      }
    }
    pieces.swap(next);
  }
  for (std::string& p : pieces) {
    if (!p.empty()) out.push_back(std::move(p));
  }
}

void HfTokenizer::Impl::encode_segment(std::string_view segment, bool first,
                                       std::vector<Token>& out) const {
  std::string text(segment);
  normalize(text);
  if (text.empty()) return;
  std::vector<std::string> words;
  pre_tokenize(text, first, words);
  const std::size_t begin = out.size();
  const std::vector<std::string_view> views(words.begin(), words.end());
  encode_words_cached(views, out, [this](std::string_view w, std::vector<Token>& o) {
    if (byte_level) {
      model->encode_byte_level_word(w, o);
    } else {
      model->encode_word(w, o);
    }
  });
  if (fuse_unk && unk_id >= 0) {
    auto it = std::unique(out.begin() + static_cast<std::ptrdiff_t>(begin), out.end(),
                          [&](Token a, Token b) { return a == unk_id && b == unk_id; });
    out.erase(it, out.end());
  }
}

const AddedToken* HfTokenizer::Impl::match_added(std::string_view text, std::size_t pos) const {
  if (!added_first_byte[static_cast<unsigned char>(text[pos])]) return nullptr;
  for (const AddedToken& a : added) {
    if (text.compare(pos, a.content.size(), a.content) == 0) return &a;
  }
  return nullptr;
}

const std::string& HfTokenizer::Impl::piece(Token id) const {
  if (id < 0 || id >= model->size()) {
    fail("{}: token id = {}: must be in [0, {})", source, id, model->size());
  }
  return model->piece(id);
}

std::string HfTokenizer::Impl::run_decoders(std::vector<std::string> pieces, bool at_start) const {
  for (const DecoderStep& step : decoder) {
    switch (step.kind) {
      case DecoderStep::Kind::kByteLevel:
        for (std::string& p : pieces) p = from_byte_level(p);
        break;
      case DecoderStep::Kind::kByteFallback:
        for (std::string& p : pieces) {
          if (const int b = parse_byte_piece(p); b >= 0) p = std::string(1, static_cast<char>(b));
        }
        break;
      case DecoderStep::Kind::kFuse: {
        std::string all;
        for (const std::string& p : pieces) all += p;
        pieces.assign(1, std::move(all));
        break;
      }
      case DecoderStep::Kind::kStrip:
        // Per piece as in Hugging Face; when decoding token by token only the text's first
        // piece loses its prefix and no piece loses its suffix (the text has not ended).
        for (std::size_t i = 0; i < pieces.size(); ++i) {
          if (at_start || i > 0) strip_front(pieces[i], step.content, step.start);
          if (at_start || i > 0) strip_back(pieces[i], step.content, step.stop);
        }
        break;
      case DecoderStep::Kind::kReplace:
        for (std::string& p : pieces) p = replace_pattern(p, step.pattern, step.content);
        break;
      case DecoderStep::Kind::kMetaspace:
        for (std::size_t i = 0; i < pieces.size(); ++i) {
          replace_all(pieces[i], step.content, " ");
          if (i == 0 && at_start && step.strip_first && pieces[i].starts_with(' ')) {
            pieces[i].erase(0, 1);
          }
        }
        break;
    }
  }
  std::string out;
  for (const std::string& p : pieces) out += p;
  return out;
}

namespace {

std::optional<Token> find_token_id(const Json& root, const std::string& content, const std::string& source) {
  for (const Json& a : root.value("added_tokens", Json::array())) {
    if (a.value("content", std::string()) == content) return json_integer<Token>(a.at("id"), source, "added_tokens id");
  }
  const Json& vocab = root.at("model").at("vocab");
  if (vocab.contains(content)) return json_integer<Token>(vocab[content], source, "vocab id");
  return std::nullopt;
}

Token guess_bos(const Json& root, const std::string& source) {
  const Json& post = root.value("post_processor", Json());
  if (post.is_object() && type_of(post) == "TemplateProcessing" && post.contains("single") &&
      !post["single"].empty() && post["single"][0].contains("SpecialToken")) {
    const std::string name = post["single"][0]["SpecialToken"].value("id", std::string());
    if (auto id = find_token_id(root, name, source)) return *id;
  }
  for (const char* name : {"<s>", "<|begin_of_text|>"}) {
    for (const Json& a : root.value("added_tokens", Json::array())) {
      if (a.value("content", std::string()) == name) return json_integer<Token>(a.at("id"), source, "added_tokens id");
    }
  }
  return -1;
}

Token guess_eos(const Json& root, const std::string& source) {
  for (const char* name : {"</s>", "<|end_of_text|>", "<|endoftext|>"}) {
    for (const Json& a : root.value("added_tokens", Json::array())) {
      if (a.value("content", std::string()) == name) return json_integer<Token>(a.at("id"), source, "added_tokens id");
    }
  }
  return -1;
}

}  // namespace

HfTokenizer::HfTokenizer(std::string_view json_text, const std::string& source, HfSpecialIds ids)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.source = source;
  const Json root = parse_json(json_text, source);
  try {
    if (!root.is_object()) fail("{}: top level: must be a JSON object", source);
    if (!root.contains("model")) fail("{}: field model: missing", source);
    const Json& model = root["model"];
    const std::string model_type = model.contains("type") ? type_of(model) : "BPE";
    if (model_type != "BPE") {
      fail("{}: model type = {}: unsupported (only BPE)", source, model_type);
    }
    if (model.contains("dropout") && model["dropout"].is_number() &&
        model["dropout"].get<double>() > 0.0) {
      fail("{}: model dropout = {}: unsupported (must be null or 0)", source,
           model["dropout"].get<double>());
    }
    for (const char* field : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.contains(field) && model[field].is_string() &&
          !model[field].get<std::string>().empty()) {
        fail("{}: model {} = {}: unsupported (must be null or empty)", source, field,
             model[field].get<std::string>());
      }
    }
    parse_normalizer(root.value("normalizer", Json()), source, m.normalizer);
    parse_pre_tokenizer(root.value("pre_tokenizer", Json()), source, m.pre_tokenizer);
    parse_decoder(root.value("decoder", Json()), source, m.decoder);
    for (std::size_t i = 0; i < m.pre_tokenizer.size(); ++i) {
      if (m.pre_tokenizer[i].kind == PreTokStep::Kind::kByteLevel) {
        if (i + 1 != m.pre_tokenizer.size()) {
          fail("{}: pre_tokenizer ByteLevel at position {}: must be the last pre-tokenizer",
               source, i);
        }
        m.byte_level = true;
      }
    }

    // Vocabulary: model.vocab plus added tokens (which may extend it).
    const Json& vocab = model.at("vocab");
    if (!vocab.is_object()) fail("{}: model vocab: must be an object", source);
    std::vector<std::string> pieces;
    // Ids are dense: none can reach the number of entries (this also bounds the piece table by
    // the file's size).
    const Json& added_list = root.value("added_tokens", Json::array());
    const std::size_t n_entries = vocab.size() + (added_list.is_array() ? added_list.size() : 0);
    auto put = [&](const Json& id_value, const std::string& content, const char* field) {
      const Token id = json_integer<Token>(id_value, source, fmt::format("{} '{}' id", field, quote_untrusted(content)));
      if (id < 0 || static_cast<std::size_t>(id) >= n_entries) {
        fail("{}: {} '{}' id = {}: must be in [0, {}) (the number of vocabulary entries and added tokens)", source,
             field, quote_untrusted(content), id, n_entries);
      }
      if (static_cast<std::size_t>(id) >= pieces.size()) pieces.resize(static_cast<std::size_t>(id) + 1);
      pieces[static_cast<std::size_t>(id)] = content;
    };
    for (const auto& [content, id] : vocab.items()) put(id, content, "vocab");
    for (const Json& a : added_list) {
      AddedToken t{a.at("content").get<std::string>(), json_integer<Token>(a.at("id"), source, "added_tokens id"),
                   a.value("special", false), a.value("lstrip", false), a.value("rstrip", false)};
      if (t.content.empty()) fail("{}: added token id {}: empty content", source, t.id);
      put(a.at("id"), t.content, "added token");
      m.added.push_back(std::move(t));
    }
    std::stable_sort(m.added.begin(), m.added.end(), [](const AddedToken& a, const AddedToken& b) {
      return a.content.size() > b.content.size();
    });
    for (const AddedToken& a : m.added) {
      m.added_first_byte[static_cast<unsigned char>(a.content[0])] = true;
    }

    // Merges: "a b" strings or [a, b] pairs.
    std::vector<std::pair<std::string, std::string>> merges;
    const Json& jm = model.value("merges", Json::array());
    merges.reserve(jm.size());
    for (std::size_t r = 0; r < jm.size(); ++r) {
      const Json& e = jm[r];
      if (e.is_string()) {
        const std::string s = e.get<std::string>();
        const std::size_t sp = s.find(' ');
        if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
          fail("{}: merges[{}] = '{}': must be two pieces separated by one space", source, r, quote_untrusted(s));
        }
        merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else if (e.is_array() && e.size() == 2) {
        merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
      } else {
        fail("{}: merges[{}] = {}: must be \"a b\" or [a, b]", source, r, json_excerpt(e));
      }
    }

    BpeModelOptions options;
    options.byte_fallback = model.value("byte_fallback", false);
    options.ignore_merges = model.value("ignore_merges", false);
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
      const std::string unk = model["unk_token"].get<std::string>();
      if (!vocab.contains(unk)) fail("{}: model unk_token = {}: not in the vocabulary", source, quote_untrusted(unk));
      options.unk_id = json_integer<Token>(vocab[unk], source, "vocab id of unk_token");
    }
    m.unk_id = options.unk_id;
    m.fuse_unk = model.value("fuse_unk", false);
    m.model = std::make_unique<BpeModel>(std::move(pieces), merges, options, source);

    m.special.assign(static_cast<std::size_t>(m.model->size()), false);
    for (const AddedToken& a : m.added) {
      if (a.special) m.special[static_cast<std::size_t>(a.id)] = true;
    }
    m.bos = ids.bos_id != -2 ? ids.bos_id : guess_bos(root, source);
    m.eos = ids.eos_id != -2 ? ids.eos_id : guess_eos(root, source);
    for (Token id : {m.bos, m.eos}) {
      if (id < -1 || id >= m.model->size()) {
        fail("{}: special token id = {}: must be -1 or in [0, {})", source, id, m.model->size());
      }
    }
  } catch (const Json::exception& e) {
    fail("{}: unexpected JSON structure: {}", source, quote_untrusted(e.what(), 200));
  }
}

HfTokenizer::~HfTokenizer() = default;

std::int32_t HfTokenizer::vocab_size() const { return impl_->model->size(); }
Token HfTokenizer::bos_id() const { return impl_->bos; }
Token HfTokenizer::eos_id() const { return impl_->eos; }

Token HfTokenizer::token_id(std::string_view piece) const { return impl_->model->find(piece); }

std::vector<Token> HfTokenizer::encode(std::string_view text, bool add_bos) const {
  const Impl& m = *impl_;
  std::vector<Token> out;
  if (add_bos && m.bos >= 0) out.push_back(m.bos);
  std::size_t seg_begin = 0;  // start of the pending plain-text segment
  bool first = true;
  auto is_ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  for (std::size_t pos = 0; pos < text.size();) {
    const AddedToken* a = m.added.empty() ? nullptr : m.match_added(text, pos);
    if (!a) {
      ++pos;
      continue;
    }
    std::size_t seg_end = pos;
    if (a->lstrip) {
      while (seg_end > seg_begin && is_ws(text[seg_end - 1])) --seg_end;
    }
    m.encode_segment(text.substr(seg_begin, seg_end - seg_begin), first, out);
    first = false;
    out.push_back(a->id);
    pos += a->content.size();
    if (a->rstrip) {
      while (pos < text.size() && is_ws(text[pos])) ++pos;
    }
    seg_begin = pos;
  }
  m.encode_segment(text.substr(seg_begin), first, out);
  return out;
}

std::string HfTokenizer::decode_token(Token prev, Token token) const {
  const Impl& m = *impl_;
  return m.run_decoders({m.piece(token)}, prev >= 0 && prev == m.bos);
}

std::string HfTokenizer::decode(std::span<const Token> tokens) const {
  const Impl& m = *impl_;
  std::vector<std::string> pieces;
  pieces.reserve(tokens.size());
  for (Token t : tokens) {
    const std::string& p = m.piece(t);
    if (m.special[static_cast<std::size_t>(t)] || t == m.bos || t == m.eos) continue;
    pieces.push_back(p);
  }
  return m.run_decoders(std::move(pieces), true);
}

std::unique_ptr<HfTokenizer> load_hf_tokenizer(const std::string& path, HfSpecialIds ids) {
  return std::make_unique<HfTokenizer>(read_input_file(path, kMaxTextInputBytes, "a tokenizer.json"), path, ids);
}

}  // namespace speclab
