#!/usr/bin/env bash
# Runs every Kinfold test: formatting, lints, licence and source checks, the Rust test suites
# (real encrypted SQLite files, a throwaway PostgreSQL cluster, real sockets, the real binary),
# and the headless-Chromium test.
#
#   scripts/test.sh
#
# On a fresh Debian machine it installs what is missing (cargo-deny, openssl, postgresql, moto's
# S3 server from PyPI, chromium, the browser test's npm packages), or says exactly what to
# install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
SECONDS=0

need_cmd() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian package $2" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
  command -v "$1" >/dev/null 2>&1 || { echo "missing '$1': install the Debian package '$2'" >&2; exit 1; }
}

command -v cargo >/dev/null 2>&1 || { echo "missing cargo: install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
need_cmd openssl openssl   # the TLS test reads the demo CA with it
need_cmd curl curl
need_cmd runuser util-linux   # the throwaway PostgreSQL cluster runs as `postgres` under root

# PostgreSQL's server binaries: the tests start a throwaway cluster with initdb and pg_ctl,
# found by `pg_config --bindir` or under /usr/lib/postgresql/*/bin (Debian keeps them off PATH).
have_pg() {
  local d
  d=$(pg_config --bindir 2>/dev/null || true)
  [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]] && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
if ! have_pg; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian package postgresql" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  have_pg || { echo "missing PostgreSQL's initdb and pg_ctl: install the Debian package 'postgresql'" >&2; exit 1; }
fi

# A clean CI build gains nothing from incremental caches; they only take disk.
[[ "${CI:-}" == true ]] && export CARGO_INCREMENTAL=0

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo deny check licenses bans sources"
if ! cargo deny --version >/dev/null 2>&1; then
  echo "installing cargo-deny (once)" >&2
  cargo install cargo-deny --locked --quiet
fi
cargo deny --log-level error check licenses bans sources

# The OpenAPI validator: the HTTP tests run it on the document (required under CI), and the
# step below on what the binary prints.
if ! python3 -c "import openapi_spec_validator" >/dev/null 2>&1; then
  command -v python3 >/dev/null 2>&1 || { echo "missing python3: install the Debian package python3" >&2; exit 1; }
  python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator
fi

# A real S3 server on loopback for the backup tests: moto's (the S3 HTTP API, SigV4, multipart).
if ! python3 -c "import moto.server, flask" >/dev/null 2>&1; then
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
fi

step "cargo test (unit, integration, end-to-end; store conformance on SQLite and PostgreSQL)"
cargo test --workspace --locked

step "HTTP integration tests again, on PostgreSQL"
KINFOLD_TEST_STORE=postgres cargo test -p kinfold-server --test it --locked

step "OpenAPI document validates (openapi-spec-validator)"
target/debug/kinfold openapi > target/openapi.json
python3 -m openapi_spec_validator target/openapi.json

step "browser test (headless Chromium)"
scripts/browser-test.sh target/debug/kinfold

step "all tests passed in ${SECONDS}s"
