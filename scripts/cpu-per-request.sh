#!/usr/bin/env bash
# CPU time and context switches per request of a Kinfold binary, measured natively (perf stat
# on the server's process, so the group commit batches as it does in production, unlike under
# callgrind, which serializes the threads). The bench server is pinned to CPU 0 and wrk (64
# connections) to CPU 1; a 2 s warm-up, then SECONDS of counted load.
#
# Where uprobes can be placed on the binary (perf probe, as root), it also counts, in SQLite
# (linked in), the commits of the SQLite store (`pagerWalFrames`, called at each commit in WAL
# mode, and besides only when a transaction spills its page cache mid-way, which no audit batch
# or request here is large enough to do), the statements prepared (`sqlite3_prepare_v3`) and the pages written to the log
# (`walWriteOneFrame`, each one encrypted by SQLCipher), and prints them per commit: what one
# group commit of the audit costs, and how many requests share it.
#
#   scripts/cpu-per-request.sh BINARY [me|child] [SECONDS=8]
# Prints: route binary requests cpu_us/request context_switches/request
#         [requests/commit prepared/commit pages/commit context_switches/commit]
set -euo pipefail
BIN="$(realpath "$1")"; ROUTE="${2:-child}"; SECS="${3:-8}"
for t in perf wrk taskset; do
  command -v "$t" >/dev/null || { echo "missing $t (Debian: apt-get install -y ${t/taskset/util-linux})" >&2; exit 1; }
done
WORK="$(mktemp -d)"
PID=""
GROUP="kinfold_cost$$"
cleanup() {
  [[ -n "$PID" ]] && kill "$PID" 2>/dev/null
  perf probe -q -d "$GROUP:*" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
(cd "$WORK" && exec taskset -c 0 "$BIN" bench-server --mode kinfold < <(sleep 100000 2>/dev/null) > "$WORK/out" 2>/dev/null) &
PID=$!
for _ in $(seq 300); do grep -q READY "$WORK/out" 2>/dev/null && break; sleep 0.1; done
read -r _ URL COOKIE CHILD < <(grep READY "$WORK/out")
path="/api/v1/me"; [[ "$ROUTE" == child ]] && path="/api/v1/children/$CHILD"
taskset -c 1 wrk -t1 -c64 -d2s -H "Cookie: kinfold_session=$COOKIE" "$URL$path" >/dev/null
EVENTS="task-clock,context-switches"
PROBES=(pagerWalFrames sqlite3_prepare_v3 walWriteOneFrame)
probed=1
for f in "${PROBES[@]}"; do
  perf probe -q -x "$BIN" --add "$GROUP:$f=$f" 2>/dev/null || { probed=""; break; }
  EVENTS+=",$GROUP:$f"
done
[[ -z "$probed" ]] && EVENTS="task-clock,context-switches"
perf stat -e "$EVENTS" -p "$PID" -o "$WORK/perf" &
STAT=$!
sleep 0.2
n="$(taskset -c 1 wrk -t1 -c64 -d"${SECS}s" -H "Cookie: kinfold_session=$COOKIE" "$URL$path" | awk '/requests in/ {print $1}')"
kill -INT "$STAT"; wait "$STAT" 2>/dev/null || true
ms="$(awk '/task-clock/ {gsub(",", "", $1); print $1}' "$WORK/perf")"
cs="$(awk '/context-switches/ {gsub(",", "", $1); print $1}' "$WORK/perf")"
awk -v r="$ROUTE" -v b="$(basename "$BIN")" -v n="$n" -v ms="$ms" -v cs="$cs" \
  'BEGIN { printf "%s %s %d requests %.2f cpu_us/request %.3f context_switches/request\n", r, b, n, ms * 1000 / n, cs / n }'
if [[ -n "$probed" ]]; then
  count() { awk -v e="$GROUP:$1" '$2 == e {gsub(",", "", $1); print $1}' "$WORK/perf"; }
  commits="$(count pagerWalFrames)"
  awk -v n="$n" -v c="$commits" -v p="$(count sqlite3_prepare_v3)" -v f="$(count walWriteOneFrame)" -v cs="$cs" \
    'BEGIN { if (c > 0) printf "  %d commits: %.1f requests/commit %.1f prepared/commit %.1f pages/commit %.1f context_switches/commit\n", c, n / c, p / c, f / c, cs / c; else print "  no commits counted" }'
else
  echo "  (no uprobes on $(basename "$BIN"): commits, statements and pages not counted)"
fi
