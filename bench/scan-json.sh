#!/usr/bin/env bash
# Whole-process speed of `rampart scan` on one large JSON file (target: >= 300 MB/s with the LLM
# detectors on). Builds bench/out/big.json (about 60 MB): a JSON array of records, each an
# OpenAPI document of ../shared/data/openapi-specs (the 43 specs repeated) with an e-mail
# address and a phone number added, so the file holds thousands of findings. Then times
# `rampart scan --format json` on it (LLM detectors on, then --no-llm), the median of RUNS runs.
#   bench/scan-json.sh [RUNS]       (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
shared="${RAMPART_SHARED_DATA:-../shared/data}"
mkdir -p bench/out
cargo build --release -q -p rampart
python3 - "$shared" bench/out/big.json <<'EOF'
import glob, json, os, sys
shared, out = sys.argv[1], sys.argv[2]
specs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(shared, "openapi-specs", "**", "*.json"), recursive=True))]
target = 60_000_000
with open(out, "w") as f:
    f.write("[")
    n = size = 0
    while size < target:
        rec = {"id": n, "owner": f"owner{n}@example.org", "phone": f"+44 20 7946 {n % 10000:04d}", "spec": specs[n % len(specs)]}
        s = ("," if n else "") + json.dumps(rec)
        f.write(s)
        size += len(s)
        n += 1
    f.write("]")
print(f"bench/out/big.json: {os.path.getsize(out):,} bytes, {n} records", file=sys.stderr)
EOF
bytes=$(stat -c %s bench/out/big.json)
time_it() {
  python3 - "$runs" "$bytes" "$@" <<'EOF'
import json, statistics, subprocess, sys, time
runs, size, cmd = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
times, findings = [], 0
for _ in range(runs):
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True).stdout
    times.append(time.perf_counter() - t)
    findings = sum(len(i["findings"]) for i in json.loads(out)["inputs"])
m = statistics.median(times)
print(f"{' '.join(cmd[2:]):<40} median {m:6.2f} s  {size / m / 1e6:7.1f} MB/s  findings {findings}")
EOF
}
time_it target/release/rampart scan --format json bench/out/big.json
time_it target/release/rampart scan --no-llm --format json bench/out/big.json
