#!/usr/bin/env bash
# checker.sh: the long form of t/daemon/checker_test (the Jepsen-style
# check): several runs of many seconds of faults each, with fresh seeds,
# counters checked too. Each run prints its seed; rerun one with
#   RC_CHECKER_SEED=<seed> RC_CHECKER_SECONDS=<s> ./contrib/checker.sh 1
#
#   ./contrib/checker.sh [runs] [seconds]     defaults: 5 runs of 120 s
set -uo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-5}
seconds=${RC_CHECKER_SECONDS:-${2:-120}}
cd "$top/build" || { echo "build first: ./contrib/setup.sh --no-start"; exit 1; }
make -s t/daemon/checker_test >/dev/null || exit 1
failed=0
for ((i = 0; i < runs; i++)); do
    seed=${RC_CHECKER_SEED:-$(( (RANDOM << 15 | RANDOM) + i ))}
    echo "=== run $((i + 1))/$runs: seed $seed, $seconds s"
    log=$(mktemp /tmp/checker.XXXXXX)
    RC_CHECKER_SEED=$seed RC_CHECKER_SECONDS=$seconds RC_CHECKER_COUNTERS=1 \
        srcdir=.. timeout $((seconds + 180)) ./t/daemon/checker_test >"$log" 2>&1
    rc=$?
    grep -E "^checker|Failure|Which|allowed|ctr|OK|FAILED" "$log"
    rm -f "$log"
    [ "$rc" -eq 0 ] || failed=$((failed + 1))
done
echo "$((runs - failed)) of $runs runs passed"
[ "$failed" -eq 0 ]
