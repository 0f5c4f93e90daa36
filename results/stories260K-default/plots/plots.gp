# speclab plots; run: gnuplot plots.gp (in this directory)
set terminal pngcairo size 1000,640 noenhanced font ',10'
set key below
set grid
set output 'tau_vs_budget_T0.png'
set title "tau vs budget - stories260K.bin - temperature 0"
set xlabel 'budget (draft nodes per step)'
set ylabel 'tau (new tokens per target forward)'
set logscale x 2
plot 'series_0_T0.dat' using 1:2 with linespoints title "ngram / greedy", \
     'series_2_T0.dat' using 1:2 with linespoints title "recycling [state=cold] / greedy", \
     'series_4_T0.dat' using 1:2 with linespoints title "aded [state=cold] / greedy", \
     'series_6_T0.dat' using 1:2 with linespoints title "sam [state=cold] / greedy", \
     'series_8_T0.dat' using 1:2 with linespoints title "suffix [state=cold] / greedy", \
     'series_10_T0.dat' using 1:2 with linespoints title "lookahead / greedy", \
     'series_12_T0.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy", \
     'series_14_T0.dat' using 1:2 with linespoints title "draft-model [mode=topk] / greedy", \
     'series_16_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy", \
     'series_18_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy", \
     'series_20_T0.dat' using 1:2 with linespoints title "del / greedy", \
     'series_22_T0.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy"
unset logscale x
set output 'speedup_vs_budget_T0.png'
set title "speedup vs budget - stories260K.bin - temperature 0"
set xlabel 'budget (draft nodes per step)'
set ylabel 'speedup vs autoregressive'
set logscale x 2
plot 'series_0_T0.dat' using 1:3 with linespoints title "ngram / greedy", \
     'series_2_T0.dat' using 1:3 with linespoints title "recycling [state=cold] / greedy", \
     'series_4_T0.dat' using 1:3 with linespoints title "aded [state=cold] / greedy", \
     'series_6_T0.dat' using 1:3 with linespoints title "sam [state=cold] / greedy", \
     'series_8_T0.dat' using 1:3 with linespoints title "suffix [state=cold] / greedy", \
     'series_10_T0.dat' using 1:3 with linespoints title "lookahead / greedy", \
     'series_12_T0.dat' using 1:3 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy", \
     'series_14_T0.dat' using 1:3 with linespoints title "draft-model [mode=topk] / greedy", \
     'series_16_T0.dat' using 1:3 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy", \
     'series_18_T0.dat' using 1:3 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy", \
     'series_20_T0.dat' using 1:3 with linespoints title "del / greedy", \
     'series_22_T0.dat' using 1:3 with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy"
unset logscale x
set output 'accept_by_depth_T0.png'
set title "acceptance by depth (largest budget) - stories260K.bin - temperature 0"
set xlabel 'tree depth'
set ylabel 'P(accepted path reaches depth | tree reaches it)'
set yrange [0:1]
plot 'depth_0_T0.dat' using 1:2 with linespoints title "ngram / greedy (budget 64)", \
     'depth_2_T0.dat' using 1:2 with linespoints title "recycling [state=cold] / greedy (budget 64)", \
     'depth_4_T0.dat' using 1:2 with linespoints title "aded [state=cold] / greedy (budget 64)", \
     'depth_6_T0.dat' using 1:2 with linespoints title "sam [state=cold] / greedy (budget 64)", \
     'depth_8_T0.dat' using 1:2 with linespoints title "suffix [state=cold] / greedy (budget 64)", \
     'depth_10_T0.dat' using 1:2 with linespoints title "lookahead / greedy (budget 64)", \
     'depth_12_T0.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy (budget 64)", \
     'depth_14_T0.dat' using 1:2 with linespoints title "draft-model [mode=topk] / greedy (budget 64)", \
     'depth_16_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy (budget 64)", \
     'depth_18_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy (budget 64)", \
     'depth_20_T0.dat' using 1:2 with linespoints title "del / greedy (budget 64)", \
     'depth_22_T0.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy (budget 64)"
set autoscale y
set output 'tau_by_category_T0.png'
set title "tau (#MAT) by category (largest budget) - stories260K.bin - temperature 0"
set xlabel 'category'
set ylabel 'tau (new tokens per target forward)'
set xtics rotate by -45
plot 'category_0_T0.dat' using 1:2:xtic(4) with linespoints title "ngram / greedy (budget 64)", \
     'category_2_T0.dat' using 1:2:xtic(4) with linespoints title "recycling [state=cold] / greedy (budget 64)", \
     'category_4_T0.dat' using 1:2:xtic(4) with linespoints title "aded [state=cold] / greedy (budget 64)", \
     'category_6_T0.dat' using 1:2:xtic(4) with linespoints title "sam [state=cold] / greedy (budget 64)", \
     'category_8_T0.dat' using 1:2:xtic(4) with linespoints title "suffix [state=cold] / greedy (budget 64)", \
     'category_10_T0.dat' using 1:2:xtic(4) with linespoints title "lookahead / greedy (budget 64)", \
     'category_12_T0.dat' using 1:2:xtic(4) with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy (budget 64)", \
     'category_14_T0.dat' using 1:2:xtic(4) with linespoints title "draft-model [mode=topk] / greedy (budget 64)", \
     'category_16_T0.dat' using 1:2:xtic(4) with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy (budget 64)", \
     'category_18_T0.dat' using 1:2:xtic(4) with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy (budget 64)", \
     'category_20_T0.dat' using 1:2:xtic(4) with linespoints title "del / greedy (budget 64)", \
     'category_22_T0.dat' using 1:2:xtic(4) with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy (budget 64)"
set xtics norotate autofreq
set output 'accept_hist_T0.png'
set title "accepted draft tokens per step (largest budget) - stories260K.bin - temperature 0"
set xlabel 'draft tokens accepted in the step'
set ylabel 'share of steps'
set yrange [0:1]
plot 'hist_0_T0.dat' using 1:2 with linespoints title "ngram / greedy (budget 64)", \
     'hist_2_T0.dat' using 1:2 with linespoints title "recycling [state=cold] / greedy (budget 64)", \
     'hist_4_T0.dat' using 1:2 with linespoints title "aded [state=cold] / greedy (budget 64)", \
     'hist_6_T0.dat' using 1:2 with linespoints title "sam [state=cold] / greedy (budget 64)", \
     'hist_8_T0.dat' using 1:2 with linespoints title "suffix [state=cold] / greedy (budget 64)", \
     'hist_10_T0.dat' using 1:2 with linespoints title "lookahead / greedy (budget 64)", \
     'hist_12_T0.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy (budget 64)", \
     'hist_14_T0.dat' using 1:2 with linespoints title "draft-model [mode=topk] / greedy (budget 64)", \
     'hist_16_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy (budget 64)", \
     'hist_18_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy (budget 64)", \
     'hist_20_T0.dat' using 1:2 with linespoints title "del / greedy (budget 64)", \
     'hist_22_T0.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy (budget 64)"
set autoscale y
set output 'tau_vs_budget_T1.png'
set title "tau vs budget - stories260K.bin - temperature 1"
set xlabel 'budget (draft nodes per step)'
set ylabel 'tau (new tokens per target forward)'
set logscale x 2
plot 'series_1_T1.dat' using 1:2 with linespoints title "ngram / deterministic", \
     'series_3_T1.dat' using 1:2 with linespoints title "recycling [state=cold] / deterministic", \
     'series_5_T1.dat' using 1:2 with linespoints title "aded [state=cold] / deterministic", \
     'series_7_T1.dat' using 1:2 with linespoints title "sam [state=cold] / deterministic", \
     'series_9_T1.dat' using 1:2 with linespoints title "suffix [state=cold] / deterministic", \
     'series_11_T1.dat' using 1:2 with linespoints title "lookahead / multi-iid", \
     'series_13_T1.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic", \
     'series_15_T1.dat' using 1:2 with linespoints title "draft-model [mode=topk] / deterministic", \
     'series_17_T1.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic", \
     'series_19_T1.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic", \
     'series_21_T1.dat' using 1:2 with linespoints title "del / multi-iid", \
     'series_23_T1.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid"
unset logscale x
set output 'speedup_vs_budget_T1.png'
set title "speedup vs budget - stories260K.bin - temperature 1"
set xlabel 'budget (draft nodes per step)'
set ylabel 'speedup vs autoregressive'
set logscale x 2
plot 'series_1_T1.dat' using 1:3 with linespoints title "ngram / deterministic", \
     'series_3_T1.dat' using 1:3 with linespoints title "recycling [state=cold] / deterministic", \
     'series_5_T1.dat' using 1:3 with linespoints title "aded [state=cold] / deterministic", \
     'series_7_T1.dat' using 1:3 with linespoints title "sam [state=cold] / deterministic", \
     'series_9_T1.dat' using 1:3 with linespoints title "suffix [state=cold] / deterministic", \
     'series_11_T1.dat' using 1:3 with linespoints title "lookahead / multi-iid", \
     'series_13_T1.dat' using 1:3 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic", \
     'series_15_T1.dat' using 1:3 with linespoints title "draft-model [mode=topk] / deterministic", \
     'series_17_T1.dat' using 1:3 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic", \
     'series_19_T1.dat' using 1:3 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic", \
     'series_21_T1.dat' using 1:3 with linespoints title "del / multi-iid", \
     'series_23_T1.dat' using 1:3 with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid"
unset logscale x
set output 'accept_by_depth_T1.png'
set title "acceptance by depth (largest budget) - stories260K.bin - temperature 1"
set xlabel 'tree depth'
set ylabel 'P(accepted path reaches depth | tree reaches it)'
set yrange [0:1]
plot 'depth_1_T1.dat' using 1:2 with linespoints title "ngram / deterministic (budget 64)", \
     'depth_3_T1.dat' using 1:2 with linespoints title "recycling [state=cold] / deterministic (budget 64)", \
     'depth_5_T1.dat' using 1:2 with linespoints title "aded [state=cold] / deterministic (budget 64)", \
     'depth_7_T1.dat' using 1:2 with linespoints title "sam [state=cold] / deterministic (budget 64)", \
     'depth_9_T1.dat' using 1:2 with linespoints title "suffix [state=cold] / deterministic (budget 64)", \
     'depth_11_T1.dat' using 1:2 with linespoints title "lookahead / multi-iid (budget 64)", \
     'depth_13_T1.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic (budget 64)", \
     'depth_15_T1.dat' using 1:2 with linespoints title "draft-model [mode=topk] / deterministic (budget 64)", \
     'depth_17_T1.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic (budget 64)", \
     'depth_19_T1.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic (budget 64)", \
     'depth_21_T1.dat' using 1:2 with linespoints title "del / multi-iid (budget 64)", \
     'depth_23_T1.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid (budget 64)"
set autoscale y
set output 'tau_by_category_T1.png'
set title "tau (#MAT) by category (largest budget) - stories260K.bin - temperature 1"
set xlabel 'category'
set ylabel 'tau (new tokens per target forward)'
set xtics rotate by -45
plot 'category_1_T1.dat' using 1:2:xtic(4) with linespoints title "ngram / deterministic (budget 64)", \
     'category_3_T1.dat' using 1:2:xtic(4) with linespoints title "recycling [state=cold] / deterministic (budget 64)", \
     'category_5_T1.dat' using 1:2:xtic(4) with linespoints title "aded [state=cold] / deterministic (budget 64)", \
     'category_7_T1.dat' using 1:2:xtic(4) with linespoints title "sam [state=cold] / deterministic (budget 64)", \
     'category_9_T1.dat' using 1:2:xtic(4) with linespoints title "suffix [state=cold] / deterministic (budget 64)", \
     'category_11_T1.dat' using 1:2:xtic(4) with linespoints title "lookahead / multi-iid (budget 64)", \
     'category_13_T1.dat' using 1:2:xtic(4) with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic (budget 64)", \
     'category_15_T1.dat' using 1:2:xtic(4) with linespoints title "draft-model [mode=topk] / deterministic (budget 64)", \
     'category_17_T1.dat' using 1:2:xtic(4) with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic (budget 64)", \
     'category_19_T1.dat' using 1:2:xtic(4) with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic (budget 64)", \
     'category_21_T1.dat' using 1:2:xtic(4) with linespoints title "del / multi-iid (budget 64)", \
     'category_23_T1.dat' using 1:2:xtic(4) with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid (budget 64)"
set xtics norotate autofreq
set output 'accept_hist_T1.png'
set title "accepted draft tokens per step (largest budget) - stories260K.bin - temperature 1"
set xlabel 'draft tokens accepted in the step'
set ylabel 'share of steps'
set yrange [0:1]
plot 'hist_1_T1.dat' using 1:2 with linespoints title "ngram / deterministic (budget 64)", \
     'hist_3_T1.dat' using 1:2 with linespoints title "recycling [state=cold] / deterministic (budget 64)", \
     'hist_5_T1.dat' using 1:2 with linespoints title "aded [state=cold] / deterministic (budget 64)", \
     'hist_7_T1.dat' using 1:2 with linespoints title "sam [state=cold] / deterministic (budget 64)", \
     'hist_9_T1.dat' using 1:2 with linespoints title "suffix [state=cold] / deterministic (budget 64)", \
     'hist_11_T1.dat' using 1:2 with linespoints title "lookahead / multi-iid (budget 64)", \
     'hist_13_T1.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic (budget 64)", \
     'hist_15_T1.dat' using 1:2 with linespoints title "draft-model [mode=topk] / deterministic (budget 64)", \
     'hist_17_T1.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic (budget 64)", \
     'hist_19_T1.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic (budget 64)", \
     'hist_21_T1.dat' using 1:2 with linespoints title "del / multi-iid (budget 64)", \
     'hist_23_T1.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid (budget 64)"
set autoscale y
