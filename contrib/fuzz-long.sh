#!/usr/bin/env bash
# fuzz-long.sh: long libFuzzer runs of every decoder, for before a release
# or after a change to a parser, the reply queue or the gossip codec. CI
# runs each target for 40 s; this runs each for an hour by default.
#
#   ./contrib/fuzz-long.sh                 every target, 60 minutes each
#   ./contrib/fuzz-long.sh -m 10 proto     proto_fuzz only, 10 minutes
#
# Targets: text, meta, proto (the executors and the real reply queue over
# the real cache, with writes cut at fuzz-chosen sizes), gossip. Needs a
# configured ./build (contrib/setup.sh --no-start) and clang. Findings go
# to build/t/fuzz/findings/; the working corpus of each target is kept in
# build/t/fuzz/work-<target> so a later run continues from it. Exits
# non-zero if any target found a crash.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
minutes=60
if [ "${1:-}" = "-m" ]; then
    minutes=$2
    shift 2
fi
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(text meta proto gossip)

cd "$top/build" || { echo "run contrib/setup.sh --no-start first"; exit 1; }
for t in "${targets[@]}"; do
    make -s "t/fuzz/${t}_fuzz" || exit 1
done
mkdir -p t/fuzz/findings
status=0
for t in "${targets[@]}"; do
    corpora=("$top/t/fuzz/corpus/$t")
    max_len=4096
    if [ "$t" = proto ]; then
        corpora=("$top/t/fuzz/corpus/binary" "$top/t/fuzz/corpus/text"
                 "$top/t/fuzz/corpus/meta")
        max_len=8192
    elif [ "$t" = gossip ]; then
        max_len=8192
    fi
    mkdir -p "t/fuzz/work-$t"
    echo "=== ${t}_fuzz for $minutes min"
    # proto: see Makefile.am for why leak detection is off there.
    extra=()
    [ "$t" = proto ] && extra=(-detect_leaks=0)
    if ! "./t/fuzz/${t}_fuzz" -max_total_time=$((minutes * 60)) \
            -max_len=$max_len "${extra[@]}" -print_final_stats=1 \
            -artifact_prefix=t/fuzz/findings/ "t/fuzz/work-$t" \
            "${corpora[@]}" >"t/fuzz/long-$t.log" 2>&1; then
        echo "${t}_fuzz FOUND A CRASH: see build/t/fuzz/long-$t.log"
        tail -40 "t/fuzz/long-$t.log"
        status=1
    fi
    grep -E "^stat::number_of_executed_units|^Done" "t/fuzz/long-$t.log"
done
exit $status
