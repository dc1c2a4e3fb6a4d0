#!/usr/bin/env bash
# soak.sh: long sanitizer soaks of the real daemon (t/daemon/soak_test), for
# before a release or after a change to the workers, the stats code, UDP,
# shutdown or the cluster. `make check` and CI run the soak for 20 s per
# test; this runs it for an hour against a ThreadSanitizer build and an
# hour against an AddressSanitizer + UBSan build.
#
#   ./contrib/soak.sh                    both builds, 60 minutes each
#   ./contrib/soak.sh --minutes 10 tsan  the TSan build only, 10 minutes
#
# Builds build-tsan/ and build-asan/ (configured with --enable-werror and
# --enable-tsan or --enable-asan) when they do not exist yet, and brings
# src/ringcached and t/daemon/soak_test up to date in them. soak_test has
# two tests (one daemon under every kind of load; a 3-node cluster with a
# kill -9 every duration/3); each gets half the minutes. The daemons run
# with halt_on_error, so a report also kills the daemon, which the test
# notices. Output goes to build-<kind>/soak.log; daemon logs of a failed
# test are kept (their paths are in soak.log). Exits non-zero if any soak
# failed.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
minutes=60
kinds=()
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes|-m) minutes=$2; shift 2 ;;
        tsan|asan) kinds+=("$1"); shift ;;
        *) echo "usage: $0 [--minutes N] [tsan] [asan]" >&2; exit 2 ;;
    esac
done
[ ${#kinds[@]} -eq 0 ] && kinds=(tsan asan)
case "$minutes" in
    ''|*[!0-9]*|0) echo "--minutes wants a positive integer" >&2; exit 2 ;;
esac
seconds=$((minutes * 60 / 2))

build() {  # build <kind>: configure if needed, then make the two programs
    local dir="$top/build-$1"
    mkdir -p "$dir" || return 1
    if [ ! -f "$dir/Makefile" ]; then
        echo "=== configure build-$1"
        (cd "$dir" && ../configure -q --enable-werror "--enable-$1") || return 1
    fi
    echo "=== make build-$1 (src/ringcached t/daemon/soak_test)"
    nice make -C "$dir" -j"$(nproc)" src/ringcached t/daemon/soak_test >/dev/null
}

summary=()
status=0
for kind in "${kinds[@]}"; do
    if ! build "$kind"; then
        summary+=("$kind: BUILD FAILED")
        status=1
        continue
    fi
    dir="$top/build-$kind"
    log="$dir/soak.log"
    echo "=== soak_test against build-$kind/src/ringcached, 2 x $seconds s"
    start=$(date +%s)
    (
        cd "$dir" &&
        export RINGCACHED="$dir/src/ringcached" RC_SOAK_SECONDS=$seconds &&
        if [ "$kind" = tsan ]; then
            export TSAN_OPTIONS="suppressions=$top/t/tsan.supp:halt_on_error=1"
        else
            export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
            export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
        fi &&
        ./t/daemon/soak_test
    ) >"$log" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    # The test prints one line of counts per test; keep them in the summary.
    counts=$(grep -E "^(soak|cluster soak):" "$log" | sed 's/^/      /')
    reports=$(grep -cE "WARNING: ThreadSanitizer|ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error" "$log")
    if [ $rc -eq 0 ]; then
        summary+=("$kind: PASSED in ${took}s"$'\n'"$counts")
    else
        status=1
        failed=$(grep -E "^\[  FAILED  \] Soak\.[A-Za-z]+ \(" "$log" | sed 's/^\[  FAILED  \] /      FAILED /')
        summary+=("$kind: FAILED (exit $rc) in ${took}s, $reports sanitizer report(s); see $log"$'\n'"$counts"$'\n'"$failed")
        # The first report, for the impatient.
        grep -m1 -A30 -E "WARNING: ThreadSanitizer|ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error" "$log"
    fi
done

echo "=== summary ($minutes min per build)"
for line in "${summary[@]}"; do echo "  $line"; done
exit $status
