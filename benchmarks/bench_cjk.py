"""Character-shingle MinHash on Chinese and Japanese text: curatekit vs Data-Juicer's `document_minhash_deduplicator`.

    python benchmarks/bench_cjk.py                          # the Debian zh_CN, zh_TW and ja man pages, planted near copies
    python benchmarks/bench_cjk.py --dj PATH/TO/python      # Data-Juicer's venv (default: $CURATEKIT_DJ, else ../.venv-dj)

Data: the Chinese and Japanese manual pages of the Debian packages `manpages-zh` and `manpages-ja`
(`apt-get install manpages-zh manpages-ja`; `--man-dir` if they live elsewhere), roff markup stripped: real prose with a natural
heavy tail (a few pages of 100 kB and more among many of 2–10 kB). A seeded third of the pages get one or two near copies:
characters replaced at a known rate (0.5–5%) and a known share of lines dropped (0–20%).

Data-Juicer is installed in its own venv (it pins `dill`, `multiprocess` and a recent `datasets`):

    python -m venv ../.venv-dj && ../.venv-dj/bin/pip install torch==2.13.0 py-data-juicer==1.6.1 aiohttp ray==2.60.0 scipy

Both tools shingle characters, 5 at a time, after lower-casing (curatekit also folds whitespace runs to one space), at a Jaccard
threshold of 0.7 — Data-Juicer's defaults (`tokenization: character`, `window_size: 5`, `jaccard_threshold: 0.7`, 256
permutations in 25 × 10 bands, signatures only) beside curatekit's (`tokenization="char"`, 128 permutations, bands by
`optimal_bands`, candidates near the threshold verified by exact Jaccard). Data-Juicer runs as its executor runs an operator
(`op.run(dataset)`: `compute_hash` through `datasets.map` with its default worker count, then the union-find in `process`); its
clusters are read from that union-find. Each tool runs in its own process, timed after the data is loaded and the library
imported and warmed on 50 rows; `--repeats` rounds in rotated order, medians and the load average reported.

A true pair has exact Jaccard ≥ 0.7 between the two documents' sets of character 5-grams (lower-cased, whitespace folded). The
pairs checked are the planted ones and every pair either tool reports, so recall is measured against the pairs known.
"""
import argparse, gzip, itertools, json, os, random, re, resource, subprocess, sys, tempfile, time
from pathlib import Path
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
THRESHOLD, K = 0.7, 5
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")

# ---- data ----

def strip_roff(src: str) -> str:
    "The text of a man page's roff source: comments, macro definitions and requests dropped, requests' arguments kept."
    out, skip = [], False
    for line in src.splitlines():
        if skip:
            skip = line.strip() != ".."; continue
        if line.startswith(('.\\"', "'\\\"")): continue
        if line.startswith((".de ", ".de\t")): skip = True; continue
        if line.startswith((".", "'")):
            m = re.match(r"[.'](SH|SS|TH|TP|IP|B|I|BI|BR|IB|IR|RB|RI|Nm|Nd|Sh|Ss|It)\s+(.*)", line)
            if not m: continue
            line = m.group(2).replace('"', " ")
        line = re.sub(r"\\f[BIRPC]|\\f\(..|\\f\[[^]]*\]|\\s[-+]?\d|\\[&%|^]", "", line)
        line = re.sub(r"\\\(..|\\\[[^]]*\]|\\\*.", " ", line).replace("\\-", "-").replace("\\e", "\\").replace("\\ ", " ")
        out.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()

def man_pages(man_dir: Path, langs=("zh_CN", "zh_TW", "ja")) -> list[tuple[str, str]]:
    rows = []
    for lang in langs:
        for p in sorted((man_dir / lang).glob("man*/*")):
            try: src = (gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()).decode("utf-8")
            except (OSError, UnicodeDecodeError): continue
            t = strip_roff(src)
            if len(CJK.findall(t)) >= 50: rows.append((f"{lang}/{p.parent.name}/{p.name.removesuffix('.gz')}", t))
    return rows

def perturb(t: str, rng: random.Random, replace: float, drop_lines: float) -> str:
    lines = [l for l in t.split("\n") if rng.random() >= drop_lines] or t.split("\n")[:1]
    s = list("\n".join(lines))
    pool = [c for c in s if CJK.match(c)] or list("的了是在")
    for i in range(len(s)):
        if rng.random() < replace: s[i] = rng.choice(pool)
    return "".join(s)

def build(man_dir: Path, seed=0) -> pl.DataFrame:
    pages = man_pages(man_dir)
    if not pages: raise SystemExit(f"no Chinese or Japanese man pages under {man_dir}: apt-get install manpages-zh manpages-ja, or --man-dir")
    rng, rows = random.Random(seed), []
    for pid, t in pages:
        rows.append((pid, t, None))
        if rng.random() < 1 / 3:
            for c in range(rng.randint(1, 2)):
                rows.append((f"{pid}#copy{c}", perturb(t, rng, rng.choice([0.005, 0.01, 0.02, 0.05]), rng.choice([0, 0.05, 0.1, 0.2])), pid))
    return pl.DataFrame(rows, schema=["id", "text", "copy_of"], orient="row").sample(fraction=1, shuffle=True, seed=seed)

def grams(t: str) -> set[str]:
    t = re.sub(r"\s+", " ", t.lower())
    return {t[i:i + K] for i in range(len(t) - K + 1)} if len(t) >= K else {t}

# ---- workers: text in, clusters out ----

def run_curatekit(df):
    sys.path.insert(0, str(ROOT))
    from curatekit.dedup import minhash_dedup
    minhash_dedup(df.head(50), threshold=THRESHOLD, ngram=K, tokenization="char")   # warm-up
    t0 = time.perf_counter()
    out = minhash_dedup(df, threshold=THRESHOLD, ngram=K, tokenization="char")
    sec = time.perf_counter() - t0
    cl = out.filter(pl.col("minhash_cluster").is_not_null()).group_by("minhash_cluster").agg("id").filter(pl.col("id").list.len() > 1)
    return sec, cl["id"].to_list()

def run_datajuicer(df):
    import logging; logging.disable(logging.WARNING)
    from loguru import logger; logger.remove()
    import data_juicer.ops.deduplicator.document_minhash_deduplicator as m
    from data_juicer.core.data import NestedDataset
    seen = []
    class Recorded(m.UnionFind):          # read the clusters from Data-Juicer's own union-find
        def __init__(self, *a, **k): super().__init__(*a, **k); seen.append(self)
    m.UnionFind = Recorded
    op = m.DocumentMinhashDeduplicator(tokenization="character", window_size=K, jaccard_threshold=THRESHOLD)
    op.run(NestedDataset.from_dict({"text": df["text"].head(50).to_list()}))       # warm-up
    ds = NestedDataset.from_dict({"text": df["text"].to_list()})
    seen.clear(); t0 = time.perf_counter()
    kept = op.run(ds)
    sec = time.perf_counter() - t0
    uf, ids, groups = seen[-1], df["id"].to_list(), {}
    for i in range(len(ids)): groups.setdefault(uf.find(i), []).append(ids[i])
    assert len(kept) == len(groups), (len(kept), len(groups))
    return sec, [g for g in groups.values() if len(g) > 1]

WORKERS = {"curatekit": run_curatekit, "Data-Juicer": run_datajuicer}

def worker(tool, data, out):
    df = pl.read_parquet(data)
    sec, clusters = WORKERS[tool](df)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(out).write_text(json.dumps({"seconds": sec, "peak_mb": rss, "clusters": clusters}))

# ---- orchestration ----

def pairs_of(clusters):
    return {tuple(sorted((a, b))) for c in clusters for i, a in enumerate(c) for b in c[i + 1:]}

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--man-dir", default=os.environ.get("CURATEKIT_MAN_DIR", "/usr/share/man"), help="where zh_CN/, zh_TW/ and ja/ are")
    ap.add_argument("--dj", default=os.environ.get("CURATEKIT_DJ", str(ROOT.parent / ".venv-dj/bin/python")), help="Data-Juicer's python")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--worker", nargs=3, metavar=("TOOL", "DATA", "OUT"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker: return worker(*a.worker)
    df = build(Path(a.man_dir))
    tmp = Path(tempfile.mkdtemp()); df.write_parquet(tmp / "data.parquet")
    sizes = sorted(len(t.encode()) for t in df["text"])
    runs, failed, loads = {t: [] for t in WORKERS}, set(), []
    for k in range(a.repeats):
        loads.append(os.getloadavg()[0])
        for tool in list(WORKERS)[k % 2:] + list(WORKERS)[:k % 2]:
            py = sys.executable if tool == "curatekit" else a.dj
            if tool in failed: continue
            if not Path(py).exists(): print(f"skip {tool}: {py} not found"); failed.add(tool); continue
            cp = subprocess.run([py, __file__, "--worker", tool, str(tmp / "data.parquet"), str(tmp / "out.json")], capture_output=True, text=True)
            if cp.returncode: print(f"{tool} failed:\n{cp.stderr[-3000:]}"); failed.add(tool); continue
            runs[tool].append(json.loads((tmp / "out.json").read_text()))
    mids = {t: sorted(rs, key=lambda r: r["seconds"])[len(rs) // 2] for t, rs in runs.items() if rs}
    text = dict(zip(df["id"], df["text"]))
    planted = {tuple(sorted((r["id"], r["copy_of"]))) for r in df.filter(pl.col("copy_of").is_not_null()).iter_rows(named=True)}
    planted |= {tuple(sorted((a, b))) for a, b in itertools.combinations(
        df.filter(pl.col("copy_of").is_not_null()).sort("id")["id"].to_list(), 2) if a.split("#")[0] == b.split("#")[0]}
    checked = planted.union(*(pairs_of(r["clusters"]) for r in mids.values()))
    cache = {}
    def g(i): return cache[i] if i in cache else cache.setdefault(i, grams(text[i]))
    truth = {p for p in checked if len(g(p[0]) & g(p[1])) / max(len(g(p[0]) | g(p[1])), 1) >= THRESHOLD}
    print(f"\n{len(df):,} documents ({df['copy_of'].is_not_null().sum():,} planted near copies) from the zh_CN/zh_TW/ja man pages, "
          f"{sum(sizes) / 2**20:.1f} MB; median {sizes[len(sizes) // 2] / 1024:.1f} kB, p99 {sizes[int(len(sizes) * .99)] / 1024:.0f} kB, "
          f"largest {sizes[-1] / 1024:.0f} kB; {len(truth):,} true pairs (exact character-5-gram Jaccard ≥ {THRESHOLD}) among "
          f"{len(checked):,} checked; medians of {a.repeats} rounds, load average (1 min) at the rounds' starts "
          f"{min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} cores\n")
    base = len(df) / mids["curatekit"]["seconds"] if "curatekit" in mids else None
    print("| tool | docs/s end to end | curatekit speed-up | peak RSS MB | pair P | pair R | pair F1 | per-round seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for t, r in mids.items():
        pred = pairs_of(r["clusters"]); tp = len(pred & truth)
        p, rc = tp / max(len(pred), 1), tp / max(len(truth), 1)
        ds, secs = len(df) / r["seconds"], ", ".join(f"{x['seconds']:.1f}" for x in runs[t])
        print(f"| {t} | {ds:,.0f} | {base / ds:.1f}× | {max(x['peak_mb'] for x in runs[t]):,.0f} | {p:.3f} | {rc:.3f} | "
              f"{2 * p * rc / max(p + rc, 1e-12):.3f} | {secs} |")

if __name__ == "__main__": main()
