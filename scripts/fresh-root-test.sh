#!/bin/sh
# fresh-root-test.sh - `make test` as a new user runs it (make fresh-root-test; as root; not part of
# `make test`): a fresh Debian 12 root made with debootstrap holding only build-essential, git,
# ca-certificates and curl, a clone of this repository's HEAD in another folder inside it, and the
# README's two commands run there: `make test` (which installs what it needs, apt-get update first)
# and `make run` (served, asked once for /healthz, stopped). Nothing of this machine's build tree
# or installed packages is visible inside. Prints the last lines of each and exits non-zero when
# either fails.
#
#   FRESH_ROOT   where the root is made (default $TMPDIR/archgate-fresh-root, outside the tree so
#                that `make clean` never reaches its bind mounts; reused when it is there,
#                FRESH_ROOT_NEW=1 makes it again)
#   FRESH_MIRROR the Debian mirror (default: the first of this machine's apt sources)
set -eu
cd "$(dirname "$0")/.."
ROOT=${FRESH_ROOT:-${TMPDIR:-/var/tmp}/archgate-fresh-root}
case $ROOT in /*) ;; *) ROOT=$PWD/$ROOT ;; esac
[ "$(id -u)" -eq 0 ] || { echo "fresh-root-test: needs root (debootstrap, chroot, mounts)" >&2; exit 1; }
if ! command -v debootstrap >/dev/null 2>&1; then
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
fi
mirror=${FRESH_MIRROR:-$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
    grep -Eo 'https?://[^ ]+/debian/?( |$)' | head -n 1 | tr -d ' ')}
mirror=${mirror:-http://deb.debian.org/debian}

cleanup() {
    for m in "$ROOT/proc" "$ROOT/dev/pts" "$ROOT/dev"; do
        mountpoint -q "$m" 2>/dev/null && umount -l "$m" || true
    done
}
trap cleanup EXIT INT TERM

if [ -n "${FRESH_ROOT_NEW:-}" ] || [ ! -x "$ROOT/usr/bin/make" ]; then
    cleanup
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    echo "fresh-root-test: debootstrap bookworm into $ROOT from $mirror"
    debootstrap --variant=minbase --include=build-essential,git,ca-certificates,curl bookworm "$ROOT" "$mirror" \
        > "$ROOT.debootstrap.log" 2>&1 || { tail -n 20 "$ROOT.debootstrap.log"; exit 1; }
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    mkdir -p "$ROOT/etc/apt"
    echo "deb $mirror bookworm main" > "$ROOT/etc/apt/sources.list"
fi
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
mount -t proc proc "$ROOT/proc"

# a clone of HEAD, as a newcomer would have it, in a folder of its own
rm -rf "$ROOT/srv/newcomer"
mkdir -p "$ROOT/srv/newcomer"
git clone -q --no-hardlinks "$PWD" "$ROOT/srv/newcomer/archgate"

status=0
pass=0
fail=0
echo "fresh-root-test: make test in a clone inside the fresh root"
if chroot "$ROOT" /bin/sh -c 'cd /srv/newcomer/archgate && make test' > "$ROOT.test.log" 2>&1; then
    echo "fresh-root-test: make test: $(tail -n 1 "$ROOT.test.log")"
    pass=$((pass + 1))
else
    tail -n 30 "$ROOT.test.log"
    echo "fresh-root-test: make test FAILED (log $ROOT.test.log)"
    status=1
    fail=$((fail + 1))
fi
echo "fresh-root-test: make run, then /healthz"
chroot "$ROOT" /bin/sh -c 'cd /srv/newcomer/archgate && setsid make run > /tmp/run.log 2>&1 & echo $! > /tmp/run.pid'
ok=0
for i in $(seq 1 150); do
    if curl -sk -o /dev/null -w "%{http_code}" https://127.0.0.1:8443/healthz 2>/dev/null | grep -q 200; then ok=1; break; fi
    sleep 0.2
done
pgid=$(cat "$ROOT/tmp/run.pid" 2>/dev/null || true)
[ -n "$pgid" ] && kill -TERM -- "-$pgid" 2>/dev/null || true
if [ "$ok" -eq 1 ]; then
    echo "fresh-root-test: make run serves: /healthz 200"
    pass=$((pass + 1))
else
    tail -n 20 "$ROOT/tmp/run.log" 2>/dev/null || true
    echo "fresh-root-test: make run FAILED"
    status=1
    fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
exit $status
