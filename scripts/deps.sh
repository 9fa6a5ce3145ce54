#!/bin/sh
# Install the Debian packages archgate needs to build, test and run, when they are missing.
# As root: apt-get update, then apt-get install. Otherwise: print the exact command and fail.
set -u
PKGS="gcc make pkg-config libc6-dev libmicrohttpd-dev libcjson-dev libcunit1-dev libssl-dev \
libcurl4-openssl-dev libgnutls28-dev libyaml-dev clang libclang-rt-dev openssl curl ca-certificates python3 python3-yaml \
docker-registry apache2-utils"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -z "$missing" ]; then
    # Everything is installed; the Containerfile check still asks apt for candidates, which needs
    # package lists: fetch them once when there are none (a fresh machine).
    if [ "$(id -u)" -eq 0 ] && ! ls /var/lib/apt/lists/*_Packages* >/dev/null 2>&1; then
        apt-get update -q >/dev/null || echo "apt-get update failed; the Containerfile check may not resolve packages" >&2
    fi
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    echo "installing missing packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends $missing
    exit $?
fi
echo "archgate needs these Debian packages; run as root:" >&2
echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
exit 1
