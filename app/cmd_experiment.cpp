// speclab compare / run / merge: the experiment runner's command line (experiments/runner.h).
// Progress goes to stderr: a redrawn bar with counts and ETA on a terminal, a line every 5%
// otherwise (batch logs). Model default for specs without one: $SPECLAB_MODEL, then
// ../shared/models/stories260K.bin, else the synthetic model (said on stderr and in every output).
//
// Interrupt and resume (run / compare): results go to --out unit by unit (runner.h
// run_into_directory). SIGINT / SIGTERM request a stop: the current unit finishes, the files are
// left consistent (config.json "status": "interrupted"), and the command exits with 128 + the
// signal number (130 for SIGINT, 143 for SIGTERM). The first signal restores the default action
// of both, so a second one terminates at once (resume then drops the torn unit). Signals ignored
// when the command starts (nohup, background jobs) stay ignored. --resume runs the missing units.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "app/cli.h"
#include "base/error.h"
#include "drafters/registry.h"
#include "experiments/plots.h"
#include "experiments/report.h"
#include "experiments/runner.h"
#include "experiments/spec.h"

namespace speclab::cli {

namespace {

namespace fs = std::filesystem;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string command_output(const std::string& cmd) {
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, f)) out += buf;
    if (::pclose(f) != 0) return "";
  }
  return trim(out);
}

BuildInfo build_info(int argc, char** argv) {
  BuildInfo b;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& dir : {exe.parent_path(), exe.parent_path().parent_path(), fs::current_path()}) {
    const std::string c = command_output(fmt::format("git -C '{}' rev-parse HEAD 2>/dev/null", dir.string()));
    if (!c.empty()) {
      b.git_commit = c;
      if (!command_output(fmt::format("git -C '{}' status --porcelain --untracked-files=no 2>/dev/null", dir.string())).empty()) {
        b.git_commit += "-dirty";
      }
      break;
    }
  }
#if defined(__clang__)
  b.compiler = fmt::format("clang {}", __clang_version__);
#elif defined(__GNUC__)
  b.compiler = fmt::format("gcc {}", __VERSION__);
#endif
  b.cpu = cpu_model_name();
  b.command = "speclab";
  for (int i = 0; i < argc; ++i) b.command += std::string(" ") + argv[i];
  return b;
}

std::string clock_text(double s) {
  if (s < 0 || s > 1e7) return "--:--";
  const long t = static_cast<long>(s + 0.5);
  return t >= 3600 ? fmt::format("{}h{:02}m{:02}s", t / 3600, t / 60 % 60, t % 60)
                   : fmt::format("{}m{:02}s", t / 60, t % 60);
}

class ProgressBar {
 public:
  ProgressBar() : tty_(::isatty(2)), start_(Clock::now()), last_(start_) {}
  void operator()(std::int64_t done, std::int64_t total) {
    const auto now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double eta = done > 0 ? elapsed * double(total - done) / double(done) : -1;
    const int pct = total > 0 ? static_cast<int>(100 * done / total) : 100;
    if (tty_) {
      if (done != total && std::chrono::duration<double>(now - last_).count() < 0.2) return;
      constexpr int kWidth = 30;
      const int fill = total > 0 ? static_cast<int>(kWidth * done / total) : kWidth;
      std::fprintf(stderr, "\r[%s%s] %3d%% %lld/%lld sequences  elapsed %s  ETA %s ",
                   std::string(fill, '#').c_str(), std::string(kWidth - fill, '.').c_str(), pct,
                   static_cast<long long>(done), static_cast<long long>(total), clock_text(elapsed).c_str(),
                   clock_text(eta).c_str());
      if (done == total) std::fputc('\n', stderr);
    } else {
      if (pct < next_pct_ && done != total) return;
      next_pct_ = pct + 5;
      std::fprintf(stderr, "progress %3d%% %lld/%lld sequences  elapsed %s  ETA %s\n", pct,
                   static_cast<long long>(done), static_cast<long long>(total), clock_text(elapsed).c_str(),
                   clock_text(eta).c_str());
    }
    last_ = now;
    std::fflush(stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool tty_;
  Clock::time_point start_, last_;
  int next_pct_ = 0;
};

// The model when the spec names none: $SPECLAB_MODEL, then ../shared/models/stories260K.bin,
// else synthetic.
std::string default_model() {
  std::error_code ec;
  if (const char* e = std::getenv("SPECLAB_MODEL"); e && *e && fs::exists(e, ec)) return e;
  if (fs::exists("../shared/models/stories260K.bin", ec)) return "../shared/models/stories260K.bin";
  return "synthetic";
}

void make_plots(const std::string& dir, const ReportSet& reports, const std::string& model, bool plots) {
  if (!plots) return;
  const std::string script = write_plot_script(dir, reports, model);
  if (!gnuplot_available()) {
    std::fprintf(stderr, "note: gnuplot not found on PATH: plots skipped (script left at %s)\n", script.c_str());
    return;
  }
  const std::string err = run_gnuplot(script);
  if (!err.empty()) {
    std::fprintf(stderr, "warning: plots failed: %s\n", err.c_str());
  } else {
    std::fprintf(stderr, "plots: %s/plots/*.png\n", dir.c_str());
  }
}

// The summary on stderr; with cost profiles, their projected speedups in profile order.
void print_summary(const std::vector<SummaryRow>& rows) {
  const bool projected = !rows.empty() && !rows.front().projected_speedup.empty();
  std::fprintf(stderr, "%-4s %-12s %-28s %-20s %6s %-6s %5s %7s %7s %8s %7s %-10s%s\n", "cfg", "drafter", "params",
               "rule", "budget", "policy", "temp", "tau", "alpha", "tok/s", "speedup", "matches_ar",
               projected ? " projected speedups" : "");
  for (const auto& r : rows) {
    std::string proj;
    for (const double x : r.projected_speedup) proj += fmt::format(" {:.3f}", x);
    std::fprintf(stderr, "%-4d %-12s %-28s %-20s %6d %-6s %5g %7.3f %7.3f %8.1f %7.3f %-10s%s\n", r.config,
                 r.drafter.c_str(), r.params.substr(0, 28).c_str(), r.rule.c_str(), r.budget, r.budget_policy.c_str(),
                 r.temperature, r.tau, r.alpha, r.tokens_per_s, r.speedup, r.matches_ar.c_str(), proj.c_str());
  }
}

// The stop request of SIGINT / SIGTERM: set by the handler, polled between units.
volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int sig) {
  g_stop_signal = sig;
  // A second SIGINT or SIGTERM terminates at once (sigaction is async-signal-safe).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGINT, &dfl, nullptr);
  ::sigaction(SIGTERM, &dfl, nullptr);
}

// Installs on_stop_signal for SIGINT and SIGTERM (unless ignored) for its lifetime.
class StopOnSignals {
 public:
  StopOnSignals() {
    g_stop_signal = 0;
    for (int k = 0; k < 2; ++k) {
      struct sigaction sa {};
      sa.sa_handler = on_stop_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      ::sigaction(kSignals[k], nullptr, &old_[k]);
      if (old_[k].sa_handler != SIG_IGN) ::sigaction(kSignals[k], &sa, nullptr);
    }
  }
  ~StopOnSignals() {
    for (int k = 0; k < 2; ++k) ::sigaction(kSignals[k], &old_[k], nullptr);
  }
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;
  static bool requested() { return g_stop_signal != 0; }
  static int signal() { return g_stop_signal; }

 private:
  static constexpr int kSignals[2] = {SIGINT, SIGTERM};
  struct sigaction old_[2] {};
};

const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }

int run_spec(ExperimentSpec spec, const std::string& out, const std::string& shard_text, bool plots, bool resume,
             int argc, char** argv) {
  const bool fallback = spec.model.empty();
  if (fallback) spec.model = default_model();
  const ShardSelection shard = parse_shard(shard_text);
  auto exp = prepare_experiment(spec, [](const std::string& model, const std::string& given, std::int32_t vocab) {
    return resolve_tokenizer_path(model, given, vocab);
  });
  if (exp.synthetic && fallback) {
    std::fprintf(stderr, "WARNING: synthetic model: no real model found (--model, $SPECLAB_MODEL, "
                         "../shared/models/stories260K.bin); results describe a random network\n");
  } else if (exp.synthetic) {
    std::fprintf(stderr, "note: synthetic model (as requested): results describe a random network\n");
  }
  for (const auto& n : exp.notes) std::fprintf(stderr, "note: %s\n", n.c_str());
  std::fprintf(stderr, "model %s; %zu prompts x %zu temperatures x %zu seeds x %d reps = %zu units; %zu configurations "
                       "(incl. baseline); shard %d/%d\n",
               exp.model_label.c_str(), exp.prompts.size(), spec.temperatures.size(), spec.seeds.size(),
               spec.repetitions, exp.units.size(), exp.configs.size(), shard.index, shard.count);
  const BuildInfo build = build_info(argc, argv);
  ProgressBar bar;
  DirectoryRunOptions options;
  options.resume = resume;
  options.progress = [&](std::int64_t d, std::int64_t t) { bar(d, t); };
  options.stop_requested = [] { return StopOnSignals::requested(); };
  options.on_start = [&](const DirectoryRunResult& start) {
    if (resume) {
      std::fprintf(stderr, "resuming %s (status '%s'): %lld of %lld units done, %lld to run\n", out.c_str(),
                   start.previous_status.c_str(), static_cast<long long>(start.units_kept),
                   static_cast<long long>(start.units_total),
                   static_cast<long long>(start.units_total - start.units_kept));
      if (!start.dropped_units.empty()) {
        std::fprintf(stderr, "note: dropped the rows of %zu incomplete unit(s) (a run killed while writing): %s\n",
                     start.dropped_units.size(), fmt::format("{}", fmt::join(start.dropped_units, ", ")).c_str());
      }
    } else if (start.previous_status == "interrupted" || start.previous_status == "running") {
      std::fprintf(stderr, "note: %s held an unfinished run (status '%s'); starting over (--resume continues it)\n",
                   out.c_str(), start.previous_status.c_str());
    }
  };
  DirectoryRunResult result;
  {
    const StopOnSignals stop_on_signals;  // from here on SIGINT / SIGTERM stop between units
    result = run_into_directory(exp, shard, out, build, options);
    if (!result.complete) {
      const int sig = StopOnSignals::signal();
      if (::isatty(2)) std::fputc('\n', stderr);
      print_summary(result.reports.summary);
      const std::string of_shard = shard.count > 1 ? fmt::format(" of shard {}/{}", shard.index, shard.count) : "";
      std::fprintf(stderr,
                   "interrupted by %s after %lld of %lld units%s: %s holds the finished units (config.json status "
                   "\"interrupted\"; summary CSVs of those units; no plots); rerun the same command with --resume "
                   "to run the other %lld\n",
                   signal_name(sig), static_cast<long long>(result.units_done),
                   static_cast<long long>(result.units_total), of_shard.c_str(), out.c_str(),
                   static_cast<long long>(result.units_total - result.units_done));
      return 128 + (sig > 0 ? sig : SIGINT);
    }
    if (StopOnSignals::requested()) {
      std::fprintf(stderr, "note: %s arrived during the last unit: the run is complete\n",
                   signal_name(StopOnSignals::signal()));
    }
  }
  if (resume && result.units_run == 0) std::fprintf(stderr, "nothing to resume: all units were done; reports rewritten\n");
  print_summary(result.reports.summary);
  make_plots(out, result.reports, exp.model_label, plots);
  std::fprintf(stderr,
               "wrote %s/{config.json,summary.csv,sequences.csv,steps.csv,by_depth.csv,by_rank.csv,by_category.csv,"
               "accept_hist.csv}\n",
               out.c_str());
  return 0;
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

}  // namespace

int cmd_compare(int argc, char** argv) {
  cxxopts::Options opts("speclab compare", "Compare drafters against the autoregressive baseline on a prompt set");
  opts.add_options()
      ("model", "Target model (default: $SPECLAB_MODEL, ../shared/models/stories260K.bin, else synthetic; 'synthetic' forces it)", cxxopts::value<std::string>()->default_value(""))
      ("tokenizer", "Tokenizer (default: embedded, or beside the model)", cxxopts::value<std::string>()->default_value(""))
      ("draft-model", "Draft model for the draft-model drafter", cxxopts::value<std::string>()->default_value(""))
      ("prompts", "Prompt sets (JSONL), comma-separated", cxxopts::value<std::string>())
      ("max-prompts", "Use the first N prompts of each category (0 = all)", cxxopts::value<int>()->default_value("0"))
      ("drafters", "Drafter specs NAME[:key=value,...], comma-separated", cxxopts::value<std::string>()->default_value(std::string(kDefaultCompareDrafters)))
      ("rules", "Acceptance rules, comma-separated (auto = lossless default)", cxxopts::value<std::string>()->default_value("auto"))
      ("budgets", "Draft nodes per step, comma-separated", cxxopts::value<std::string>()->default_value("8,16,32,64"))
      ("depths", "Tree depth caps, comma-separated (0 = unlimited)", cxxopts::value<std::string>()->default_value("0"))
      ("temperatures", "Comma-separated (0 = greedy)", cxxopts::value<std::string>()->default_value("0"))
      ("top-k", "Top-k of the target distribution (0 = off)", cxxopts::value<int>()->default_value("0"))
      ("top-p", "Top-p of the target distribution (1 = off)", cxxopts::value<double>()->default_value("1"))
      ("max-new", "New tokens per sequence", cxxopts::value<int>()->default_value("128"))
      ("seed", "Seeds, comma-separated", cxxopts::value<std::string>()->default_value("0"))
      ("state", "Drafter state policy across prompts: cold|warm", cxxopts::value<std::string>()->default_value("cold"))
      ("threads", "Threads for the models", cxxopts::value<int>()->default_value("1"))
      ("repetitions", "Repetitions of every unit (timing)", cxxopts::value<int>()->default_value("1"))
      ("ctx", "Target context (KV cache slots); 0 = min(model maximum, 4096)", cxxopts::value<int>()->default_value("0"))
      ("dtype", "Target weights: stored, or converted at load to f32 f16 bf16 q8_0 q4_0 q4_1 q4_k q5_k q6_k", cxxopts::value<std::string>()->default_value("stored"))
      ("draft-dtype", "The same for the draft model", cxxopts::value<std::string>()->default_value("stored"))
      ("kv-dtype", "Target KV cache: f32 or f16", cxxopts::value<std::string>()->default_value("f32"))
      ("chat-template", "Prompts as chat: FILE (.jinja, tokenizer_config.json, model dir) or none (default: the model directory's)", cxxopts::value<std::string>()->default_value(""))
      ("profile", "Cost profile (speclab profile) or hardware description: adds projected_speedup_<name> columns (repeatable)", cxxopts::value<std::vector<std::string>>())
      ("budget-policy", "fixed, cost, or fixed,cost (a grid axis): cost = budgets are maxima, tree sizes chosen for tokens per second under the first --profile", cxxopts::value<std::string>()->default_value("fixed"))
      ("shard", "Run shard I/N of the units (0-based I)", cxxopts::value<std::string>()->default_value("0/1"))
      ("no-plots", "Do not make plots")
      ("resume", "Continue an interrupted run in --out (same flags): run only the units not done yet")
      ("out", "Output directory", cxxopts::value<std::string>());
  auto r = parse_or_usage(opts, argc, argv);
  const std::string out = required(r, "out");
  ExperimentSpec spec;
  spec.name = "compare";
  spec.model = r["model"].as<std::string>();
  spec.tokenizer = r["tokenizer"].as<std::string>();
  spec.draft_model = r["draft-model"].as<std::string>();
  spec.prompts = split_list(required(r, "prompts"));
  spec.max_prompts = r["max-prompts"].as<int>();
  spec.drafters.clear();
  for (const auto& d : split_drafters(r["drafters"].as<std::string>())) spec.drafters.push_back(DrafterEntry{d, {}, false});
  spec.rules = split_list(r["rules"].as<std::string>());
  spec.budgets = parse_int_list(r["budgets"].as<std::string>(), "budgets");
  spec.depths = parse_int_list(r["depths"].as<std::string>(), "depths");
  spec.temperatures = parse_double_list(r["temperatures"].as<std::string>(), "temperatures");
  spec.top_k = r["top-k"].as<int>();
  spec.top_p = r["top-p"].as<double>();
  spec.max_new_tokens = r["max-new"].as<int>();
  spec.seeds.clear();
  for (auto s : parse_int_list(r["seed"].as<std::string>(), "seed")) {
    if (s < 0) throw UsageError(fmt::format("--seed = {}: must be >= 0", s));
    spec.seeds.push_back(static_cast<std::uint64_t>(s));
  }
  spec.state = r["state"].as<std::string>();
  spec.threads = r["threads"].as<int>();
  spec.repetitions = r["repetitions"].as<int>();
  spec.ctx = r["ctx"].as<int>();
  spec.dtype = r["dtype"].as<std::string>();
  spec.draft_dtype = r["draft-dtype"].as<std::string>();
  spec.kv_dtype = r["kv-dtype"].as<std::string>();
  spec.chat_template = r["chat-template"].as<std::string>();
  if (r.count("profile")) spec.profiles = r["profile"].as<std::vector<std::string>>();
  spec.budget_policies = split_list(r["budget-policy"].as<std::string>());
  return run_spec(spec, out, r["shard"].as<std::string>(), !r.count("no-plots"), r.count("resume") > 0, argc, argv);
}

int cmd_run(int argc, char** argv) {
  cxxopts::Options opts("speclab run", "Run an experiment spec (JSON)");
  opts.positional_help("SPEC.json");
  opts.add_options()
      ("spec", "Experiment spec", cxxopts::value<std::string>())
      ("model", "Override the spec's model ('synthetic' forces the synthetic model)", cxxopts::value<std::string>())
      ("threads", "Override the spec's threads", cxxopts::value<int>())
      ("max-prompts", "Override the spec's max_prompts (first N prompts of each category; 0 = all)", cxxopts::value<int>())
      ("budgets", "Override the spec's budgets, comma-separated", cxxopts::value<std::string>())
      ("temperatures", "Override the spec's temperatures, comma-separated", cxxopts::value<std::string>())
      ("max-new", "Override the spec's max_new_tokens", cxxopts::value<int>())
      ("ctx", "Override the spec's ctx (target context; 0 = min(model maximum, 4096))", cxxopts::value<int>())
      ("dtype", "Override the spec's dtype (target weights: stored, f32, f16, bf16, q8_0, q4_0, q4_1, q4_k, q5_k, q6_k)", cxxopts::value<std::string>())
      ("draft-dtype", "Override the spec's draft_dtype", cxxopts::value<std::string>())
      ("kv-dtype", "Override the spec's kv_dtype (f32, f16)", cxxopts::value<std::string>())
      ("chat-template", "Override the spec's chat_template: FILE (.jinja, tokenizer_config.json, model dir) or none", cxxopts::value<std::string>())
      ("profile", "Add a cost profile (speclab profile) or hardware description to the spec's profiles (repeatable)", cxxopts::value<std::vector<std::string>>())
      ("budget-policy", "Override the spec's budget_policy: fixed, cost, or fixed,cost", cxxopts::value<std::string>())
      ("shard", "Run shard I/N of the units (0-based I)", cxxopts::value<std::string>()->default_value("0/1"))
      ("no-plots", "Do not make plots")
      ("resume", "Continue an interrupted run in --out (same spec and flags): run only the units not done yet")
      ("out", "Output directory", cxxopts::value<std::string>());
  opts.parse_positional({"spec"});
  auto r = parse_or_usage(opts, argc, argv);
  const std::string spec_path = required(r, "spec");
  const std::string out = required(r, "out");
  ExperimentSpec spec = load_spec(spec_path);
  if (r.count("model")) spec.model = r["model"].as<std::string>();
  if (r.count("threads")) spec.threads = r["threads"].as<int>();
  // Overrides for short runs of a long spec (the test command's fresh-clone run of the main job).
  const bool overridden =
      r.count("max-prompts") || r.count("budgets") || r.count("temperatures") || r.count("max-new") || r.count("ctx") ||
      r.count("dtype") || r.count("draft-dtype") || r.count("kv-dtype") || r.count("profile") ||
      r.count("budget-policy");
  if (r.count("max-prompts")) spec.max_prompts = r["max-prompts"].as<int>();
  if (r.count("budgets")) spec.budgets = parse_int_list(r["budgets"].as<std::string>(), "--budgets");
  if (r.count("temperatures")) spec.temperatures = parse_double_list(r["temperatures"].as<std::string>(), "--temperatures");
  if (r.count("max-new")) spec.max_new_tokens = r["max-new"].as<int>();
  if (r.count("ctx")) spec.ctx = r["ctx"].as<int>();
  if (r.count("dtype")) spec.dtype = r["dtype"].as<std::string>();
  if (r.count("draft-dtype")) spec.draft_dtype = r["draft-dtype"].as<std::string>();
  if (r.count("kv-dtype")) spec.kv_dtype = r["kv-dtype"].as<std::string>();
  if (r.count("chat-template")) spec.chat_template = r["chat-template"].as<std::string>();
  if (r.count("profile")) {
    for (const auto& p : r["profile"].as<std::vector<std::string>>()) spec.profiles.push_back(p);
  }
  if (r.count("budget-policy")) spec.budget_policies = split_list(r["budget-policy"].as<std::string>());
  if (overridden) {
    try {
      throw_if_problems(spec_problems(spec, "speclab run"));
    } catch (const Error& e) {
      throw UsageError(e.what());
    }
  }
  return run_spec(spec, out, r["shard"].as<std::string>(), !r.count("no-plots"), r.count("resume") > 0, argc, argv);
}

int cmd_merge(int argc, char** argv) {
  cxxopts::Options opts("speclab merge", "Merge shard outputs (speclab run/compare --shard I/N) into one result");
  opts.positional_help("DIR...");
  opts.add_options()
      ("dirs", "Shard output directories", cxxopts::value<std::vector<std::string>>())
      ("no-plots", "Do not make plots")
      ("out", "Output directory", cxxopts::value<std::string>());
  opts.parse_positional({"dirs"});
  auto r = parse_or_usage(opts, argc, argv);
  const std::string out = required(r, "out");
  if (!r.count("dirs")) throw UsageError("give the shard directories to merge (see --help)");
  std::string model;
  const ReportSet reports = merge_shards(r["dirs"].as<std::vector<std::string>>(), out, &model);
  print_summary(reports.summary);
  make_plots(out, reports, model, !r.count("no-plots"));
  std::fprintf(stderr,
               "wrote %s/{config.json,summary.csv,sequences.csv,steps.csv,by_depth.csv,by_rank.csv,by_category.csv,"
               "accept_hist.csv}\n",
               out.c_str());
  return 0;
}

}  // namespace speclab::cli
