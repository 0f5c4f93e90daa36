# speclab plots; run: gnuplot plots.gp (in this directory)
set terminal pngcairo size 1000,640 noenhanced font ',10'
set key below
set grid
set output 'tau_vs_budget_T0p7.png'
set title "tau vs budget - stories260K.bin - temperature 0.7"
set xlabel 'budget (draft nodes per step)'
set ylabel 'tau (new tokens per target forward)'
set logscale x 2
plot 'series_0_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq] / multi-iid", \
     'series_2_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq] / spectr", \
     'series_4_T0p7.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=swor] / without-replacement", \
     'series_6_T0p7.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=topk] / deterministic", \
     'series_8_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=2,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid", \
     'series_10_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=2,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr", \
     'series_12_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid", \
     'series_14_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr", \
     'series_16_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=2,k=8,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid", \
     'series_18_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=2,k=8,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr", \
     'series_20_T0p7.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=swor,model=build/drafts/stories260K-4layer.bin] / without-replacement", \
     'series_22_T0p7.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=topk,model=build/drafts/stories260K-4layer.bin] / deterministic"
unset logscale x
set output 'speedup_vs_budget_T0p7.png'
set title "speedup vs budget - stories260K.bin - temperature 0.7"
set xlabel 'budget (draft nodes per step)'
set ylabel 'speedup vs autoregressive'
set logscale x 2
plot 'series_0_T0p7.dat' using 1:3 with linespoints title "draft-model [gamma=4,k=4,mode=kseq] / multi-iid", \
     'series_2_T0p7.dat' using 1:3 with linespoints title "draft-model [gamma=4,k=4,mode=kseq] / spectr", \
     'series_4_T0p7.dat' using 1:3 with linespoints title "draft-model [branching=4x1x1x1,mode=swor] / without-replacement", \
     'series_6_T0p7.dat' using 1:3 with linespoints title "draft-model [branching=4x1x1x1,mode=topk] / deterministic", \
     'series_8_T0p7.dat' using 1:3 with linespoints title "draft-model [gamma=4,k=2,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid", \
     'series_10_T0p7.dat' using 1:3 with linespoints title "draft-model [gamma=4,k=2,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr", \
     'series_12_T0p7.dat' using 1:3 with linespoints title "draft-model [gamma=4,k=4,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid", \
     'series_14_T0p7.dat' using 1:3 with linespoints title "draft-model [gamma=4,k=4,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr", \
     'series_16_T0p7.dat' using 1:3 with linespoints title "draft-model [gamma=2,k=8,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid", \
     'series_18_T0p7.dat' using 1:3 with linespoints title "draft-model [gamma=2,k=8,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr", \
     'series_20_T0p7.dat' using 1:3 with linespoints title "draft-model [branching=4x1x1x1,mode=swor,model=build/drafts/stories260K-4layer.bin] / without-replacement", \
     'series_22_T0p7.dat' using 1:3 with linespoints title "draft-model [branching=4x1x1x1,mode=topk,model=build/drafts/stories260K-4layer.bin] / deterministic"
unset logscale x
set output 'accept_by_depth_T0p7.png'
set title "acceptance by depth (largest budget) - stories260K.bin - temperature 0.7"
set xlabel 'tree depth'
set ylabel 'P(accepted path reaches depth | tree reaches it)'
set yrange [0:1]
plot 'depth_0_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq] / multi-iid (budget 16)", \
     'depth_2_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq] / spectr (budget 16)", \
     'depth_4_T0p7.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=swor] / without-replacement (budget 16)", \
     'depth_6_T0p7.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=topk] / deterministic (budget 16)", \
     'depth_8_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=2,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid (budget 16)", \
     'depth_10_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=2,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr (budget 16)", \
     'depth_12_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid (budget 16)", \
     'depth_14_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr (budget 16)", \
     'depth_16_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=2,k=8,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid (budget 16)", \
     'depth_18_T0p7.dat' using 1:2 with linespoints title "draft-model [gamma=2,k=8,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr (budget 16)", \
     'depth_20_T0p7.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=swor,model=build/drafts/stories260K-4layer.bin] / without-replacement (budget 16)", \
     'depth_22_T0p7.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=topk,model=build/drafts/stories260K-4layer.bin] / deterministic (budget 16)"
set autoscale y
set output 'tau_vs_budget_T1.png'
set title "tau vs budget - stories260K.bin - temperature 1"
set xlabel 'budget (draft nodes per step)'
set ylabel 'tau (new tokens per target forward)'
set logscale x 2
plot 'series_1_T1.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq] / multi-iid", \
     'series_3_T1.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq] / spectr", \
     'series_5_T1.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=swor] / without-replacement", \
     'series_7_T1.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=topk] / deterministic", \
     'series_9_T1.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=2,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid", \
     'series_11_T1.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=2,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr", \
     'series_13_T1.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid", \
     'series_15_T1.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr", \
     'series_17_T1.dat' using 1:2 with linespoints title "draft-model [gamma=2,k=8,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid", \
     'series_19_T1.dat' using 1:2 with linespoints title "draft-model [gamma=2,k=8,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr", \
     'series_21_T1.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=swor,model=build/drafts/stories260K-4layer.bin] / without-replacement", \
     'series_23_T1.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=topk,model=build/drafts/stories260K-4layer.bin] / deterministic"
unset logscale x
set output 'speedup_vs_budget_T1.png'
set title "speedup vs budget - stories260K.bin - temperature 1"
set xlabel 'budget (draft nodes per step)'
set ylabel 'speedup vs autoregressive'
set logscale x 2
plot 'series_1_T1.dat' using 1:3 with linespoints title "draft-model [gamma=4,k=4,mode=kseq] / multi-iid", \
     'series_3_T1.dat' using 1:3 with linespoints title "draft-model [gamma=4,k=4,mode=kseq] / spectr", \
     'series_5_T1.dat' using 1:3 with linespoints title "draft-model [branching=4x1x1x1,mode=swor] / without-replacement", \
     'series_7_T1.dat' using 1:3 with linespoints title "draft-model [branching=4x1x1x1,mode=topk] / deterministic", \
     'series_9_T1.dat' using 1:3 with linespoints title "draft-model [gamma=4,k=2,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid", \
     'series_11_T1.dat' using 1:3 with linespoints title "draft-model [gamma=4,k=2,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr", \
     'series_13_T1.dat' using 1:3 with linespoints title "draft-model [gamma=4,k=4,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid", \
     'series_15_T1.dat' using 1:3 with linespoints title "draft-model [gamma=4,k=4,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr", \
     'series_17_T1.dat' using 1:3 with linespoints title "draft-model [gamma=2,k=8,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid", \
     'series_19_T1.dat' using 1:3 with linespoints title "draft-model [gamma=2,k=8,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr", \
     'series_21_T1.dat' using 1:3 with linespoints title "draft-model [branching=4x1x1x1,mode=swor,model=build/drafts/stories260K-4layer.bin] / without-replacement", \
     'series_23_T1.dat' using 1:3 with linespoints title "draft-model [branching=4x1x1x1,mode=topk,model=build/drafts/stories260K-4layer.bin] / deterministic"
unset logscale x
set output 'accept_by_depth_T1.png'
set title "acceptance by depth (largest budget) - stories260K.bin - temperature 1"
set xlabel 'tree depth'
set ylabel 'P(accepted path reaches depth | tree reaches it)'
set yrange [0:1]
plot 'depth_1_T1.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq] / multi-iid (budget 16)", \
     'depth_3_T1.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq] / spectr (budget 16)", \
     'depth_5_T1.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=swor] / without-replacement (budget 16)", \
     'depth_7_T1.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=topk] / deterministic (budget 16)", \
     'depth_9_T1.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=2,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid (budget 16)", \
     'depth_11_T1.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=2,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr (budget 16)", \
     'depth_13_T1.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid (budget 16)", \
     'depth_15_T1.dat' using 1:2 with linespoints title "draft-model [gamma=4,k=4,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr (budget 16)", \
     'depth_17_T1.dat' using 1:2 with linespoints title "draft-model [gamma=2,k=8,mode=kseq,model=build/drafts/stories260K-4layer.bin] / multi-iid (budget 16)", \
     'depth_19_T1.dat' using 1:2 with linespoints title "draft-model [gamma=2,k=8,mode=kseq,model=build/drafts/stories260K-4layer.bin] / spectr (budget 16)", \
     'depth_21_T1.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=swor,model=build/drafts/stories260K-4layer.bin] / without-replacement (budget 16)", \
     'depth_23_T1.dat' using 1:2 with linespoints title "draft-model [branching=4x1x1x1,mode=topk,model=build/drafts/stories260K-4layer.bin] / deterministic (budget 16)"
set autoscale y
