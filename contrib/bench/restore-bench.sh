#!/usr/bin/env bash
# restore-bench.sh - kill -9 one node of three under load, with
# --replicas 2, and measure how the survivors restore two copies of every
# key at the default --rebalance-rate.
#
# Three ringcached nodes on 127.0.0.1 with default gossip timings; N keys
# (default 1,000,000, 100-byte values) stored through node 0, so every
# node holds about 2N/3. Then, through node 0, 1:10 set:get for -d
# seconds before the kill (the baseline) and for -d seconds from the kill
# on, while the script polls `stats cluster` of both survivors every
# 100 ms. It reports:
#   - detection: from the kill to a survivor's members_dead moving;
#   - restore: from detection to both survivors' rebalance passes done,
#     the keys and bytes they moved, and the rate that makes;
#   - copies: each survivor's curr_items after the restore, which with
#     two nodes left and R=2 must be every key (N plus the keys the load
#     added), and evictions (must be 0 for that to mean anything);
#   - client traffic: ops/s and errors during the kill run against the
#     baseline.
#
#   contrib/bench/restore-bench.sh [-n KEYS] [-d SECS] [-r KiB/s]
# Results: contrib/bench/results/restore-<date>.txt.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RINGCACHED=${RINGCACHED:-$ROOT/build/src/ringcached}
KEYS=1000000 DUR=20 RATE="" VSIZE=100 CONNS=4
OUTDIR=$HERE/results

usage() {
    sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}
while [ $# -gt 0 ]; do
    case $1 in
    -n) KEYS=$2; shift ;;
    -d) DUR=$2; shift ;;
    -r) RATE=$2; shift ;;
    -h|--help) usage ;;
    *) usage 2 ;;
    esac
    shift
done

die() { echo "restore-bench: $*" >&2; exit 1; }
[ -x "$RINGCACHED" ] || die "no $RINGCACHED (build first, or set RINGCACHED)"
RCLOAD=$HERE/rcload
[ -x "$RCLOAD" ] && [ "$RCLOAD" -nt "$HERE/rcload.c" ] ||
    make -s -C "$HERE" rcload >/dev/null

mkdir -p "$OUTDIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
TXT=$OUTDIR/restore-$STAMP.txt
TMP=$(mktemp -d)
exec > >(tee "$TXT") 2>&1
# shellcheck source=contrib/bench/bench-lib.sh
. "$HERE/bench-lib.sh"

stat_of() {  # port section name
    ask "$1" "stats${2:+ $2}" | awk -v n="$3" '$1 == "STAT" && $2 == n { print $3 }'
}
now_ms() { date +%s%3N; }

rate_args=()
[ -z "$RATE" ] || rate_args=(--rebalance-rate "$RATE")
echo "restore benchmark, $STAMP"
echo "host: $(uname -srm), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ringcached: $("$RINGCACHED" -V); 3 nodes, --replicas 2, rebalance rate ${RATE:-default}" \
     "KiB/s; $KEYS keys of $VSIZE bytes; load: rcload -c $CONNS 1:10 set:get, $DUR s runs"

g0=$(free_port)
ports=() pids=()
for i in 0 1 2; do
    p=$(free_port)
    g=$g0
    [ "$i" = 0 ] || g=$(free_port)
    join=()
    [ "$i" = 0 ] || join=(--join "127.0.0.1:$g0")
    spawn "$TMP/node$i.log" "$RINGCACHED" -p "$p" -l 127.0.0.1 -U 0 -m 2048 "${USERFLAG[@]}" \
          --node-name "restore$i" --gossip-port "$g" "${join[@]}" --replicas 2 "${rate_args[@]}"
    wait_port "$p" "$pid" "$TMP/node$i.log"
    ports+=("$p") pids+=("$pid")
done
for _ in $(seq 100); do
    [ "$(ask "${ports[0]}" "cluster ring" | grep -c '^RING .* alive$')" = 3 ] && break
    sleep 0.1
done
[ "$(ask "${ports[0]}" "cluster ring" | grep -c '^RING .* alive$')" = 3 ] ||
    die "the three nodes did not form a ring"

t0=$(now_ms)
timeout 600 "$RCLOAD" -s "127.0.0.1:${ports[0]}" -M fill -n "$KEYS" -v "$VSIZE" -c "$CONNS" -P 16 \
    >"$TMP/fill.out" || die "fill failed"
echo "fill: $KEYS keys in $(( $(now_ms) - t0 )) ms; items per node:" \
     "$(for p in "${ports[@]}"; do printf '%s ' "$(stat_of "$p" "" curr_items)"; done)"

timeout $((DUR + 60)) "$RCLOAD" -s "127.0.0.1:${ports[0]}" -M run -k "$KEYS" -v "$VSIZE" \
    -c "$CONNS" -R 1:10 -d "$DUR" >"$TMP/before.out" || die "baseline run failed"

survivors=("${ports[0]}" "${ports[1]}")
passes0=() moved0=() bytes0=()
for p in "${survivors[@]}"; do
    passes0+=("$(stat_of "$p" cluster rebalance_passes)")
    moved0+=("$(stat_of "$p" cluster rebalance_keys_moved)")
    bytes0+=("$(stat_of "$p" cluster rebalance_bytes_sent)")
done
timeout $((DUR + 60)) "$RCLOAD" -s "127.0.0.1:${ports[0]}" -M run -k "$KEYS" -v "$VSIZE" \
    -c "$CONNS" -R 1:10 -d "$DUR" >"$TMP/during.out" &
load=$!
sleep 0.5
kill -9 "${pids[2]}"
tkill=$(now_ms)
detected="" restored=""
field() { awk -v n="$2" '$1 == "STAT" && $2 == n { print $3 }' <<<"$1"; }
while [ -z "$restored" ] && [ $(( $(now_ms) - tkill )) -lt $(( (DUR + 120) * 1000 )) ]; do
    s0=$(ask "${survivors[0]}" "stats cluster") s1=$(ask "${survivors[1]}" "stats cluster")
    # Dead on either survivor (one declares, gossip tells the other).
    if [ -z "$detected" ] && { [ "$(field "$s0" members_dead)" -gt 0 ] ||
                               [ "$(field "$s1" members_dead)" -gt 0 ]; }; then
        detected=$(now_ms)
    fi
    if [ -n "$detected" ] &&
       [ "$(field "$s0" rebalance_running)" = 0 ] && [ "$(field "$s1" rebalance_running)" = 0 ] &&
       [ "$(field "$s0" rebalance_passes)" -gt "${passes0[0]}" ] &&
       [ "$(field "$s1" rebalance_passes)" -gt "${passes0[1]}" ]; then
        restored=$(now_ms)
    fi
    [ -z "${RESTORE_DEBUG:-}" ] || echo "t+$(( $(now_ms) - tkill )) ms:" \
        "$(grep -E 'STAT (members_dead|rebalance_running|rebalance_passes|rebalance_progress_pct) ' \
           <<<"$s0$s1" | tr '\n' ' ')"
    sleep 0.1
done
wait "$load" || die "the load run failed"
[ -n "$detected" ] || die "the survivors never declared the node dead"
[ -n "$restored" ] || die "the survivors did not finish re-replicating"

moved=0 bytes=0
for j in 0 1; do
    p=${survivors[$j]}
    moved=$((moved + $(stat_of "$p" cluster rebalance_keys_moved) - moved0[j]))
    bytes=$((bytes + $(stat_of "$p" cluster rebalance_bytes_sent) - bytes0[j]))
done
rms=$((restored - detected))
mibs=$(awk -v b="$bytes" -v t="$rms" 'BEGIN { printf "%.1f", (t > 0 ? b / 1048576 / (t / 1000) : 0) }')
echo
echo "detection: $((detected - tkill)) ms from kill -9 to declared dead"
echo "restore: $rms ms from detection to both survivors done; $moved keys stored by a new" \
     "owner, $bytes bytes sent ($mibs MiB/s)"
for p in "${survivors[@]}"; do
    echo "survivor :$p curr_items $(stat_of "$p" "" curr_items) evictions" \
         "$(stat_of "$p" "" evictions) (every key: at least $KEYS)"
done
bops=$(kv "$TMP/before.out" ops_per_sec) dops=$(kv "$TMP/during.out" ops_per_sec)
echo "client: $bops ops/s before, $dops ops/s in the run with the kill (ratio" \
     "$(ratio "$dops" "$bops")); errors before $(kv "$TMP/before.out" errors)," \
     "during $(kv "$TMP/during.out" errors)"
