#!/bin/sh
# test_selfcontained.sh - the repository stands on its own: no tracked file may refer to a path
# outside it (a sibling folder reached with "../", or an absolute path into the machine it was
# written on), because a person who clones the project has none of them. Also checks that the
# checker itself catches such a reference. Prints "N passed, M failed"; appends "N M" to
# $ARCHGATE_TEST_TOTALS when set; exits non-zero on a failure.
set -u
cd "$(dirname "$0")/.." || exit 2
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# The patterns are assembled so that this file does not match them itself: a sibling folder
# reached with "../", and the absolute places of a workstation (/work, /root, /home/<user>).
# Not the folder the clone sits in: that may be /tmp, which tests use for scratch files.
dotdot='\.\.'
work='/wo''rk/'
pattern="(${dotdot}/shared|^${work}|[\"' (=:]${work}|/root/|/home/[a-z_][a-z0-9_-]*/)"

files() {
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z | xargs -0 -r sh -c 'for f; do [ -f "$f" ] && printf "%s\n" "$f"; done' sh
    else
        find . -type f ! -path './build/*' ! -path './.git/*' | sed 's|^\./||'
    fi
}
# scan FILE...: prints "file:line:text" for every line that names an outside path
scan() {
    for f in "$@"; do
        case "$f" in
            *.png|*.jpg|*.gz|*.tar|*.der) continue ;;
        esac
        grep -InE "$pattern" "$f" 2>/dev/null | sed "s|^|$f:|"
    done
}

# This checker is left out: it holds the patterns and the planted references (checked below).
hits=$(files | grep -vx 'tests/test_selfcontained.sh' | while IFS= read -r f; do scan "$f"; done)
if [ -z "$hits" ]; then
    ok "no tracked file refers to a path outside the repository"
else
    printf '%s\n' "$hits" | head -20
    bad "tracked files refer to paths outside the repository"
fi

# The checker must see a planted reference (so a broken pattern cannot pass silently).
tmp=$(mktemp -d)
printf 'see %s/shared/DESIGN.md\n' '..' > "$tmp/a.md"
printf '#define X "%sx/y.json"\n' "$work" > "$tmp/b.c"
printf 'plain text, tests/fixtures/x.json and a/../b\n' > "$tmp/c.md"
n=$(scan "$tmp/a.md" "$tmp/b.c" "$tmp/c.md" | wc -l)
rm -rf "$tmp"
if [ "$n" -eq 2 ]; then ok "a planted outside reference is found, a repository path is not"; else bad "planted references: found $n of 2"; fi

echo "$pass passed, $fail failed"
[ -n "${ARCHGATE_TEST_TOTALS:-}" ] && echo "$pass $fail" >> "$ARCHGATE_TEST_TOTALS"
[ "$fail" -eq 0 ]
