#!/usr/bin/env bash
# setup.sh: the README's first command. On a fresh Debian 12 machine it
# installs the build and test dependencies, builds ringcached in ./build and
# starts one node in the background on the default port (11211).
#
#   ./contrib/setup.sh            install, build, start
#   ./contrib/setup.sh --no-start install and build only (CI uses this)
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
start=1
[ "${1:-}" = "--no-start" ] && start=0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# Debian's memcached package is only the test oracle: keep its service from
# starting and taking port 11211.
if [ ! -e /usr/sbin/policy-rc.d ] && ! dpkg -s memcached >/dev/null 2>&1; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    remove_policy=1
fi
$sudo apt-get update -qq
# shellcheck disable=SC2046
$sudo apt-get install -y -qq --no-install-recommends \
    $(grep -v '^#' "$top/contrib/deps-debian.txt") >/dev/null
if [ "${remove_policy:-0}" = 1 ]; then
    $sudo rm -f /usr/sbin/policy-rc.d
fi

cd "$top"
autoreconf -fi >/dev/null 2>&1
mkdir -p build
cd build
../configure -q --enable-werror
make -j"$(nproc)" >/dev/null

if [ "$start" = 1 ]; then
    # memcached's rule: as root, -u names the user to run as.
    user_opt=()
    [ "$(id -u)" -eq 0 ] && user_opt=(-u nobody)
    ./src/ringcached -d "${user_opt[@]}" -p 11211 -P "$top/build/ringcached.pid"
    sleep 0.3
    echo "ringcached $(./src/ringcached -V | cut -d' ' -f2) is running on" \
         "port 11211 (pid $(cat "$top/build/ringcached.pid"));" \
         "stop it with: kill \$(cat build/ringcached.pid)"
fi
