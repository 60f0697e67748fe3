#!/usr/bin/env python3
"""Secrets that sit next to a name, side by side with detect-secrets.

Builds texts where a key is assigned to a name, in the syntaxes config and code use (.env,
shell, YAML, JSON, Python, JavaScript, Go, INI, properties, XML, Kubernetes env lists, TOML,
Bearer values), and texts that must not be reported (near-miss strings on their own, and names
assigned placeholders, references, paths and identifiers). Runs `rampart scan --jsonl` and
detect-secrets 1.5.0 (its keyword plugin alone, and all its plugins) on the same texts and
prints the share found or flagged.

Keys come from two sources, reported apart:
- `gitleaks`: the secret token of each must-match case of ../shared/data/gitleaks-rule-tests
  (the vendor fixtures). Rules are split in two halves by a hash of their id: `dev` may be read
  when changing detectors, `test` is only measured.
- `random`: keys drawn from a seeded generator of common key shapes (hex, base62, base64, UUID,
  prefixed tokens); `--seed 1` is the dev draw, `--seed 2` (default) the measured one.

  .venv/bin/pip install detect-secrets==1.5.0
  bench/keyed-secrets.py [--rampart target/release/rampart] [--split test|dev|all] [--verbose]
"""
import argparse, json, math, os, random, re, string, subprocess, sys, tempfile, uuid, zlib
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("RAMPART_SHARED_DATA", os.path.join(HERE, "..", "..", "shared", "data"))

SUFFIXES = ["API_KEY", "TOKEN", "SECRET", "SECRET_KEY", "ACCESS_TOKEN", "AUTH_TOKEN", "KEY",
            "CLIENT_SECRET", "API_TOKEN", "PRIVATE_KEY", "APIKEY", "ACCESS_KEY", "PASSWORD"]

# (name, template): {N} SCREAMING_SNAKE, {n} snake_case, {c} camelCase, {P} PascalCase, {d} dotted
TEMPLATES = [
    ("dotenv", '{N}="{s}"\n'),
    ("shell", "export {N}={s}\n"),
    ("yaml", '{n}: "{s}"\n'),
    ("yaml-bearer", '{n}: "Bearer {s}"\n'),
    ("json", '{{"{c}": "{s}", "region": "eu-west-1"}}\n'),
    ("python", "{n} = '{s}'\n"),
    ("javascript", 'const {c} = "{s}";\n'),
    ("go", '{c} := "{s}"\n'),
    ("ini", "[{v}]\n{n} = {s}\n"),
    ("properties", "{d}={s}\n"),
    ("xml", '<add key="{P}" value="{s}" />\n'),
    ("k8s-env", "env:\n  - name: {N}\n    value: \"{s}\"\n"),
    ("toml", '[{v}]\n{n} = "{s}"\n'),
]

# Values a name is often assigned that are not secrets.
NOT_SECRETS = [
    "${{{N}}}", "$({N})", "%{N}%", "{{{{ .Values.{c} }}}}", "<your-{v}-api-key>", "your_{n}_here",
    "os.environ['{N}']", "process.env.{N}", "env:{N}", "/etc/{v}/{n}.pem", "./secrets/{n}.txt",
    "https://{v}.example.com/oauth/token", "{N}_FILE", "changeme", "********", "xxxxxxxxxxxxxxxxxxxx",
    "true", "null", "3600", "v1.2.3", "{c}Value", "get{P}()", "ENC[AES256_GCM,data:...]",
    "vault:secret/data/{v}#{n}", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:{v}",
]


def names(vendor, suffix):
    words = re.split(r"[^a-z0-9]+", vendor.lower()) + suffix.lower().split("_")
    words = [w for w in words if w]
    return {
        "N": "_".join(words).upper(),
        "n": "_".join(words),
        "c": words[0] + "".join(w.capitalize() for w in words[1:]),
        "P": "".join(w.capitalize() for w in words),
        "d": ".".join(words),
        "v": words[0],
    }


def fill(template, vendor, suffix, secret):
    return template.format(s=secret, **names(vendor, suffix))


def entropy(s):
    c = Counter(s)
    return -sum(n / len(s) * math.log2(n / len(s)) for n in c.values())


TOKEN = re.compile(r"[A-Za-z0-9_\-+/=.~]{12,}")


def token_of(text):
    """The secret-looking token of a gitleaks case: the longest run of key characters with
    letters and digits, or None."""
    best = None
    for m in TOKEN.finditer(text):
        t = m.group(0).strip(".=-")
        if not (re.search(r"[0-9]", t) and re.search(r"[A-Za-z]", t)):
            continue
        if best is None or len(t) > len(best):
            best = t
    return best


def placeholder(tok):
    """Documentation keys (the words and runs Rampart's placeholder check names): EXAMPLE,
    1234567890-style runs, one character over half the token."""
    low = tok.lower()
    if any(w in low for w in ("example", "xxxx", "1234567890", "12345678-abcd", "abcdefghij", "0000000000")):
        return True
    return max(Counter(low).values()) * 2 > len(low) and len(low) >= 8


def half(rule):
    return "dev" if zlib.crc32(rule.encode()) % 2 == 0 else "test"


def gitleaks_keys():
    items = json.load(open(os.path.join(SHARED, "gitleaks-rule-tests", "cases.json")))["items"]
    keys, near = [], []
    skip_rules = {"generic-api-key", "curl-auth-user", "curl-auth-header", "kubernetes-secret-yaml",
                  "private-key", "pkcs12-file", "nuget-config-password", "hashicorp-tf-password"}
    for it in items:
        t = it["text"]
        if "%s" in t or "gitleaks:allow" in t:
            continue
        if it["label"] == "fp":
            if "\n" not in t.strip():
                near.append((it["rule_id"], t.strip()))
            continue
        if it["rule_id"] in skip_rules:
            continue
        tok = token_of(t)
        if tok:
            keys.append((it["rule_id"], tok))
    return sorted(set(keys)), sorted(set(near))


def random_keys(seed, n=120):
    rng = random.Random(seed)
    b62 = string.ascii_letters + string.digits
    shapes = [
        ("hex32", lambda: "".join(rng.choice("0123456789abcdef") for _ in range(32))),
        ("hex40", lambda: "".join(rng.choice("0123456789abcdef") for _ in range(40))),
        ("hex64", lambda: "".join(rng.choice("0123456789abcdef") for _ in range(64))),
        ("hex24", lambda: "".join(rng.choice("0123456789abcdef") for _ in range(24))),
        ("base62-20", lambda: "".join(rng.choice(b62) for _ in range(20))),
        ("base62-32", lambda: "".join(rng.choice(b62) for _ in range(32))),
        ("base62-48", lambda: "".join(rng.choice(b62) for _ in range(48))),
        ("base64-40", lambda: "".join(rng.choice(b62 + "+/") for _ in range(40))),
        ("uuid", lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))),
        ("UUID", lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()),
        ("prefixed", lambda: rng.choice(["live_", "prod_", "key-", "tok_", "sec_"]) + "".join(rng.choice(b62) for _ in range(28))),
        ("upper-digits-24", lambda: "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(24))),
    ]
    vendors = ["acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell", "soylent", "cyberdyne"]
    out = []
    for i in range(n):
        shape, gen = shapes[i % len(shapes)]
        out.append((f"{rng.choice(vendors)}/{shape}", gen()))
    return out


def look_alikes(seed, n=40):
    """Bare strings that look like keys and are not: digests, ids, versions, encoded text,
    identifiers, in the lines they are usually found in."""
    rng = random.Random(seed + 100)
    hx = lambda k: "".join(rng.choice("0123456789abcdef") for _ in range(k))
    b62 = string.ascii_letters + string.digits
    import base64
    words = ["alpha", "bravo", "config", "deploy", "render", "handler", "widget", "stream", "buffer", "parser"]
    gens = [
        lambda: f"commit {hx(40)}",
        lambda: f"Merge: {hx(7)} {hx(7)}",
        lambda: f"sha256:{hx(64)}",
        lambda: f'"integrity": "sha512-{base64.b64encode(bytes(rng.getrandbits(8) for _ in range(64))).decode()}"',
        lambda: f"image: registry.example.com/app@sha256:{hx(64)}",
        lambda: f'"id": "{uuid.UUID(int=rng.getrandbits(128), version=4)}"',
        lambda: f"request_id={uuid.UUID(int=rng.getrandbits(128), version=4)}",
        lambda: f"Trace-Id: {hx(32)}",
        lambda: f"version: {rng.randint(0, 9)}.{rng.randint(0, 40)}.{rng.randint(0, 99)}-rc.{rng.randint(1, 9)}+build.{rng.randint(100, 9999)}",
        lambda: f"checksum = \"{hx(64)}\"",
        lambda: f"etag: W/\"{hx(32)}\"",
        lambda: f"data: {base64.b64encode(' '.join(rng.choice(words) for _ in range(12)).encode()).decode()}",
        lambda: "".join(w.capitalize() for w in rng.sample(words, 5)) + "Factory" + str(rng.randint(1, 9)),
        lambda: f"https://cdn.example.com/assets/{rng.choice(words)}.{hx(20)}.js",
        lambda: f"timestamp={rng.randint(1600000000, 1800000000)}{rng.randint(100, 999)}",
        lambda: f"session_state: {''.join(rng.choice(b62) for _ in range(8))}",
        lambda: f"ObjectId(\"{hx(24)}\")",
        lambda: f"primary_key = \"{hx(32)}\"",
        lambda: f'"cacheKey": "{hx(40)}"',
        lambda: f'"publicKey": "{"".join(rng.choice(b62) for _ in range(43))}"',
    ]
    return [gens[i % len(gens)]() + "\n" for i in range(n * len(gens))]


def cases(split, seed):
    keys, near = gitleaks_keys()
    rng = random.Random(7)
    out = []  # (source, kind, label, text)
    for rule, tok in keys:
        if split != "all" and half(rule) != split:
            continue
        vendor = rule.split("-")[0]
        for name, tpl in TEMPLATES:
            src = "gitleaks:placeholder" if placeholder(tok) else "gitleaks"
            out.append((src, name, 1, fill(tpl, vendor, rng.choice(SUFFIXES), tok)))
    for label, tok in random_keys(seed):
        vendor = label.split("/")[0]
        for name, tpl in TEMPLATES:
            out.append(("random:" + label.split("/")[1], name, 1, fill(tpl, vendor, rng.choice(SUFFIXES), tok)))
    for rule, text in near:
        if split != "all" and half(rule) != split:
            continue
        out.append(("near-miss", "bare", 0, text + "\n"))
    for text in look_alikes(seed):
        out.append(("look-alike", "bare", 0, text))
    vendors = ["acme", "stripe", "github", "openai", "slack", "aws", "db", "smtp"]
    for v in vendors:
        for raw in NOT_SECRETS:
            for name, tpl in TEMPLATES:
                if name == "yaml-bearer":
                    continue
                suffix = rng.choice(SUFFIXES)
                value = raw.format(**names(v, suffix))
                out.append(("keyed-non-secret", name, 0, fill(tpl, v, suffix, value)))
    return out


def run_rampart(binary, texts):
    lines = "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts))
    res = subprocess.run([binary, "scan", "--jsonl"], input=lines.encode(), capture_output=True, check=False)
    hits = {}
    for line in res.stdout.decode().splitlines():
        o = json.loads(line)
        hits[o["id"]] = [f for f in o.get("findings", []) if f["class"] in ("SECRET", "PASSWORD", "API_KEY")]
    return hits


def run_detect_secrets(texts, keyword_only):
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import default_settings, transient_settings

    found = {}
    with tempfile.TemporaryDirectory() as d:
        paths = []
        exts = {"dotenv": ".env", "shell": ".sh", "yaml": ".yaml", "yaml-bearer": ".yaml", "json": ".json",
                "python": ".py", "javascript": ".js", "go": ".go", "ini": ".ini", "properties": ".properties",
                "xml": ".xml", "k8s-env": ".yaml", "toml": ".toml", "bare": ".txt"}
        for i, (kind, t) in enumerate(texts):
            p = os.path.join(d, f"{i}{exts.get(kind, '.txt')}")
            with open(p, "w") as f:
                f.write(t)
            paths.append(p)
        settings = ({"plugins_used": [{"name": "KeywordDetector"}]} if keyword_only else None)
        ctx = transient_settings(settings) if settings else default_settings()
        with ctx:
            for i, p in enumerate(paths):
                s = SecretsCollection()
                s.scan_file(p)
                found[i] = sum(len(v) for v in s.data.values()) > 0
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rampart", default=os.path.join(HERE, "..", "target", "release", "rampart"))
    ap.add_argument("--split", default="test", choices=["test", "dev", "all"])
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--no-peer", action="store_true")
    a = ap.parse_args()
    cs = cases(a.split, a.seed)
    texts = [c[3] for c in cs]
    r = run_rampart(a.rampart, texts)
    peers = {}
    if not a.no_peer:
        peers["d-s keyword"] = run_detect_secrets([(c[1], c[3]) for c in cs], True)
        peers["d-s all"] = run_detect_secrets([(c[1], c[3]) for c in cs], False)
    groups = defaultdict(list)
    for i, (src, kind, label, text) in enumerate(cs):
        key = "gitleaks keys" if src.startswith("gitleaks") else "random keys" if src.startswith("random") else src
        groups[key].append(i)
        if src == "gitleaks":
            groups["gitleaks keys, no placeholder"].append(i)
        groups[f"  by syntax: {kind}" if label else f"  non-secret syntax: {kind}"].append(i)
    cols = ["rampart"] + list(peers)
    print(f"split={a.split} seed={a.seed}")
    print(f"{'set':<34}{'texts':>7}" + "".join(f"{c:>14}" for c in cols))
    order = sorted(groups, key=lambda g: (g.startswith("  "), g))
    for g in order:
        idx = groups[g]
        row = [sum(1 for i in idx if r.get(i)) / len(idx)]
        row += [sum(1 for i in idx if peers[p].get(i)) / len(idx) for p in peers]
        print(f"{g:<34}{len(idx):>7}" + "".join(f"{100 * v:>13.1f}%" for v in row))
    if a.verbose:
        for i, (src, kind, label, text) in enumerate(cs):
            got = bool(r.get(i))
            if got != bool(label):
                print(("MISS " if label else "FP   ") + f"{src:<22}{kind:<12}{text.strip()!r}"
                      + ("" if label else f"  {[(f['detector'], text[f['start']:f['end']]) for f in r[i]]}"))


if __name__ == "__main__":
    main()
