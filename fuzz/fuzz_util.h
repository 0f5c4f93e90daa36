// Shared pieces of the libFuzzer harnesses (fuzz/fuzz_*.cpp) and the seed-corpus generator
// (fuzz/make_corpus.cpp).
//
// Contract of every harness: bad input must end in speclab::Error (UsageError derives from it),
// which the harness catches. Anything else (another exception escaping, SPECLAB_ASSERT, a
// signal, a sanitizer report, a timeout, an allocation beyond -rss_limit_mb) is a finding.
//
// Parsers that only take a path read the input from a scratch file in a per-process directory
// (speclab-fuzz-<pid> in /dev/shm or /tmp). scripts/fuzz.sh runs every harness in an empty
// working directory (build-fuzz/work/<target>), so that relative paths named by a fuzzed spec
// find nothing.
//
// Inputs that hold several files (an HF directory, heads.json + heads.safetensors) are the
// files joined by kPartSeparator.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "model/model_info.h"
#include "tokenizers/tokenizer.h"

namespace speclab::fuzz {

inline constexpr std::string_view kPartSeparator = "\n#speclab-fuzz-part#\n";

// The input split at kPartSeparator into at most max_parts parts (the last keeps the rest).
inline std::vector<std::string_view> split_parts(std::string_view s, std::size_t max_parts) {
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const std::size_t at = s.find(kPartSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(s.substr(0, at));
    s.remove_prefix(at + kPartSeparator.size());
  }
  parts.push_back(s);
  return parts;
}

inline std::string join_parts(const std::vector<std::string>& parts) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += kPartSeparator;
    out += parts[i];
  }
  return out;
}

// <base>/speclab-fuzz-<pid>, base = /dev/shm when it exists (tmpfs: a scratch file per input
// costs little), else /tmp. Created on first use, removed at exit.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::error_code ec;
    const std::string base = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
    const std::string d = base + "/speclab-fuzz-" + std::to_string(::getpid());
    std::filesystem::remove_all(d, ec);
    std::filesystem::create_directories(d);
    return d;
  }();
  static const bool cleanup = [] {
    return std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }) == 0;
  }();
  (void)cleanup;
  return dir;
}

inline void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

// Writes the bytes to scratch_dir()/name and returns that path.
inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const std::string path = scratch_dir() + "/" + name;
  write_file(path, bytes);
  return path;
}

// An empty directory scratch_dir()/name (emptied on every call).
inline std::string fresh_scratch_subdir(const std::string& name) {
  const std::string dir = scratch_dir() + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// SPECLAB_FUZZ_VERBOSE=1 prints the Error an input ended in (to check seeds and reproducers).
inline void note(const Error& e) {
  static const bool verbose = std::getenv("SPECLAB_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "speclab::Error: %s\n", e.what());
}

// A finding that is not a crash by itself (a broken round trip, an Error where the API promises
// none): print and abort so that libFuzzer records the input.
[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "FUZZ FINDING: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// Runs a loaded tokenizer over a short mixed text and its own vocabulary: encode (with and
// without BOS), decode the ids, decode every id after its predecessor and after BOS, and decode
// out-of-range ids. Errors are allowed (e.g. a piece missing from the vocabulary); crashes not.
inline void exercise_tokenizer(const Tokenizer& tok) {
  static const char* const kTexts[] = {
      "Once upon a time, Tom said: \"hello\" 42 times!\n\tThe end.",
      "h\xC3\xA9llo \xE4\xBD\xA0\xE5\xA5\xBD <s></s> <|endoftext|>  ",
      "",
  };
  for (const char* text : kTexts) {
    for (const bool bos : {true, false}) {
      try {
        const std::vector<Token> ids = tok.encode(text, bos);
        (void)tok.decode(ids);
        for (std::size_t i = 1; i < ids.size(); ++i) (void)tok.decode_token(ids[i - 1], ids[i]);
      } catch (const Error&) {
      }
    }
  }
  const std::int32_t n = tok.vocab_size();
  const std::int32_t limit = n < 300 ? n : 300;
  std::vector<Token> all;
  for (Token t = 0; t < limit; ++t) {
    all.push_back(t);
    try {
      (void)tok.decode_token(tok.bos_id(), t);
      (void)tok.decode_token(t > 0 ? t - 1 : 0, t);
    } catch (const Error&) {
    }
  }
  try {
    (void)tok.decode(all);
  } catch (const Error&) {
  }
  for (const Token bad : {Token{-1}, n, Token{-2147483647 - 1}}) {
    try {
      (void)tok.decode_token(0, bad);
    } catch (const Error&) {
    }
  }
}

}  // namespace speclab::fuzz
