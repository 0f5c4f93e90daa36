// speclab: the command-line tool. Exit codes: 0 success, 1 error (bad file, bad value),
// 2 usage error (unknown command or flag, missing argument).
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "app/cli.h"
#include "base/error.h"

namespace {

constexpr const char* kUsage =
    "usage: speclab COMMAND [options]   (speclab COMMAND --help for its options)\n"
    "commands:\n"
    "  info       architecture, parameter count, dtypes and vocabulary of a model\n"
    "  tokenize   text -> token ids (or --ids -> text) as JSON\n"
    "  generate   generate text, autoregressive or speculative (--drafter)\n"
    "  compare    compare drafters x budgets x temperatures against autoregressive (CSV + plots)\n"
    "  run        run an experiment spec (JSON) -> CSV reports + plots\n"
    "  merge      merge shard outputs (--shard I/N) into one result\n"
    "  train-heads  train Medusa / Hydra heads or exit adapters on a frozen target\n"
    "  chat-template  render a conversation with a model's chat template (as transformers)\n"
    "  synth-model  write a random-weight model of a named shape and dtype as GGUF (benchmarks)\n"
    "  profile    measure this machine's verification cost per tree size (JSON for --profile)\n"
    ;

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  try {
    using namespace speclab::cli;
    if (cmd == "info") return cmd_info(argc - 1, argv + 1);
    if (cmd == "tokenize") return cmd_tokenize(argc - 1, argv + 1);
    if (cmd == "generate") return cmd_generate(argc - 1, argv + 1);
    if (cmd == "compare") return cmd_compare(argc - 1, argv + 1);
    if (cmd == "run") return cmd_run(argc - 1, argv + 1);
    if (cmd == "merge") return cmd_merge(argc - 1, argv + 1);
    if (cmd == "train-heads") return cmd_train_heads(argc - 1, argv + 1);
    if (cmd == "chat-template") return cmd_chat_template(argc - 1, argv + 1);
    if (cmd == "synth-model") return cmd_synth_model(argc - 1, argv + 1);
    if (cmd == "profile") return cmd_profile(argc - 1, argv + 1);
    std::fprintf(stderr, "error: unknown command '%s'\n%s", cmd.c_str(), kUsage);
    return 2;
  } catch (const speclab::UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const speclab::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
