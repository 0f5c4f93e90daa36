#include "experiments/plots.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <unistd.h>

#include "base/error.h"
#include "base/input_file.h"

namespace speclab {

namespace {

struct Series {
  std::string label;
  double temperature = 0;
  std::vector<const SummaryRow*> points;  // by budget
};

std::string series_label(const std::string& drafter, const std::string& params, const std::string& rule,
                         std::int32_t depth_cap, const std::string& budget_policy) {
  std::string s = drafter;
  if (!params.empty()) s += " [" + params + "]";
  s += " / " + rule;
  if (depth_cap > 0) s += fmt::format(" / depth<={}", depth_cap);
  if (budget_policy != "fixed") s += " / " + budget_policy + " policy";
  return s;
}

std::string temp_tag(double t) {
  std::string s = fmt::format("{}", t);
  for (char& c : s) {
    if (c == '.') c = 'p';
  }
  return s;
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string write_plot_script(const std::string& dir, const ReportSet& reports, const std::string& model) {
  namespace fs = std::filesystem;
  const std::string pdir = dir + "/plots";
  create_output_directory(pdir);
  // Series in first-appearance order; the baseline (config 0) is not a series.
  std::vector<double> temps;
  std::vector<Series> series;
  std::map<std::pair<std::string, double>, std::size_t> index;
  for (const auto& r : reports.summary) {
    if (r.config == 0) continue;
    if (std::find(temps.begin(), temps.end(), r.temperature) == temps.end()) temps.push_back(r.temperature);
    const std::string label = series_label(r.drafter, r.params, r.rule, r.depth_cap, r.budget_policy);
    auto [it, fresh] = index.emplace(std::make_pair(label, r.temperature), series.size());
    if (fresh) series.push_back(Series{label, r.temperature, {}});
    series[it->second].points.push_back(&r);
  }
  std::string gp;
  gp += "# speclab plots; run: gnuplot plots.gp (in this directory)\n";
  gp += "set terminal pngcairo size 1000,640 noenhanced font ',10'\n";
  gp += "set key below\nset grid\n";
  for (double t : temps) {
    const std::string tag = temp_tag(t);
    std::vector<std::pair<std::string, std::string>> files;  // (file, label)
    for (std::size_t i = 0; i < series.size(); ++i) {
      if (series[i].temperature != t) continue;
      std::string data = "# budget tau speedup";
      for (const auto& name : reports.projections) data += " projected_speedup_" + name;
      data += "\n";
      std::map<std::int32_t, const SummaryRow*> by_budget;
      for (const SummaryRow* p : series[i].points) by_budget[p->budget] = p;
      for (const auto& [b, p] : by_budget) {
        data += fmt::format("{} {:.6f} {:.6f}", b, p->tau, p->speedup);
        for (std::size_t k = 0; k < reports.projections.size(); ++k) {
          data += fmt::format(" {:.6f}", k < p->projected_speedup.size() ? p->projected_speedup[k] : 0.0);
        }
        data += "\n";
      }
      const std::string file = fmt::format("series_{}_T{}.dat", i, tag);
      write_text_file(pdir + "/" + file, data);
      files.emplace_back(file, series[i].label);
    }
    auto plot_lines = [&](const char* out, const char* ylabel, int col, const char* title) {
      gp += fmt::format("set output '{}_T{}.png'\n", out, tag);
      gp += fmt::format("set title {}\n", quote(fmt::format("{} - {} - temperature {}", title, model, t)));
      gp += fmt::format("set xlabel 'budget (draft nodes per step)'\nset ylabel '{}'\nset logscale x 2\n", ylabel);
      gp += "plot ";
      for (std::size_t k = 0; k < files.size(); ++k) {
        gp += fmt::format("{}'{}' using 1:{} with linespoints title {}", k ? ", \\\n     " : "", files[k].first,
                          col, quote(files[k].second));
      }
      if (files.empty()) gp += "NaN notitle";
      gp += "\nunset logscale x\n";
    };
    plot_lines("tau_vs_budget", "tau (new tokens per target forward)", 2, "tau vs budget");
    plot_lines("speedup_vs_budget", "speedup vs autoregressive", 3, "speedup vs budget");
    // Measured and projected speedup (issue 17): one panel per series, one line per profile.
    if (!reports.projections.empty() && !files.empty()) {
      const std::size_t cols = std::min<std::size_t>(3, files.size()), rows = (files.size() + cols - 1) / cols;
      gp += fmt::format("set terminal pngcairo size {},{} noenhanced font ',9'\n", 520 * cols, 340 * rows);
      gp += fmt::format("set output 'projected_speedup_vs_budget_T{}.png'\n", tag);
      gp += fmt::format("set multiplot layout {},{} title {}\n", rows, cols,
                        quote(fmt::format("measured and projected speedup vs budget - {} - temperature {}", model, t)));
      gp += "set xlabel 'budget'\nset ylabel 'speedup'\nset logscale x 2\nset key top left font ',8'\n";
      for (const auto& [file, label] : files) {
        gp += fmt::format("set title {}\n", quote(label));
        gp += fmt::format("plot '{}' using 1:3 with linespoints lw 2 title 'measured (this run)'", file);
        for (std::size_t k = 0; k < reports.projections.size(); ++k) {
          gp += fmt::format(", \\\n     '{}' using 1:{} with linespoints title {}", file, 4 + k,
                            quote("projected: " + reports.projections[k]));
        }
        gp += "\n";
      }
      gp += "unset multiplot\nunset logscale x\nset key below font ',10'\n";
      gp += "set terminal pngcairo size 1000,640 noenhanced font ',10'\n";
    }

    // Acceptance by depth at each series' largest budget.
    std::vector<std::pair<std::string, std::string>> dfiles;
    for (std::size_t i = 0; i < series.size(); ++i) {
      if (series[i].temperature != t) continue;
      const SummaryRow* top = series[i].points.front();
      for (const SummaryRow* p : series[i].points) {
        if (p->budget > top->budget) top = p;
      }
      std::string data = "# depth accept_rate cond_accept_rate\n";
      bool any = false;
      for (const auto& d : reports.by_depth) {
        if (d.config == top->config && d.temperature == t) {
          data += fmt::format("{} {:.6f} {:.6f}\n", d.depth, d.accept_rate, d.cond_accept_rate);
          any = true;
        }
      }
      if (!any) continue;
      const std::string file = fmt::format("depth_{}_T{}.dat", i, tag);
      write_text_file(pdir + "/" + file, data);
      dfiles.emplace_back(file, fmt::format("{} (budget {})", series[i].label, top->budget));
    }
    gp += fmt::format("set output 'accept_by_depth_T{}.png'\n", tag);
    gp += fmt::format("set title {}\n",
                      quote(fmt::format("acceptance by depth (largest budget) - {} - temperature {}", model, t)));
    gp += "set xlabel 'tree depth'\nset ylabel 'P(accepted path reaches depth | tree reaches it)'\nset yrange [0:1]\n";
    gp += "plot ";
    for (std::size_t k = 0; k < dfiles.size(); ++k) {
      gp += fmt::format("{}'{}' using 1:2 with linespoints title {}", k ? ", \\\n     " : "", dfiles[k].first,
                        quote(dfiles[k].second));
    }
    if (dfiles.empty()) gp += "NaN notitle";
    gp += "\nset autoscale y\n";

    // By category and the acceptance-length histogram, each series at its largest budget.
    std::vector<std::pair<std::string, std::string>> cfiles, hfiles;
    for (std::size_t i = 0; i < series.size(); ++i) {
      if (series[i].temperature != t) continue;
      const SummaryRow* top = series[i].points.front();
      for (const SummaryRow* p : series[i].points) {
        if (p->budget > top->budget) top = p;
      }
      const std::string label = fmt::format("{} (budget {})", series[i].label, top->budget);
      std::string data = "# index tau speedup category\n";
      std::int32_t n = 0;
      for (const auto& c : reports.by_category) {
        if (c.config == top->config && c.temperature == t) {
          data += fmt::format("{} {:.6f} {:.6f} {}\n", n++, c.tau, c.speedup, quote(c.category));
        }
      }
      if (n > 0) {
        const std::string file = fmt::format("category_{}_T{}.dat", i, tag);
        write_text_file(pdir + "/" + file, data);
        cfiles.emplace_back(file, label);
      }
      data = "# n_accepted share\n";
      n = 0;
      for (const auto& h : reports.accept_hist) {
        if (h.config == top->config && h.temperature == t) {
          data += fmt::format("{} {:.6f}\n", h.n_accepted, h.share);
          ++n;
        }
      }
      if (n > 0) {
        const std::string file = fmt::format("hist_{}_T{}.dat", i, tag);
        write_text_file(pdir + "/" + file, data);
        hfiles.emplace_back(file, label);
      }
    }
    auto plot_points = [&](const std::vector<std::pair<std::string, std::string>>& files, const char* using_cols) {
      gp += "plot ";
      for (std::size_t k = 0; k < files.size(); ++k) {
        gp += fmt::format("{}'{}' using {} with linespoints title {}", k ? ", \\\n     " : "", files[k].first,
                          using_cols, quote(files[k].second));
      }
      if (files.empty()) gp += "NaN notitle";
      gp += "\n";
    };
    gp += fmt::format("set output 'tau_by_category_T{}.png'\n", tag);
    gp += fmt::format("set title {}\n",
                      quote(fmt::format("tau (#MAT) by category (largest budget) - {} - temperature {}", model, t)));
    gp += "set xlabel 'category'\nset ylabel 'tau (new tokens per target forward)'\nset xtics rotate by -45\n";
    plot_points(cfiles, "1:2:xtic(4)");
    gp += "set xtics norotate autofreq\n";
    gp += fmt::format("set output 'accept_hist_T{}.png'\n", tag);
    gp += fmt::format(
        "set title {}\n",
        quote(fmt::format("accepted draft tokens per step (largest budget) - {} - temperature {}", model, t)));
    gp += "set xlabel 'draft tokens accepted in the step'\nset ylabel 'share of steps'\nset yrange [0:1]\n";
    plot_points(hfiles, "1:2");
    gp += "set autoscale y\n";
  }
  const std::string script = pdir + "/plots.gp";
  write_text_file(script, gp);
  return script;
}

bool gnuplot_available() {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::stringstream ss(path);
  std::string d;
  while (std::getline(ss, d, ':')) {
    if (d.empty()) continue;
    const std::string exe = d + "/gnuplot";
    if (::access(exe.c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string run_gnuplot(const std::string& script_path) {
  namespace fs = std::filesystem;
  const fs::path p = fs::absolute(script_path);
  const std::string cmd = fmt::format("cd '{}' && gnuplot '{}' >&2", p.parent_path().string(), p.filename().string());
  const int rc = std::system(cmd.c_str());
  if (rc != 0) return fmt::format("gnuplot exited with status {} (script {})", rc, p.string());
  return "";
}

}  // namespace speclab
