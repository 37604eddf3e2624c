#!/usr/bin/env bash
# CPU time and context switches per request of a Kinfold binary, measured natively (perf stat
# on the server's process, so the group commit batches as it does in production, unlike under
# callgrind, which serializes the threads). The bench server is pinned to CPU 0 and wrk (64
# connections) to CPU 1; a 2 s warm-up, then SECONDS of counted load.
#
#   scripts/cpu-per-request.sh BINARY [me|child] [SECONDS=8]
# Prints: route binary requests cpu_us/request context_switches/request
set -euo pipefail
BIN="$(realpath "$1")"; ROUTE="${2:-child}"; SECS="${3:-8}"
for t in perf wrk taskset; do
  command -v "$t" >/dev/null || { echo "missing $t (Debian: apt-get install -y ${t/taskset/util-linux})" >&2; exit 1; }
done
WORK="$(mktemp -d)"
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
(cd "$WORK" && exec taskset -c 0 "$BIN" bench-server --mode kinfold < <(sleep 100000 2>/dev/null) > "$WORK/out" 2>/dev/null) &
PID=$!
for _ in $(seq 300); do grep -q READY "$WORK/out" 2>/dev/null && break; sleep 0.1; done
read -r _ URL COOKIE CHILD < <(grep READY "$WORK/out")
path="/api/v1/me"; [[ "$ROUTE" == child ]] && path="/api/v1/children/$CHILD"
taskset -c 1 wrk -t1 -c64 -d2s -H "Cookie: kinfold_session=$COOKIE" "$URL$path" >/dev/null
perf stat -e task-clock,context-switches -p "$PID" -o "$WORK/perf" &
STAT=$!
sleep 0.2
n="$(taskset -c 1 wrk -t1 -c64 -d"${SECS}s" -H "Cookie: kinfold_session=$COOKIE" "$URL$path" | awk '/requests in/ {print $1}')"
kill -INT "$STAT"; wait "$STAT" 2>/dev/null || true
ms="$(awk '/task-clock/ {gsub(",", "", $1); print $1}' "$WORK/perf")"
cs="$(awk '/context-switches/ {gsub(",", "", $1); print $1}' "$WORK/perf")"
awk -v r="$ROUTE" -v b="$(basename "$BIN")" -v n="$n" -v ms="$ms" -v cs="$cs" \
  'BEGIN { printf "%s %s %d requests %.2f cpu_us/request %.3f context_switches/request\n", r, b, n, ms * 1000 / n, cs / n }'
