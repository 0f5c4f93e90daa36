#!/usr/bin/env bash
# Reads DIR/summary.csv of a run with --profile PROFILE and --budget-policy fixed,cost and prints
# (1) the relative error |projected_speedup_PROFILE - speedup| / speedup over the fixed-budget
# drafter rows: median and worst, and the rows beyond 15%; (2) per drafter (params, rule) and
# temperature: the best fixed-budget tokens/s, the cost policy's tokens/s at each maximum
# budget, and cost@max / best fixed.
# Usage: scripts/cost_report.sh DIR [PROFILE=host]
set -euo pipefail
dir="$1"
prof="${2:-host}"
csv="$dir/summary.csv"
[ -f "$csv" ] || { echo "cost_report: $csv not found" >&2; exit 1; }
# summary.csv quotes cells with commas (params): a tiny CSV splitter in awk.
awk -v prof="projected_speedup_$prof" '
function split_csv(line, out,    n, i, c, cell, q) {
  n = 0; cell = ""; q = 0
  for (i = 1; i <= length(line); i++) {
    c = substr(line, i, 1)
    if (q) { if (c == "\"") { if (substr(line, i + 1, 1) == "\"") { cell = cell "\""; i++ } else q = 0 } else cell = cell c }
    else if (c == "\"") q = 1
    else if (c == ",") { out[++n] = cell; cell = "" }
    else cell = cell c
  }
  out[++n] = cell
  return n
}
NR == 1 { n = split_csv($0, h); for (i = 1; i <= n; i++) col[h[i]] = i
  if (!(prof in col)) { print "cost_report: no column " prof > "/dev/stderr"; exit 1 }
  next }
{ split_csv($0, r)
  if (r[col["config"]] == 0) next
  key = r[col["drafter"]] " [" r[col["params"]] "] " r[col["rule"]] " T=" r[col["temperature"]]
  tps = r[col["tokens_per_s"]]; b = r[col["budget"]]; pol = r[col["budget_policy"]]
  if (pol == "fixed") {
    s = r[col["speedup"]]; p = r[col[prof]]
    if (s > 0) { e = (p - s) / s; err[++ne] = (e < 0 ? -e : e); if (err[ne] > 0.15) bad[++nb] = sprintf("  %+.1f%%  %s budget %s: measured %s projected %s", 100 * e, key, b, s, p) }
    if (!(key in best) || tps > best[key]) { best[key] = tps; bestb[key] = b }
  } else { cost[key] = cost[key] sprintf(" %s:%s", b, tps); if (!(key in maxb) || b + 0 > maxb[key] + 0) { maxb[key] = b; maxt[key] = tps } }
  if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
}
END {
  # median of err[1..ne] (insertion sort: a few hundred rows)
  for (i = 2; i <= ne; i++) { v = err[i]; j = i - 1; while (j > 0 && err[j] > v) { err[j + 1] = err[j]; j-- } err[j + 1] = v }
  med = ne % 2 ? err[(ne + 1) / 2] : (err[ne / 2] + err[ne / 2 + 1]) / 2
  printf "projection %s vs measured speedup over %d fixed-budget rows: median %.1f%%, worst %.1f%%, %d rows beyond 15%%\n", prof, ne, 100 * med, 100 * err[ne], nb
  for (i = 1; i <= nb; i++) print bad[i]
  print ""
  printf "%-60s %14s %10s  %s\n", "drafter [params] rule T", "best fixed", "cost@max/", "cost policy tokens/s by max budget"
  for (k = 1; k <= nk; k++) { key = order[k]; if (!(key in maxb)) continue
    printf "%-60s %8.1f (b%s) %9.3f   %s\n", substr(key, 1, 60), best[key], bestb[key], maxt[key] / best[key], cost[key] }
}' "$csv"
