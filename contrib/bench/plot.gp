# plot.gp - bar charts from a bench.sh data file (results/<stamp>.dat).
#
#   gnuplot -e "datafile='contrib/bench/results/latest.dat'; outdir='doc/img'" \
#           contrib/bench/plot.gp
#
# Writes outdir/bench-ops-per-cpu.png and outdir/bench-p99.png.
# Data columns: 1 workload, 2/3 ops/s, 4/5 p99 us, 6/7 ops per server
# CPU-second (ringcached/memcached).  bench.sh runs this itself.

if (!exists("datafile")) datafile = 'contrib/bench/results/latest.dat'
if (!exists("outdir")) outdir = 'doc/img'

set terminal pngcairo size 900,520 enhanced font 'sans,10'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics lt 0 lw 1 lc rgb '#bbbbbb'
set key top left
set yrange [0:*]
set xtics nomirror
set ytics nomirror
set format y '%.0s%c'
c_ring = '#d9534f'
c_mem = '#5b7fb8'

set output outdir.'/bench-ops-per-cpu.png'
set title 'Requests per server CPU-second (higher is better)'
set ylabel 'ops / server CPU-s'
plot datafile using 6:xtic(1) title 'ringcached' lc rgb c_ring, \
     '' using 7 title 'memcached' lc rgb c_mem, \
     '' using ($0-0.15):6:(sprintf('%.0fk', $6/1000)) with labels offset 0,0.7 notitle, \
     '' using ($0+0.15):7:(sprintf('%.0fk', $7/1000)) with labels offset 0,0.7 notitle

set output outdir.'/bench-p99.png'
set title 'p99 latency (lower is better; per 16-request batch for the pipelined workload)'
set ylabel 'p99 latency, microseconds'
set format y '%g'
plot datafile using 4:xtic(1) title 'ringcached' lc rgb c_ring, \
     '' using 5 title 'memcached' lc rgb c_mem, \
     '' using ($0-0.15):4:(sprintf('%.0f', $4)) with labels offset 0,0.7 notitle, \
     '' using ($0+0.15):5:(sprintf('%.0f', $5)) with labels offset 0,0.7 notitle

unset output
