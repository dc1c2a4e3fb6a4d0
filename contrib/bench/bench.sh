#!/usr/bin/env bash
# bench.sh - compare ringcached with memcached, side by side, in one run.
#
# See contrib/bench/README.md for what each number means.  Run with --help.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

RINGCACHED=${RINGCACHED:-$ROOT/src/ringcached}
MEMCACHED=${MEMCACHED:-$(command -v memcached || echo /usr/bin/memcached)}

# ---- defaults (a full default run takes about 5 minutes) ----
DUR=10            # seconds per throughput run
REPS=3            # runs per server and workload (A B A B ...)
THREADS=4         # server -t
MEM=1024          # server -m for the throughput and RSS sections
CLIENT_THREADS=1  # rcload threads (the machine has few cores: see README)
KEYS=100000       # prefilled key space of the throughput workloads
VSIZE=100         # value size of the throughput and RSS sections
ITEMS=1000000     # items stored in the RSS-per-item section
HIT_MEM=64        # -m of the hit-ratio section
ZIPF_KEYS=2000000 ZIPF_THETA=0.99 ZIPF_WARM=1000000 ZIPF_REQS=2000000 SEED=42
BOUND_MEM=64      # -m of the memory-bound section
BOUND_SECS=30     # seconds of random-size sets in the memory-bound section
BOUND_MAX=512000  # largest value (bytes) in the memory-bound section
SECTIONS=tput,rss,hit,bound
WL_ONLY=a,b,c,d,e
OUTDIR=$HERE/results
PLOT=1 XCHECK=0 PIN=0

usage() {
    cat <<EOF
usage: contrib/bench/bench.sh [options]

Starts ringcached and memcached on free 127.0.0.1 ports with the same -t/-m
and compares them.  Binaries come from the environment:
  RINGCACHED  (default: \$REPO/src/ringcached)   now: $RINGCACHED
  MEMCACHED   (default: memcached on PATH)       now: $MEMCACHED
  RINGCACHED_ARGS, MEMCACHED_ARGS: extra server flags for one slot.
To check the harness itself, use RINGCACHED=$MEMCACHED (ratios ~1.0).

options:
  -d SECS          seconds per throughput run (default $DUR)
  -r N             repetitions per server and workload (default $REPS)
  -t N             server threads, -t (default $THREADS)
  -m MB            server memory, -m, throughput and RSS sections (default $MEM)
  -T N             load-generator threads (default $CLIENT_THREADS)
  --sections LIST  comma list of tput,rss,hit,bound (default $SECTIONS)
  --workloads LIST throughput workloads to run, of a,b,c,d,e (default all)
  --items N        items stored for RSS per item (default $ITEMS)
  --hit-mem MB     -m for the hit-ratio section (default $HIT_MEM)
  --zipf-keys N    key space of the hit-ratio section (default $ZIPF_KEYS)
  --zipf-theta X   Zipf exponent, 0<X<1 (default $ZIPF_THETA)
  --zipf-warm N    warm-up requests, not counted (default $ZIPF_WARM)
  --zipf-reqs N    measured requests (default $ZIPF_REQS)
  --seed N         PRNG seed, same for both servers (default $SEED)
  --bound-mem MB   -m for the memory-bound section (default $BOUND_MEM)
  --bound-secs S   length of the memory-bound run (default $BOUND_SECS)
  --quick          short smoke run: -d 3 -r 1, 200k items, 600k zipf
                   requests, 5 s bound run (options after it still apply)
  --xcheck         also run memtier_benchmark (if on PATH) or memcaslap on
                   workloads a and c, as a cross-check of rcload
  --pin            pin servers to CPU 0 and the load generator to CPU 1
  --out DIR        results directory (default contrib/bench/results)
  --no-plot        do not run gnuplot
  -h, --help       this text
EOF
}

while [ $# -gt 0 ]; do
    case $1 in
    -d) DUR=$2; shift ;;
    -r) REPS=$2; shift ;;
    -t) THREADS=$2; shift ;;
    -m) MEM=$2; shift ;;
    -T) CLIENT_THREADS=$2; shift ;;
    --sections) SECTIONS=$2; shift ;;
    --workloads) WL_ONLY=$2; shift ;;
    --items) ITEMS=$2; shift ;;
    --hit-mem) HIT_MEM=$2; shift ;;
    --zipf-keys) ZIPF_KEYS=$2; shift ;;
    --zipf-theta) ZIPF_THETA=$2; shift ;;
    --zipf-warm) ZIPF_WARM=$2; shift ;;
    --zipf-reqs) ZIPF_REQS=$2; shift ;;
    --seed) SEED=$2; shift ;;
    --bound-mem) BOUND_MEM=$2; shift ;;
    --bound-secs) BOUND_SECS=$2; shift ;;
    --quick) DUR=3 REPS=1 ITEMS=200000 ZIPF_WARM=200000 ZIPF_REQS=400000 BOUND_SECS=5 ;;
    --xcheck) XCHECK=1 ;;
    --pin) PIN=1 ;;
    --out) OUTDIR=$2; shift ;;
    --no-plot) PLOT=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

die() { echo "bench.sh: $*" >&2; exit 1; }
for b in "$RINGCACHED" "$MEMCACHED"; do
    [ -x "$b" ] || die "no executable '$b' (set RINGCACHED / MEMCACHED; build with make first)"
done
has() { case ",$SECTIONS," in *",$1,"*) return 0 ;; esac; return 1; }

# ---- build the load generator if needed ----
RCLOAD=$HERE/rcload
if [ ! -x "$RCLOAD" ] || [ "$HERE/rcload.c" -nt "$RCLOAD" ]; then
    ${CC:-cc} -O2 -Wall -Wextra -pthread -o "$RCLOAD" "$HERE/rcload.c" -lm ||
        die "cannot build rcload"
fi

STAMP=$(date +%Y%m%d-%H%M%S)
mkdir -p "$OUTDIR"
TXT=$OUTDIR/$STAMP.txt      # everything printed below
RUNS=$OUTDIR/$STAMP.runs    # one line per throughput run (raw data)
SUM=$OUTDIR/$STAMP.summary  # name=value lines: every reported figure
DAT=$OUTDIR/$STAMP.dat      # medians per workload, for plot.gp
TMP=$(mktemp -d /tmp/ringbench.XXXXXX)
exec > >(tee "$TXT") 2>&1

HZ=$(getconf CLK_TCK)
USERFLAG=()
[ "$(id -u)" = 0 ] && USERFLAG=(-u root)   # memcached refuses root without -u
SRV_PREFIX=() CLI_PREFIX=()
[ "$PIN" = 1 ] && SRV_PREFIX=(taskset -c 0) CLI_PREFIX=(taskset -c 1)

# ---- server management: slots r (ringcached) and m (memcached) ----
declare -A PID PORT BIN NAME EXTRA VERSION
BIN[r]=$RINGCACHED NAME[r]=ringcached EXTRA[r]=${RINGCACHED_ARGS:-}
BIN[m]=$MEMCACHED  NAME[m]=memcached  EXTRA[m]=${MEMCACHED_ARGS:-}
STARTED=()

cleanup() {
    local p
    for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${STARTED[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() {  # is anything listening on this TCP port?
    local hex; hex=$(printf ':%04X ' "$1")
    grep -q "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
alive() { [ -r "/proc/$1/stat" ] && ! grep -q ') Z' "/proc/$1/stat" 2>/dev/null; }
ask() {  # port command: send one command, print the reply up to END/VERSION
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "%s\r\n" "$1" >&3
        while IFS= read -r -t 3 l <&3; do echo "$l"
            case $l in END*|VERSION*|*ERROR*) break;; esac; done' "$1" "$2" | tr -d '\r'
}
stat_of() { { ask "$1" stats || true; } | awk -v k="$2" '$2==k {print $3}'; }  # port name
can_connect() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }

start_server() {  # slot mem
    local s=$1 mem=$2 port pid
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        port=$((20000 + RANDOM % 40000))
        port_busy "$port" && continue
        # shellcheck disable=SC2086
        "${SRV_PREFIX[@]}" "${BIN[$s]}" -p "$port" -l 127.0.0.1 -U 0 -t "$THREADS" -m "$mem" \
            "${USERFLAG[@]}" ${EXTRA[$s]} >"$TMP/${NAME[$s]}.log" 2>&1 &
        pid=$!
        for _ in $(seq 50); do
            alive "$pid" || break
            if can_connect "$port"; then
                PID[$s]=$pid PORT[$s]=$port STARTED+=("$pid")
                if [ -z "${VERSION[$s]:-}" ]; then
                    VERSION[$s]=$({ ask "$port" version || true; } | head -1)
                    echo "started ${NAME[$s]}: ${VERSION[$s]:-(no reply to 'version')}"
                fi
                return 0
            fi
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    done
    cat "$TMP/${NAME[$s]}.log" >&2
    die "cannot start ${NAME[$s]} (${BIN[$s]})"
}
stop_server() {  # slot
    local s=$1 p keep=()
    kill "${PID[$s]}" 2>/dev/null || true
    wait "${PID[$s]}" 2>/dev/null || true
    for p in "${STARTED[@]}"; do [ "$p" = "${PID[$s]}" ] || keep+=("$p"); done
    STARTED=("${keep[@]}")
}
check_alive() {
    alive "${PID[$1]}" || { cat "$TMP/${NAME[$1]}.log" >&2; die "${NAME[$1]} died"; }
}
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }  # utime+stime
rss_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }
kv() { awk -F= -v k="$2" '$1==k {print $2}' "$1"; }
calc() { awk "BEGIN { x = $1; printf \"%.${2:-2}f\", x }"; }
ratio() {  # a b [decimals]: a/b, or "-"
    awk -v a="$1" -v b="$2" -v d="${3:-2}" \
        'BEGIN { if (b + 0 == 0 || a == "-" || b == "-") print "-"; else printf "%.*f", d, a / b }'
}
median() {  # median of the arguments ("-" if none)
    printf '%s\n' "$@" | { grep -v '^-$' || true; } | sort -g |
        awk '{a[NR] = $1} END {if (!NR) print "-"; else if (NR % 2) print a[(NR + 1) / 2];
             else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
rcload() { timeout "$1" "${CLI_PREFIX[@]}" "$RCLOAD" "${@:2}"; }

# ---- header ----
echo "ringcached vs memcached benchmark, $STAMP"
echo "host: $(uname -srm), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ringcached slot: $RINGCACHED ${RINGCACHED_ARGS:-}"
echo "memcached slot:  $MEMCACHED ${MEMCACHED_ARGS:-}"
echo "server flags: -l 127.0.0.1 -U 0 -t $THREADS ${USERFLAG[*]} (-m per section)"
echo "load generator: rcload, $CLIENT_THREADS client thread(s), closed loop" \
     "$([ "$PIN" = 1 ] && echo '(servers pinned to CPU 0, client to CPU 1)')"
echo "results: $TXT"
echo

: >"$SUM"
printf '#section\tworkload\trep\tserver\tops_s\tp50_us\tp99_us\tp999_us\tsrv_cpu_s\tops_per_cpu_s\tcli_cpu_s\terrors\thit_ratio\n' >"$RUNS"

# ---- 1. throughput ----
# workload id | description | rcload arguments
WORKLOADS=(
    "a|4 conn, unpipelined|-c 4 -P 1"
    "b|4 conn, 16 gets/write|-c 4 -P 16"
    "c|50 conn, unpipelined|-c 50 -P 1"
    "d|4 conn, binary, 16/write|-c 4 -P 16 -p binary"
    "e|4 conn, meta mg/ms, 16/write|-c 4 -P 16 -p meta"
)
selected=()
for wl in "${WORKLOADS[@]}"; do
    case ",$WL_ONLY," in *",${wl%%|*},"*) selected+=("$wl") ;; esac
done
WORKLOADS=("${selected[@]}")
measure() {  # section workload rep slot tool: run one load, append a line to RUNS
    local sec=$1 w=$2 rep=$3 s=$4 tool=$5 out c0 c1 cpu ops p50 p99 p999 cli err hr
    shift 5
    out=$TMP/run.out
    c0=$(cpu_ticks "${PID[$s]}")
    "$@" >"$out" 2>"$TMP/run.err" || { cat "$TMP/run.err" "$out" >&2; die "load generator failed"; }
    c1=$(cpu_ticks "${PID[$s]}")
    check_alive "$s"
    cpu=$(calc "($c1 - $c0) / $HZ")
    p50=- p999=- cli=- err=- hr=-
    case $tool in
    rcload)
        ops=$(kv "$out" ops_per_sec) p50=$(kv "$out" p50_us) p99=$(kv "$out" p99_us)
        p999=$(kv "$out" p999_us) cli=$(kv "$out" client_cpu_s) err=$(kv "$out" errors)
        hr=$(kv "$out" hit_ratio) ;;
    memcaslap)  # TPS from the last line; it has no percentiles: use the mean
        ops=$(sed -n 's/.*TPS: \([0-9]*\).*/\1/p' "$out" | tail -1)
        p99=$(awk '/^Total Statistics \(/ {t=1} t && $1=="Avg:" {print $2; exit}' "$out") ;;
    memtier)    # "Totals" row; columns found by header name ("Avg. Latency" etc.
                # are two words in the header, one number in the row); ms -> us
        ops=$(awk '/Ops\/sec/ {j=0; for (i=1;i<=NF;i++) if ($i!="Latency") {j++; if ($i=="Ops/sec") c=j}}
                   $1=="Totals" && c {print $c; exit}' "$out")
        p99=$(awk '/Ops\/sec/ {j=0; for (i=1;i<=NF;i++) if ($i!="Latency") {j++; if ($i=="p99") c=j}}
                   $1=="Totals" && c {printf "%.1f", $c*1000; exit}' "$out") ;;
    esac
    [ -n "$ops" ] || { cat "$out" >&2; die "cannot parse $tool output"; }
    [ -n "$p99" ] || p99=-
    local opc; opc=$(awk -v o="$ops" -v c="$cpu" -v d="$(kv "$out" secs)" -v D="$DUR" \
        'BEGIN { if (d == "") d = D; if (c > 0) printf "%.0f", o * d / c; else print "-" }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sec" "$w" "$rep" "${NAME[$s]}" \
        "$ops" "$p50" "$p99" "$p999" "$cpu" "$opc" "$cli" "$err" "$hr" >>"$RUNS"
    printf '  %-3s rep %d %-10s %9.0f ops/s  p99 %7s us  server %6.2f CPU-s  %8s ops/CPU-s\n' \
        "$w" "$rep" "${NAME[$s]}" "$ops" "$p99" "$cpu" "$opc"
}
col() {  # values of a column for section/workload/server from RUNS
    awk -F'\t' -v s="$1" -v w="$2" -v n="$3" -v c="$4" '$1==s && $2==w && $4==n {print $c}' "$RUNS"
}
# shellcheck disable=SC2046
summary_rows() {  # workload label [plot-label]: two server rows, a ratio row
    local sec=tput w=$1 label=$2 dat=${3:-} s v
    declare -A M
    for s in ringcached memcached; do
        for v in 5:ops 7:p99 9:cpu 10:opc 11:cli; do
            M[$s.${v#*:}]=$(median $(col "$sec" "$w" "$s" "${v%%:*}"))
        done
        printf '%-24s %-11s %10.0f %9s %9s %11s %9s\n' "$label" "$s" "${M[$s.ops]}" \
            "${M[$s.p99]}" "${M[$s.cpu]}" "${M[$s.opc]}" "${M[$s.cli]}"
        label=""
        for v in ops p99 cpu opc cli; do echo "tput.$w.$s.$v=${M[$s.$v]}" >>"$SUM"; done
    done
    printf '%-24s %-11s %10s %9s %9s %11s\n' "" "ratio r/m" \
        "$(ratio "${M[ringcached.ops]}" "${M[memcached.ops]}")" "$(ratio "${M[ringcached.p99]}" "${M[memcached.p99]}")" \
        "$(ratio "${M[ringcached.cpu]}" "${M[memcached.cpu]}")" "$(ratio "${M[ringcached.opc]}" "${M[memcached.opc]}")"
    for v in ops p99 cpu opc; do
        echo "tput.$w.ratio.$v=$(ratio "${M[ringcached.$v]}" "${M[memcached.$v]}" 3)" >>"$SUM"
    done
    [ -n "$dat" ] && printf '"%s" %s %s %s %s %s %s\n' "$dat" \
        "${M[ringcached.ops]}" "${M[memcached.ops]}" "${M[ringcached.p99]}" "${M[memcached.p99]}" \
        "${M[ringcached.opc]}" "${M[memcached.opc]}" >>"$DAT"
    return 0
}
table_head() {
    printf '%-24s %-11s %10s %9s %9s %11s %9s\n' workload server "ops/s" "p99(us)" "srvCPU-s" \
        "ops/CPU-s" "cliCPU-s"
}

if has tput; then
    echo "== 1. Throughput: 1:10 set:get, ${VSIZE}-byte values, $KEYS keys prefilled;" \
         "$REPS x ${DUR}s per server, alternating =="
    start_server r "$MEM"; start_server m "$MEM"
    for s in r m; do
        rcload 300 -s "127.0.0.1:${PORT[$s]}" -M fill -n "$KEYS" -v "$VSIZE" -c 4 -P 64 >/dev/null
    done
    for wl in "${WORKLOADS[@]}"; do
        IFS='|' read -r w desc args <<<"$wl"
        echo " workload $w: $desc"
        for rep in $(seq "$REPS"); do
            for s in r m; do
                # shellcheck disable=SC2086
                measure tput "$w" "$rep" "$s" rcload rcload $((DUR + 60)) -s "127.0.0.1:${PORT[$s]}" \
                    -M run -d "$DUR" -k "$KEYS" -v "$VSIZE" -R 1:10 -T "$CLIENT_THREADS" -S "$rep" $args
            done
        done
    done
    if [ "$XCHECK" = 1 ]; then
        for wl in "a|4" "c|50"; do
            IFS='|' read -r w conns <<<"$wl"
            echo " cross-check $w-x: $conns conn, unpipelined"
            for rep in $(seq "$REPS"); do
                for s in r m; do
                    if command -v memtier_benchmark >/dev/null; then
                        measure tput "$w-x" "$rep" "$s" memtier timeout $((DUR + 60)) "${CLI_PREFIX[@]}" \
                            memtier_benchmark -s 127.0.0.1 -p "${PORT[$s]}" -P memcache_text \
                            -t "$CLIENT_THREADS" -c $((conns / CLIENT_THREADS)) --ratio=1:10 \
                            -d "$VSIZE" --key-maximum="$KEYS" --test-time="$DUR" --hide-histogram
                    else
                        printf 'key\n16 16 1\nvalue\n%s %s 1\ncmd\n0 0.0909\n1 0.9091\n' \
                            "$VSIZE" "$VSIZE" >"$TMP/caslap.cfg"
                        measure tput "$w-x" "$rep" "$s" memcaslap timeout $((DUR + 60)) "${CLI_PREFIX[@]}" \
                            memcaslap -s "127.0.0.1:${PORT[$s]}" -T "$CLIENT_THREADS" -c "$conns" \
                            -t "${DUR}s" -S "${DUR}s" -F "$TMP/caslap.cfg"
                    fi
                done
            done
        done
    fi
    stop_server r; stop_server m
    echo
    echo "Medians.  p99: per request when unpipelined, per 16-request batch for b, d, e"
    [ "$XCHECK" = 1 ] && echo "  (x rows: memcaslap's p99 column is its MEAN latency; memtier's is p99)"
    echo "ops/CPU-s = requests served per CPU-second the server used (utime+stime)."
    printf '# workload ringcached_ops memcached_ops ringcached_p99_us memcached_p99_us ringcached_ops_per_cpu memcached_ops_per_cpu\n' >"$DAT"
    table_head
    for wl in "${WORKLOADS[@]}"; do
        IFS='|' read -r w desc args <<<"$wl"
        summary_rows "$w" "$w: $desc" "$w: $desc"
    done
    if [ "$XCHECK" = 1 ]; then
        for w in a-x c-x; do summary_rows "$w" "$w (cross-check)"; done
    fi
    echo
fi

# ---- 2. RSS per item ----
if has rss; then
    echo "== 2. RSS per stored item: $ITEMS items, 16-byte keys, ${VSIZE}-byte values, -m $MEM =="
    declare -A BPI
    for s in r m; do
        start_server "$s" "$MEM"
        sleep 0.5
        before=$(rss_kb "${PID[$s]}" VmRSS)
        rcload 600 -s "127.0.0.1:${PORT[$s]}" -M fill -n "$ITEMS" -v "$VSIZE" -c 4 -P 64 >"$TMP/fill.out"
        sleep 1   # let background work (hash table growth) finish
        after=$(rss_kb "${PID[$s]}" VmRSS)
        items=$(stat_of "${PORT[$s]}" curr_items)
        BPI[$s]=$(calc "($after - $before) * 1024 / $ITEMS" 1)
        printf '%-11s RSS before %8d kB  after %8d kB  curr_items %9s  set errors %s  => %s bytes/item\n' \
            "${NAME[$s]}" "$before" "$after" "${items:-?}" "$(kv "$TMP/fill.out" errors)" "${BPI[$s]}"
        echo "rss.${NAME[$s]}.bytes_per_item=${BPI[$s]}" >>"$SUM"
        stop_server "$s"
    done
    echo "ratio r/m bytes/item: $(ratio "${BPI[r]}" "${BPI[m]}")"
    echo "rss.ratio=$(ratio "${BPI[r]}" "${BPI[m]}" 3)" >>"$SUM"
    echo
fi

# ---- 3. hit ratio ----
if has hit; then
    echo "== 3. Hit ratio, cache-aside: -m $HIT_MEM, $ZIPF_KEYS keys, Zipf($ZIPF_THETA)," \
         "values 100-1000 B (fixed per key), seed $SEED =="
    echo "   $ZIPF_WARM warm-up gets, then $ZIPF_REQS measured; one connection, 16-key multi-gets, set on miss"
    declare -A HR
    for s in r m; do
        start_server "$s" "$HIT_MEM"
        rcload 900 -s "127.0.0.1:${PORT[$s]}" -M zipf -k "$ZIPF_KEYS" -z "$ZIPF_THETA" -V 100:1000 \
            -w "$ZIPF_WARM" -n "$ZIPF_REQS" -P 16 -g -S "$SEED" >"$TMP/zipf.out"
        check_alive "$s"
        HR[$s]=$(kv "$TMP/zipf.out" hit_ratio)
        items=$(stat_of "${PORT[$s]}" curr_items)
        printf '%-11s hit ratio %s  (curr_items %s, evictions %s, errors %s, %s s)\n' "${NAME[$s]}" \
            "${HR[$s]}" "${items:-?}" "$(stat_of "${PORT[$s]}" evictions)" \
            "$(kv "$TMP/zipf.out" errors)" "$(kv "$TMP/zipf.out" secs)"
        echo "hit.${NAME[$s]}.hit_ratio=${HR[$s]}" >>"$SUM"
        stop_server "$s"
    done
    echo "ratio r/m hit ratio: $(ratio "${HR[r]}" "${HR[m]}" 3)"
    echo "hit.ratio=$(ratio "${HR[r]}" "${HR[m]}" 3)" >>"$SUM"
    echo
fi

# ---- 4. memory bound ----
if has bound; then
    echo "== 4. Memory bound: -m $BOUND_MEM, ${BOUND_SECS}s of sets, 4 conn, 10000 keys," \
         "value sizes log-uniform 1..$BOUND_MAX B =="
    declare -A PEAK
    for s in r m; do
        start_server "$s" "$BOUND_MEM"
        rcload $((BOUND_SECS + 60)) -s "127.0.0.1:${PORT[$s]}" -M sizes -c 4 -k 10000 \
            -x "$BOUND_MAX" -d "$BOUND_SECS" -S "$SEED" >"$TMP/sizes.out"
        check_alive "$s"
        hwm=$(rss_kb "${PID[$s]}" VmHWM) rss=$(rss_kb "${PID[$s]}" VmRSS)
        PEAK[$s]=$(calc "$hwm / 1024" 1)
        printf '%-11s peak RSS %7s MiB (%s x -m)  final RSS %7s MiB  sets %s, errors %s\n' \
            "${NAME[$s]}" "${PEAK[$s]}" "$(calc "$hwm / 1024 / $BOUND_MEM")" "$(calc "$rss / 1024" 1)" \
            "$(kv "$TMP/sizes.out" sets)" "$(kv "$TMP/sizes.out" errors)"
        echo "bound.${NAME[$s]}.peak_rss_mib=${PEAK[$s]}" >>"$SUM"
        echo "bound.${NAME[$s]}.set_errors=$(kv "$TMP/sizes.out" errors)" >>"$SUM"
        stop_server "$s"
    done
    echo "ratio r/m peak RSS: $(ratio "${PEAK[r]}" "${PEAK[m]}")  (limit $BOUND_MEM MiB)"
    echo "bound.ratio=$(ratio "${PEAK[r]}" "${PEAK[m]}" 3)" >>"$SUM"
    echo
fi

# ---- plots ----
if [ -s "$DAT" ]; then
    cp "$DAT" "$OUTDIR/latest.dat"
    if [ "$PLOT" = 1 ] && command -v gnuplot >/dev/null; then
        mkdir -p "$ROOT/doc/img"
        gnuplot -e "datafile='$DAT'; outdir='$ROOT/doc/img'" "$HERE/plot.gp" &&
            echo "plots: $ROOT/doc/img/bench-ops-per-cpu.png, $ROOT/doc/img/bench-p99.png"
    fi
fi
echo "raw runs: $RUNS   summary: $SUM"
echo "done in $SECONDS s"
