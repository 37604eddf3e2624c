#!/usr/bin/env bash
# Instructions per request of a Kinfold binary, counted by callgrind (repeatable: it counts
# instructions, not time, so a busy machine does not move it). The bench server starts with
# instrumentation off; it is switched on for a fixed number of sequential requests and the
# total is divided by that number. Everything the server does for those requests counts: the
# handler, the audit writer, the database threads.
#
# Sequential requests (the default) are the worst case for a group commit: each request's
# audit entries are a batch of their own. With CONNECTIONS=N (needs wrk), N connections
# request for DURATION seconds (default 20) and the count is wrk's.
#
#   [CONNECTIONS=64] scripts/callgrind-per-request.sh BINARY [REQUESTS=2000]
# Prints: route instructions-per-request
set -euo pipefail
BIN="$(realpath "$1")"; N="${2:-2000}"
for t in valgrind callgrind_control curl; do
  command -v "$t" >/dev/null || { echo "missing $t (Debian: apt-get install -y ${t/callgrind_control/valgrind})" >&2; exit 1; }
done
WORK="$(mktemp -d)"
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null; sleep 1; rm -rf "$WORK"; }
trap cleanup EXIT
(cd "$WORK" && exec valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$WORK/cg.%p" \
  "$BIN" bench-server --mode kinfold < <(sleep 100000 2>/dev/null) > "$WORK/out" 2>"$WORK/err") &
PID=$!
for _ in $(seq 1200); do grep -q READY "$WORK/out" 2>/dev/null && break; sleep 0.1; done
read -r _ URL COOKIE CHILD < <(grep READY "$WORK/out")
VG="$(pgrep -f "callgrind.*bench-server" | head -1)"
for route in me child; do
  path="/api/v1/me"; [[ "$route" == child ]] && path="/api/v1/children/$CHILD"
  # Warm up (caches, prepared statements), then count N requests.
  for _ in $(seq 50); do curl -sf -o /dev/null -H "Cookie: kinfold_session=$COOKIE" "$URL$path"; done
  callgrind_control -z "$VG" >/dev/null 2>&1 2>&1
  callgrind_control -i on "$VG" >/dev/null 2>&1 2>&1
  count="$N"
  if [[ -n "${CONNECTIONS:-}" ]]; then
    count="$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION:-20}s" -H "Cookie: kinfold_session=$COOKIE" "$URL$path" \
      | awk '/requests in/ {print $1}')"
  else
    for _ in $(seq "$N"); do echo "url = \"$URL$path\""; echo "output = /dev/null"; done > "$WORK/curl.cfg"
    curl -sf -K "$WORK/curl.cfg" -H "Cookie: kinfold_session=$COOKIE"
  fi
  sleep 1
  callgrind_control -i off "$VG" >/dev/null 2>&1 2>&1
  callgrind_control -d "$route" "$VG" >/dev/null 2>&1 2>&1
  sleep 1
  f="$(ls -t "$WORK"/cg.*."$route"* 2>/dev/null | head -1 || true)"
  [[ -z "$f" ]] && f="$(ls -t "$WORK"/cg.* | head -1)"
  total="$(awk '/^totals:/ {print $2} /^summary:/ {s=$2} END {}' "$f" | tail -1)"
  [[ -z "$total" ]] && total="$(awk '/^summary:/ {print $2}' "$f")"
  echo "$route $((total / count)) ($count requests${CONNECTIONS:+, $CONNECTIONS connections})"
done
