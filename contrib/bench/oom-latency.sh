#!/usr/bin/env bash
# oom-latency.sh: how a full cache's failing stores delay other clients
# (issue 12). Starts the daemon with -M -m 8 (nothing evictable), fills it,
# then has -H connections hammer it with sets that are all refused while
# one bystander times `get`/`version` round trips (oomlat.c). Runs once
# with no hammer (baseline) and once per hammer count; prints oomlat's
# name=value lines per run. Only 127.0.0.1.
#
#   contrib/bench/oom-latency.sh [-b BINARY] [-t THREADS] [-d SECONDS] [-r RUNS]
#
# BINARY defaults to $RINGCACHED or build/src/ringcached. With -t 1 the
# bystander shares the hammer's worker thread (the worst case); with more
# workers, connections are spread round robin.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
bin=${RINGCACHED:-$top/build/src/ringcached}
threads=1
secs=5
runs=3
hammer_counts="0 1 4"
while getopts "b:t:d:r:H:" o; do
    case $o in
    b) bin=$OPTARG ;;
    t) threads=$OPTARG ;;
    d) secs=$OPTARG ;;
    r) runs=$OPTARG ;;
    H) hammer_counts=$OPTARG ;;
    *) sed -n 2,14p "$0"; exit 2 ;;
    esac
done

oomlat=${OOMLAT:-$here/oomlat}
if [ ! -x "$oomlat" ] || [ "$here/oomlat.c" -nt "$oomlat" ]; then
    cc -O2 -Wall -Wextra -pthread -o "$oomlat" "$here/oomlat.c"
fi

free_port() {
    # A port nothing listens on (a race, but fine on a quiet machine).
    local p
    for _ in $(seq 50); do
        p=$(( 20000 + RANDOM % 20000 ))
        if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
            echo "$p"; return
        fi
    done
    echo 0
}

user=()
[ "$(id -u)" = 0 ] && user=(-u root)
for h in $hammer_counts; do
    for r in $(seq "$runs"); do
        port=$(free_port)
        "$bin" -l 127.0.0.1 -p "$port" -U 0 -M -m 8 -t "$threads" "${user[@]}" &
        pid=$!
        for _ in $(seq 100); do
            (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
            sleep 0.05
        done
        echo "# binary=$bin threads=$threads hammers=$h run=$r"
        "$oomlat" -p "$port" -H "$h" -d "$secs" || true
        kill "$pid"
        wait "$pid" || true
    done
done
