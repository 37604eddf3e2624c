#!/usr/bin/env bash
# Real-browser end-to-end test of the web console.
#
#   scripts/browser-test.sh PATH_TO_KINFOLD_BINARY
#
# Starts `kinfold demo` on a free loopback port with a throw-away data directory, then runs
# tests/browser/console.test.mjs (playwright-core driving Debian's headless Chromium), one fresh
# browser context per scenario, each signing in with password + TOTP: a teacher reloads and sees
# the session list; the front desk checks a child in and out and the roster follows; a teacher
# sees only their classrooms' children (with medical data) and gets 404 for others; an
# announcement lands in the outbox signed and is unsubscribed in one click; a forgotten password
# is reset through the emailed link and the new one signs in. No CSP violation and no 5xx may
# occur.
#
# Needs /usr/bin/chromium (installed with apt-get when running as root), node and npm.
# Env: OUT_DIR  keep screenshots (console.png, sessions.png, checkin.png, teacher-child.png) there.
#      KEEP_LOG print the whole server log even on success.
set -euo pipefail

usage() { echo "usage: $0 PATH_TO_KINFOLD_BINARY" >&2; exit 2; }
[[ $# -eq 1 ]] || usage

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TEST_DIR="$ROOT/tests/browser"
BIN="$1"
if [[ "$BIN" != /* ]]; then BIN="$PWD/$BIN"; fi
if [[ ! -x "$BIN" ]]; then
  echo "browser-test: $1 is not an executable kinfold binary" >&2
  exit 1
fi

CHROMIUM=/usr/bin/chromium

# --- prerequisites -----------------------------------------------------------------------------
if [[ ! -x "$CHROMIUM" ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "browser-test: installing Debian's chromium (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  fi
fi
if [[ ! -x "$CHROMIUM" ]]; then
  echo "browser-test: missing $CHROMIUM (Debian package 'chromium'); install it as root with:" >&2
  echo "  apt-get update && apt-get install -y chromium" >&2
  exit 1
fi
missing=()
command -v node >/dev/null 2>&1 || missing+=(node)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if (( ${#missing[@]} )); then
  echo "browser-test: missing ${missing[*]} (Debian packages: ${missing[*]}); install and retry" >&2
  exit 1
fi
if [[ ! -d "$TEST_DIR/node_modules/playwright-core" || ! -d "$TEST_DIR/node_modules/axe-core" ]]; then
  echo "browser-test: npm ci in tests/browser" >&2
  (cd "$TEST_DIR" && npm ci --no-audit --no-fund)
fi

# --- the demo server ---------------------------------------------------------------------------
DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/kinfold-browser.XXXXXX")"
LOG="$(mktemp "${TMPDIR:-/tmp}/kinfold-browser-log.XXXXXX")"
SERVER_PID=""
TEST_PID=""

cleanup() {
  local rc=$?
  if [[ -n "$TEST_PID" ]] && kill -0 "$TEST_PID" 2>/dev/null; then
    kill -TERM "$TEST_PID" 2>/dev/null || true
    wait "$TEST_PID" 2>/dev/null || true
  fi
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    # Graceful shutdown flushes the audit trail; give it 10 s, then stop it hard.
    for _ in $(seq 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "browser-test: server did not stop on TERM within 10 s; killing it" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  # The demo keeps its backups beside its data directory (DIR-backups).
  rm -rf "$DATA_DIR" "$DATA_DIR-backups" "$LOG"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local p
  for _ in $(seq 50); do
    p=$(( 20000 + RANDOM % 20000 ))
    # A refused connection means nothing listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "browser-test: found no free port" >&2
  return 1
}

server_log_tail() {
  echo "----- server log (last 40 lines of $LOG) -----" >&2
  tail -n 40 "$LOG" >&2 || true
  echo "----------------------------------------------" >&2
}

PORT="$(free_port)"
BASE_URL="http://127.0.0.1:$PORT"
CREDENTIALS="$DATA_DIR/demo-credentials.json"

t0=$(date +%s)
"$BIN" demo --data "$DATA_DIR" --addr "127.0.0.1:$PORT" >"$LOG" 2>&1 &
SERVER_PID=$!

ready=""
for _ in $(seq 120); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "browser-test: the demo server exited before it was ready" >&2
    server_log_tail
    exit 1
  fi
  if [[ -f "$CREDENTIALS" ]] && curl -fsS --max-time 2 "$BASE_URL/healthz" >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.5
done
if [[ -z "$ready" ]]; then
  echo "browser-test: the demo server was not ready within 60 s at $BASE_URL" >&2
  server_log_tail
  exit 1
fi
echo "browser-test: demo ready at $BASE_URL after $(( $(date +%s) - t0 ))s" >&2

# --- the browser test --------------------------------------------------------------------------
# In the background and waited for, so that an interrupt reaches the trap at once.
(cd "$TEST_DIR" && BASE_URL="$BASE_URL" CREDENTIALS="$CREDENTIALS" CHROMIUM="$CHROMIUM" \
  exec timeout 300 node console.test.mjs) &
TEST_PID=$!
status=0
wait "$TEST_PID" || status=$?
TEST_PID=""

if (( status != 0 )); then
  echo "browser-test: FAILED (exit $status)" >&2
  server_log_tail
  exit "$status"
fi
if [[ -n "${KEEP_LOG:-}" ]]; then cat "$LOG" >&2; fi
echo "browser-test: passed in $(( $(date +%s) - t0 ))s" >&2
