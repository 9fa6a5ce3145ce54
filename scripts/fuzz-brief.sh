#!/bin/sh
# Run the cluster, patch, watch, registry and yaml fuzz targets briefly (FUZZ_BRIEF_SECONDS each, default 15),
# one after another, each on a fresh copy of its seed corpus under $B/fuzz-brief/ (the
# committed corpora under tests/fuzz/ never grow). Prints one line per target with executions
# and libFuzzer's final coverage (cov: edges, ft: features); appends "1 0" (passed) or "0 1"
# (failed) per target to $ARCHGATE_TEST_TOTALS when set. Exits non-zero when a target crashed,
# leaked, timed out or broke one of its invariants (the log's tail and the reproducer are shown).
# Needs build/fuzz_{cluster,patch,watch,registry,yaml} (make fuzz-brief builds them); run from the repository root.
set -u
B=${B:-build}
SECS=${FUZZ_BRIEF_SECONDS:-15}
status=0
for t in cluster patch watch registry yaml; do
    bin="$B/fuzz_$t"
    dir="$B/fuzz-brief/$t"
    log="$B/fuzz-brief/$t.log"
    case $t in patch) len=4096 ;; *) len=65536 ;; esac
    rm -rf "$dir" "$B/fuzz-brief/$t-"*
    mkdir -p "$dir"
    if [ ! -x "$bin" ]; then
        echo "=== FAILED: fuzz_$t: $bin is missing (make $bin)"
        [ -n "${ARCHGATE_TEST_TOTALS:-}" ] && echo "0 1" >> "$ARCHGATE_TEST_TOTALS"
        status=1
        continue
    fi
    cp tests/fuzz/corpus-$t/* "$dir/" 2>/dev/null
    seeds=$(ls "$dir" | wc -l)
    if "$bin" -max_total_time="$SECS" -max_len="$len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="$B/fuzz-brief/$t-" "$dir" > "$log" 2>&1; then
        ok=1
    else
        ok=0
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    # the last status line ("#N DONE cov: C ft: F corp: ...") carries the final coverage
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
    corpus=$(ls "$dir" | wc -l)
    line="fuzz_$t ${SECS}s: ${execs:-?} executions (${rate:-?}/s), cov: ${cov:-?} ft: ${ft:-?}, corpus $seeds -> $corpus"
    if [ $ok = 1 ]; then
        echo "=== $line: passed"
        [ -n "${ARCHGATE_TEST_TOTALS:-}" ] && echo "1 0" >> "$ARCHGATE_TEST_TOTALS"
    else
        tail -n 40 "$log"
        echo "=== FAILED: $line: crashed (log $log; reproducer: $(ls "$B/fuzz-brief/$t-"* 2>/dev/null | head -n 1))"
        [ -n "${ARCHGATE_TEST_TOTALS:-}" ] && echo "0 1" >> "$ARCHGATE_TEST_TOTALS"
        status=1
    fi
done
exit $status
