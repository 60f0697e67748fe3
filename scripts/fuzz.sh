#!/usr/bin/env bash
# Runs every cargo-fuzz target for a while (default 60 s each), one after another. Needs a
# nightly toolchain (present here) and cargo-fuzz, which it installs from crates.io when missing.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
for target in scan decoders json_decoder metadata stream sse policy threat report discover k8s; do
  echo "==> fuzz $target for ${secs}s"
  cargo +nightly fuzz run "$target" -- -max_total_time="$secs" -max_len=4096
done
