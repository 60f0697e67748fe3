#!/usr/bin/env python3
"""Memory of `rampart up` (its default policy) with many idle keep-alive connections and many
streams in flight: RSS before, with N idle connections that each made one request, and with M
concurrent streamed answers held open by a slow stand-in provider. Prints KiB per connection
and per stream.
  bench/gateway-memory.py [--idle 1000] [--streams 200] [--binary target/release/rampart]
"""
import argparse, asyncio, json, os, resource, socket, subprocess, sys, tempfile, time

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

async def provider(port, hold):
    """Answers chat calls at once, or with an SSE stream of one event per second for `hold` s."""
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                if b'"stream": true' in body or b'"stream":true' in body:
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
                    for i in range(hold):
                        ev = json.dumps({"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": f"token {i} "}, "finish_reason": None}]})
                        data = f"data: {ev}\n\n".encode()
                        writer.write(b"%x\r\n%s\r\n" % (len(data), data)); await writer.drain()
                        await asyncio.sleep(1)
                    data = b"data: [DONE]\n\n"
                    writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)); await writer.drain()
                else:
                    out = json.dumps({"id": "c", "object": "chat.completion", "model": "gpt-4o-mini", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(out), out))
                    await writer.drain()
        except (Exception, asyncio.CancelledError):
            # the caller left, or the run is over
            writer.close()
    return await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)

def request(stream):
    body = json.dumps({"model": "gpt-4o-mini", "stream": stream, "messages": [{"role": "user", "content": "Summarise the meeting notes for the team."}]}).encode()
    return b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)

async def one_call(port, stream):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request(stream)); await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not stream:
        length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
        await reader.readexactly(length)
    else:
        await reader.readuntil(b"\r\n\r\n")  # the first event's chunk
    return reader, writer

async def measure(binary, up, idle_n, streams_n):
    """One fresh `rampart up`: RSS after warm-up, then with `idle_n` idle keep-alive
    connections or `streams_n` streams in flight."""
    gw, admin = free_port(), free_port()
    data = tempfile.mkdtemp(prefix="rampart-mem-")
    proc = subprocess.Popen([binary, "up", "--listen", f"127.0.0.1:{gw}", "--admin-listen", f"127.0.0.1:{admin}",
                             "--data-dir", data, "--upstream", f"openai=http://127.0.0.1:{up}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RAMPART_LOG": "warn"})
    held = []
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", gw), timeout=0.1).close(); break
            except OSError:
                await asyncio.sleep(0.05)
        # warm up: scanner, classifier, pools, and one stream
        for _ in range(20):
            r, w = await one_call(gw, False); w.close()
        r, w = await one_call(gw, True); w.close()
        await asyncio.sleep(1.0)
        base = rss_kib(proc.pid)
        for i in range(0, idle_n, 100):
            held += await asyncio.gather(*(one_call(gw, False) for _ in range(min(100, idle_n - i))))
        for i in range(0, streams_n, 50):
            held += await asyncio.gather(*(one_call(gw, True) for _ in range(min(50, streams_n - i))))
        await asyncio.sleep(2.0)
        return base, rss_kib(proc.pid)
    finally:
        for r, w in held:
            w.close()
        proc.terminate(); proc.wait(timeout=10)

async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--binary", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "rampart"))
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    up = free_port()
    server = await provider(up, 30)
    try:
        base, idle = await measure(a.binary, up, a.idle, 0)
        print(f"rampart up (default policy), {a.idle} idle keep-alive connections: RSS {base} -> {idle} KiB, "
              f"{(idle - base) / max(a.idle, 1):.1f} KiB per connection")
        base, streams = await measure(a.binary, up, 0, a.streams)
        print(f"rampart up (default policy), {a.streams} streams in flight: RSS {base} -> {streams} KiB, "
              f"{(streams - base) / max(a.streams, 1):.1f} KiB per stream")
    finally:
        server.close()

asyncio.run(main())
