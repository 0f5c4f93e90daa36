# speclab plots; run: gnuplot plots.gp (in this directory)
set terminal pngcairo size 1000,640 noenhanced font ',10'
set key below
set grid
set output 'tau_vs_budget_T0.png'
set title "tau vs budget - stories260K.bin - temperature 0"
set xlabel 'budget (draft nodes per step)'
set ylabel 'tau (new tokens per target forward)'
set logscale x 2
plot 'series_0_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy", \
     'series_1_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa-ce] / greedy", \
     'series_2_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy", \
     'series_3_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra,tree=template] / greedy", \
     'series_4_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle] / greedy", \
     'series_5_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle,tree=chain] / greedy", \
     'series_6_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle-ttt] / greedy", \
     'series_7_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle-ttt,tree=chain] / greedy", \
     'series_8_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle3] / greedy", \
     'series_9_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle3,tree=chain] / greedy"
unset logscale x
set output 'speedup_vs_budget_T0.png'
set title "speedup vs budget - stories260K.bin - temperature 0"
set xlabel 'budget (draft nodes per step)'
set ylabel 'speedup vs autoregressive'
set logscale x 2
plot 'series_0_T0.dat' using 1:3 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy", \
     'series_1_T0.dat' using 1:3 with linespoints title "medusa [heads=results/heads/stories260K-medusa-ce] / greedy", \
     'series_2_T0.dat' using 1:3 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy", \
     'series_3_T0.dat' using 1:3 with linespoints title "hydra [heads=results/heads/stories260K-hydra,tree=template] / greedy", \
     'series_4_T0.dat' using 1:3 with linespoints title "eagle [heads=results/heads/stories260K-eagle] / greedy", \
     'series_5_T0.dat' using 1:3 with linespoints title "eagle [heads=results/heads/stories260K-eagle,tree=chain] / greedy", \
     'series_6_T0.dat' using 1:3 with linespoints title "eagle [heads=results/heads/stories260K-eagle-ttt] / greedy", \
     'series_7_T0.dat' using 1:3 with linespoints title "eagle [heads=results/heads/stories260K-eagle-ttt,tree=chain] / greedy", \
     'series_8_T0.dat' using 1:3 with linespoints title "eagle [heads=results/heads/stories260K-eagle3] / greedy", \
     'series_9_T0.dat' using 1:3 with linespoints title "eagle [heads=results/heads/stories260K-eagle3,tree=chain] / greedy"
unset logscale x
set output 'accept_by_depth_T0.png'
set title "acceptance by depth (largest budget) - stories260K.bin - temperature 0"
set xlabel 'tree depth'
set ylabel 'P(accepted path reaches depth | tree reaches it)'
set yrange [0:1]
plot 'depth_0_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy (budget 64)", \
     'depth_1_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa-ce] / greedy (budget 64)", \
     'depth_2_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy (budget 64)", \
     'depth_3_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra,tree=template] / greedy (budget 64)", \
     'depth_4_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle] / greedy (budget 64)", \
     'depth_5_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle,tree=chain] / greedy (budget 64)", \
     'depth_6_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle-ttt] / greedy (budget 64)", \
     'depth_7_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle-ttt,tree=chain] / greedy (budget 64)", \
     'depth_8_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle3] / greedy (budget 64)", \
     'depth_9_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle3,tree=chain] / greedy (budget 64)"
set autoscale y
set output 'tau_by_category_T0.png'
set title "tau (#MAT) by category (largest budget) - stories260K.bin - temperature 0"
set xlabel 'category'
set ylabel 'tau (new tokens per target forward)'
set xtics rotate by -45
plot 'category_0_T0.dat' using 1:2:xtic(4) with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy (budget 64)", \
     'category_1_T0.dat' using 1:2:xtic(4) with linespoints title "medusa [heads=results/heads/stories260K-medusa-ce] / greedy (budget 64)", \
     'category_2_T0.dat' using 1:2:xtic(4) with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy (budget 64)", \
     'category_3_T0.dat' using 1:2:xtic(4) with linespoints title "hydra [heads=results/heads/stories260K-hydra,tree=template] / greedy (budget 64)", \
     'category_4_T0.dat' using 1:2:xtic(4) with linespoints title "eagle [heads=results/heads/stories260K-eagle] / greedy (budget 64)", \
     'category_5_T0.dat' using 1:2:xtic(4) with linespoints title "eagle [heads=results/heads/stories260K-eagle,tree=chain] / greedy (budget 64)", \
     'category_6_T0.dat' using 1:2:xtic(4) with linespoints title "eagle [heads=results/heads/stories260K-eagle-ttt] / greedy (budget 64)", \
     'category_7_T0.dat' using 1:2:xtic(4) with linespoints title "eagle [heads=results/heads/stories260K-eagle-ttt,tree=chain] / greedy (budget 64)", \
     'category_8_T0.dat' using 1:2:xtic(4) with linespoints title "eagle [heads=results/heads/stories260K-eagle3] / greedy (budget 64)", \
     'category_9_T0.dat' using 1:2:xtic(4) with linespoints title "eagle [heads=results/heads/stories260K-eagle3,tree=chain] / greedy (budget 64)"
set xtics norotate autofreq
set output 'accept_hist_T0.png'
set title "accepted draft tokens per step (largest budget) - stories260K.bin - temperature 0"
set xlabel 'draft tokens accepted in the step'
set ylabel 'share of steps'
set yrange [0:1]
plot 'hist_0_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa] / greedy (budget 64)", \
     'hist_1_T0.dat' using 1:2 with linespoints title "medusa [heads=results/heads/stories260K-medusa-ce] / greedy (budget 64)", \
     'hist_2_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra] / greedy (budget 64)", \
     'hist_3_T0.dat' using 1:2 with linespoints title "hydra [heads=results/heads/stories260K-hydra,tree=template] / greedy (budget 64)", \
     'hist_4_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle] / greedy (budget 64)", \
     'hist_5_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle,tree=chain] / greedy (budget 64)", \
     'hist_6_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle-ttt] / greedy (budget 64)", \
     'hist_7_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle-ttt,tree=chain] / greedy (budget 64)", \
     'hist_8_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle3] / greedy (budget 64)", \
     'hist_9_T0.dat' using 1:2 with linespoints title "eagle [heads=results/heads/stories260K-eagle3,tree=chain] / greedy (budget 64)"
set autoscale y
