#!/bin/sh
# Run every test stage of `make test` and total them. Each stage prints its own summary; the
# test binaries append "passed failed" to $ARCHGATE_TEST_TOTALS. Exits non-zero on any failure.
set -u
B=${B:-build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
totals=$(mktemp)
export ARCHGATE_TEST_TOTALS="$totals"
status=0
stage() {
    echo "=== $1"
    shift
    if ! "$@"; then
        echo "=== FAILED: $*"
        status=1
    fi
}
stage "unit tests" "$B/unit_tests"
stage "unit tests under AddressSanitizer and UndefinedBehaviorSanitizer" \
    env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$B/unit_tests_san"
stage "integration tests (real binary over TLS)" "$B/itest"
stage "manifests (python3)" python3 tests/test_manifests.py
stage "Containerfile runtime packages" tests/test_containerfile.sh
stage "the repository stands on its own" tests/test_selfcontained.sh
stage "fuzzing the cluster loaders, JSON Patch, watch parser and registry parsers briefly" \
    env B="$B" FUZZ_BRIEF_SECONDS="${FUZZ_BRIEF_SECONDS:-15}" scripts/fuzz-brief.sh
mkdir -p "$B/fuzz-corpus"
if "$B/fuzz_review" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "$B/fuzz-corpus" tests/fuzz/corpus > "$B/fuzz.log" 2>&1; then
    echo "=== fuzzing ${FUZZ_SECONDS}s: $(grep -E 'stat::number_of_executed_units' "$B/fuzz.log" | tr -s ' ')"
    echo "1 0" >> "$totals"
else
    tail -n 40 "$B/fuzz.log"
    echo "=== FAILED: fuzzing found a crash (see $B/fuzz.log)"
    echo "0 1" >> "$totals"
    status=1
fi
passed=$(awk '{p+=$1} END {print p+0}' "$totals")
failed=$(awk '{f+=$2} END {print f+0}' "$totals")
rm -f "$totals"
[ "$failed" -gt 0 ] && status=1
echo "$passed passed, $failed failed"
exit $status
