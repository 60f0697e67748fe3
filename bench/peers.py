"""Times detect-secrets and Presidio (pattern-only, spaCy blank English) on the benchmark inputs
written by `rampart-scan-bench --write-inputs DIR`, and prints one JSON line per tool and input.

Usage: python peers.py INPUT_DIR [--presidio-max-bytes N]
"""
import json
import os
import statistics
import sys
import time


def chunks(text, size=100_000):
    """Splits text on line ends into pieces of about `size` characters (spaCy's limit is 1e6)."""
    out, cur, n = [], [], 0
    for line in text.splitlines(keepends=True):
        cur.append(line)
        n += len(line)
        if n >= size:
            out.append("".join(cur))
            cur, n = [], 0
    if cur:
        out.append("".join(cur))
    return out


def time_runs(fn, runs):
    times, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def detect_secrets_runner(path):
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import default_settings

    def run():
        with default_settings():
            secrets = SecretsCollection()
            secrets.scan_file(path)
            return sum(len(v) for v in secrets.data.values())

    return run


def presidio_runner(text):
    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": "blank"}])
    engine.nlp = {"en": spacy.blank("en")}
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    pieces = chunks(text)

    def run():
        return sum(len(analyzer.analyze(text=p, language="en")) for p in pieces)

    return run


def main():
    folder = sys.argv[1]
    presidio_max = 2_000_000
    if "--presidio-max-bytes" in sys.argv:
        presidio_max = int(sys.argv[sys.argv.index("--presidio-max-bytes") + 1])
    for name in ["benign_prompts", "benign_api_json", "pii_dense_text", "mixed_10mb"]:
        path = os.path.join(folder, name + ".txt")
        raw = open(path, "rb").read()
        secs, found = time_runs(detect_secrets_runner(path), 3)
        print(json.dumps({"tool": "detect-secrets", "input": name, "bytes": len(raw), "seconds": secs,
                          "mb_per_s": len(raw) / secs / 1e6, "findings": found}), flush=True)
        # Presidio is slow: it is timed on the first `presidio_max` bytes (whole lines) and
        # its rate is what is compared.
        text = raw[:presidio_max].decode("utf-8", "ignore")
        text = text[: text.rfind("\n") + 1] or text
        secs, found = time_runs(presidio_runner(text), 3)
        nbytes = len(text.encode("utf-8"))
        print(json.dumps({"tool": "presidio", "input": name, "bytes": nbytes, "seconds": secs,
                          "mb_per_s": nbytes / secs / 1e6, "findings": found}), flush=True)


if __name__ == "__main__":
    main()
