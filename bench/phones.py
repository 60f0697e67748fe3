#!/usr/bin/env python3
"""Recall of PHONE_NUMBER on every region's example numbers from libphonenumber's metadata (the
`phonenumbers` package), written in national and international format after a context phrase,
and false positives on look-alikes (order numbers, versions, dates, timestamps, amounts).

  .venv/bin/pip install phonenumbers && .venv/bin/python bench/phones.py [--split test|dev|all]

Regions are split in two halves by a hash of their code: changes are made from the `dev` half's
misses (`--split dev --verbose`); the `test` half (the default) is only measured.
"""
import argparse, collections, json, os, random, subprocess, zlib

import phonenumbers
from phonenumbers import PhoneNumberFormat as F, PhoneNumberType as T

HERE = os.path.dirname(os.path.abspath(__file__))
CONTEXTS = ["call me at {}", "my phone number is {}", "you can reach me on {} after five", "Tel: {}", "mobile {}"]
TYPES = [T.FIXED_LINE, T.MOBILE]


def lookalikes(rng):
    out = []
    for _ in range(300):
        out.append(f"order number {rng.randint(10**7, 10**10)} shipped")
        out.append(f"version {rng.randint(1, 30)}.{rng.randint(0, 99)}.{rng.randint(0, 999)}")
        out.append(f"on {rng.randint(2000, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} at {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}")
        out.append(f"total ${rng.randint(1000, 999999):,}.{rng.randint(0, 99):02d} due")
        out.append(f"timestamp {rng.randint(1_500_000_000, 1_900_000_000)}")
        out.append(f"invoice INV-{rng.randint(100000, 999999)}-{rng.randint(10, 99)}")
    # numbers near words that also open phone numbers, and other short numbers
    for _ in range(100):
        out.append(f"the API call took {rng.randint(100, 99999)} ms")
        out.append(f"we made {rng.randint(10000, 999999)} calls last month")
        out.append(f"mobile app build {rng.randint(10000, 999999)} is out")
        out.append(f"zip code {rng.randint(10000, 99999)}")
        out.append(f"your one-time code is {rng.randint(100000, 999999)}")
        out.append(f"error code {rng.randint(10000, 99999)} returned")
        out.append(f"listening on port {rng.randint(1024, 65535)}")
        out.append(f"ISBN 978-{rng.randint(0, 9)}-{rng.randint(10, 99)}-{rng.randint(100000, 999999)}-{rng.randint(0, 9)}")
        out.append(f"coordinates {rng.uniform(-90, 90):.4f}, {rng.uniform(-180, 180):.4f}")
        out.append(f"population {rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(100, 999)}")
        out.append(f"released as v{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 99)} on {rng.randint(1, 28)}.{rng.randint(1, 12)}.{rng.randint(2000, 2030)}")
        out.append(f"office hours 09:00-17:30, room {rng.randint(100, 9999)}")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "rampart"))
    ap.add_argument("--verbose", action="store_true", help="list every miss (public example numbers)")
    ap.add_argument("--split", default="test", choices=["test", "dev", "all"])
    a = ap.parse_args()
    rng = random.Random(4)
    rows = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        half = "dev" if zlib.crc32(region.encode()) % 2 == 0 else "test"
        if a.split != "all" and half != a.split:
            continue
        for t in TYPES:
            n = phonenumbers.example_number_for_type(region, t)
            if n is None:
                continue
            for fmt, name in ((F.NATIONAL, "national"), (F.INTERNATIONAL, "international")):
                s = phonenumbers.format_number(n, fmt)
                ctx = rng.choice(CONTEXTS)
                rows.append({"region": region, "format": name, "text": ctx.format(s), "number": s, "phone": True})
    for t in lookalikes(rng):
        rows.append({"region": "-", "format": "look-alike", "text": t, "number": "", "phone": False})
    inp = "".join(json.dumps({"id": i, "text": r["text"]}) + "\n" for i, r in enumerate(rows))
    out = subprocess.run([a.binary, "scan", "--jsonl", "--no-llm"], input=inp, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        o = json.loads(line)
        found[o["id"]] = o["findings"]
    by = collections.defaultdict(lambda: [0, 0])
    regions = collections.defaultdict(lambda: [0, 0])
    fp = 0
    misses = []
    for i, r in enumerate(rows):
        fs = found.get(i, [])
        text = r["text"]
        if r["phone"]:
            start = text.index(r["number"])
            end = start + len(r["number"])
            hit = any(f["class"] == "PHONE_NUMBER" and f["start"] < end and f["end"] > start for f in fs)
            by[r["format"]][0] += 1
            by[r["format"]][1] += hit
            regions[r["region"]][0] += 1
            regions[r["region"]][1] += hit
            if not hit:
                misses.append((r["region"], r["format"], text))
        else:
            flagged = [text[f["start"]:f["end"]] for f in fs if f["class"] == "PHONE_NUMBER"]
            fp += bool(flagged)
            if flagged:
                misses.append(("look-alike flagged", flagged, text))
    neg = sum(1 for r in rows if not r["phone"])
    print(f"split={a.split}")
    for k, (n, h) in by.items():
        print(f"{k:14s} {h}/{n} = {100 * h / n:.1f}%")
    full = sum(1 for n, h in regions.values() if h == n)
    below = sorted((h / n, reg) for reg, (n, h) in regions.items() if h / n < 0.95)
    print(f"regions with every example found: {full}/{len(regions)}; below 95%: {len(below)}")
    print(f"look-alikes flagged: {fp}/{neg} = {100 * fp / neg:.2f}%")
    if a.verbose:
        for m in misses:
            print("  missed", m)


if __name__ == "__main__":
    main()
