#!/bin/sh
# memory.sh - archgate's memory at cluster scale (make bench-memory; figures, not a test).
#
# Generates a KubeVirt-shaped cluster (scripts/bench/gen-cluster.py: MEM_WORKERS workers with the
# node-labeller's ~167 labels, 3 control-plane nodes, MEM_DATASOURCES DataSources, MEM_VMS VMs),
# then, in each mode:
#   file: `archgate serve --cluster-state DIR`; churn rewrites nodes.json every MEM_REWRITE
#         seconds with 50 workers changed and every heartbeat moved;
#   live: `archgate serve --kubeconfig` against the stand-in kube-apiserver (build/kubefake_server)
#         serving the same folder; churn is MEM_EVENTS node events a second (80% heartbeats).
# It prints the time to ready, RSS after sync, the peak (VmHWM) during sync, RSS sampled every
# MEM_SAMPLE seconds over MEM_CHURN_SECONDS of churn (first, last, min, max), and the breakdown
# that /metrics gives (snapshot, allocator in use / free, mmapped). MEM_MODES="file live";
# MEM_VERBOSE=1 prints every sample (make soak-scale).
set -eu
cd "$(dirname "$0")/../.."
B=${B:-build}
WORKERS=${MEM_WORKERS:-5000}
DATASOURCES=${MEM_DATASOURCES:-2000}
VMS=${MEM_VMS:-10000}
LABELS=${MEM_LABELS:-full}
CHURN=${MEM_CHURN_SECONDS:-600}
SAMPLE=${MEM_SAMPLE:-10}
REWRITE=${MEM_REWRITE:-30}
EVENTS=${MEM_EVENTS:-500}
MODES=${MEM_MODES:-file live}
EXTRA=${MEM_ARCHGATE_FLAGS:-}
VERBOSE=${MEM_VERBOSE:-}

work=$(mktemp -d)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

cluster="$B/bench-cluster-$WORKERS-$DATASOURCES-$VMS-$LABELS"
if [ ! -f "$cluster/nodes.json" ]; then
    echo "generating $cluster"
    python3 scripts/bench/gen-cluster.py "$cluster.tmp" --workers "$WORKERS" --datasources "$DATASOURCES" \
        --vms "$VMS" --labels "$LABELS"
    rm -rf "$cluster" && mv "$cluster.tmp" "$cluster"
fi
printf 'cluster: %s workers (%s labels), 3 control-plane nodes, %s DataSources, %s VMs; folder %s MiB\n' \
    "$WORKERS" "$LABELS" "$DATASOURCES" "$VMS" "$(du -sm "$cluster" | cut -f1)"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
metric() { # metric PORT NAME: the first sample of NAME
    curl -sk "https://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 {print $2; exit}'
}
wait_ready() { # wait_ready PORT PID: seconds to ready
    t0=$(date +%s.%N)
    while ! curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$1/readyz" | grep -q 200; do
        kill -0 "$2" 2>/dev/null || { echo "archgate exited" >&2; exit 1; }
        sleep 0.1
    done
    # synced means the audit's VMs too: its first run has read them (the folder's or the lists')
    while [ "$(metric "$1" archgate_audit_last_run_timestamp_seconds)" = "0" ] ||
          [ -z "$(metric "$1" archgate_audit_last_run_timestamp_seconds)" ]; do
        kill -0 "$2" 2>/dev/null || { echo "archgate exited" >&2; exit 1; }
        sleep 0.1
    done
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}'
}
report() { # report MODE PID PORT READY_S
    printf '%s mode: synced (ready, VMs audited) in %s s; RSS after sync %s MiB; peak during sync %s MiB\n' "$1" "$4" \
        "$(mib "$(kib "$2" VmRSS)")" "$(mib "$(kib "$2" VmHWM)")"
    printf '  breakdown: snapshot %s MiB + node label maps %s MiB (shared); allocator in use %s MiB, free but held %s MiB, mmapped %s MiB; %s arenas\n' \
        "$(mib $(( $(metric "$3" archgate_snapshot_bytes | cut -d. -f1) / 1024 )))" \
        "$(mib $(( $(metric "$3" archgate_node_labels_bytes | cut -d. -f1) / 1024 )))" \
        "$(mib $(( $(metric "$3" archgate_malloc_in_use_bytes | cut -d. -f1) / 1024 )))" \
        "$(mib $(( $(metric "$3" archgate_malloc_free_bytes | cut -d. -f1) / 1024 )))" \
        "$(mib $(( $(metric "$3" archgate_malloc_mmapped_bytes | cut -d. -f1) / 1024 )))" \
        "$(metric "$3" archgate_malloc_arenas)"
}
churn_samples() { # churn_samples MODE PID PORT: sample RSS during CHURN seconds
    end=$(( $(date +%s) + CHURN ))
    first="" last="" min="" max="" n=0 all=""
    while [ "$(date +%s)" -lt "$end" ]; do
        sleep "$SAMPLE"
        r=$(kib "$2" VmRSS)
        [ -n "$VERBOSE" ] && printf '  %s +%ss: RSS %s MiB (allocator in use %s, free but held %s, mmapped %s)\n' \
            "$1" "$(( CHURN - end + $(date +%s) ))" "$(mib "$r")" \
            "$(mib $(( $(metric "$3" archgate_malloc_in_use_bytes | cut -d. -f1) / 1024 )))" \
            "$(mib $(( $(metric "$3" archgate_malloc_free_bytes | cut -d. -f1) / 1024 )))" \
            "$(mib $(( $(metric "$3" archgate_malloc_mmapped_bytes | cut -d. -f1) / 1024 )))"
        [ -z "$first" ] && first=$r
        last=$r
        { [ -z "$min" ] || [ "$r" -lt "$min" ]; } && min=$r
        { [ -z "$max" ] || [ "$r" -gt "$max" ]; } && max=$r
        n=$((n + 1))
        all="$all $r"
    done
    [ -n "$first" ] || return 0
    printf '  %s s of churn, %s samples: RSS first %s, last %s, min %s, max %s MiB (last/first %s%%); peak since start %s MiB\n' \
        "$CHURN" "$n" "$(mib "$first")" "$(mib "$last")" "$(mib "$min")" "$(mib "$max")" \
        "$(awk -v a="$first" -v b="$last" 'BEGIN {printf "%+.1f", (b - a) * 100 / a}')" "$(mib "$(kib "$2" VmHWM)")"
    # Flatness: the median of each minute's samples against the median of them all. A sample
    # that lands while a rebuild is in flight is high (the rebuild's transients): the medians
    # show the level, the max above shows the transients.
    echo "$all" | awk -v per=$(( 60 / SAMPLE > 0 ? 60 / SAMPLE : 1 )) '
        function median(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        { for (i = 1; i <= NF; i++) { v[i] = $i; w[i] = $i } n = NF }
        END {
            m = median(w, n); lo = hi = ""; out = ""
            for (s = 1; s <= n; s += per) {
                k = 0; for (i = s; i < s + per && i <= n; i++) g[++k] = v[i]
                if (k < per / 2) break
                mm = median(g, k); out = out sprintf(" %.1f", mm / 1024)
                d = (mm - m) * 100 / m; if (lo == "" || d < lo) lo = d; if (hi == "" || d > hi) hi = d
            }
            printf "  per-minute medians (MiB):%s; median of all %.1f MiB; minutes within %+.1f%% / %+.1f%% of it\n", out, m / 1024, lo, hi
        }'
}

for mode in $MODES; do
    p=$(port)
    case $mode in
    file)
        cp -r "$cluster" "$work/state"
        # shellcheck disable=SC2086
        "$B/archgate" serve --listen "127.0.0.1:$p" --tls-cert "$B/certs/tls.crt" --tls-key "$B/certs/tls.key" \
            --cluster-state "$work/state" --log-level warn $EXTRA &
        pid=$!
        pids="$pids $pid"
        ready=$(wait_ready "$p" "$pid")
        report file "$pid" "$p" "$ready"
        ( end=$(( $(date +%s) + CHURN )); while [ "$(date +%s)" -lt "$end" ]; do
              sleep "$REWRITE"; python3 scripts/bench/gen-cluster.py "$work/state" --workers "$WORKERS" --churn 50
          done ) &
        pids="$pids $!"
        churn_samples file "$pid" "$p"
        printf '  snapshot reloads: %s\n' "$(metric "$p" archgate_cluster_reloads_total)"
        ;;
    live)
        kp=$(port)
        "$B/kubefake_server" --port "$kp" --tls-cert "$B/certs/tls.crt" --tls-key "$B/certs/tls.key" \
            --cluster "$cluster" --churn "$EVENTS" > "$work/kf.out" 2>"$work/kf.err" &
        kf=$!
        pids="$pids $kf"
        while ! grep -q listening "$work/kf.out" 2>/dev/null; do
            kill -0 "$kf" 2>/dev/null || { cat "$work/kf.err" >&2; exit 1; }
            sleep 0.2
        done
        cat > "$work/kubeconfig" <<EOC
apiVersion: v1
kind: Config
current-context: bench
clusters:
- name: bench
  cluster:
    server: https://127.0.0.1:$kp
    certificate-authority: $PWD/$B/certs/ca.crt
users:
- name: archgate
  user:
    token: bench
contexts:
- name: bench
  context:
    cluster: bench
    user: archgate
EOC
        # shellcheck disable=SC2086
        "$B/archgate" serve --listen "127.0.0.1:$p" --tls-cert "$B/certs/tls.crt" --tls-key "$B/certs/tls.key" \
            --kubeconfig "$work/kubeconfig" --log-level warn $EXTRA &
        pid=$!
        pids="$pids $pid"
        ready=$(wait_ready "$p" "$pid")
        report live "$pid" "$p" "$ready"
        kill -USR1 "$kf"        # the stand-in starts its node events now
        churn_samples live "$pid" "$p"
        printf '  snapshot rebuilds: %s\n' "$(metric "$p" archgate_cluster_reloads_total)"
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        kill "$kf" 2>/dev/null || true
        wait "$kf" 2>/dev/null || true
        ;;
    esac
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
done
