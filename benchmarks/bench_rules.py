"""Heuristic rule sets: curatekit (vectorized polars) vs datatrove's filters, side by side on the same documents.

    python benchmarks/bench_rules.py                          # documents built from this Python's standard library
    python benchmarks/bench_rules.py --corpora DIR --n 3000           # a sample of the shared raw pool (DIR/raw.parquet)
    python benchmarks/bench_rules.py --corpora DIR --n 10000 --heavy  # the same with a heavy tail: documents of 64 kB to 4 MB
    python benchmarks/bench_rules.py --corpora DIR --n 3000 --heavy --parts  # and CPU MB/s of each side on the long documents vs the rest

datatrove runs in the benchmark-only venv (`--peers`, built by ../shared/peers/setup.sh), one process, calling each filter per
document as its pipeline does; curatekit runs each rule set on the whole frame. `--rounds` alternating rounds (the order swapped
each round), each side timed once per round; reported: the median docs/s of each side, their ratio, the per-round ratios, the
load average, and per-document keep/drop agreement.
"""
import argparse, inspect, json, os, pkgutil, random, subprocess, sys, tempfile, time, importlib
from pathlib import Path
import polars as pl
import heavy
from heavy import heavy_pool, load

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
parts = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None  # {name: [start, end]}: CPU seconds on those rows instead
for name, F in [("gopher_quality", GopherQualityFilter), ("gopher_repetition", GopherRepetitionFilter),
                ("c4_quality", C4QualityFilter), ("fineweb_quality", FineWebQualityFilter)]:
    f = F(); f.filter(Document(text="warm up the tokenizer.", id="w"))
    if parts is None:
        t0 = time.perf_counter()
        ok = [f.filter(Document(text=t or "", id=str(i))) is True for i, t in enumerate(df["text"])]
        res[name] = {"seconds": time.perf_counter() - t0, "ok": ok}
    else:
        res[name] = {}
        for part, (a, b) in parts.items():
            c0 = time.process_time(); [f.filter(Document(text=t or "", id=str(i))) for i, t in enumerate(df["text"][a:b])]
            res[name][part] = time.process_time() - c0
open(sys.argv[2], "w").write(json.dumps(res))
'''

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", help="directory with raw.parquet")
    ap.add_argument("--n", type=int, default=2000, help="documents")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of both sides (medians reported)")
    ap.add_argument("--heavy", action="store_true", help="replace 18 documents by long ones (64 kB to 4 MB; benchmarks/heavy.py)")
    ap.add_argument("--parts", action="store_true", help="with --heavy: MB per CPU second of each side on the longest document, the long ones, the rest")
    ap.add_argument("--peers", default=os.environ.get("CURATEKIT_PEERS", str(ROOT.parent/".venv-peers/bin/python")),
                    help="the peers venv's python (default: $CURATEKIT_PEERS, else ../.venv-peers beside the repository)")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from curatekit import signals
    if a.corpora:
        raw = pl.read_parquet(Path(a.corpora) / "raw.parquet")
        df = (heavy_pool(raw, a.n) if a.heavy else raw.sample(a.n, seed=0)).select(pl.col("id").cast(pl.String), "text")
        name = f"shared raw pool, sample of {len(df):,} docs" + (f" with a heavy tail ({df['text'].str.len_bytes().max() / 2**20:.0f} MB longest, {df['text'].str.len_bytes().sum() / 2**20:.0f} MB in all)" if a.heavy else "")
    else:
        df = generate(a.n)
        name = f"standard-library docs and code, {len(df):,} docs"
    tmp = Path(tempfile.mkdtemp())
    df.write_parquet(tmp / "data.parquet")
    signals.gopher_quality(df.head(10))  # warm-up
    have_peer = Path(a.peers).exists()
    if have_peer: (tmp / "peer.py").write_text(PEER)
    else: print(f"no peers venv at {a.peers}: curatekit alone (build it with ../shared/peers/setup.sh)")
    ours, peer, loads = {r: [] for r in RULES}, {r: [] for r in RULES}, []
    for k in range(a.rounds):
        loads.append(os.getloadavg()[0])
        sides = ["ours", "peer"] if k % 2 == 0 else ["peer", "ours"]
        for side in sides:
            if side == "ours":
                for r in RULES:
                    t0 = time.perf_counter(); out = getattr(signals, r)(df); sec = time.perf_counter() - t0
                    ours[r].append({"seconds": sec, "ok": out[f"{r}_ok"].to_list()})
            elif have_peer:
                cp = subprocess.run([a.peers, str(tmp / "peer.py"), str(tmp / "data.parquet"), str(tmp / "peer.json")], capture_output=True, text=True)
                if cp.returncode: raise SystemExit("datatrove failed: " + cp.stderr[-2000:])
                for r, v in json.loads((tmp / "peer.json").read_text()).items(): peer[r].append(v)
        print(f"round {k + 1}/{a.rounds} done ({load()})", flush=True)
    med = lambda xs: sorted(xs)[len(xs) // 2]
    print(f"\n{name}; {a.rounds} alternating rounds, medians; load average (1 min) at the rounds' starts {min(loads):.1f}–{max(loads):.1f}, {os.cpu_count()} cores\n")
    print("| rule set | curatekit docs/s | datatrove docs/s | speed-up (per round) | decision agreement | kept (curatekit / datatrove) |")
    print("|---|---|---|---|---|---|")
    for r in RULES:
        o = ours[r]; cs = len(df) / med([x["seconds"] for x in o]); ok = o[0]["ok"]
        if peer[r]:
            p = peer[r]; ps = len(df) / med([x["seconds"] for x in p]); pok = p[0]["ok"]
            per = ", ".join(f"{x['seconds'] / y['seconds']:.1f}" for x, y in zip(p, o))
            agree = sum(x == y for x, y in zip(ok, pok)) / len(df)
            print(f"| {r} | {cs:,.0f} | {ps:,.0f} | **{cs / ps:.1f}×** ({per}) | {agree:.2%} | {sum(ok) / len(df):.1%} / {sum(pok) / len(df):.1%} |")
        else: print(f"| {r} | {cs:,.0f} | – | – | – | {sum(ok) / len(df):.1%} / – |")
    if a.parts and a.heavy: parts(df, signals, a.peers if have_peer else None, tmp)

def parts(df, signals, peers, tmp):
    "MB per CPU second (process time, one pass each) on the longest document, the long ones and the rest: where each side's time goes."
    k = len(heavy.TAIL)
    ranges = {"longest document": (0, 1), f"{k} long documents": (0, k), f"{len(df) - k:,} others": (k, len(df))}
    mb = {p: df["text"][a:b].str.len_bytes().sum() / 1e6 for p, (a, b) in ranges.items()}
    ours = {r: {} for r in RULES}
    for r in RULES:
        for p, (a, b) in ranges.items():
            c0 = time.process_time(); getattr(signals, r)(df.slice(a, b - a)); ours[r][p] = time.process_time() - c0
    peer = {}
    if peers:
        cp = subprocess.run([peers, str(tmp / "peer.py"), str(tmp / "data.parquet"), str(tmp / "parts.json"), json.dumps(ranges)], capture_output=True, text=True)
        if cp.returncode: raise SystemExit("datatrove failed: " + cp.stderr[-2000:])
        peer = json.loads((tmp / "parts.json").read_text())
    print(f"\nMB per CPU second, each part alone, one pass ({load()}): curatekit / datatrove\n")
    print("| rule set | " + " | ".join(f"{p} ({mb[p]:.1f} MB)" for p in ranges) + " |")
    print("|---|" + "---|" * len(ranges))
    for r in RULES:
        cell = lambda p: f"{mb[p] / ours[r][p]:.1f} / " + (f"{mb[p] / peer[r][p]:.1f}" if peer else "–")
        print(f"| {r} | " + " | ".join(cell(p) for p in ranges) + " |")

if __name__ == "__main__": main()
