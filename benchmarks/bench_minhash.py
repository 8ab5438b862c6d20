"""MinHash near-duplicate detection: curatekit vs datasketch MinHashLSH and rensa, side by side on the same data.

    python benchmarks/bench_minhash.py                       # a generated near-dup set (known perturbation rates)
    python benchmarks/bench_minhash.py --corpora /work/corpora   # the shared near-dup set (neardup.parquet + neardup_pairs.parquet)
    python benchmarks/bench_minhash.py --corpora DIR --heavy # the same plus 18 long documents of 64 kB to 4 MB (a heavy tail)
    python benchmarks/bench_minhash.py --device cuda         # curatekit's signatures on the GPU

Each tool runs in its own process (peers from the benchmark-only venv, `--peers`), text in to clusters out, timed inside the
process after the data is loaded; peak memory is that process's max RSS. `--repeats` rounds (default 3), the tools in a rotated
order each round; the median time of each tool is reported, with the load average. curatekit runs twice: as shipped (candidates near the
threshold verified by exact Jaccard) and with `verify="estimate"` (signatures only, like the peers). A true pair has exact Jaccard >= 0.8 between the sets of
lower-cased `\\w+` word 5-grams; a tool's pairs are all pairs inside its clusters.
"""
import argparse, json, os, random, re, resource, subprocess, sys, tempfile, time
from pathlib import Path
import polars as pl
from heavy import heavy_pool, TAIL

ROOT = Path(__file__).resolve().parent.parent
WORD = re.compile(r"\w+")

def shingles(t, n=5):
    w = WORD.findall(t.lower())
    return {" ".join(w[i:i + n]) for i in range(len(w) - n + 1)} if len(w) >= n else {" ".join(w)}

def generate(n_orig=1500, seed=0):
    "Originals of 150-400 words drawn Zipf-like from a vocabulary, each with 0-3 copies at known drop/swap rates."
    rng = random.Random(seed)
    vocab = sorted({w.lower() for m in ("os", "re", "json", "pathlib", "random", "argparse", "subprocess", "collections",
                                       "itertools", "functools", "typing", "dataclasses", "inspect", "statistics")
                    for w in WORD.findall(__import__(m).__doc__ or "")})
    weights = [1 / (i + 1) for i in range(len(vocab))]
    rows, pairs = [], []
    for g in range(n_orig):
        o = rng.choices(vocab, weights, k=rng.randint(150, 400))
        docs = [(f"nd{g:05d}_o", o, 0.0, 0.0)]
        for c in range(rng.randint(0, 3)):
            drop, swap = rng.choice([0, 0.01, 0.02, 0.05, 0.1, 0.2]), rng.choice([0, 0.01, 0.02, 0.05])
            w = [x for x in o if rng.random() >= drop]
            for i in range(len(w) - 1):
                if rng.random() < swap: w[i], w[i + 1] = w[i + 1], w[i]
            docs.append((f"nd{g:05d}_c{c}", w, drop, swap))
        sh = [shingles(" ".join(d[1])) for d in docs]
        for i in range(len(docs)):
            for j in range(i + 1, len(docs)):
                pairs.append((docs[i][0], docs[j][0], len(sh[i] & sh[j]) / len(sh[i] | sh[j])))
        rows += [(d[0], g, " ".join(d[1]), d[2], d[3]) for d in docs]
    df = pl.DataFrame(rows, schema=["id", "group", "text", "drop_rate", "swap_rate"], orient="row").sample(fraction=1, shuffle=True, seed=seed)
    return df, pl.DataFrame(pairs, schema=["id_a", "id_b", "j_w5"], orient="row")

# ---- workers: text in, clusters out; each returns a list of clusters (lists of ids) ----

def _components(n, edges):
    parent = list(range(n))
    def find(x):
        while parent[x] != x: parent[x] = parent[parent[x]]; x = parent[x]
        return x
    for a, b in edges: parent[find(a)] = find(b)
    comp = {}
    for i in range(n): comp.setdefault(find(i), []).append(i)
    return [c for c in comp.values() if len(c) > 1]

def run_curatekit(df, device, verify="exact"):
    sys.path.insert(0, str(ROOT))
    from curatekit.dedup import minhash_dedup
    minhash_dedup(df.head(50), device=device)  # warm-up (imports, torch init)
    t0 = time.perf_counter()
    out = minhash_dedup(df, threshold=0.8, num_perm=128, ngram=5, device=device, verify=verify)
    sec = time.perf_counter() - t0
    cl = out.filter(pl.col("minhash_cluster").is_not_null()).group_by("minhash_cluster").agg("id").filter(pl.col("id").list.len() > 1)
    return sec, cl["id"].to_list()

def run_datasketch(df, _):
    from datasketch import MinHash, MinHashLSH
    texts, ids = df["text"].to_list(), df["id"].to_list()
    t0 = time.perf_counter()
    lsh, mhs = MinHashLSH(threshold=0.8, num_perm=128), []
    for i, t in enumerate(texts):
        m = MinHash(num_perm=128, seed=0)
        m.update_batch([s.encode() for s in shingles(t)])
        lsh.insert(i, m); mhs.append(m)
    edges = [(i, j) for i, m in enumerate(mhs) for j in lsh.query(m) if j != i]
    cl = _components(len(texts), edges)
    return time.perf_counter() - t0, [[ids[i] for i in c] for c in cl]

def run_rensa(df, _):
    from rensa import RMinHash, RMinHashLSH
    texts, ids = df["text"].to_list(), df["id"].to_list()
    t0 = time.perf_counter()
    lsh, mhs = RMinHashLSH(threshold=0.8, num_perm=128, num_bands=16), []
    for i, t in enumerate(texts):
        m = RMinHash(num_perm=128, seed=0)
        m.update(list(shingles(t)))
        lsh.insert(i, m); mhs.append(m)
    edges = [(i, j) for i, m in enumerate(mhs) for j in lsh.query(m) if j != i and m.jaccard(mhs[j]) >= 0.8]
    cl = _components(len(texts), edges)
    return time.perf_counter() - t0, [[ids[i] for i in c] for c in cl]

def run_curatekit_estimate(df, device): return run_curatekit(df, device, verify="estimate")

WORKERS = {"curatekit": run_curatekit, "curatekit (verify=estimate)": run_curatekit_estimate, "datasketch": run_datasketch,
           "rensa": run_rensa}

def worker(tool, data, out, device):
    df = pl.read_parquet(data)
    sec, clusters = WORKERS[tool](df, device)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(out).write_text(json.dumps({"seconds": sec, "peak_mb": rss, "clusters": clusters}))

# ---- orchestration ----

def prf(clusters, truth):
    pred = {tuple(sorted((a, b))) for c in clusters for i, a in enumerate(c) for b in c[i + 1:]}
    tp = len(pred & truth)
    p, r = tp / max(len(pred), 1), tp / max(len(truth), 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", help="directory with neardup.parquet and neardup_pairs.parquet")
    ap.add_argument("--peers", default=os.environ.get("CURATEKIT_PEERS", str(ROOT.parent/".venv-peers/bin/python")),
                    help="the peers venv's python (default: $CURATEKIT_PEERS, else ../.venv-peers beside the repository)")
    ap.add_argument("--heavy", action="store_true", help="add 18 long documents (64 kB to 4 MB) built from DIR/raw.parquet (needs --corpora)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--n", type=int, default=1500, help="originals in the generated set")
    ap.add_argument("--repeats", type=int, default=3, help="rounds (medians reported)")
    ap.add_argument("--worker", nargs=3, metavar=("TOOL", "DATA", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker: return worker(*a.worker, a.device)
    tmp = Path(tempfile.mkdtemp())
    if a.corpora:
        df, pairs = pl.read_parquet(Path(a.corpora) / "neardup.parquet"), pl.read_parquet(Path(a.corpora) / "neardup_pairs.parquet")
        name = f"shared near-dup set ({len(df):,} docs)"
    else:
        df, pairs = generate(a.n)
        name = f"generated near-dup set ({len(df):,} docs)"
    if a.heavy:
        if not a.corpora: raise SystemExit("--heavy needs --corpora DIR (its raw.parquet supplies the long documents)")
        long = heavy_pool(pl.read_parquet(Path(a.corpora) / "raw.parquet"), n=len(TAIL))["text"].to_list()
        df = pl.concat([df.select("id", "text"), pl.DataFrame({"id": [f"heavy{i:02d}" for i in range(len(long))], "text": long})])
        name += f" + {len(long)} long documents ({sum(len(t.encode()) for t in long) / 2**20:.1f} MB, the longest {max(len(t.encode()) for t in long) / 2**20:.0f} MB)"
    df.select("id", "text").write_parquet(tmp / "data.parquet")
    truth = {tuple(sorted(r)) for r in pairs.filter(pl.col("j_w5") >= 0.8).select("id_a", "id_b").iter_rows()}
    runs, failed, loads = {t: [] for t in WORKERS}, set(), []
    for k in range(a.repeats):  # round robin, the order rotated, so that every tool's runs see similar machine load
        loads.append(os.getloadavg()[0])
        for tool in list(WORKERS)[k % len(WORKERS):] + list(WORKERS)[:k % len(WORKERS)]:
            py = sys.executable if tool.startswith("curatekit") else a.peers
            if tool in failed: continue
            if not Path(py).exists(): print(f"skip {tool}: {py} not found"); failed.add(tool); continue
            cp = subprocess.run([py, __file__, "--device", a.device, "--worker", tool, str(tmp / "data.parquet"), str(tmp / "out.json")],
                                capture_output=True, text=True)
            if cp.returncode: print(f"{tool} failed:\n{cp.stderr[-2000:]}"); failed.add(tool); continue
            runs[tool].append(json.loads((tmp / "out.json").read_text()))
    res = {}
    for tool, rs in runs.items():
        if rs:
            mid = sorted(rs, key=lambda r: r["seconds"])[len(rs) // 2]   # the median run
            res[tool] = dict(docs_s=len(df) / mid["seconds"], peak_mb=max(r["peak_mb"] for r in rs), prf=prf(mid["clusters"], truth))
    base = res.get("curatekit", {}).get("docs_s")
    print(f"\n{name}, {len(truth):,} true pairs (exact word-5-gram Jaccard >= 0.8), device {a.device}; medians of {a.repeats} rounds, "
          f"load average (1 min) at the rounds' starts {min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} cores\n")
    print("| tool | docs/s end to end | curatekit speed-up | peak RSS MB | pair P | pair R | pair F1 |")
    print("|---|---|---|---|---|---|---|")
    for t, r in res.items():
        print(f"| {t} | {r['docs_s']:,.0f} | {base / r['docs_s']:.1f}× | {r['peak_mb']:,.0f} | {r['prf'][0]:.3f} | {r['prf'][1]:.3f} | {r['prf'][2]:.3f} |")

if __name__ == "__main__": main()
