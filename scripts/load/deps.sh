#!/bin/sh
# deps.sh - the Debian packages `make load` needs beyond scripts/deps.sh: wrk, nginx (the ceiling),
# util-linux (taskset, chrt), curl, openssl, python3 (free ports, the canned answer) and linux-perf
# (LOAD_PERF=1). As root: apt-get update and install what is missing; otherwise print the exact
# command and fail. Installing nginx may start the distribution's own nginx service on port 80 on
# machines with an init system; the load run never uses it (it runs its own nginx on a free port).
set -u
PKGS="wrk nginx util-linux curl openssl python3 linux-perf"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    echo "installing missing packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends $missing
    exit $?
fi
echo "make load needs these Debian packages; run as root:" >&2
echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
exit 1
