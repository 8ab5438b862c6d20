"""DSIR: curatekit.dsir vs the official `data-selection` package (p-lambda/dsir), same raw pool and target, one run.

Measures docs/s of fit + importance weights + resampling (curatekit reads parquet; data-selection reads the same rows as JSONL,
which is its only input format), alternating the two sides --repeats times (medians, load average after each run), and the
quality of both selections over --seeds seeds (default 5; data-selection's Gumbel noise comes from NumPy's global RNG, reseeded
before each of its own `resample` calls on its fitted weights) on THREE featurizers: data-selection's SHA-256 buckets (how
data-selection measures KL), curatekit's hash, and curatekit's hash with another seed (neither side selects with it).
Printed: KL(target || selection) mean ± std over the seeds for each tool, the random-k baseline and the whole pool, and the
ratio curatekit / data-selection (of the means, and per seed), so a reader can see whether a ratio is outside the seed noise.
Both run with their default arguments (unigrams+bigrams, 10,000 buckets, min length 100 tokens) and the same k. `--variant`
adds curatekit selections with other arguments to the same table. The default featurizer (`hashing="sha256"`, the
exact-compatibility mode) is checked against data-selection's own weights and selection; `--wait-idle 85` starts each timed
run of either side on an idle machine.

    python benchmarks/bench_dsir.py --corpora DIR --target-source django_docs --heavy --peer-python PEER_VENV/bin/python
    python benchmarks/bench_dsir.py --corpora DIR --target-source django_docs --heavy --peer-python PEER_VENV/bin/python \
        --variant '{"hashing": "fast"}' --variant '{"hashing": "fast", "num_buckets": 65536}'   # other arguments, same seeds
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
raw, target, work, k, min_len, num_proc, seeds = sys.argv[1:8]
seeds = [int(s) for s in seeds.split(",")]
np.random.seed(seeds[0])
t0 = time.perf_counter()
d = HashedNgramDSIR([raw], [target], cache_dir=work + "/cache", num_proc=int(num_proc), ngrams=2, num_buckets=10000,
                    min_example_length=int(min_len))
d.fit_importance_estimator(num_tokens_to_fit="all")
d.compute_importance_weights()
d.resample(out_dir=work + "/out0", num_to_sample=int(k), cache_dir=work + "/rcache0")
secs = time.perf_counter() - t0
for i, s in enumerate(seeds[1:], 1):   # more seeds, untimed: its own resample on the same fitted weights, global RNG reseeded
    np.random.seed(s); d.resample(out_dir=f"{work}/out{i}", num_to_sample=int(k), cache_dir=f"{work}/rcache{i}")
ids = [[json.loads(l)["id"] for p in sorted(Path(f"{work}/out{i}").glob("*.jsonl")) for l in open(p) if l.strip()] for i in range(len(seeds))]
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

def run_peer(a, work, raw, target, k, num_proc, seeds):
    "data-selection on JSONL copies of the frames, in the peer's Python: seconds (seeds[0]), ids per seed, weights."
    import shutil
    for name, df in (("raw", raw), ("target", target)):
        df.select(pl.col("id").cast(pl.String), "text").write_ndjson(Path(work) / f"{name}.jsonl")
    for d in Path(work).glob("*cache*"): shutil.rmtree(d)
    for d in Path(work).glob("out*"): shutil.rmtree(d)
    out = subprocess.run([a.peer_python, "-c", PEER, f"{work}/raw.jsonl", f"{work}/target.jsonl", work, str(k),
                          "100", str(num_proc), ",".join(map(str, seeds))], capture_output=True, text=True)
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
    ap.add_argument("--seed", type=int, default=0, help="seed of the pool sample and the first selection")
    ap.add_argument("--seeds", type=int, default=5, help="selections per tool (seeds --seed, --seed+1, ...) whose KL is compared")
    ap.add_argument("--hashing", default=None, choices=["fast", "sha256"], help="curatekit's featurizer in the timed runs and "
                    "the 'curatekit' rows (default: dsir_select's default)")
    ap.add_argument("--variant", action="append", default=[], help="also select with curatekit and these arguments (JSON, e.g. "
                    "'{\"num_buckets\": 100000}'), over the same seeds: its KL on the three measures and its seconds")
    ap.add_argument("--wait-idle", type=float, default=None, help="before each timed run of either side, wait (up to 5 min) until "
                    "the machine is this many percent idle (Linux /proc/stat); the idle share seen is printed")
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
        seeds = list(range(a.seed, a.seed + a.seeds))
        base = {} if a.hashing is None else dict(hashing=a.hashing)
        if base: label += f"; curatekit runs with hashing={a.hashing!r}"
        ours_t, peer_t, loads = [], [], []
        for r in range(a.repeats):   # alternate the two sides so that both see the same load
            idle = [heavy.wait_idle(a.wait_idle)] if a.wait_idle else []
            t0, c0 = time.perf_counter(), time.process_time()
            sel = dsir_select(read(rp), read(tp), k=k, seed=seeds[0], device=a.device, **base)   # curatekit's defaults (min_tokens=100)
            ours_t.append(time.perf_counter() - t0); cpu = time.process_time() - c0
            if a.wait_idle: idle.append(heavy.wait_idle(a.wait_idle))
            p = run_peer(a, work, raw, target, k, a.num_proc, seeds if r == 0 else seeds[:1]); peer_t.append(p["seconds"])
            if r == 0: peer = p
            loads.append(heavy.load())
            seen = f", {idle[0]:.0f}% / {idle[1]:.0f}% idle before each" if idle else ""
            print(f"run {r}: curatekit {ours_t[-1]:.2f} s ({cpu:.2f} CPU-s), data-selection {peer_t[-1]:.2f} s; {loads[-1]}{seen}", file=sys.stderr)
        compat = dsir_select(raw, target, k=k, seed=a.seed, hashing="sha256")
        peer1 = run_peer(a, work, raw, target, k, 1, seeds[:1])   # one process: its Gumbel draws follow row order, as compat mode's do
        ids = raw["id"]; row = dict(zip(ids.to_list(), range(len(ids))))
        sides = {"data-selection": [np.array(sorted(row[str(i)] for i in x)) for x in peer["ids"]]}
        variants = {"curatekit": base, **{f"curatekit {v}": json.loads(v) for v in a.variant}}
        var_t = {}
        for name, kw in variants.items():   # every seed through the public call, default arguments (plus the variant's)
            sides[name], t = [], []
            for s in seeds:
                t0 = time.perf_counter(); out = dsir_select(raw, target, k=k, seed=s, device=a.device, **kw); t.append(time.perf_counter() - t0)
                sides[name].append(np.flatnonzero(out["dsir_selected"].to_numpy()))
            var_t[name] = heavy.median(t)
        loads.append(heavy.load())
    eligible = np.flatnonzero(hashed_ngrams(raw["text"]).n_tokens >= 100)
    sides["random k (eligible docs)"] = [np.random.default_rng(s).choice(eligible, k, replace=False) for s in seeds]
    measures = {"SHA-256 (data-selection's)": dict(hashing="sha256"), "curatekit hash": dict(hashing="fast", seed=0),
                "neutral hash (seed 1)": dict(hashing="fast", seed=1)}
    kls, whole = {}, {}
    for m, kw in measures.items():   # per-document bucket ids once per measure; a selection's counts are a masked bincount
        F, T = hashed_ngrams(raw["text"], **kw), bucket_counts(hashed_ngrams(target["text"], **kw))
        if m.startswith("SHA"):   # an independent featurizer (hashlib over polars n-grams): bucket counts off from it, in all
            sha_off = int(np.abs(bucket_counts(F) - sha256_counts(raw["text"])).sum() + np.abs(T - sha256_counts(target["text"])).sum())
        whole[m] = kl_divergence(T, bucket_counts(F))
        kls[m] = {name: np.array([kl_divergence(T, bucket_counts(F, rows=x)) for x in xs]) for name, xs in sides.items()}
    lw_c, lw_p = compat["dsir_logw"].to_numpy(), np.array(peer1["logw"])
    n, ot, pt = len(raw), heavy.median(ours_t), heavy.median(peer_t)
    ms = lambda x: f"{x.mean():.4f} ± {x.std(ddof=1):.4f}" if len(x) > 1 else f"{x.mean():.4f}"
    print(f"\n{label}; raw docs / target docs / k: {n:,} / {len(target):,} / {k:,}; seeds {seeds[0]}..{seeds[-1]}\n")
    print("| KL(target ‖ selection), mean ± std over seeds | " + " | ".join(measures) + " |\n|---|" + "---|" * len(measures))
    for name in sides: print(f"| {name} | " + " | ".join(ms(kls[m][name]) for m in measures) + " |")
    print("| whole pool | " + " | ".join(f"{whole[m]:.4f}" for m in measures) + " |")
    for name in [v for v in sides if v.startswith("curatekit")]:
        print(f"| **ratio {name} / data-selection**: mean (per seed) | " + " | ".join(
              f"**{kls[m][name].mean() / kls[m]['data-selection'].mean():.4f}** ({', '.join(f'{x:.3f}' for x in kls[m][name] / kls[m]['data-selection'])})"
              for m in measures) + " |")
    rows = [("curatekit seconds, median of %d (read + fit + weights + resample, %s)" % (a.repeats, f"hashing={a.hashing!r}" if base else "default arguments"), f"{ot:.2f} ({', '.join(f'{x:.2f}' for x in ours_t)})"),
            ("data-selection seconds, median of %d (fit + weights + resample, %d procs)" % (a.repeats, a.num_proc), f"{pt:.2f} ({', '.join(f'{x:.2f}' for x in peer_t)})"),
            ("docs/s curatekit / data-selection", f"{n / ot:,.0f} / {n / pt:,.0f}"),
            ("**speed ratio** (medians; per run)", f"**{pt / ot:.1f}x** ({', '.join(f'{p / o:.1f}' for o, p in zip(ours_t, peer_t))})"),
            *[(f"{name}: seconds per call from frames in memory, median over the seeds", f"{t:.2f}") for name, t in var_t.items()],
            ("rows selected per seed: " + " / ".join(x for x in sides if not x.startswith("random")),
             " / ".join(",".join(sorted({str(len(x)) for x in xs})) for name, xs in sides.items() if not name.startswith("random")) + f" (k = {k:,})"),
            ("selected-id overlap curatekit ∩ data-selection / k, mean over seeds", f"{np.mean([len(np.intersect1d(x, y)) / k for x, y in zip(sides['curatekit'], sides['data-selection'])]):.3f}"),
            ("SHA-256 measure: n-gram counts differing from a second SHA-256 featurizer (polars' `\\w` vs NLTK's `regex`)", f"{sha_off:,}"),
            ("compat (`hashing='sha256'`): max |log w − data-selection's| over all docs", f"{np.nanmax(np.abs(lw_c - lw_p)):.2e}"),
            ("compat: same selection as data-selection with 1 process", str(set(ids.filter(compat['dsir_selected']).to_list()) == set(map(str, peer1["ids"][0])))),
            ("load average after each timed run, then after the seed sweep", "; ".join(l.split(" on ")[0].replace("load average ", "") for l in loads) + f" ({os.cpu_count()} cores)")]
    print("\n| measure | value |\n|---|---|"); print("\n".join(f"| {r} | {v} |" for r, v in rows))

if __name__ == "__main__": main()
