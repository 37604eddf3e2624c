#!/usr/bin/env bash
# A/B of two Kinfold binaries (for example the release binary from before a change and the one
# after it), measured the same way in the same run:
#   - hello-world axum GET /                 (bench-server --mode hello, each binary's own)
#   - GET /api/v1/me                         (session lookup, policy, JSON)
#   - GET /api/v1/children/{id}              (3 sealed fields opened, data-access event, and
#                                             since the durable audit, the wait for its commit)
# All servers run pinned to CPU 0 (an idle one takes no CPU), wrk pinned to CPU 1 with 64
# connections over loopback. Each pair measures A then B (the order alternates every pair), so
# drift on a shared machine moves both sides alike; the figure to quote is the median of the
# pairs' B/A ratios.
#
#   scripts/bench-ab.sh BINARY_A BINARY_B [PAIRS=8] [SECONDS=5]
set -euo pipefail
A="$1"; B="$2"; PAIRS="${3:-8}"; SECS="${4:-5}"
for t in wrk taskset; do
  command -v "$t" >/dev/null || { echo "missing $t (Debian: apt-get install -y ${t/taskset/util-linux})" >&2; exit 1; }
done
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

# start NAME BINARY MODE: the server's READY line lands in $WORK/NAME.out.
start() {
  (exec taskset -c 0 "$2" bench-server --mode "$3" < <(sleep 100000 2>/dev/null) > "$WORK/$1.out" 2>/dev/null) &
  PIDS+=($!)
  for _ in $(seq 300); do grep -q READY "$WORK/$1.out" 2>/dev/null && return; sleep 0.1; done
  echo "$1 did not start" >&2; exit 1
}
field() { awk -v n="$2" '/READY/ {print $n}' "$WORK/$1.out"; }
rps() {
  local url="$1"; shift
  taskset -c 1 wrk -t1 -c64 -d"${SECS}s" "$@" "$url" | awk '/Requests\/sec/ {print $2}'
}

start a-hello "$A" hello
start b-hello "$B" hello
start a-kin "$A" kinfold
start b-kin "$B" kinfold

measure() { # SIDE ROUND: appends "route side round rps" lines
  local side="$1" round="$2" url cookie child
  url="$(field "$side-kin" 2)"; cookie="$(field "$side-kin" 3)"; child="$(field "$side-kin" 4)"
  echo "hello $side $round $(rps "$(field "$side-hello" 2)/")" >> "$WORK/figures"
  echo "me $side $round $(rps "$url/api/v1/me" -H "Cookie: kinfold_session=$cookie")" >> "$WORK/figures"
  echo "child $side $round $(rps "$url/api/v1/children/$child" -H "Cookie: kinfold_session=$cookie")" >> "$WORK/figures"
}

for r in $(seq "$PAIRS"); do
  if (( r % 2 )); then measure a "$r"; measure b "$r"; else measure b "$r"; measure a "$r"; fi
  echo "pair $r of $PAIRS done" >&2
done

# Per route: the median requests/s of each side, the median of the pairs' B/A ratios, and
# each side's median ratio to its own hello-world.
python3 - "$WORK/figures" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 4]
fig = {(route, side, int(r)): float(v) for route, side, r, v in rows}
rounds = sorted({k[2] for k in fig})
print(f"{'route':<8}{'A req/s':>12}{'B req/s':>12}{'B/A (median of pairs)':>24}{'A/hello':>10}{'B/hello':>10}")
for route in ("hello", "me", "child"):
    a = [fig[(route, "a", r)] for r in rounds]
    b = [fig[(route, "b", r)] for r in rounds]
    ratio = statistics.median(y / x for x, y in zip(a, b))
    ah = statistics.median(fig[(route, "a", r)] / fig[("hello", "a", r)] for r in rounds)
    bh = statistics.median(fig[(route, "b", r)] / fig[("hello", "b", r)] for r in rounds)
    print(f"{route:<8}{statistics.median(a):>12.0f}{statistics.median(b):>12.0f}{ratio:>24.3f}{ah:>10.3f}{bh:>10.3f}")
print(f"({len(rounds)} pairs; A = {sys.argv[1] and ''}first binary, B = second)")
PY
