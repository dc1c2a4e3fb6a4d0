# bench-lib.sh - shell helpers the cluster benchmarks share (sourced by
# route-bench.sh and restore-bench.sh): servers started in the background
# and stopped on exit, free ports, one-command queries, CPU ticks of
# processes, and the arithmetic of the reports. The caller defines die()
# and, if it wants it removed on exit, TMP.
USERFLAG=()
[ "$(id -u)" = 0 ] && USERFLAG=(-u root)
STARTED=()
cleanup() {
    local p
    for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${STARTED[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -z "${TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { grep -q "$(printf ':%04X ' "$1")" /proc/net/tcp /proc/net/tcp6 2>/dev/null; }
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 40000))
        port_busy "$p" || { echo "$p"; return; }
    done
}
can_connect() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0"' "$1" 2>/dev/null; }
ask() {  # port command: one command, the reply up to END
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "%s\r\n" "$1" >&3
        while IFS= read -r -t 3 l <&3; do echo "$l"
            case $l in END*|VERSION*|*ERROR*) break;; esac; done' "$1" "$2" | tr -d '\r'
}
wait_port() {  # port pid log
    local i
    for i in $(seq 100); do
        can_connect "$1" && return 0
        kill -0 "$2" 2>/dev/null || break
        sleep 0.1
    done
    cat "$3" >&2
    die "nothing listens on $1"
}
spawn() {  # log cmd...: starts a server; its pid in $pid (not a subshell,
           # so that cleanup knows every server)
    local log=$1
    shift
    "$@" >"$log" 2>&1 &
    pid=$!
    STARTED+=("$pid")
}
cpu_ticks() {  # pids...: utime+stime summed
    local p t=0
    for p in "$@"; do
        t=$((t + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
    done
    echo "$t"
}
kv() { awk -F= -v k="$2" '$1==k {print $2}' "$1"; }
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "-" || b == "-") print "-";
                                     else printf "%.2f", a / b }'
}
median() {
    printf '%s\n' "$@" | sort -g |
        awk '{a[NR] = $1} END {if (!NR) print "-"; else if (NR % 2) print a[(NR + 1) / 2];
             else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
HZ=$(getconf CLK_TCK)
