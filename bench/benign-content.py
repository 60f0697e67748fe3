#!/usr/bin/env python3
"""Builds a corpus of benign third-party content of several domains from what this machine
holds (man pages, Python standard library docstrings and code, licence texts, package
changelogs and READMEs, HAR response bodies, OpenAPI descriptions), cut into chunks of
400-1,600 characters, as JSON lines {"id", "domain", "text"} on stdout. None of it was used to
train the injection models; it measures how often clean content is flagged.

  bench/benign-content.py [--per-domain N] [--seed S] > benign.jsonl
"""
import argparse, ast, glob, gzip, json, os, random, re, subprocess, sys

SHARED = os.environ.get("RAMPART_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data"))


def chunks(text, rng, lo=400, hi=1600):
    text = text.strip()
    out = []
    while len(text) >= lo:
        n = rng.randint(lo, hi)
        cut = text.rfind("\n", lo, n)
        cut = cut if cut > 0 else n
        out.append(text[:cut].strip())
        text = text[cut:].lstrip()
    return [c for c in out if len(c) >= lo // 2]


def man_pages(rng, n):
    pages = sorted(glob.glob("/usr/share/man/man1/*.gz"))
    rng.shuffle(pages)
    for p in pages[: n * 3]:
        try:
            txt = subprocess.run(["man", "-l", "-P", "cat", p], capture_output=True, text=True,
                                 timeout=10, env={**os.environ, "MANWIDTH": "80", "LANG": "C.UTF-8"}).stdout
        except Exception:
            continue
        txt = re.sub(r".\x08", "", txt)
        yield from chunks(txt, rng)[:2]


def python_docs(rng, n):
    import sysconfig
    files = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))
    rng.shuffle(files)
    for f in files[: n * 2]:
        try:
            tree = ast.parse(open(f, encoding="utf-8").read())
        except Exception:
            continue
        docs = [ast.get_docstring(x) for x in ast.walk(tree)
                if isinstance(x, (ast.Module, ast.ClassDef, ast.FunctionDef))]
        text = "\n\n".join(d for d in docs if d and len(d) > 80)
        yield from chunks(text, rng)[:2]


def python_code(rng, n):
    import sysconfig
    files = sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "*.py")))
    rng.shuffle(files)
    for f in files[:n]:
        try:
            yield from chunks(open(f, encoding="utf-8").read(), rng)[:1]
        except Exception:
            continue


def licences(rng, n):
    for f in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(f):
            yield from chunks(open(f, encoding="utf-8", errors="replace").read(), rng)[:4]


def changelogs(rng, n):
    files = sorted(glob.glob("/usr/share/doc/*/changelog*.gz") + glob.glob("/usr/share/doc/*/NEWS*.gz")
                   + glob.glob("/usr/share/doc/*/README*"))
    rng.shuffle(files)
    for f in files[: n * 2]:
        try:
            data = gzip.open(f).read() if f.endswith(".gz") else open(f, "rb").read()
            yield from chunks(data.decode("utf-8", "replace"), rng)[:1]
        except Exception:
            continue


def har_bodies(rng, n):
    for f in sorted(glob.glob(os.path.join(SHARED, "har-captures", "*.har"))):
        try:
            har = json.load(open(f, encoding="utf-8-sig"))
        except Exception:
            continue
        for e in har.get("log", {}).get("entries", []):
            t = (e.get("response", {}).get("content", {}) or {}).get("text") or ""
            if len(t) >= 200 and not t.lstrip().startswith("<"):
                yield from chunks(t, rng, 200, 1600)[:2]


def api_descriptions(rng, n):
    for f in sorted(glob.glob(os.path.join(SHARED, "openapi-specs", "**", "*"), recursive=True)):
        if not os.path.isfile(f) or not re.search(r"\.(json|ya?ml)$", f):
            continue
        raw = open(f, encoding="utf-8", errors="replace").read()
        descs = re.findall(r'"description"\s*:\s*"((?:[^"\\]|\\.){80,})"', raw)
        descs += re.findall(r"description:\s*[|>]?-?\s*\n?((?:\s{2,}.+\n){2,})", raw)
        text = "\n\n".join(d.replace("\\n", "\n") for d in descs)
        yield from chunks(text, rng)[:6]


DOMAINS = {
    "man pages": man_pages,
    "python docstrings": python_docs,
    "python code": python_code,
    "licences": licences,
    "changelogs and READMEs": changelogs,
    "HAR response bodies": har_bodies,
    "API descriptions": api_descriptions,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-domain", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    for name, gen in DOMAINS.items():
        rng = random.Random(f"{a.seed}/{name}")
        seen = 0
        for text in gen(rng, a.per_domain):
            if seen >= a.per_domain:
                break
            print(json.dumps({"id": f"{name}/{seen}", "domain": name, "text": text}))
            seen += 1
        print(f"{name}: {seen}", file=sys.stderr)


if __name__ == "__main__":
    main()
