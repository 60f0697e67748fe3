#!/usr/bin/env bash
# Accuracy on data never looked at during development: faker-pii rows generated with seeds other
# than the committed dev set's (seed 1), plus the secrets and benign suites.
#   bench/eval-heldout.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
rows="${1:-5000}"
data="${RAMPART_SHARED_DATA:-../shared/data}"
out=bench/out
mkdir -p "$out"
python3 -m venv .venv >/dev/null 2>&1 || true
.venv/bin/pip install -q --disable-pip-version-check faker==40.* >/dev/null
for seed in 2 3; do
  [ -s "$out/faker-seed$seed.jsonl" ] || .venv/bin/python "$data/faker-pii/generate.py" "$seed" "$rows" "$out/faker-seed$seed.jsonl"
done
cargo build --release -q -p rampart
./target/release/rampart eval pii --data "$data" --faker "$data/faker-pii/dev.jsonl" --faker "$out/faker-seed2.jsonl" --faker "$out/faker-seed3.jsonl"
./target/release/rampart eval secrets --data "$data"
./target/release/rampart eval benign --data "$data"
