"""Exact vs approximate top-k cosine search: `curatekit.embed.knn` on each backend, same corpus, same queries.

    python benchmarks/bench_knn.py [--sizes 100000 1000000] [--queries 10000] [--repeats 3] [--backends torch faiss faiss-ivf usearch usearch-f16]
                                   [--real N --corpora DIR]   # N real MiniLM embeddings of DIR/raw.parquet instead of the mixture

The corpus is 384-d (MiniLM's width): by default a seeded mixture of 1,000 Gaussians on the unit sphere with Zipf-sized
clusters, a point's cosine to its centre ≈ 0.7 and to its nearest neighbour ≈ 0.5-0.6, as MiniLM neighbours are; `--real N`
embeds N texts of the shared corpora (cached beside the data, reused). The queries are fresh points of the same mixture
(or held-out texts). The corpus lives in a `.npy` file that every run reads as a memmap, block by block.

Each backend runs in its own fresh process (so its peak RSS is its own), and the backends alternate `--repeats` times; the
median counts. Reported per backend: build s (index construction, incl. the recall calibration for the approximate ones),
query s, total s, recall@10 against the exact torch answer, peak RSS (MiB, the process's ru_maxrss: the memmapped corpus
pages it touched count too), and the load average after each run. The approximate backends run at `knn`'s defaults:
`recall=0.95` (calibrated on 256 seeded queries), `seed=0` (single-threaded HNSW build: reproducible).
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DIM = 384

RUN = r"""
import sys, time, json, resource, numpy as np, torch
sys.path.insert(0, {root!r})
import curatekit.embed as E
torch.set_num_threads({threads})
corpus = np.load({corpus!r}, mmap_mode="r"); q = torch.from_numpy(np.load({queries!r}))
times = {{}}
for name in ("_IVF", "_HNSW"):   # split build from query time: the index constructor and its calibration are the build
    cls = getattr(E, name); init = cls.__init__
    def timed(self, *a, _init=init, **kw):
        t = time.perf_counter(); _init(self, *a, **kw); times["build"] = times.get("build", 0) + time.perf_counter() - t
    cls.__init__ = timed
cal = E._calibrate
def timed_cal(*a, **kw):
    t = time.perf_counter(); r = cal(*a, **kw); times["build"] = times.get("build", 0) + time.perf_counter() - t; times["calibrated"] = r; return r
E._calibrate = timed_cal
t = time.perf_counter()
s, i = E.knn(q, corpus, {k}, backend={backend!r}, device="cpu")
total = time.perf_counter() - t
np.save({out!r}, i.numpy())
print(json.dumps(dict(total=total, build=times.get("build", 0.0), calibrated=times.get("calibrated"),
                      rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
"""


def mixture(path: Path, n: int, seed: int, centres: np.ndarray, sizes: np.ndarray, block: int = 100_000):
    "n points of the mixture into a float32 .npy memmap, block by block (bounded memory)."
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, DIM))
    g = np.random.default_rng(seed)
    for s in range(0, n, block):
        m = min(block, n - s)
        c = centres[g.choice(len(centres), m, p=sizes)]
        x = c + 0.052 * g.standard_normal((m, DIM), dtype=np.float32)
        mm[s:s+m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    mm.flush(); del mm


def make_data(d: Path, n: int, nq: int, args) -> tuple[Path, Path]:
    corpus, queries = d/f"corpus_{n}.npy", d/f"queries_{n}_{nq}.npy"
    if corpus.exists() and queries.exists(): return corpus, queries
    if args.real:
        import polars as pl, torch
        sys.path.insert(0, str(ROOT))
        from curatekit.embed import encode
        torch.set_num_threads(args.threads)
        texts = pl.read_parquet(Path(args.corpora)/"raw.parquet", columns=["text"])["text"]
        texts = texts.filter(texts.str.len_chars() > 0).sample(n + nq, seed=0, shuffle=True).str.slice(0, 1000).to_list()
        v = encode(texts).numpy().astype(np.float32)
        np.save(corpus, v[:n]); np.save(queries, v[n:])
        return corpus, queries
    g = np.random.default_rng(0)
    centres = g.standard_normal((1000, DIM)).astype(np.float32); centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sizes = 1 / np.arange(1, 1001) ** 0.8; sizes /= sizes.sum()
    mixture(corpus, n, 1, centres, sizes); mixture(queries, nq, 2, centres, sizes)
    return corpus, queries


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--backends", nargs="+", default=["torch", "faiss", "faiss-ivf", "usearch", "usearch-f16"])
    ap.add_argument("--real", action="store_true", help="real MiniLM embeddings of --corpora raw.parquet (the first size only)")
    ap.add_argument("--corpora", default="/tmp/corpora")
    ap.add_argument("--data", default=None, help="folder for the generated .npy files (default: a temporary folder)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    d = Path(args.data or tmp.name); d.mkdir(parents=True, exist_ok=True)
    backends = ["torch"] + [b for b in args.backends if b != "torch"]   # torch first: the exact answer recall is measured against
    rows = []
    for n in args.sizes:
        corpus, queries = make_data(d, n, args.queries, args)
        res = {b: [] for b in backends}
        for rep in range(args.repeats):
            for b in backends:
                out = d/f"idx_{n}_{b}.npy"
                code = RUN.format(root=str(ROOT), threads=args.threads, corpus=str(corpus), queries=str(queries), k=args.k, backend=b, out=str(out))
                p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "CURATEKIT_PROGRESS": "0"})
                if p.returncode: sys.exit(f"{b} at {n:,} rows failed:\n{p.stderr[-2000:]}")
                r = json.loads(p.stdout.strip().splitlines()[-1]); r["load"] = os.getloadavg()[0]
                truth, got = np.load(d/f"idx_{n}_torch.npy"), np.load(out)
                r["recall"] = float(np.mean([len(set(a) & set(c)) for a, c in zip(truth.tolist(), got.tolist())]) / truth.shape[1])
                res[b].append(r)
                print(f"  {n:>9,} {b:<12} run {rep + 1}: total {r['total']:7.1f} s  build {r['build']:6.1f} s  recall@{args.k} {r['recall']:.4f}"
                      f"  rss {r['rss_mib']:6.0f} MiB  load {r['load']:.1f}", file=sys.stderr, flush=True)
        for b in backends:
            med = lambda key: statistics.median(r[key] for r in res[b])
            rows.append((n, b, med("build"), med("total") - med("build"), med("total"), med("recall"), med("rss_mib"),
                         [round(r["load"], 1) for r in res[b]]))
    ref = {n: t for n, b, _, _, t, *_ in rows if b == "torch"}
    src = "real MiniLM embeddings" if args.real else "Gaussian mixture on the sphere"
    print(f"\nkNN, {DIM}-d {src}, {args.queries:,} queries, k={args.k}, {args.threads} threads, median of {args.repeats}; load after each run in the last column\n")
    print("| corpus rows | backend | build s | query s | total s | vs exact torch | recall@10 | peak RSS MiB | load |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for n, b, bs, qs, ts, rc, rss, loads in rows:
        print(f"| {n:,} | {b} | {bs:.1f} | {qs:.1f} | {ts:.1f} | {ref[n] / ts:.2f}× | {rc:.4f} | {rss:,.0f} | {', '.join(map(str, loads))} |")


if __name__ == "__main__":
    main()
