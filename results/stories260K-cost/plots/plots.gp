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
     'series_2_T0.dat' using 1:2 with linespoints title "ngram / greedy / cost policy", \
     'series_4_T0.dat' using 1:2 with linespoints title "recycling [state=cold] / greedy", \
     'series_6_T0.dat' using 1:2 with linespoints title "recycling [state=cold] / greedy / cost policy", \
     'series_8_T0.dat' using 1:2 with linespoints title "aded [state=cold] / greedy", \
     'series_10_T0.dat' using 1:2 with linespoints title "aded [state=cold] / greedy / cost policy", \
     'series_12_T0.dat' using 1:2 with linespoints title "sam [state=cold] / greedy", \
     'series_14_T0.dat' using 1:2 with linespoints title "sam [state=cold] / greedy / cost policy", \
     'series_16_T0.dat' using 1:2 with linespoints title "suffix [state=cold] / greedy", \
     'series_18_T0.dat' using 1:2 with linespoints title "suffix [state=cold] / greedy / cost policy", \
     'series_20_T0.dat' using 1:2 with linespoints title "lookahead / greedy", \
     'series_22_T0.dat' using 1:2 with linespoints title "lookahead / greedy / cost policy", \
     'series_24_T0.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy", \
     'series_26_T0.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy / cost policy", \
     'series_28_T0.dat' using 1:2 with linespoints title "draft-model [mode=topk] / greedy", \
     'series_30_T0.dat' using 1:2 with linespoints title "draft-model [mode=topk] / greedy / cost policy", \
     'series_32_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy", \
     'series_34_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy / cost policy", \
     'series_36_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy", \
     'series_38_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy / cost policy", \
     'series_40_T0.dat' using 1:2 with linespoints title "del / greedy", \
     'series_42_T0.dat' using 1:2 with linespoints title "del / greedy / cost policy", \
     'series_44_T0.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy", \
     'series_46_T0.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy / cost policy"
unset logscale x
set output 'speedup_vs_budget_T0.png'
set title "speedup vs budget - stories260K.bin - temperature 0"
set xlabel 'budget (draft nodes per step)'
set ylabel 'speedup vs autoregressive'
set logscale x 2
plot 'series_0_T0.dat' using 1:3 with linespoints title "ngram / greedy", \
     'series_2_T0.dat' using 1:3 with linespoints title "ngram / greedy / cost policy", \
     'series_4_T0.dat' using 1:3 with linespoints title "recycling [state=cold] / greedy", \
     'series_6_T0.dat' using 1:3 with linespoints title "recycling [state=cold] / greedy / cost policy", \
     'series_8_T0.dat' using 1:3 with linespoints title "aded [state=cold] / greedy", \
     'series_10_T0.dat' using 1:3 with linespoints title "aded [state=cold] / greedy / cost policy", \
     'series_12_T0.dat' using 1:3 with linespoints title "sam [state=cold] / greedy", \
     'series_14_T0.dat' using 1:3 with linespoints title "sam [state=cold] / greedy / cost policy", \
     'series_16_T0.dat' using 1:3 with linespoints title "suffix [state=cold] / greedy", \
     'series_18_T0.dat' using 1:3 with linespoints title "suffix [state=cold] / greedy / cost policy", \
     'series_20_T0.dat' using 1:3 with linespoints title "lookahead / greedy", \
     'series_22_T0.dat' using 1:3 with linespoints title "lookahead / greedy / cost policy", \
     'series_24_T0.dat' using 1:3 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy", \
     'series_26_T0.dat' using 1:3 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy / cost policy", \
     'series_28_T0.dat' using 1:3 with linespoints title "draft-model [mode=topk] / greedy", \
     'series_30_T0.dat' using 1:3 with linespoints title "draft-model [mode=topk] / greedy / cost policy", \
     'series_32_T0.dat' using 1:3 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy", \
     'series_34_T0.dat' using 1:3 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy / cost policy", \
     'series_36_T0.dat' using 1:3 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy", \
     'series_38_T0.dat' using 1:3 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy / cost policy", \
     'series_40_T0.dat' using 1:3 with linespoints title "del / greedy", \
     'series_42_T0.dat' using 1:3 with linespoints title "del / greedy / cost policy", \
     'series_44_T0.dat' using 1:3 with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy", \
     'series_46_T0.dat' using 1:3 with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy / cost policy"
unset logscale x
set terminal pngcairo size 1560,2720 noenhanced font ',9'
set output 'projected_speedup_vs_budget_T0.png'
set multiplot layout 8,3 title "measured and projected speedup vs budget - stories260K.bin - temperature 0"
set xlabel 'budget'
set ylabel 'speedup'
set logscale x 2
set key top left font ',8'
set title "ngram / greedy"
plot 'series_0_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_0_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_0_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "ngram / greedy / cost policy"
plot 'series_2_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_2_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_2_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "recycling [state=cold] / greedy"
plot 'series_4_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_4_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_4_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "recycling [state=cold] / greedy / cost policy"
plot 'series_6_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_6_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_6_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "aded [state=cold] / greedy"
plot 'series_8_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_8_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_8_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "aded [state=cold] / greedy / cost policy"
plot 'series_10_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_10_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_10_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "sam [state=cold] / greedy"
plot 'series_12_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_12_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_12_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "sam [state=cold] / greedy / cost policy"
plot 'series_14_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_14_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_14_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "suffix [state=cold] / greedy"
plot 'series_16_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_16_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_16_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "suffix [state=cold] / greedy / cost policy"
plot 'series_18_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_18_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_18_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "lookahead / greedy"
plot 'series_20_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_20_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_20_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "lookahead / greedy / cost policy"
plot 'series_22_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_22_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_22_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy"
plot 'series_24_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_24_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_24_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy / cost policy"
plot 'series_26_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_26_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_26_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "draft-model [mode=topk] / greedy"
plot 'series_28_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_28_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_28_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "draft-model [mode=topk] / greedy / cost policy"
plot 'series_30_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_30_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_30_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "medusa [heads=results/heads/stories260K-medusa] / greedy"
plot 'series_32_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_32_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_32_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "medusa [heads=results/heads/stories260K-medusa] / greedy / cost policy"
plot 'series_34_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_34_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_34_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "hydra [heads=results/heads/stories260K-hydra] / greedy"
plot 'series_36_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_36_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_36_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "hydra [heads=results/heads/stories260K-hydra] / greedy / cost policy"
plot 'series_38_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_38_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_38_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "del / greedy"
plot 'series_40_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_40_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_40_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "del / greedy / cost policy"
plot 'series_42_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_42_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_42_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "del [adapters=results/heads/stories260K-exit] / greedy"
plot 'series_44_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_44_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_44_T0.dat' using 1:5 with linespoints title "projected: a100"
set title "del [adapters=results/heads/stories260K-exit] / greedy / cost policy"
plot 'series_46_T0.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_46_T0.dat' using 1:4 with linespoints title "projected: host", \
     'series_46_T0.dat' using 1:5 with linespoints title "projected: a100"
unset multiplot
unset logscale x
set key below font ',10'
set terminal pngcairo size 1000,640 noenhanced font ',10'
set output 'accept_by_depth_T0.png'
set title "acceptance by depth (largest budget) - stories260K.bin - temperature 0"
set xlabel 'tree depth'
set ylabel 'P(accepted path reaches depth | tree reaches it)'
set yrange [0:1]
plot 'depth_0_T0.dat' using 1:2 with linespoints title "ngram / greedy (budget 64)", \
     'depth_2_T0.dat' using 1:2 with linespoints title "ngram / greedy / cost policy (budget 64)", \
     'depth_4_T0.dat' using 1:2 with linespoints title "recycling [state=cold] / greedy (budget 64)", \
     'depth_6_T0.dat' using 1:2 with linespoints title "recycling [state=cold] / greedy / cost policy (budget 64)", \
     'depth_8_T0.dat' using 1:2 with linespoints title "aded [state=cold] / greedy (budget 64)", \
     'depth_10_T0.dat' using 1:2 with linespoints title "aded [state=cold] / greedy / cost policy (budget 64)", \
     'depth_12_T0.dat' using 1:2 with linespoints title "sam [state=cold] / greedy (budget 64)", \
     'depth_14_T0.dat' using 1:2 with linespoints title "sam [state=cold] / greedy / cost policy (budget 64)", \
     'depth_16_T0.dat' using 1:2 with linespoints title "suffix [state=cold] / greedy (budget 64)", \
     'depth_18_T0.dat' using 1:2 with linespoints title "suffix [state=cold] / greedy / cost policy (budget 64)", \
     'depth_20_T0.dat' using 1:2 with linespoints title "lookahead / greedy (budget 64)", \
     'depth_22_T0.dat' using 1:2 with linespoints title "lookahead / greedy / cost policy (budget 64)", \
     'depth_24_T0.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy (budget 64)", \
     'depth_26_T0.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy / cost policy (budget 64)", \
     'depth_28_T0.dat' using 1:2 with linespoints title "draft-model [mode=topk] / greedy (budget 64)", \
     'depth_30_T0.dat' using 1:2 with linespoints title "draft-model [mode=topk] / greedy / cost policy (budget 64)", \
     'depth_32_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy (budget 64)", \
     'depth_34_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy / cost policy (budget 64)", \
     'depth_36_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy (budget 64)", \
     'depth_38_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy / cost policy (budget 64)", \
     'depth_40_T0.dat' using 1:2 with linespoints title "del / greedy (budget 64)", \
     'depth_42_T0.dat' using 1:2 with linespoints title "del / greedy / cost policy (budget 64)", \
     'depth_44_T0.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy (budget 64)", \
     'depth_46_T0.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy / cost policy (budget 64)"
set autoscale y
set output 'tau_by_category_T0.png'
set title "tau (#MAT) by category (largest budget) - stories260K.bin - temperature 0"
set xlabel 'category'
set ylabel 'tau (new tokens per target forward)'
set xtics rotate by -45
plot 'category_0_T0.dat' using 1:2:xtic(4) with linespoints title "ngram / greedy (budget 64)", \
     'category_2_T0.dat' using 1:2:xtic(4) with linespoints title "ngram / greedy / cost policy (budget 64)", \
     'category_4_T0.dat' using 1:2:xtic(4) with linespoints title "recycling [state=cold] / greedy (budget 64)", \
     'category_6_T0.dat' using 1:2:xtic(4) with linespoints title "recycling [state=cold] / greedy / cost policy (budget 64)", \
     'category_8_T0.dat' using 1:2:xtic(4) with linespoints title "aded [state=cold] / greedy (budget 64)", \
     'category_10_T0.dat' using 1:2:xtic(4) with linespoints title "aded [state=cold] / greedy / cost policy (budget 64)", \
     'category_12_T0.dat' using 1:2:xtic(4) with linespoints title "sam [state=cold] / greedy (budget 64)", \
     'category_14_T0.dat' using 1:2:xtic(4) with linespoints title "sam [state=cold] / greedy / cost policy (budget 64)", \
     'category_16_T0.dat' using 1:2:xtic(4) with linespoints title "suffix [state=cold] / greedy (budget 64)", \
     'category_18_T0.dat' using 1:2:xtic(4) with linespoints title "suffix [state=cold] / greedy / cost policy (budget 64)", \
     'category_20_T0.dat' using 1:2:xtic(4) with linespoints title "lookahead / greedy (budget 64)", \
     'category_22_T0.dat' using 1:2:xtic(4) with linespoints title "lookahead / greedy / cost policy (budget 64)", \
     'category_24_T0.dat' using 1:2:xtic(4) with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy (budget 64)", \
     'category_26_T0.dat' using 1:2:xtic(4) with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy / cost policy (budget 64)", \
     'category_28_T0.dat' using 1:2:xtic(4) with linespoints title "draft-model [mode=topk] / greedy (budget 64)", \
     'category_30_T0.dat' using 1:2:xtic(4) with linespoints title "draft-model [mode=topk] / greedy / cost policy (budget 64)", \
     'category_32_T0.dat' using 1:2:xtic(4) with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy (budget 64)", \
     'category_34_T0.dat' using 1:2:xtic(4) with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy / cost policy (budget 64)", \
     'category_36_T0.dat' using 1:2:xtic(4) with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy (budget 64)", \
     'category_38_T0.dat' using 1:2:xtic(4) with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy / cost policy (budget 64)", \
     'category_40_T0.dat' using 1:2:xtic(4) with linespoints title "del / greedy (budget 64)", \
     'category_42_T0.dat' using 1:2:xtic(4) with linespoints title "del / greedy / cost policy (budget 64)", \
     'category_44_T0.dat' using 1:2:xtic(4) with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy (budget 64)", \
     'category_46_T0.dat' using 1:2:xtic(4) with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy / cost policy (budget 64)"
set xtics norotate autofreq
set output 'accept_hist_T0.png'
set title "accepted draft tokens per step (largest budget) - stories260K.bin - temperature 0"
set xlabel 'draft tokens accepted in the step'
set ylabel 'share of steps'
set yrange [0:1]
plot 'hist_0_T0.dat' using 1:2 with linespoints title "ngram / greedy (budget 64)", \
     'hist_2_T0.dat' using 1:2 with linespoints title "ngram / greedy / cost policy (budget 64)", \
     'hist_4_T0.dat' using 1:2 with linespoints title "recycling [state=cold] / greedy (budget 64)", \
     'hist_6_T0.dat' using 1:2 with linespoints title "recycling [state=cold] / greedy / cost policy (budget 64)", \
     'hist_8_T0.dat' using 1:2 with linespoints title "aded [state=cold] / greedy (budget 64)", \
     'hist_10_T0.dat' using 1:2 with linespoints title "aded [state=cold] / greedy / cost policy (budget 64)", \
     'hist_12_T0.dat' using 1:2 with linespoints title "sam [state=cold] / greedy (budget 64)", \
     'hist_14_T0.dat' using 1:2 with linespoints title "sam [state=cold] / greedy / cost policy (budget 64)", \
     'hist_16_T0.dat' using 1:2 with linespoints title "suffix [state=cold] / greedy (budget 64)", \
     'hist_18_T0.dat' using 1:2 with linespoints title "suffix [state=cold] / greedy / cost policy (budget 64)", \
     'hist_20_T0.dat' using 1:2 with linespoints title "lookahead / greedy (budget 64)", \
     'hist_22_T0.dat' using 1:2 with linespoints title "lookahead / greedy / cost policy (budget 64)", \
     'hist_24_T0.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy (budget 64)", \
     'hist_26_T0.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / greedy / cost policy (budget 64)", \
     'hist_28_T0.dat' using 1:2 with linespoints title "draft-model [mode=topk] / greedy (budget 64)", \
     'hist_30_T0.dat' using 1:2 with linespoints title "draft-model [mode=topk] / greedy / cost policy (budget 64)", \
     'hist_32_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy (budget 64)", \
     'hist_34_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy / cost policy (budget 64)", \
     'hist_36_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy (budget 64)", \
     'hist_38_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy / cost policy (budget 64)", \
     'hist_40_T0.dat' using 1:2 with linespoints title "del / greedy (budget 64)", \
     'hist_42_T0.dat' using 1:2 with linespoints title "del / greedy / cost policy (budget 64)", \
     'hist_44_T0.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy (budget 64)", \
     'hist_46_T0.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / greedy / cost policy (budget 64)"
set autoscale y
set output 'tau_vs_budget_T1.png'
set title "tau vs budget - stories260K.bin - temperature 1"
set xlabel 'budget (draft nodes per step)'
set ylabel 'tau (new tokens per target forward)'
set logscale x 2
plot 'series_1_T1.dat' using 1:2 with linespoints title "ngram / deterministic", \
     'series_3_T1.dat' using 1:2 with linespoints title "ngram / deterministic / cost policy", \
     'series_5_T1.dat' using 1:2 with linespoints title "recycling [state=cold] / deterministic", \
     'series_7_T1.dat' using 1:2 with linespoints title "recycling [state=cold] / deterministic / cost policy", \
     'series_9_T1.dat' using 1:2 with linespoints title "aded [state=cold] / deterministic", \
     'series_11_T1.dat' using 1:2 with linespoints title "aded [state=cold] / deterministic / cost policy", \
     'series_13_T1.dat' using 1:2 with linespoints title "sam [state=cold] / deterministic", \
     'series_15_T1.dat' using 1:2 with linespoints title "sam [state=cold] / deterministic / cost policy", \
     'series_17_T1.dat' using 1:2 with linespoints title "suffix [state=cold] / deterministic", \
     'series_19_T1.dat' using 1:2 with linespoints title "suffix [state=cold] / deterministic / cost policy", \
     'series_21_T1.dat' using 1:2 with linespoints title "lookahead / multi-iid", \
     'series_23_T1.dat' using 1:2 with linespoints title "lookahead / multi-iid / cost policy", \
     'series_25_T1.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic", \
     'series_27_T1.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic / cost policy", \
     'series_29_T1.dat' using 1:2 with linespoints title "draft-model [mode=topk] / deterministic", \
     'series_31_T1.dat' using 1:2 with linespoints title "draft-model [mode=topk] / deterministic / cost policy", \
     'series_33_T1.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic", \
     'series_35_T1.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic / cost policy", \
     'series_37_T1.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic", \
     'series_39_T1.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic / cost policy", \
     'series_41_T1.dat' using 1:2 with linespoints title "del / multi-iid", \
     'series_43_T1.dat' using 1:2 with linespoints title "del / multi-iid / cost policy", \
     'series_45_T1.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid", \
     'series_47_T1.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid / cost policy"
unset logscale x
set output 'speedup_vs_budget_T1.png'
set title "speedup vs budget - stories260K.bin - temperature 1"
set xlabel 'budget (draft nodes per step)'
set ylabel 'speedup vs autoregressive'
set logscale x 2
plot 'series_1_T1.dat' using 1:3 with linespoints title "ngram / deterministic", \
     'series_3_T1.dat' using 1:3 with linespoints title "ngram / deterministic / cost policy", \
     'series_5_T1.dat' using 1:3 with linespoints title "recycling [state=cold] / deterministic", \
     'series_7_T1.dat' using 1:3 with linespoints title "recycling [state=cold] / deterministic / cost policy", \
     'series_9_T1.dat' using 1:3 with linespoints title "aded [state=cold] / deterministic", \
     'series_11_T1.dat' using 1:3 with linespoints title "aded [state=cold] / deterministic / cost policy", \
     'series_13_T1.dat' using 1:3 with linespoints title "sam [state=cold] / deterministic", \
     'series_15_T1.dat' using 1:3 with linespoints title "sam [state=cold] / deterministic / cost policy", \
     'series_17_T1.dat' using 1:3 with linespoints title "suffix [state=cold] / deterministic", \
     'series_19_T1.dat' using 1:3 with linespoints title "suffix [state=cold] / deterministic / cost policy", \
     'series_21_T1.dat' using 1:3 with linespoints title "lookahead / multi-iid", \
     'series_23_T1.dat' using 1:3 with linespoints title "lookahead / multi-iid / cost policy", \
     'series_25_T1.dat' using 1:3 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic", \
     'series_27_T1.dat' using 1:3 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic / cost policy", \
     'series_29_T1.dat' using 1:3 with linespoints title "draft-model [mode=topk] / deterministic", \
     'series_31_T1.dat' using 1:3 with linespoints title "draft-model [mode=topk] / deterministic / cost policy", \
     'series_33_T1.dat' using 1:3 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic", \
     'series_35_T1.dat' using 1:3 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic / cost policy", \
     'series_37_T1.dat' using 1:3 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic", \
     'series_39_T1.dat' using 1:3 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic / cost policy", \
     'series_41_T1.dat' using 1:3 with linespoints title "del / multi-iid", \
     'series_43_T1.dat' using 1:3 with linespoints title "del / multi-iid / cost policy", \
     'series_45_T1.dat' using 1:3 with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid", \
     'series_47_T1.dat' using 1:3 with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid / cost policy"
unset logscale x
set terminal pngcairo size 1560,2720 noenhanced font ',9'
set output 'projected_speedup_vs_budget_T1.png'
set multiplot layout 8,3 title "measured and projected speedup vs budget - stories260K.bin - temperature 1"
set xlabel 'budget'
set ylabel 'speedup'
set logscale x 2
set key top left font ',8'
set title "ngram / deterministic"
plot 'series_1_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_1_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_1_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "ngram / deterministic / cost policy"
plot 'series_3_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_3_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_3_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "recycling [state=cold] / deterministic"
plot 'series_5_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_5_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_5_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "recycling [state=cold] / deterministic / cost policy"
plot 'series_7_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_7_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_7_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "aded [state=cold] / deterministic"
plot 'series_9_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_9_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_9_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "aded [state=cold] / deterministic / cost policy"
plot 'series_11_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_11_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_11_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "sam [state=cold] / deterministic"
plot 'series_13_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_13_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_13_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "sam [state=cold] / deterministic / cost policy"
plot 'series_15_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_15_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_15_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "suffix [state=cold] / deterministic"
plot 'series_17_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_17_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_17_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "suffix [state=cold] / deterministic / cost policy"
plot 'series_19_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_19_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_19_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "lookahead / multi-iid"
plot 'series_21_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_21_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_21_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "lookahead / multi-iid / cost policy"
plot 'series_23_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_23_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_23_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic"
plot 'series_25_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_25_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_25_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic / cost policy"
plot 'series_27_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_27_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_27_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "draft-model [mode=topk] / deterministic"
plot 'series_29_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_29_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_29_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "draft-model [mode=topk] / deterministic / cost policy"
plot 'series_31_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_31_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_31_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "medusa [heads=results/heads/stories260K-medusa] / deterministic"
plot 'series_33_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_33_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_33_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "medusa [heads=results/heads/stories260K-medusa] / deterministic / cost policy"
plot 'series_35_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_35_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_35_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "hydra [heads=results/heads/stories260K-hydra] / deterministic"
plot 'series_37_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_37_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_37_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "hydra [heads=results/heads/stories260K-hydra] / deterministic / cost policy"
plot 'series_39_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_39_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_39_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "del / multi-iid"
plot 'series_41_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_41_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_41_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "del / multi-iid / cost policy"
plot 'series_43_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_43_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_43_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "del [adapters=results/heads/stories260K-exit] / multi-iid"
plot 'series_45_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_45_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_45_T1.dat' using 1:5 with linespoints title "projected: a100"
set title "del [adapters=results/heads/stories260K-exit] / multi-iid / cost policy"
plot 'series_47_T1.dat' using 1:3 with linespoints lw 2 title 'measured (this run)', \
     'series_47_T1.dat' using 1:4 with linespoints title "projected: host", \
     'series_47_T1.dat' using 1:5 with linespoints title "projected: a100"
unset multiplot
unset logscale x
set key below font ',10'
set terminal pngcairo size 1000,640 noenhanced font ',10'
set output 'accept_by_depth_T1.png'
set title "acceptance by depth (largest budget) - stories260K.bin - temperature 1"
set xlabel 'tree depth'
set ylabel 'P(accepted path reaches depth | tree reaches it)'
set yrange [0:1]
plot 'depth_1_T1.dat' using 1:2 with linespoints title "ngram / deterministic (budget 64)", \
     'depth_3_T1.dat' using 1:2 with linespoints title "ngram / deterministic / cost policy (budget 64)", \
     'depth_5_T1.dat' using 1:2 with linespoints title "recycling [state=cold] / deterministic (budget 64)", \
     'depth_7_T1.dat' using 1:2 with linespoints title "recycling [state=cold] / deterministic / cost policy (budget 64)", \
     'depth_9_T1.dat' using 1:2 with linespoints title "aded [state=cold] / deterministic (budget 64)", \
     'depth_11_T1.dat' using 1:2 with linespoints title "aded [state=cold] / deterministic / cost policy (budget 64)", \
     'depth_13_T1.dat' using 1:2 with linespoints title "sam [state=cold] / deterministic (budget 64)", \
     'depth_15_T1.dat' using 1:2 with linespoints title "sam [state=cold] / deterministic / cost policy (budget 64)", \
     'depth_17_T1.dat' using 1:2 with linespoints title "suffix [state=cold] / deterministic (budget 64)", \
     'depth_19_T1.dat' using 1:2 with linespoints title "suffix [state=cold] / deterministic / cost policy (budget 64)", \
     'depth_21_T1.dat' using 1:2 with linespoints title "lookahead / multi-iid (budget 64)", \
     'depth_23_T1.dat' using 1:2 with linespoints title "lookahead / multi-iid / cost policy (budget 64)", \
     'depth_25_T1.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic (budget 64)", \
     'depth_27_T1.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic / cost policy (budget 64)", \
     'depth_29_T1.dat' using 1:2 with linespoints title "draft-model [mode=topk] / deterministic (budget 64)", \
     'depth_31_T1.dat' using 1:2 with linespoints title "draft-model [mode=topk] / deterministic / cost policy (budget 64)", \
     'depth_33_T1.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic (budget 64)", \
     'depth_35_T1.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic / cost policy (budget 64)", \
     'depth_37_T1.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic (budget 64)", \
     'depth_39_T1.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic / cost policy (budget 64)", \
     'depth_41_T1.dat' using 1:2 with linespoints title "del / multi-iid (budget 64)", \
     'depth_43_T1.dat' using 1:2 with linespoints title "del / multi-iid / cost policy (budget 64)", \
     'depth_45_T1.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid (budget 64)", \
     'depth_47_T1.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid / cost policy (budget 64)"
set autoscale y
set output 'tau_by_category_T1.png'
set title "tau (#MAT) by category (largest budget) - stories260K.bin - temperature 1"
set xlabel 'category'
set ylabel 'tau (new tokens per target forward)'
set xtics rotate by -45
plot 'category_1_T1.dat' using 1:2:xtic(4) with linespoints title "ngram / deterministic (budget 64)", \
     'category_3_T1.dat' using 1:2:xtic(4) with linespoints title "ngram / deterministic / cost policy (budget 64)", \
     'category_5_T1.dat' using 1:2:xtic(4) with linespoints title "recycling [state=cold] / deterministic (budget 64)", \
     'category_7_T1.dat' using 1:2:xtic(4) with linespoints title "recycling [state=cold] / deterministic / cost policy (budget 64)", \
     'category_9_T1.dat' using 1:2:xtic(4) with linespoints title "aded [state=cold] / deterministic (budget 64)", \
     'category_11_T1.dat' using 1:2:xtic(4) with linespoints title "aded [state=cold] / deterministic / cost policy (budget 64)", \
     'category_13_T1.dat' using 1:2:xtic(4) with linespoints title "sam [state=cold] / deterministic (budget 64)", \
     'category_15_T1.dat' using 1:2:xtic(4) with linespoints title "sam [state=cold] / deterministic / cost policy (budget 64)", \
     'category_17_T1.dat' using 1:2:xtic(4) with linespoints title "suffix [state=cold] / deterministic (budget 64)", \
     'category_19_T1.dat' using 1:2:xtic(4) with linespoints title "suffix [state=cold] / deterministic / cost policy (budget 64)", \
     'category_21_T1.dat' using 1:2:xtic(4) with linespoints title "lookahead / multi-iid (budget 64)", \
     'category_23_T1.dat' using 1:2:xtic(4) with linespoints title "lookahead / multi-iid / cost policy (budget 64)", \
     'category_25_T1.dat' using 1:2:xtic(4) with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic (budget 64)", \
     'category_27_T1.dat' using 1:2:xtic(4) with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic / cost policy (budget 64)", \
     'category_29_T1.dat' using 1:2:xtic(4) with linespoints title "draft-model [mode=topk] / deterministic (budget 64)", \
     'category_31_T1.dat' using 1:2:xtic(4) with linespoints title "draft-model [mode=topk] / deterministic / cost policy (budget 64)", \
     'category_33_T1.dat' using 1:2:xtic(4) with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic (budget 64)", \
     'category_35_T1.dat' using 1:2:xtic(4) with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic / cost policy (budget 64)", \
     'category_37_T1.dat' using 1:2:xtic(4) with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic (budget 64)", \
     'category_39_T1.dat' using 1:2:xtic(4) with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic / cost policy (budget 64)", \
     'category_41_T1.dat' using 1:2:xtic(4) with linespoints title "del / multi-iid (budget 64)", \
     'category_43_T1.dat' using 1:2:xtic(4) with linespoints title "del / multi-iid / cost policy (budget 64)", \
     'category_45_T1.dat' using 1:2:xtic(4) with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid (budget 64)", \
     'category_47_T1.dat' using 1:2:xtic(4) with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid / cost policy (budget 64)"
set xtics norotate autofreq
set output 'accept_hist_T1.png'
set title "accepted draft tokens per step (largest budget) - stories260K.bin - temperature 1"
set xlabel 'draft tokens accepted in the step'
set ylabel 'share of steps'
set yrange [0:1]
plot 'hist_1_T1.dat' using 1:2 with linespoints title "ngram / deterministic (budget 64)", \
     'hist_3_T1.dat' using 1:2 with linespoints title "ngram / deterministic / cost policy (budget 64)", \
     'hist_5_T1.dat' using 1:2 with linespoints title "recycling [state=cold] / deterministic (budget 64)", \
     'hist_7_T1.dat' using 1:2 with linespoints title "recycling [state=cold] / deterministic / cost policy (budget 64)", \
     'hist_9_T1.dat' using 1:2 with linespoints title "aded [state=cold] / deterministic (budget 64)", \
     'hist_11_T1.dat' using 1:2 with linespoints title "aded [state=cold] / deterministic / cost policy (budget 64)", \
     'hist_13_T1.dat' using 1:2 with linespoints title "sam [state=cold] / deterministic (budget 64)", \
     'hist_15_T1.dat' using 1:2 with linespoints title "sam [state=cold] / deterministic / cost policy (budget 64)", \
     'hist_17_T1.dat' using 1:2 with linespoints title "suffix [state=cold] / deterministic (budget 64)", \
     'hist_19_T1.dat' using 1:2 with linespoints title "suffix [state=cold] / deterministic / cost policy (budget 64)", \
     'hist_21_T1.dat' using 1:2 with linespoints title "lookahead / multi-iid (budget 64)", \
     'hist_23_T1.dat' using 1:2 with linespoints title "lookahead / multi-iid / cost policy (budget 64)", \
     'hist_25_T1.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic (budget 64)", \
     'hist_27_T1.dat' using 1:2 with linespoints title "hybrid [parts=[\"ngram\",\"recycling\",\"sam\",\"suffix\"],state=cold] / deterministic / cost policy (budget 64)", \
     'hist_29_T1.dat' using 1:2 with linespoints title "draft-model [mode=topk] / deterministic (budget 64)", \
     'hist_31_T1.dat' using 1:2 with linespoints title "draft-model [mode=topk] / deterministic / cost policy (budget 64)", \
     'hist_33_T1.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic (budget 64)", \
     'hist_35_T1.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / deterministic / cost policy (budget 64)", \
     'hist_37_T1.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic (budget 64)", \
     'hist_39_T1.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / deterministic / cost policy (budget 64)", \
     'hist_41_T1.dat' using 1:2 with linespoints title "del / multi-iid (budget 64)", \
     'hist_43_T1.dat' using 1:2 with linespoints title "del / multi-iid / cost policy (budget 64)", \
     'hist_45_T1.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid (budget 64)", \
     'hist_47_T1.dat' using 1:2 with linespoints title "del [adapters=results/heads/stories260K-exit] / multi-iid / cost policy (budget 64)"
set autoscale y
