set terminal pngcairo size 1000,600 font "sans,10"
set output "compare-memcached.png"
set title "ringcache vs memcached (6.18.44-fc-v509, 2 vCPU, 2026-11-21; medians of rounds, bars = p99 range)"
set xlabel "offered rate (requests/s)"
set ylabel "latency (µs)"
set logscale xy
set grid
set key top left
set format x "%.0s%c"
set arrow from graph 0, first 500 to graph 1, first 500 nohead dt 2 lc rgb "red"
set label "0.5 ms" at graph 0.01, first 500 offset 0,0.7 tc rgb "red"
plot "compare-memcached.dat" index 0 using 1:4:5:6 with yerrorlines lw 2 title "ringcache-udp p99", \
     "compare-memcached.dat" index 0 using 1:3 with linespoints dt 3 title "ringcache-udp p50", \
     "compare-memcached.dat" index 1 using 1:4:5:6 with yerrorlines lw 2 title "memcached-udp p99", \
     "compare-memcached.dat" index 1 using 1:3 with linespoints dt 3 title "memcached-udp p50", \
     "compare-memcached.dat" index 2 using 1:4:5:6 with yerrorlines lw 2 title "ringcache-memif p99", \
     "compare-memcached.dat" index 2 using 1:3 with linespoints dt 3 title "ringcache-memif p50"
