#!/usr/bin/env bash
# Side-by-side scanning speed: Rampart, detect-secrets and Presidio on the same inputs
# (benign prompts, benign API JSON, PII-dense text, a 10 MB mixed corpus), in one run on one machine.
# Prints MB/s per tool and input and Rampart's speed-up over each peer.
#   bench/scan-compare.sh            (pins each tool to one core with taskset when available)
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out/inputs"
python3 -m venv .venv >/dev/null 2>&1 || true
.venv/bin/pip install -q --disable-pip-version-check detect-secrets==1.5.0 presidio-analyzer==2.2.366 spacy >/dev/null
cargo build --release -q -p rampart-detect --bin rampart-scan-bench
pin=""
command -v taskset >/dev/null && pin="taskset -c 1"
./target/release/rampart-scan-bench --write-inputs "$out/inputs"
$pin ./target/release/rampart-scan-bench > "$out/rampart.jsonl"
$pin .venv/bin/python bench/peers.py "$out/inputs" > "$out/peers.jsonl"
python3 - "$out/rampart.jsonl" "$out/peers.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.strip()]
by = {(r["tool"], r["input"]): r for r in rows}
inputs = ["benign_prompts", "benign_api_json", "pii_dense_text", "mixed_10mb"]
print(f"{'input':<18}{'bytes':>12}{'rampart MB/s':>14}{'detect-secrets':>16}{'presidio':>10}{'x d-s':>9}{'x presidio':>12}")
for i in inputs:
    r, d, p = by[("rampart", i)], by[("detect-secrets", i)], by[("presidio", i)]
    print(f"{i:<18}{r['bytes']:>12}{r['mb_per_s']:>14.1f}{d['mb_per_s']:>16.2f}{p['mb_per_s']:>10.3f}"
          f"{r['mb_per_s']/d['mb_per_s']:>9.0f}{r['mb_per_s']/p['mb_per_s']:>12.0f}")
PY
