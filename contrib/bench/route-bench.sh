#!/usr/bin/env bash
# route-bench.sh - the cost of the routing hop, side by side in one run.
#
# Three set-ups, started together on 127.0.0.1 and measured in turns with
# the same client (rcload), the same keys and the same workloads:
#   direct     one ringcached node; the client talks to it
#   cluster    three ringcached nodes in a cluster (--route proxy); the
#              client talks to node 0, so about 2/3 of keys take a hop
#   replicated the same three nodes with --replicas 2 (every write is also
#              copied to a second owner)
#   twemproxy  Debian's nutcracker (ketama, md5) in front of three
#              memcached; the client talks to the proxy
# Workloads: 4 connections unpipelined (u) and pipelined 16 deep (p), 1:10
# set:get over 100,000 prefilled keys, 100-byte values. For each: ops/s,
# p99, and ops per server CPU-second, the CPU summed over every server
# process of the set-up (the nodes; the proxy and its backends), read from
# /proc before and after the run. Medians over -r repetitions, then the
# ratios cluster/direct and cluster/twemproxy.
#
#   contrib/bench/route-bench.sh [-d SECS] [-r REPS] [-t THREADS]
# Results: contrib/bench/results/route-<date>.{txt,tsv}.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
RINGCACHED=${RINGCACHED:-$ROOT/build/src/ringcached}
MEMCACHED=${MEMCACHED:-$(command -v memcached || echo /usr/bin/memcached)}
NUTCRACKER=${NUTCRACKER:-$(command -v nutcracker || echo /usr/sbin/nutcracker)}
DUR=10 REPS=3 THREADS=1 KEYS=100000 VSIZE=100 CONNS=4
OUTDIR=$HERE/results

usage() {
    sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}
while [ $# -gt 0 ]; do
    case $1 in
    -d) DUR=$2; shift ;;
    -r) REPS=$2; shift ;;
    -t) THREADS=$2; shift ;;
    -h|--help) usage ;;
    *) usage 2 ;;
    esac
    shift
done

die() { echo "route-bench: $*" >&2; exit 1; }
[ -x "$RINGCACHED" ] || die "no $RINGCACHED (build first, or set RINGCACHED)"
[ -x "$MEMCACHED" ] || die "no memcached (apt-get install memcached)"
if [ ! -x "$NUTCRACKER" ]; then
    # The benchmark's own dependency: installed on first use.
    [ "$(id -u)" = 0 ] || die "nutcracker missing: apt-get install nutcracker"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nutcracker >/dev/null
    NUTCRACKER=$(command -v nutcracker || echo /usr/sbin/nutcracker)
fi
RCLOAD=$HERE/rcload
[ -x "$RCLOAD" ] && [ "$RCLOAD" -nt "$HERE/rcload.c" ] ||
    make -s -C "$HERE" rcload >/dev/null

mkdir -p "$OUTDIR"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
TXT=$OUTDIR/route-$STAMP.txt TSV=$OUTDIR/route-$STAMP.tsv
TMP=$(mktemp -d)
exec > >(tee "$TXT") 2>&1

# shellcheck source=contrib/bench/bench-lib.sh
. "$HERE/bench-lib.sh"

echo "routing benchmark, $STAMP"
echo "host: $(uname -srm), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ringcached: $("$RINGCACHED" -V)  memcached: $("$MEMCACHED" -V)  nutcracker: $("$NUTCRACKER" -V 2>&1 | head -1)"
echo "each server -t $THREADS; client: rcload -c $CONNS, 1:10 set:get, $KEYS keys, ${VSIZE}-byte values, ${DUR} s runs, $REPS reps"
echo

declare -A ENTRY PIDS
# (1) direct
p=$(free_port)
spawn "$TMP/direct.log" "$RINGCACHED" -p "$p" -l 127.0.0.1 -U 0 -t "$THREADS" -m 1024 "${USERFLAG[@]}"
wait_port "$p" "$pid" "$TMP/direct.log"
ENTRY[direct]=$p PIDS[direct]=$pid
# (2) a three-node cluster, and (2b) the same with --replicas 2
start_cluster() {  # setup-name node-prefix extra-args...
    local name=$1 prefix=$2 g0 i p g pids=() ports=()
    shift 2
    g0=$(free_port)
    for i in 0 1 2; do
        p=$(free_port)
        g=$g0
        [ "$i" = 0 ] || g=$(free_port)
        join=()
        [ "$i" = 0 ] || join=(--join "127.0.0.1:$g0")
        spawn "$TMP/$prefix$i.log" "$RINGCACHED" -p "$p" -l 127.0.0.1 -U 0 -t "$THREADS" -m 1024 \
              "${USERFLAG[@]}" --node-name "$prefix$i" --gossip-port "$g" "${join[@]}" "$@"
        wait_port "$p" "$pid" "$TMP/$prefix$i.log"
        pids+=("$pid") ports+=("$p")
    done
    for _ in $(seq 100); do
        [ "$(ask "${ports[0]}" "cluster ring" | grep -c '^RING .* alive$')" = 3 ] && break
        sleep 0.1
    done
    [ "$(ask "${ports[0]}" "cluster ring" | grep -c '^RING .* alive$')" = 3 ] ||
        die "the three $name nodes did not form a ring"
    ENTRY[$name]=${ports[0]} PIDS[$name]="${pids[*]}"
}
start_cluster cluster bench
start_cluster replicated rbench --replicas 2
cl_ports=("${ENTRY[cluster]}")
# (3) twemproxy in front of three memcached
tw_pids=() servers=""
for i in 0 1 2; do
    p=$(free_port)
    spawn "$TMP/mc$i.log" "$MEMCACHED" -p "$p" -l 127.0.0.1 -U 0 -t "$THREADS" -m 1024 "${USERFLAG[@]}"
    wait_port "$p" "$pid" "$TMP/mc$i.log"
    tw_pids+=("$pid")
    servers+="   - 127.0.0.1:$p:1"$'\n'
done
p=$(free_port)
cat >"$TMP/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:$p
  hash: md5
  distribution: ketama
  timeout: 1000
  preconnect: true
  auto_eject_hosts: false
  servers:
$servers
EOF
spawn "$TMP/nutcracker.log" "$NUTCRACKER" -c "$TMP/nutcracker.yml" -s "$(free_port)" \
      -a 127.0.0.1 -o "$TMP/nutcracker.out"
wait_port "$p" "$pid" "$TMP/nutcracker.log"
tw_pids+=("$pid")
ENTRY[twemproxy]=$p PIDS[twemproxy]="${tw_pids[*]}"

SETUPS="direct cluster replicated twemproxy"
for s in $SETUPS; do
    timeout 120 "$RCLOAD" -s "127.0.0.1:${ENTRY[$s]}" -M fill -n "$KEYS" -v "$VSIZE" -c "$CONNS" -P 16 \
        >"$TMP/fill-$s.out" || die "fill through $s failed"
done

printf 'workload\trep\tsetup\tops_s\tp99_us\tsrv_cpu_s\tops_per_cpu_s\terrors\n' >"$TSV"
declare -A R
for w in u p; do
    depth=1
    [ "$w" = p ] && depth=16
    for rep in $(seq "$REPS"); do
        for s in $SETUPS; do
            # shellcheck disable=SC2086
            c0=$(cpu_ticks ${PIDS[$s]})
            out=$TMP/run.out
            timeout $((DUR + 60)) "$RCLOAD" -s "127.0.0.1:${ENTRY[$s]}" -M run -k "$KEYS" \
                -v "$VSIZE" -c "$CONNS" -P "$depth" -R 1:10 -d "$DUR" >"$out" ||
                die "rcload through $s failed"
            # shellcheck disable=SC2086
            c1=$(cpu_ticks ${PIDS[$s]})
            ops=$(kv "$out" ops_per_sec) p99=$(kv "$out" p99_us) err=$(kv "$out" errors)
            cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')
            opc=$(awk -v o="$ops" -v d="$(kv "$out" secs)" -v c="$cpu" \
                  'BEGIN { printf "%.0f", (c > 0 ? o * d / c : 0) }')
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$rep" "$s" "$ops" "$p99" "$cpu" \
                "$opc" "$err" >>"$TSV"
            printf '  %s rep %d %-10s %8.0f ops/s  p99 %7s us  server %6.2f CPU-s  %7s ops/CPU-s  errors %s\n' \
                "$w" "$rep" "$s" "$ops" "$p99" "$cpu" "$opc" "$err"
            R[$w.$s.ops]+="$ops " R[$w.$s.p99]+="$p99 " R[$w.$s.opc]+="$opc "
        done
    done
done

echo
echo "medians (u: 4 connections, unpipelined; p: pipelined 16 deep)"
printf '%-3s %-10s %10s %10s %14s\n' wl setup ops/s p99_us ops/CPU-s
for w in u p; do
    for s in $SETUPS; do
        for v in ops p99 opc; do
            # shellcheck disable=SC2086
            R[$w.$s.m$v]=$(median ${R[$w.$s.$v]})
        done
        printf '%-3s %-10s %10.0f %10s %14.0f\n' "$w" "$s" "${R[$w.$s.mops]}" "${R[$w.$s.mp99]}" \
            "${R[$w.$s.mopc]}"
    done
done
echo
echo "ratios (median of each)"
for w in u p; do
    echo "$w: ops/CPU-s cluster/direct $(ratio "${R[$w.cluster.mopc]}" "${R[$w.direct.mopc]}")," \
         "twemproxy/direct $(ratio "${R[$w.twemproxy.mopc]}" "${R[$w.direct.mopc]}")," \
         "cluster/twemproxy $(ratio "${R[$w.cluster.mopc]}" "${R[$w.twemproxy.mopc]}");" \
         "p99 cluster/twemproxy $(ratio "${R[$w.cluster.mp99]}" "${R[$w.twemproxy.mp99]}");" \
         "replication cost: ops/CPU-s replicated/cluster $(ratio "${R[$w.replicated.mopc]}" "${R[$w.cluster.mopc]}")"
done
# Where the cluster's keys went: forwarded by the entry node.
echo
echo "cluster entry node: $(ask "${cl_ports[0]}" "stats cluster" | grep -E 'STAT (forwarded|peer_errors|peer_timeouts) ' | tr '\n' ' ')"
echo "raw: $TSV"
