#!/usr/bin/env bash
# Load through Rampart, straight to the same upstream, and through nginx proxy_pass on the same
# box, in one run: 1 KB and 16 KB chat requests and a streamed response. Prints throughput
# (wrk, closed loop) and latency at a fixed 2,000 requests/s (oha), with Rampart's added
# latency and its throughput relative to nginx.
#   bench/gateway.sh [SECONDS]      (default 8 s per measurement)
#   RAMPART_POLICY=FILE bench/gateway.sh   runs Rampart with that policy instead of the default
# Pinning on 2 cores: upstream and load generator on CPU 0, the proxy under test on CPU 1.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-8}"
out=bench/out/gateway
mkdir -p "$out"

need_apt() { command -v "$1" >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need_apt wrk wrk
need_apt nginx nginx-light
command -v oha >/dev/null || cargo install --locked oha
cargo build --release -q -p rampart -p rampart-gateway

UP=19000; NGX=19001; RMP=19002; ADM=19003
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$out/nginx.pid" ] && kill "$(cat "$out/nginx.pid" 2>/dev/null)" 2>/dev/null || true; }
trap cleanup EXIT

# a process left on one of these ports would take the load in place of the one started here
for port in $UP $NGX $RMP $ADM; do
  if (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "gateway.sh: port $port is in use (a gateway or upstream left from an earlier run?); stop it first (ss -ltnp)" >&2
    exit 2
  fi
done
taskset -c 0 target/release/rampart-bench-upstream "127.0.0.1:$UP" 2>/dev/null & pids+=($!)
cat > "$out/nginx.conf" <<NGINX
worker_processes 1;
pid $PWD/$out/nginx.pid;
error_log $PWD/$out/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $PWD/$out/nginx-body;
  proxy_temp_path $PWD/$out/nginx-proxy;
  client_max_body_size 32m;
  client_body_buffer_size 64k;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server {
    listen 127.0.0.1:$NGX;
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
NGINX
taskset -c 1 nginx -c "$PWD/$out/nginx.conf" -g 'daemon off;' & pids+=($!)
rm -rf "$out/data"
RAMPART_LOG=warn taskset -c 1 target/release/rampart up --listen "127.0.0.1:$RMP" \
  --admin-listen "127.0.0.1:$ADM" --data-dir "$out/data" --upstream "openai=http://127.0.0.1:$UP" \
  ${RAMPART_POLICY:+--policy "$RAMPART_POLICY"} 2>/dev/null & pids+=($!)
for port in $UP $NGX $RMP; do
  for _ in $(seq 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

# request bodies: benign chat prompts of about 1 KB and 16 KB, one streamed
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
para = ("Please summarise the following meeting notes for the team and list the action items. "
        "We discussed the roadmap for the next quarter, the hiring plan and the budget review. ")
def body(size, stream=False):
    text = (para * (size // len(para) + 1))[:size]
    return json.dumps({"model": "gpt-4o-mini", "stream": stream,
                       "messages": [{"role": "user", "content": text}]})
for name, size, stream in [("1k", 900, False), ("16k", 16000, False), ("stream", 900, True)]:
    b = body(size, stream)
    open(f"{out}/body-{name}.json", "w").write(b)
    open(f"{out}/post-{name}.lua", "w").write(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.body = {json.dumps(b)}\n')
PY

results="$out/results.jsonl"
: > "$results"
for body in 1k 16k stream; do
  for target in direct:$UP nginx:$NGX rampart:$RMP; do
    name=${target%%:*}; port=${target##*:}
    url="http://127.0.0.1:$port/v1/chat/completions"
    wrk_out=$(taskset -c 0 wrk -t1 -c16 -d"${secs}s" --latency -s "$out/post-$body.lua" "$url")
    rps=$(echo "$wrk_out" | awk '/Requests\/sec/ {print $2}')
    oha_json=$(taskset -c 0 oha -z "${secs}s" -q 2000 -c 16 --no-tui --output-format json -m POST \
      -H "content-type: application/json" -D "$out/body-$body.json" "$url")
    python3 - "$name" "$body" "$rps" "$oha_json" >> "$results" <<'PY'
import json, sys
name, body, rps, oha = sys.argv[1], sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4])
lat = oha["latencyPercentiles"]
codes = oha.get("statusCodeDistribution", {})
print(json.dumps({"target": name, "body": body, "wrk_rps": rps,
                  "p50_ms": lat["p50"] * 1e3, "p99_ms": lat["p99"] * 1e3,
                  "oha_rps": oha["summary"]["requestsPerSec"], "status": codes}))
PY
  done
done

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {(r["target"], r["body"]): r for r in rows}
print(f"{'body':<8}{'target':<9}{'wrk req/s':>11}{'p50 ms @2k':>12}{'p99 ms @2k':>12}{'added p50':>11}{'added p99':>11}{'vs nginx':>10}")
for body in ["1k", "16k", "stream"]:
    d = by[("direct", body)]
    for t in ["direct", "nginx", "rampart"]:
        r = by[(t, body)]
        add50 = r["p50_ms"] - d["p50_ms"]; add99 = r["p99_ms"] - d["p99_ms"]
        ratio = r["wrk_rps"] / by[("nginx", body)]["wrk_rps"]
        print(f"{body:<8}{t:<9}{r['wrk_rps']:>11.0f}{r['p50_ms']:>12.3f}{r['p99_ms']:>12.3f}{add50:>11.3f}{add99:>11.3f}{ratio:>10.2f}")
    for t in ["direct", "nginx", "rampart"]:
        if set(by[(t, body)]["status"]) - {"200"}:
            print(f"  note: {t}/{body} status codes {by[(t, body)]['status']}")
PY
