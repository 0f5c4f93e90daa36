// Plots with gnuplot (Debian package gnuplot-nox): DIR/plots/*.dat data files, DIR/plots/plots.gp
// script, and PNGs (pngcairo):
//   tau_vs_budget_T<t>.png      tau (new tokens per target forward) vs budget, one line per
//                               (drafter, params, rule, depth cap)
//   speedup_vs_budget_T<t>.png  speedup over the autoregressive baseline vs budget
//   projected_speedup_vs_budget_T<t>.png  with cost profiles (ReportSet::projections): one
//                               panel per series, the measured speedup and one line per
//                               profile's projected speedup vs budget
//   accept_by_depth_T<t>.png    accept_rate by tree depth, at each series' largest budget
//   tau_by_category_T<t>.png    tau per category of by_category.csv (and overall), same series
//   accept_hist_T<t>.png        share of steps by accepted draft tokens (accept_hist.csv), same
// one set per temperature t. The script is written even when gnuplot is missing, so it can be
// run elsewhere (`gnuplot plots.gp` inside DIR/plots).
#pragma once
#include <string>
#include <vector>

#include "experiments/report.h"

namespace speclab {

// Writes the data files and the script; returns the script path. Throws Error on I/O failure.
std::string write_plot_script(const std::string& dir, const ReportSet& reports, const std::string& model);

// True when an executable `gnuplot` is on PATH.
bool gnuplot_available();

// Runs gnuplot on the script (in its directory). Returns "" on success, else what went wrong.
std::string run_gnuplot(const std::string& script_path);

}  // namespace speclab
