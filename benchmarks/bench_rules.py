"""Heuristic rule sets: curatekit (vectorized polars) vs datatrove's filters, side by side on the same documents.

    python benchmarks/bench_rules.py                          # documents built from this Python's standard library
    python benchmarks/bench_rules.py --corpora /work/corpora --n 3000   # a sample of the shared raw pool (raw.parquet)

datatrove runs in the benchmark-only venv (`--peers`), one process, calling each filter per document as its pipeline does;
curatekit runs each rule set on the whole frame (best of `--repeats`; datatrove takes minutes per pass, so it runs once). Reported: per-document keep/drop agreement and the docs/s ratio.
"""
import argparse, inspect, json, os, pkgutil, random, subprocess, sys, tempfile, time, importlib
from pathlib import Path
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
RULES = ["gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality"]

def generate(n=2000, seed=0):
    "Prose (docstrings), code (module sources) and repetitive pages from the standard library."
    rng, docs = random.Random(seed), []
    names = sorted(m.name for m in pkgutil.iter_modules() if not m.name.startswith("_") and m.module_finder.path.endswith(("lib/python3.11", "lib/python3.12")))
    for name in names:
        if name in ("this", "antigravity", "idlelib", "turtledemo", "tkinter", "turtle"): continue
        try: mod = importlib.import_module(name)
        except Exception: continue
        try: src = inspect.getsource(mod)
        except Exception: src = ""
        for i in range(0, min(len(src), 12000), 4000): docs.append(src[i:i + 4000])
        for _, obj in inspect.getmembers(mod, lambda o: inspect.isclass(o) or inspect.isfunction(o))[:20]:
            d = inspect.getdoc(obj)
            if d and len(d) > 200: docs.append(d)
    rng.shuffle(docs)
    docs = docs[:n]
    for i in range(0, len(docs), 10):  # every tenth doc made repetitive, as boilerplate-heavy pages are
        lines = docs[i].splitlines() or [docs[i]]
        docs[i] = "\n".join(rng.choice(lines) for _ in range(len(lines) * 2))
    return pl.DataFrame({"id": [f"d{i}" for i in range(len(docs))], "text": docs})

PEER = r'''
import sys, time, json, polars as pl
from datatrove.data import Document
from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter, FineWebQualityFilter
df = pl.read_parquet(sys.argv[1]); res = {}
for name, F in [("gopher_quality", GopherQualityFilter), ("gopher_repetition", GopherRepetitionFilter),
                ("c4_quality", C4QualityFilter), ("fineweb_quality", FineWebQualityFilter)]:
    f = F(); f.filter(Document(text="warm up the tokenizer.", id="w"))
    t0 = time.perf_counter()
    ok = [f.filter(Document(text=t or "", id=str(i))) is True for i, t in enumerate(df["text"])]
    res[name] = {"seconds": time.perf_counter() - t0, "ok": ok}
open(sys.argv[2], "w").write(json.dumps(res))
'''

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", help="directory with raw.parquet")
    ap.add_argument("--n", type=int, default=2000, help="documents")
    ap.add_argument("--repeats", type=int, default=3, help="curatekit timing: best of this many runs (datatrove: one pass)")
    ap.add_argument("--peers", default=os.environ.get("CURATEKIT_PEERS", "/work/venv-peers/bin/python"))
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from curatekit import signals
    if a.corpora:
        df = pl.read_parquet(Path(a.corpora) / "raw.parquet").sample(a.n, seed=0).select("id", "text")
        name = f"shared raw pool, sample of {len(df):,} docs"
    else:
        df, name = generate(a.n), None
        name = f"standard-library docs and code, {len(df):,} docs"
    tmp = Path(tempfile.mkdtemp())
    df.write_parquet(tmp / "data.parquet")
    ours = {}
    signals.gopher_quality(df.head(10))  # warm-up
    for r in RULES:
        fn = getattr(signals, r)
        sec = float("inf")
        for _ in range(a.repeats):
            t0 = time.perf_counter(); out = fn(df); sec = min(sec, time.perf_counter() - t0)
        ours[r] = {"seconds": sec, "ok": out[f"{r}_ok"].to_list(), "reason": out[f"{r}_reason"].to_list()}
    peer = None
    if Path(a.peers).exists():
        (tmp / "peer.py").write_text(PEER)
        cp = subprocess.run([a.peers, str(tmp / "peer.py"), str(tmp / "data.parquet"), str(tmp / "peer.json")], capture_output=True, text=True)
        if cp.returncode == 0: peer = json.loads((tmp / "peer.json").read_text())
        else: print("datatrove failed:", cp.stderr[-2000:])
    print(f"\n{name}\n")
    print("| rule set | curatekit docs/s | datatrove docs/s | speed-up | decision agreement | kept (curatekit / datatrove) |")
    print("|---|---|---|---|---|---|")
    for r in RULES:
        o = ours[r]; cs = len(df) / o["seconds"]
        if peer:
            p = peer[r]; ps = len(df) / p["seconds"]
            agree = sum(x == y for x, y in zip(o["ok"], p["ok"])) / len(df)
            print(f"| {r} | {cs:,.0f} | {ps:,.0f} | {cs / ps:.1f}× | {agree:.2%} | {sum(o['ok']) / len(df):.1%} / {sum(p['ok']) / len(df):.1%} |")
        else: print(f"| {r} | {cs:,.0f} | – | – | – | {sum(o['ok']) / len(df):.1%} / – |")

if __name__ == "__main__": main()
