#!/bin/bash
# load.sh - `make load`: the real archgate server under wrk over TLS on 127.0.0.1, beside nginx
# answering a canned AdmissionReview with the same certificate (the ceiling of any HTTPS webhook on
# this machine). Prints figures; passes or fails nothing but its own setup.
#
#   scripts/load.sh [path/to/archgate]        (default build/archgate)
#
# For each certificate type (ECDSA P-256, RSA-2048) and each mode (1, 8 and 16 keep-alive
# connections; a new TLS connection per request with 1 and 16 connections at a time) it starts a
# fresh server pinned to one core (archgate with --threads 1, nginx with one process), runs
# `wrk -t1 --latency` pinned to another core, and records requests/s, p50 and p99 latency, the
# server's CPU time per request (utime+stime from /proc/PID/stat), its peak RSS (VmHWM) and the
# errors (status >= 400 plus socket errors). archgate and nginx alternate run by run, so background
# load hits both alike; the 1-minute load average is recorded with each run.
#
# Environment: LOAD_SECONDS (10) per run; LOAD_CERTS ("ecdsa rsa"); LOAD_MODES
# ("ka1 ka8 ka16 new1 new16"); LOAD_REVIEW (scripts/load/review-10k.json); LOAD_CLUSTER
# (manifests/samples/cluster); LOAD_PATH (/validate); LOAD_SERVER_CPU (0), LOAD_CLIENT_CPU (1);
# LOAD_RT=1 runs the servers (and wrk in the keep-alive modes) as SCHED_FIFO (chrt -f 10) so that
# other work on a shared machine cannot delay them (nice -20 did not help); the kernel keeps 5% of
# each second for others (sched_rt_runtime_us), so a run that saturates a core stalls ~50 ms once
# a second, which shows in p99 but not in p90. wrk stays SCHED_OTHER in the new-connection modes:
# a SCHED_FIFO wrk reconnecting in a loop stalled until its time limit;
# LOAD_BENCH (build/bench_request) times the same review in process, to split the CPU per request;
# LOAD_TRANSPORT=1 adds archgate answering the same POST on /healthz with a 405 (transport alone);
# LOAD_PERF=1 adds, after the table, a perf profile of archgate at 16 keep-alive and 16 new
# connections (separate runs, not in the table); LOAD_KEEP=1 keeps the temp dir (logs, wrk output).
# Everything listens on 127.0.0.1 only, every step has a time limit, and every process started here
# is stopped on exit.
# shellcheck disable=SC2317  # cleanup (trap) and start_nginx ("start_$server") are called indirectly
set -u -o pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build/archgate}
RUN_SECONDS=${LOAD_SECONDS:-10}
CERT_TYPES=${LOAD_CERTS:-ecdsa rsa}
MODES=${LOAD_MODES:-ka1 ka8 ka16 new1 new16}
REVIEW=${LOAD_REVIEW:-$ROOT/scripts/load/review-10k.json}
CLUSTER=${LOAD_CLUSTER:-$ROOT/manifests/samples/cluster}
ENDPOINT=${LOAD_PATH:-/validate}
SERVER_CPU=${LOAD_SERVER_CPU:-0}
CLIENT_CPU=${LOAD_CLIENT_CPU:-1}
PERF=${LOAD_PERF:-0}
RT=()
[ "${LOAD_RT:-0}" = 1 ] && RT=(chrt -f 10)
LUA=$ROOT/scripts/load/post.lua
NGINX_TEMPLATE=$ROOT/scripts/load/nginx.conf.in
HZ=$(getconf CLK_TCK)

die() {
    echo "load.sh: $*" >&2
    exit 1
}

case "$RUN_SECONDS" in
'' | *[!0-9]*) die "LOAD_SECONDS wants whole seconds, got '$RUN_SECONDS'" ;;
esac
if [ "$RUN_SECONDS" -lt 1 ] || [ "$RUN_SECONDS" -gt 600 ]; then
    die "LOAD_SECONDS must be 1..600"
fi
[ -x "$BIN" ] || die "$BIN not built (make build/archgate)"
[ -s "$REVIEW" ] || die "no review at $REVIEW"
[ -d "$CLUSTER" ] || die "no cluster-state folder at $CLUSTER"
for tool in wrk nginx taskset curl openssl python3 timeout; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/load/deps.sh installs it)"
done
if [ "$(nproc)" -lt 2 ]; then
    echo "load.sh: only $(nproc) CPU: server and wrk share it, figures are not comparable" >&2
    SERVER_CPU=0
    CLIENT_CPU=0
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/archgate-load.XXXXXX") || die "mktemp failed"
PIDS=""

stop_pid() { # PID: TERM, wait up to 5 s, then KILL
    local pid=$1
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

cleanup() {
    local pid
    for pid in $PIDS; do
        stop_pid "$pid"
    done
    if [ "${LOAD_KEEP:-0}" = 1 ]; then
        echo "load.sh: kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {
    local p out=""
    for p in $PIDS; do
        [ "$p" = "$1" ] || out="$out $p"
    done
    PIDS=$out
}

# A child in the background and `wait` for it, so that a signal to this script is acted on at once
# (bash runs a trap only after a foreground command ends); the EXIT trap stops it.
wait_child() {
    PIDS="$PIDS $1"
    wait "$1"
    forget_pid "$1"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cpu_ticks() { # utime + stime of PID, all threads, in clock ticks
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

peak_rss_kib() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# Server control. Each start_* sets SERVER_PID and SERVER_PORT, or fails.
start_archgate() { # CERTDIR LOG
    SERVER_PORT=$(free_port) || return 1
    taskset -c "$SERVER_CPU" "${RT[@]}" "$BIN" serve --listen "127.0.0.1:$SERVER_PORT" --threads 1 \
        --tls-cert "$1/tls.crt" --tls-key "$1/tls.key" --cluster-state "$CLUSTER" 2>>"$2" &
    SERVER_PID=$!
    PIDS="$PIDS $SERVER_PID"
}

start_nginx() { # CERTDIR LOG
    local dir
    SERVER_PORT=$(free_port) || return 1
    dir=$(mktemp -d "$TMP/nginx.XXXXXX") || return 1
    sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$SERVER_PORT|g" -e "s|@CERT@|$1/tls.crt|g" \
        -e "s|@KEY@|$1/tls.key|g" "$NGINX_TEMPLATE" >"$dir/nginx.conf.tmp" || return 1
    # The body goes in with python, not sed: it holds characters sed would interpret.
    python3 - "$dir/nginx.conf.tmp" "$TMP/canned.json" "$dir/nginx.conf" <<'PY' || return 1
import sys
conf = open(sys.argv[1], encoding="utf-8").read()
body = open(sys.argv[2], encoding="utf-8").read().strip()
if "'" in body or "$" in body or "\\" in body:
    sys.exit("canned response holds a quote, $ or backslash: cannot be an nginx literal")
open(sys.argv[3], "w", encoding="utf-8").write(conf.replace("@BODY@", body))
PY
    taskset -c "$SERVER_CPU" "${RT[@]}" nginx -e "$dir/nginx-error.log" -p "$dir/" -c "$dir/nginx.conf" 2>>"$2" &
    SERVER_PID=$!
    PIDS="$PIDS $SERVER_PID"
}

wait_ready() { # CERTDIR: GET /readyz (any path is 200 on nginx) until 200, 10 s at most
    local code
    for _ in $(seq 1 100); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$1/ca.crt" \
            "https://127.0.0.1:$SERVER_PORT/readyz")
        [ "$code" = 200 ] && return 0
        sleep 0.1
    done
    return 1
}

check_answer() { # CERTDIR: one POST must be a 200 AdmissionReview echoing the uid
    local out
    out=$(curl -s --max-time 5 --cacert "$1/ca.crt" -H 'Content-Type: application/json' \
        --data-binary "@$REVIEW" "https://127.0.0.1:$SERVER_PORT$ENDPOINT") || return 1
    case "$out" in
    *"\"uid\":\"$UID_WANT\""*'"allowed":'*) return 0 ;;
    esac
    echo "load.sh: unexpected answer: $out" >&2
    return 1
}

tls_summary() { # CERTDIR: protocol, cipher and key-exchange group negotiated with OpenSSL's client
    echo | timeout 10 openssl s_client -connect "127.0.0.1:$SERVER_PORT" -CAfile "$1/ca.crt" 2>/dev/null |
        awk '/^New, /{ sub(/,$/, "", $2); proto = $2; ciph = $NF }
             /Server Temp Key/{ sub(/^.*Temp Key: /, ""); grp = $0 }
             END { printf "%s %s, key exchange %s", proto, ciph, grp }'
}

mode_conns() {
    case "$1" in
    ka* | new*) echo "${1##*[a-z]}" ;;
    esac
}

# run_one SERVER CERT MODE: one fresh server, one wrk run; appends a row to $TMP/rows.
run_one() {
    local server=$1 cert=$2 mode=$3 certdir=$TMP/certs-$2 conns closehdr=() before after hwm res
    local log=$TMP/$server-$cert.log out=$TMP/wrk-$server-$cert-$mode.txt load1
    conns=$(mode_conns "$mode")
    case "$mode" in new*) closehdr=(-H "Connection: close") ;; esac
    "start_$server" "$certdir" "$log" || die "cannot start $server"
    wait_ready "$certdir" || { tail -5 "$log" >&2; die "$server ($cert) did not become ready"; }
    check_answer "$certdir" || die "$server ($cert) gave a wrong answer"
    if [ "$mode" = "$FIRST_MODE" ]; then
        printf '  %-8s %-5s TLS: %s\n' "$server" "$cert" "$(tls_summary "$certdir")"
    fi
    load1=$(cut -d' ' -f1 /proc/loadavg)
    before=$(cpu_ticks "$SERVER_PID")
    local client_rt=("${RT[@]}")
    case "$mode" in new*) client_rt=() ;; esac
    LOAD_REVIEW=$REVIEW timeout -k 5 $((RUN_SECONDS + 30)) taskset -c "$CLIENT_CPU" "${client_rt[@]}" \
        wrk -t1 -c"$conns" -d"${RUN_SECONDS}s" --timeout 5s --latency -s "$LUA" "${closehdr[@]}" \
        "https://127.0.0.1:$SERVER_PORT$ENDPOINT" >"$out" 2>&1 &
    wait_child $!
    after=$(cpu_ticks "$SERVER_PID")
    hwm=$(peak_rss_kib "$SERVER_PID")
    stop_pid "$SERVER_PID"
    forget_pid "$SERVER_PID"
    res=$(awk '$1 == "LOADRESULT"' "$out")
    [ -n "$res" ] || { cat "$out" >&2; die "wrk gave no result ($server $cert $mode)"; }
    # server cert mode conns | requests duration_us p50 p99 e_connect e_read e_write e_status
    # e_timeout p90 (from post.lua) | cpu_ticks hwm_kib load1
    echo "$server $cert $mode $conns ${res#LOADRESULT } $((after - before)) $hwm $load1" >>"$TMP/rows"
    awk -v hz="$HZ" '{
        rps = $5 * 1e6 / $6; err = $9 + $10 + $11 + $12 + $13
        cpu = $5 > 0 ? $15 * 1e6 / hz / $5 : 0
        printf "  %-8s %-5s %-6s %7.0f req/s  p50 %6d  p90 %6d  p99 %6d us  %6.0f us CPU/req  %5.1f MiB  %d errors  (load %s)\n",
            $1, $2, $3, rps, $7, $14, $8, cpu, $16 / 1024, err, $17 }' <<<"$(tail -1 "$TMP/rows")"
}

# perf_one CERT MODE: a separate archgate run under `perf record`, then where its time goes.
perf_one() {
    local cert=$1 mode=$2 certdir=$TMP/certs-$1 conns closehdr=() data=$TMP/perf-$1-$2.data
    conns=$(mode_conns "$mode")
    case "$mode" in new*) closehdr=(-H "Connection: close") ;; esac
    start_archgate "$certdir" "$TMP/archgate-perf.log" || die "cannot start archgate"
    wait_ready "$certdir" || die "archgate did not become ready"
    timeout -k 5 $((RUN_SECONDS + 30)) perf record -q -F 1999 -g -p "$SERVER_PID" -o "$data" \
        -- sleep "$RUN_SECONDS" >/dev/null 2>"$TMP/perf-record.err" &
    local perf_pid=$!
    PIDS="$PIDS $perf_pid"
    LOAD_REVIEW=$REVIEW timeout -k 5 $((RUN_SECONDS + 30)) taskset -c "$CLIENT_CPU" "${RT[@]}" \
        wrk -t1 -c"$conns" -d"${RUN_SECONDS}s" --timeout 5s -s "$LUA" "${closehdr[@]}" \
        "https://127.0.0.1:$SERVER_PORT$ENDPOINT" >/dev/null 2>&1 &
    wait_child $!
    wait "$perf_pid"
    forget_pid "$perf_pid"
    stop_pid "$SERVER_PID"
    forget_pid "$SERVER_PID"
    if [ ! -s "$data" ]; then
        echo "  perf record failed: $(head -3 "$TMP/perf-record.err")"
        return 0
    fi
    echo
    echo "--- perf: archgate, $cert certificate, $mode ($conns connections): share of server CPU by library"
    perf report -i "$data" --stdio --no-children --sort dso -g none --percent-limit 1 2>/dev/null |
        grep -E '^ +[0-9]' | head -15
    echo "--- by function (top 25)"
    perf report -i "$data" --stdio --no-children --sort dso,symbol -g none --percent-limit 0.7 2>/dev/null |
        grep -E '^ +[0-9]' | head -25
}

# --- setup -----------------------------------------------------------------------------------
pkgver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
echo "=== archgate load: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), kernel $(uname -r)"
echo "software: wrk $(pkgver wrk), nginx $(pkgver nginx), libmicrohttpd $(pkgver libmicrohttpd12), GnuTLS $(pkgver libgnutls30), OpenSSL $(pkgver libssl3)"
echo "before: $(uptime)"
echo "review: $REVIEW ($(wc -c <"$REVIEW") bytes) -> $ENDPOINT, cluster state $CLUSTER"
echo "servers on CPU $SERVER_CPU (archgate --threads 1, nginx one process), wrk -t1 on CPU $CLIENT_CPU, $RUN_SECONDS s per run"
[ ${#RT[@]} -gt 0 ] && echo "LOAD_RT=1: servers (and wrk in ka<N>) run SCHED_FIFO (${RT[*]}); runs that saturate a core stall ~50 ms/s (RT throttling): read p90"
echo "modes: ka<N> = N keep-alive connections; new<N> = N connections, each request on a new TLS connection"
echo "  (Connection: close; wrk times from writing the request, so in new<N> latency excludes the handshake: req/s and CPU/req include it)"

UID_WANT=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["request"]["uid"])' "$REVIEW") ||
    die "cannot read request.uid from $REVIEW"
ENDPOINT_FLAG=""
[ "$ENDPOINT" = /mutate ] && ENDPOINT_FLAG=--mutate
# nginx answers with exactly what archgate answers for this review.
"$BIN" review $ENDPOINT_FLAG --cluster-state "$CLUSTER" <"$REVIEW" >"$TMP/canned.json" ||
    die "archgate review failed on $REVIEW"
for cert in $CERT_TYPES; do
    case "$cert" in
    ecdsa) "$ROOT/certs/gen-certs.sh" "$TMP/certs-$cert" >/dev/null ;;
    rsa) "$ROOT/certs/gen-certs.sh" "$TMP/certs-$cert" --rsa >/dev/null ;;
    *) die "LOAD_CERTS: unknown certificate type '$cert' (ecdsa, rsa)" ;;
    esac || die "gen-certs.sh failed"
done
FIRST_MODE=${MODES%% *}
for mode in $MODES; do
    case "$mode" in
    ka[0-9]* | new[0-9]*) ;;
    *) die "LOAD_MODES: unknown mode '$mode' (ka<N>, new<N>)" ;;
    esac
done
: >"$TMP/rows"

# --- runs --------------------------------------------------------------------------------------
for cert in $CERT_TYPES; do
    for mode in $MODES; do
        run_one archgate "$cert" "$mode"
        run_one nginx "$cert" "$mode"
    done
done
echo "after: $(uptime)"

# --- table ------------------------------------------------------------------------------------
echo
echo "=== results (${RUN_SECONDS} s per run; latency from wrk --latency; CPU and peak RSS of the server process)"
awk -v hz="$HZ" '
function lat(us) { return us >= 1000 ? sprintf("%.2f ms", us / 1000) : sprintf("%d us", us) }
{
    n++; who[n] = $1; k[n] = $2 " " $3
    rps[$1, k[n]] = $5 * 1e6 / $6
    line[n] = sprintf("| %-8s | %-5s | %-5s | %5d | %7.0f | %8s | %8s | %8s | %10.1f | %8.1f | %6d | %5s |",
        $1, $2, $3, $4, rps[$1, k[n]], lat($7), lat($14), lat($8), $5 > 0 ? $15 * 1e6 / hz / $5 : 0,
        $16 / 1024, $9 + $10 + $11 + $12 + $13, $17)
}
END {
    printf "| %-8s | %-5s | %-5s | %5s | %7s | %8s | %8s | %8s | %10s | %8s | %6s | %5s | %8s |\n", "server", "cert",
        "mode", "conns", "req/s", "p50", "p90", "p99", "CPU us/req", "peak MiB", "errors", "load1", "of nginx"
    print "|----------|-------|-------|-------|---------|----------|----------|----------|------------|----------|--------|-------|----------|"
    for (i = 1; i <= n; i++) {
        frac = "-"
        if (who[i] == "archgate" && rps["nginx", k[i]] > 0)
            frac = sprintf("%.0f%%", 100 * rps["archgate", k[i]] / rps["nginx", k[i]])
        printf "%s %8s |\n", line[i], frac
    }
}' "$TMP/rows"

# --- the aims ---------------------------------------------------------------------------------
echo
echo "=== aims (issue 6)"
awk '
{ rps[$1, $2, $3] = $5 * 1e6 / $6; p99[$1, $2, $3] = $8; err[$1] += $9 + $10 + $11 + $12 + $13; certs[$2] = 1 }
END {
    nc = split("ecdsa rsa", order, " ")
    for (ci = 1; ci <= nc; ci++) {
        c = order[ci]
        if (!(c in certs))
            continue
        if ((("archgate", c, "ka16") in rps) && (("nginx", c, "ka16") in rps) && rps["nginx", c, "ka16"] > 0) {
            f = rps["archgate", c, "ka16"] / rps["nginx", c, "ka16"]
            printf "%-5s 16 keep-alive connections: archgate %.0f req/s = %.0f%% of nginx (aim >= 50%%): %s\n",
                c, rps["archgate", c, "ka16"], 100 * f, (f >= 0.5 ? "met" : "NOT met")
        }
        if (("archgate", c, "ka8") in p99)
            printf "%-5s p99 at 8 keep-alive connections: %d us (aim < 1000 us): %s\n",
                c, p99["archgate", c, "ka8"], (p99["archgate", c, "ka8"] < 1000 ? "met" : "NOT met")
    }
    printf "errors: archgate %d, nginx %d (aim: 0): %s\n", err["archgate"], err["nginx"],
        (err["archgate"] == 0 ? "met" : "NOT met")
    for (m = 1; m <= 2; m++) {
        mode = m == 1 ? "new16" : "new1"
        if ((("archgate", "ecdsa", mode) in rps) && (("archgate", "rsa", mode) in rps)) {
            e = rps["archgate", "ecdsa", mode]; r = rps["archgate", "rsa", mode]
            printf "new connection per request (%s): archgate ECDSA %.0f req/s, RSA %.0f req/s: %s faster by %.0f%%\n",
                mode, e, r, (e >= r ? "ECDSA" : "RSA"), 100 * (e >= r ? e / r - 1 : r / e - 1)
        }
    }
}' "$TMP/rows"

# --- where archgate's CPU per request goes ---------------------------------------------------
# The same review through the whole request path in process (no TLS, no HTTP), on the server's
# core: what is left of the CPU per request at ka16 is TLS, HTTP and the kernel.
BENCH=${LOAD_BENCH:-$ROOT/build/bench_request}
if [ -x "$BENCH" ]; then
    echo
    echo "=== the same review in process ($BENCH, CPU $SERVER_CPU): median / p99 microseconds"
    (cd "$ROOT" && taskset -c "$SERVER_CPU" "$BENCH" "$REVIEW" "$CLUSTER" 2>/dev/null) >"$TMP/bench.txt" ||
        echo "  $BENCH failed"
    grep -E '^  [a-z]' "$TMP/bench.txt"
    step="webhook_handle $ENDPOINT"
    inproc=$(awk -v s="$step" 'index($0, s) { print $(NF - 1) }' "$TMP/bench.txt")
    if [ -n "$inproc" ]; then
        awk -v hz="$HZ" -v inproc="$inproc" '
        $3 == "ka16" { cpu[$1, $2] = $5 > 0 ? $15 * 1e6 / hz / $5 : 0; seen[$2] = 1 }
        END {
            for (c in seen)
                if (cpu["archgate", c] > 0)
                    printf "%-5s ka16: archgate %.0f us CPU/req = %.1f in process (decode, decide, encode) + %.0f TLS, HTTP, kernel and logging; nginx %.0f us for its whole request\n",
                        c, cpu["archgate", c], inproc, cpu["archgate", c] - inproc, cpu["nginx", c]
        }' "$TMP/rows"
    fi
else
    echo "(no $BENCH: make build/bench_request for the in-process split)"
fi

# --- transport alone ---------------------------------------------------------------------------
# LOAD_TRANSPORT=1: the same 10 KB POST to /healthz, which archgate reads, discards and answers 405
# without parsing anything: what TLS, HTTP and the kernel cost per request at 1 and 16 keep-alive
# connections, beside the /validate figures above.
transport_one() { # CERT CONNS
    local certdir=$TMP/certs-$1 out=$TMP/wrk-transport-$1-$2.txt before after
    start_archgate "$certdir" "$TMP/archgate-transport.log" || die "cannot start archgate"
    wait_ready "$certdir" || die "archgate did not become ready"
    before=$(cpu_ticks "$SERVER_PID")
    LOAD_REVIEW=$REVIEW timeout -k 5 $((RUN_SECONDS + 30)) taskset -c "$CLIENT_CPU" "${RT[@]}" \
        wrk -t1 -c"$2" -d"${RUN_SECONDS}s" --timeout 5s --latency -s "$LUA" \
        "https://127.0.0.1:$SERVER_PORT/healthz" >"$out" 2>&1 &
    wait_child $!
    after=$(cpu_ticks "$SERVER_PID")
    stop_pid "$SERVER_PID"
    forget_pid "$SERVER_PID"
    awk -v hz="$HZ" -v cert="$1" -v conns="$2" -v ticks=$((after - before)) '$1 == "LOADRESULT" {
        printf "  %-5s ka%-3s %7.0f req/s  p50 %6d  p99 %6d us  %6.1f us CPU/req  (%d answers were the 405)\n",
            cert, conns, $2 * 1e6 / $3, $4, $5, ($2 > 0 ? ticks * 1e6 / hz / $2 : 0), $9 }' "$out"
}
if [ "${LOAD_TRANSPORT:-0}" = 1 ]; then
    echo
    echo "=== transport alone: the same POST to /healthz, read and answered 405 (no JSON parsed)"
    for cert in $CERT_TYPES; do
        transport_one "$cert" 1
        transport_one "$cert" 16
    done
fi

if [ "$PERF" = 1 ]; then
    if command -v perf >/dev/null 2>&1; then
        for cert in $CERT_TYPES; do
            perf_one "$cert" ka16
            perf_one "$cert" new16
        done
    else
        echo "LOAD_PERF=1 but perf is not installed (apt-get install linux-perf)"
    fi
fi
exit 0
