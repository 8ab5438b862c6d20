"""DSIR: curatekit.dsir vs the official `data-selection` package (p-lambda/dsir), same raw pool and target, one run.

Measures docs/s of fit + importance weights + resampling (curatekit reads parquet; data-selection reads the same rows as JSONL,
which is its only input format) and the quality of both selections on ONE featurizer (curatekit's hashed n-grams):
KL(target || selection), its ratio to data-selection's, and KL reduction vs the raw pool. Both run with their default
arguments (unigrams+bigrams, 10,000 buckets, min length 100 tokens), the same k; data-selection's Gumbel noise comes from
NumPy's global RNG, seeded. The median of --repeats alternating runs is reported with the load average after each, and the
exact-compatibility mode (`hashing="sha256"`) is checked against data-selection's own weights and selection.

    python benchmarks/bench_dsir.py --corpora DIR --target-source django_docs --heavy --peer-python PEER_VENV/bin/python
    python benchmarks/bench_dsir.py --corpora DIR --n 20000 --peer-python PEER_VENV/bin/python   # target.parquet, 20k raw docs
    python benchmarks/bench_dsir.py --generate                        # small corpus built from this Python installation
    python benchmarks/bench_dsir.py --corpora DIR --target-source django_docs --heavy --paths --device cpu   # NumPy vs torch reductions
    python benchmarks/bench_dsir.py --corpora DIR --target-source django_docs --heavy --paths --device cuda  # ... vs torch on the GPU

`--paths` times only the two reductions that have a torch path (`bucket_counts` of the raw pool and `segment_sum`, its log
importance weights), NumPy against torch on `--device`, alternating, and checks that both give the same counts and weights.
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from curatekit.core import read
from curatekit.dsir import dsir_select, hashed_ngrams, bucket_counts, segment_sum, kl_divergence, wordpunct_tokens

PEER = r'''
import json, sys, time, numpy as np
from pathlib import Path
from data_selection import HashedNgramDSIR
raw, target, work, k, min_len, num_proc, seed = sys.argv[1:8]
np.random.seed(int(seed))
t0 = time.perf_counter()
d = HashedNgramDSIR([raw], [target], cache_dir=work + "/cache", num_proc=int(num_proc), ngrams=2, num_buckets=10000,
                    min_example_length=int(min_len))
d.fit_importance_estimator(num_tokens_to_fit="all")
d.compute_importance_weights()
d.resample(out_dir=work + "/out", num_to_sample=int(k), cache_dir=work + "/rcache")
secs = time.perf_counter() - t0
ids = [json.loads(l)["id"] for p in sorted(Path(work + "/out").glob("*.jsonl")) for l in open(p) if l.strip()]
n = int(num_proc)   # virtual shard i holds rows i, i+n, ...: put the weights back in row order
w = [np.load(f"{work}/cache/log_importance_weights/{i}.npy") for i in range(n)]
logw = np.zeros(sum(map(len, w)))
for i, x in enumerate(w): logw[i::n] = x
print(json.dumps(dict(seconds=secs, ids=ids, logw=logw.tolist())))
'''

def sha256_counts(texts: pl.Series, buckets=10_000) -> np.ndarray:
    "Bucket counts exactly as data-selection featurizes (SHA-256 of each unigram and space-joined bigram), unique n-grams hashed once."
    import hashlib
    t = pl.DataFrame({"t": wordpunct_tokens(texts)}).with_row_index("d").explode("t").drop_nulls()
    bi = t.with_columns(n=pl.col("t").shift(-1), nd=pl.col("d").shift(-1)).filter(pl.col("nd") == pl.col("d"))
    grams = pl.concat([t["t"], bi["t"] + " " + bi["n"]]).value_counts()
    b = [int(hashlib.sha256(g.encode("utf-8")).hexdigest(), 16) % buckets for g in grams[grams.columns[0]].to_list()]
    return np.bincount(np.array(b, dtype=np.int64), weights=grams["count"].to_numpy(), minlength=buckets)

def generate(n_copies=3):
    "A small raw pool and target from this Python installation: pydoc topics (target/prose) and stdlib source (code)."
    import pydoc_data.topics, sysconfig
    topics = sorted(pydoc_data.topics.topics.items())
    target = [t for i, (_, t) in enumerate(topics) if i % 2 == 0]
    prose = [p for i, (_, t) in enumerate(topics) if i % 2 for p in t.split("\n\n") if len(p.split()) >= 10]
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    code = [c for f in files for c in f.read_text(errors="replace").split("\n\n\n") if len(c.split()) >= 10]
    raw = pl.DataFrame({"text": prose * n_copies + code, "source": ["pydoc"] * len(prose) * n_copies + ["code"] * len(code)})
    return raw.with_row_index("id").with_columns(pl.col("id").cast(pl.String)), pl.DataFrame({"text": target})

def run_peer(a, work, raw, target, k, num_proc):
    "data-selection on JSONL copies of the frames (its only input format), in the peer's Python; its seconds, ids and weights."
    import shutil
    for name, df in (("raw", raw), ("target", target)):
        df.select(pl.col("id").cast(pl.String), "text").write_ndjson(Path(work) / f"{name}.jsonl")
    for d in ("cache", "out", "rcache"): shutil.rmtree(Path(work) / d, ignore_errors=True)
    out = subprocess.run([a.peer_python, "-c", PEER, f"{work}/raw.jsonl", f"{work}/target.jsonl", work, str(k),
                          "100", str(num_proc), str(a.seed)], capture_output=True, text=True)
    if out.returncode: sys.exit(f"data-selection failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])

def bench_paths(raw, target, a, heavy, label):
    "NumPy vs torch on `a.device` for the raw pool's bucket counts and log importance weights: alternating, median, parity."
    import torch
    F = hashed_ngrams(raw["text"]); v = np.log(bucket_counts(hashed_ngrams(target["text"])) + 1) - np.log(bucket_counts(F) + 1)
    dev = a.device or "cpu"; sides = {"numpy": None, f"torch on {dev}": dev}
    for d in sides.values(): bucket_counts(F, device=d); segment_sum(F, v, device=d)   # warm-up (CUDA context, allocator)
    t = {(s, r): [] for s in sides for r in ("counts", "weights")}; loads, out = [], {}
    for _ in range(a.repeats):
        for s, d in sides.items():   # results come back as numpy, so each timing includes the device's work and the copy back
            t0 = time.perf_counter(); out[s, "counts"] = bucket_counts(F, device=d); t[s, "counts"].append(time.perf_counter() - t0)
            t0 = time.perf_counter(); out[s, "weights"] = segment_sum(F, v, device=d); t[s, "weights"].append(time.perf_counter() - t0)
        loads.append(heavy.load())
    (np_, th) = sides
    med = {key: heavy.median(x) for key, x in t.items()}
    rows = [("corpus", label), ("documents / n-grams", f"{len(F):,} / {len(F.buckets):,}"),
            ("torch threads (CPU)", str(torch.get_num_threads())),
            *[(f"{r}: {np_} / {th} seconds, median of {a.repeats}", f"{med[np_, r]:.3f} / {med[th, r]:.3f} (numpy/torch = {med[np_, r] / med[th, r]:.2f}x)")
              for r in ("counts", "weights")],
            ("counts identical", str(bool((out[np_, "counts"] == out[th, "counts"]).all()))),
            ("weights: max abs difference", f"{np.abs(out[np_, 'weights'] - out[th, 'weights']).max():.2e}"),
            ("load average after each round", "; ".join(l.split(" on ")[0].replace("load average ", "") for l in loads) + f" ({os.cpu_count()} cores)")]
    print("| measure | value |\n|---|---|"); print("\n".join(f"| {r} | {v} |" for r, v in rows))

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpora", default=os.environ.get("CURATEKIT_CORPORA", "corpora"), help="directory with raw.parquet (and target.parquet)")
    ap.add_argument("--generate", action="store_true", help="use a small corpus generated from this Python installation")
    ap.add_argument("--target-source", default=None, help="take the target from raw.parquet's rows of this source (e.g. django_docs) instead of target.parquet")
    ap.add_argument("--n", type=int, default=None, help="sample this many raw documents (seeded)")
    ap.add_argument("--heavy", action="store_true", help="heavy-tailed pool: long documents up to 4 MB replace a few (benchmarks/heavy.py)")
    ap.add_argument("--fraction", type=float, default=0.1, help="fraction of the raw pool to select")
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs of each side (median reported)")
    ap.add_argument("--peer-python", default=os.environ.get("PEER_PYTHON", "python"))
    ap.add_argument("--num-proc", type=int, default=2, help="data-selection worker processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None, help="where counts and weights run: default NumPy on the CPU, torch on the GPU when present")
    ap.add_argument("--paths", action="store_true", help="time NumPy vs torch on --device for the counts and weights only, then exit")
    a = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent)); import heavy
    corp = Path(a.corpora)
    with tempfile.TemporaryDirectory() as work:
        if a.generate or not (corp / "raw.parquet").exists():
            raw, target = generate(); label = "generated (pydoc topics + stdlib source)"
        else:
            raw, label = read(corp / "raw.parquet"), str(corp)
            if a.target_source:
                target = raw.filter(source=a.target_source); raw = raw.filter(pl.col("source") != a.target_source)
                label += f", target = its {a.target_source} rows, raw = the rest"
            else: target = read(corp / "target.parquet")
        if a.heavy: raw = heavy.heavy_pool(raw, a.n or 10_000, a.seed); label += ", heavy-tailed (benchmarks/heavy.py)"
        elif a.n: raw = raw.sample(min(a.n, len(raw)), seed=a.seed, shuffle=True)
        raw = raw.with_columns(pl.col("id").cast(pl.String)) if "id" in raw.columns else raw.with_row_index("id").with_columns(pl.col("id").cast(pl.String))
        target = target if "id" in target.columns else target.with_row_index("id")
        rp, tp = Path(work) / "raw.parquet", Path(work) / "target.parquet"
        raw.write_parquet(rp); target.write_parquet(tp)
        k = int(round(a.fraction * len(raw)))
        if a.paths: return bench_paths(raw, target, a, heavy, label)
        ours_t, peer_t, loads = [], [], []
        for r in range(a.repeats):   # alternate the two sides so that both see the same load
            t0 = time.perf_counter()
            sel = dsir_select(read(rp), read(tp), k=k, seed=a.seed, device=a.device)   # curatekit's defaults (min_tokens=100)
            ours_t.append(time.perf_counter() - t0)
            peer = run_peer(a, work, raw, target, k, a.num_proc); peer_t.append(peer["seconds"]); loads.append(heavy.load())
            print(f"run {r}: curatekit {ours_t[-1]:.2f} s, data-selection {peer_t[-1]:.2f} s; {loads[-1]}", file=sys.stderr)
        compat = dsir_select(raw, target, k=k, seed=a.seed, hashing="sha256")
        peer1 = run_peer(a, work, raw, target, k, 1)   # one process: its Gumbel draws follow row order, as compat mode's do
    ids = raw["id"]
    ours_ids = set(ids.filter(sel["dsir_selected"]).to_list()); peer_ids = set(map(str, peer["ids"]))
    sel_ids = {"curatekit": ours_ids, "data_selection": peer_ids}
    eligible = np.flatnonzero(hashed_ngrams(raw["text"]).n_tokens >= 100)
    rand = np.random.default_rng(a.seed).choice(eligible, k, replace=False)
    kls = {}
    for feat, hs in (("SHA-256 (data-selection's)", None), ("curatekit hash", 0), ("neutral hash (seed 1)", 1)):
        if hs is None: fc = lambda df: sha256_counts(df["text"])
        else: fc = lambda df, hs=hs: bucket_counts(hashed_ngrams(df["text"], seed=hs))
        T = fc(target)
        kl = {name: kl_divergence(T, fc(raw.filter(ids.is_in(list(keep)).to_numpy()))) for name, keep in sel_ids.items()}
        kl.update(random=kl_divergence(T, fc(raw[rand])), raw=kl_divergence(T, fc(raw)))
        kls[feat] = kl
    kl = kls["SHA-256 (data-selection's)"]
    lw_c, lw_p = compat["dsir_logw"].to_numpy(), np.array(peer1["logw"])
    n, ot, pt = len(raw), heavy.median(ours_t), heavy.median(peer_t)
    rows = [("corpus", label), ("raw docs / target docs / k", f"{n:,} / {len(target):,} / {k:,}"),
            ("curatekit seconds, median of %d (read + fit + weights + resample, default arguments)" % a.repeats, f"{ot:.2f} ({', '.join(f'{x:.2f}' for x in ours_t)})"),
            ("data-selection seconds, median of %d (fit + weights + resample, %d procs)" % (a.repeats, a.num_proc), f"{pt:.2f} ({', '.join(f'{x:.2f}' for x in peer_t)})"),
            ("docs/s curatekit / data-selection", f"{n / ot:,.0f} / {n / pt:,.0f}"),
            ("**speed ratio** (median)", f"**{pt / ot:.1f}x**"),
            ("selected rows curatekit / data-selection (k)", f"{len(ours_ids):,} / {len(peer_ids):,} ({k:,})"),
            *[(f"KL(target‖selection) on {f}: curatekit / data-selection / random / raw pool",
               " / ".join(f"{v[x]:.4f}" for x in ("curatekit", "data_selection", "random", "raw"))) for f, v in kls.items()],
            *[(f"KL ratio curatekit / data-selection on {f}", f"{v['curatekit'] / v['data_selection']:.4f}") for f, v in kls.items()],
            ("KL reduction curatekit / data-selection (nats, SHA-256)", f"{kl['raw'] - kl['curatekit']:.4f} / {kl['raw'] - kl['data_selection']:.4f}"),
            ("selected-id overlap |A∩B|/k", f"{len(ours_ids & peer_ids) / k:.3f}"),
            ("compat (`hashing='sha256'`): max |log w − data-selection's| over all docs", f"{np.nanmax(np.abs(lw_c - lw_p)):.2e}"),
            ("compat: same selection as data-selection with 1 process", str(set(ids.filter(compat['dsir_selected']).to_list()) == set(map(str, peer1["ids"])))),
            ("load average after each run", "; ".join(l.split(" on ")[0].replace("load average ", "") for l in loads) + f" ({os.cpu_count()} cores)")]
    print("| measure | value |\n|---|---|"); print("\n".join(f"| {r} | {v} |" for r, v in rows))

if __name__ == "__main__": main()
