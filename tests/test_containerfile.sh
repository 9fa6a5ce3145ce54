#!/bin/sh
# test_containerfile.sh - what can be checked of the Containerfile without a container engine:
# its shape (two stages, Debian 12, non-root, the entrypoint), that every package it installs
# has an installable candidate here (Debian 12, like the image), and that the runtime packages
# cover every shared library build/archgate loads (ldd -> dpkg -S), with no -dev package and
# nothing the binary does not need. Prints "N passed, M failed"; appends "N M" to
# $ARCHGATE_TEST_TOTALS when set; exits non-zero on a failure.
# Word splitting of the package lists is intended; the single quotes hold literal text.
# shellcheck disable=SC2086,SC2016,SC1003
set -u
cd "$(dirname "$0")/.." || exit 2
CF=${CONTAINERFILE:-Containerfile}
BIN=${ARCHGATE_BIN:-build/archgate}
BASE_PKGS="libc6 libgcc-s1"     # in debian:bookworm-slim already
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { # check NAME COMMAND...: passes when the command succeeds
    name=$1
    shift
    if "$@"; then ok "$name"; else bad "$name"; fi
}
finish() {
    echo "$pass passed, $fail failed"
    [ -n "${ARCHGATE_TEST_TOTALS:-}" ] && echo "$pass $fail" >> "$ARCHGATE_TEST_TOTALS"
    [ "$fail" -eq 0 ]
    exit $?
}
[ -r "$CF" ] || { bad "$CF exists"; finish; }
[ -x "$BIN" ] || { bad "$BIN is built (make build/archgate)"; finish; }

# --- the shape of the Containerfile
froms=$(grep -cE '^FROM ' "$CF")
check "two stages (got $froms FROM lines)" [ "$froms" -eq 2 ]
check "build stage is debian:bookworm" grep -qE '^FROM (docker\.io/library/)?debian:bookworm AS build$' "$CF"
check "runtime stage is debian:bookworm-slim" \
    sh -c "grep -E '^FROM ' '$CF' | tail -n 1 | grep -qE '^FROM (docker\.io/library/)?debian:bookworm-slim\$'"
check "the runtime stage takes only the binary from the build stage" \
    sh -c "[ \$(grep -c '^COPY --from=build' '$CF') -eq 1 ] && grep -q '^COPY --from=build /archgate /usr/local/bin/archgate\$' '$CF'"
check "no COPY of the whole context (a host build/ folder would be copied)" \
    sh -c "! grep -qE '^COPY +\\.( |\$)' '$CF'"
check "the build runs make for the binary" grep -qE 'make build/archgate' "$CF"
check "runs as UID 65532" grep -qE '^USER 65532(:65532)?$' "$CF"
check "no USER root after the runtime FROM" sh -c "! sed -n '/bookworm-slim/,\$p' '$CF' | grep -qE '^USER (0|root)'"
check "ENTRYPOINT is the binary" grep -qxF 'ENTRYPOINT ["/usr/local/bin/archgate"]' "$CF"
check "CMD is exec form" grep -qE '^CMD \[' "$CF"

runtime=$(sed -n 's/^ARG RUNTIME_PACKAGES="\(.*\)"$/\1/p' "$CF")
check "RUNTIME_PACKAGES is set" [ -n "$runtime" ]
check "the runtime stage installs \${RUNTIME_PACKAGES}" grep -qF 'install -y --no-install-recommends ${RUNTIME_PACKAGES}' "$CF"
build_pkgs=$(sed -n '/AS build$/,/^WORKDIR/p' "$CF" | tr -d '\\' | tr ' ' '\n' |
             sed -n '/--no-install-recommends/,/&&/p' | grep -vE '^(--no-install-recommends|&&|)$')
check "the build stage installs packages" [ -n "$build_pkgs" ]

# --- every package has a candidate (the image is Debian 12, as this machine)
policy=$(apt-cache policy $runtime $build_pkgs 2>/dev/null |
         awk '/^[^ ]/ { sub(/:$/, "", $1); p = $1 } /^ *Candidate:/ { print p, $2 }')
for p in $runtime $build_pkgs; do
    cand=$(echo "$policy" | awk -v p="$p" '$1 == p { print $2 }')
    if [ -n "$cand" ] && [ "$cand" != "(none)" ]; then ok "$p resolves ($cand)"; else bad "$p resolves"; fi
done
for p in $runtime; do
    case "$p" in
    *-dev | *cunit* | gcc* | make | pkg-config) bad "runtime package $p is a build tool or -dev package" ;;
    esac
done

# --- the runtime packages cover what the binary loads
pkg_of() { # the package that owns shared library $1 (merged /usr: try the path, its target, /usr+path)
    for f in "$1" "$(readlink -f "$1")" "/usr$1" "${1#/usr}"; do
        o=$(dpkg -S "$f" 2>/dev/null | head -n 1 | cut -d: -f1)
        [ -n "$o" ] && { echo "$o"; return 0; }
    done
    return 1
}
in_list() { # in_list WORD LIST
    for w in $2; do [ "$w" = "$1" ] && return 0; done
    return 1
}
# What apt installs with the runtime list: the packages and their Depends/PreDepends, recursively.
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
              --no-replaces --no-enhances $runtime 2>/dev/null | grep -E '^[a-z0-9]' | sed 's/:.*//' | sort -u)
check "the runtime packages' dependencies resolve" [ -n "$closure" ]

needed=$(readelf -d "$BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
check "readelf lists the binary's direct libraries" [ -n "$needed" ]
ldd_out=$(ldd "$BIN") || { bad "ldd $BIN"; finish; }
if echo "$ldd_out" | grep -q 'not found'; then bad "every library is found"; else ok "every library is found"; fi
used_pkgs=""
for lib in $needed; do
    path=$(echo "$ldd_out" | awk -v l="$lib" '$1 == l && $2 == "=>" { print $3 }')
    pkg=$([ -n "$path" ] && pkg_of "$path")
    if [ -z "$pkg" ]; then bad "direct library $lib belongs to a package"; continue; fi
    used_pkgs="$used_pkgs $pkg"
    if in_list "$pkg" "$runtime $BASE_PKGS"; then ok "direct library $lib: $pkg is in the runtime list"
    else bad "direct library $lib: $pkg is not in RUNTIME_PACKAGES"; fi
done
for path in $(echo "$ldd_out" | awk '$2 == "=>" { print $3 }'); do
    pkg=$(pkg_of "$path")
    if [ -z "$pkg" ]; then bad "$path belongs to a package"; continue; fi
    if in_list "$pkg" "$closure $BASE_PKGS"; then ok "$(basename "$path") ($pkg) comes with the runtime packages"
    else bad "$(basename "$path") ($pkg) is not installed by RUNTIME_PACKAGES or the base image"; fi
done
# Nothing listed that the binary does not load (ca-certificates is data: the CA bundle libcurl
# reads when a kubeconfig names no CA).
for p in $runtime; do
    [ "$p" = ca-certificates ] && continue
    if in_list "$p" "$used_pkgs"; then ok "runtime package $p is loaded by the binary"
    else bad "runtime package $p is not loaded by the binary"; fi
done
if echo "$ldd_out" | grep -qi cunit; then bad "the binary does not link CUnit"; else ok "the binary does not link CUnit"; fi
check "the binary starts (archgate version)" sh -c "'$BIN' version >/dev/null"
finish
