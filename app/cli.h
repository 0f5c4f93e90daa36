// Shared pieces of the speclab command-line tool. Each subcommand lives in its own file and
// returns the process exit code; errors propagate as speclab::Error / UsageError to main().
#pragma once
#include <cxxopts.hpp>

#include <memory>
#include <string>
#include <vector>

#include "model/llama_model.h"
#include "model/llama_weights.h"
#include "tokenizers/tokenizer.h"

namespace speclab::cli {

int cmd_info(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_generate(int argc, char** argv);
// Experiment runner (app/cmd_experiment.cpp).
int cmd_compare(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_merge(int argc, char** argv);
// Head training (app/cmd_train_heads.cpp).
int cmd_train_heads(int argc, char** argv);
// Chat templates (app/cmd_chat_template.cpp).
int cmd_chat_template(int argc, char** argv);
// Random-weight GGUF files (app/cmd_synth_model.cpp).
int cmd_synth_model(int argc, char** argv);
// Cost profiles of this machine (app/cmd_profile.cpp).
int cmd_profile(int argc, char** argv);




// Parses argv with `opts`; --help prints usage (then `help_epilog`, e.g. the drafter list) and
// exits 0; bad flags throw UsageError.
cxxopts::ParseResult parse_or_usage(cxxopts::Options& opts, int argc, char** argv,
                                    const std::string& help_epilog = "");

// Requires a flag; UsageError naming it when absent.
std::string required(const cxxopts::ParseResult& r, const std::string& flag);

// The tokenizer for a model: --tokenizer if given; else the model itself when it embeds one
// (GGUF, Hugging Face directory); else tok<vocab>.bin or tokenizer.bin beside a llama2.c file.
// Throws Error naming what was tried.
std::string resolve_tokenizer_path(const std::string& model_path, const std::string& flag,
                                   std::int32_t vocab_size);

// The tokenizer of resolve_tokenizer_path(model_path, the --tokenizer flag of r, ...), checked
// against the model: Error naming both when its vocabulary size differs from info's.
std::unique_ptr<Tokenizer> load_model_tokenizer(const cxxopts::ParseResult& r, const std::string& model_path,
                                                      const ModelInfo& info);

// Comma-separated integers ("1,2,3"); UsageError naming `flag` for bad text.
std::vector<std::int32_t> parse_int_list(const std::string& text, const std::string& flag);
std::vector<double> parse_double_list(const std::string& text, const std::string& flag);

// The --dtype / --draft-dtype values of a command (UsageError naming the flag for a bad one)
// and its --kv-dtype (UsageError for an unknown type).
void check_dtype_flags(const cxxopts::ParseResult& r);
KvCacheType kv_dtype_flag(const cxxopts::ParseResult& r);

// The CPU model from /proc/cpuinfo ("" when unknown).
std::string cpu_model_name();

// "a,b:x=1,y=2,c" -> {"a", "b:x=1,y=2", "c"}: a piece with '=' before any ':' continues the
// previous drafter's parameters; commas inside brackets do not split. UsageError for an empty name.
std::vector<std::string> split_drafters(const std::string& text);

}  // namespace speclab::cli
