#!/usr/bin/env python3
"""Benign documents pasted into a prompt: how often the direct injection classifier records or
blocks them under the default policy's thresholds.

Users paste documentation, code and logs into their own messages ("Summarize this for me: …"),
where the direct classifier reads them as a prompt, not as third-party content. This builds such
prompts from the open-world chunks of bench/benign-content.py (seed 7: man pages, Python
docstrings and source, licences, changelogs and READMEs, HAR bodies, API descriptions), one chunk
per prompt and, per domain, 40 prompts of four chunks each (long documents), and scores them with
`rampart scan --jsonl` (prompts, the policy's 0.7). A finding counts as blocked when it scores 0.9
or more with a structural signal (detector other than `prompt_injection_model`), as the default
policy's `injections-with-a-signal` rule blocks.

  bench/pasted-documents.py [--binary target/release/rampart] [--verbose]
"""
import argparse, collections, json, os, random, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "rampart"))
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    out = subprocess.run([sys.executable, os.path.join(HERE, "benign-content.py"), "--per-domain", "150", "--seed", "7"],
                         capture_output=True, text=True, check=True).stdout
    rows = [json.loads(l) for l in out.splitlines()]
    prompts = []
    for r in rows:
        prompts.append((r["domain"], "one chunk", "Summarize this for me:\n\n" + r["text"]))
    rng = random.Random(3)
    by = collections.defaultdict(list)
    for r in rows:
        by[r["domain"]].append(r["text"])
    for d in sorted(by):
        for _ in range(40):
            parts = rng.sample(by[d], min(4, len(by[d])))
            prompts.append((d, "four chunks", "Here is a document. What are the key points?\n\n" + "\n\n".join(parts)))
    inp = "".join(json.dumps({"id": i, "text": t}) + "\n" for i, (_, _, t) in enumerate(prompts))
    res = subprocess.run([a.binary, "scan", "--jsonl", "--injection-threshold", "0.7"], input=inp, capture_output=True, text=True)
    if res.returncode not in (0, 1):
        sys.exit(f"rampart scan failed ({res.returncode}): {res.stderr[-2000:]}")
    counts = collections.defaultdict(lambda: [0, 0, 0])
    listed = []
    for line in res.stdout.splitlines():
        v = json.loads(line)
        d, kind, text = prompts[v["id"]]
        inj = [f for f in v["findings"] if f["class"] == "PROMPT_INJECTION"]
        c = counts[(d, kind)]
        c[0] += 1
        c[1] += bool(inj)
        blocked = any(f["score"] >= 0.9 and f["detector"] != "prompt_injection_model" for f in inj)
        c[2] += blocked
        for f in inj:
            listed.append((d, kind, f["detector"], f["score"], blocked, text[f["start"]:f["start"] + 120].replace("\n", " ")))
    print("| domain | prompt | prompts | recorded (score >= 0.7) | blocked (>= 0.9 with a signal) |")
    print("|---|---|---|---|---|")
    tot = [0, 0, 0]
    for k in sorted(counts):
        n, r, b = counts[k]
        tot = [x + y for x, y in zip(tot, counts[k])]
        print(f"| {k[0]} | {k[1]} | {n} | {r} | {b} |")
    n, r, b = tot
    print(f"| **all** | | {n} | {r} ({100 * r / n:.1f}%) | {b} ({100 * b / n:.2f}%) |")
    if a.verbose:
        for row in listed:
            print("  %s | %s | %s %.3f%s | %s" % (row[0], row[1], row[2], row[3], " BLOCKED" if row[4] else "", row[5]))


if __name__ == "__main__":
    main()
