"""DSIR: curatekit.dsir vs the official `data-selection` package (p-lambda/dsir), same raw pool and target, one run.

Measures docs/s of fit + importance weights + resampling (curatekit reads parquet; data-selection reads the same rows as JSONL,
which is its only input format) and the quality of both selections on ONE featurizer (curatekit's hashed n-grams):
KL(target || selection), its ratio to data-selection's, and KL reduction vs the raw pool. Both use unigrams+bigrams, 10,000
buckets, min length 100 tokens, the same k; data-selection's Gumbel noise comes from NumPy's global RNG, seeded.

    python benchmarks/bench_dsir.py                                   # real corpora in /work/corpora if present, else self-generated
    python benchmarks/bench_dsir.py --corpora DIR --fraction 0.1 --peer-python /work/venv-peers/bin/python
    python benchmarks/bench_dsir.py --generate                        # small corpus built from this Python installation
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from curatekit.core import read
from curatekit.dsir import dsir_select, hashed_ngrams, bucket_counts, kl_divergence, wordpunct_tokens

PEER = r'''
import json, sys, time, numpy as np
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
ids = [json.loads(l)["id"] for p in sorted(__import__("pathlib").Path(work + "/out").glob("*.jsonl")) for l in open(p) if l.strip()]
print(json.dumps(dict(seconds=secs, ids=ids)))
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

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpora", default="/work/corpora", help="directory with raw.parquet and target.parquet")
    ap.add_argument("--generate", action="store_true", help="use a small corpus generated from this Python installation")
    ap.add_argument("--fraction", type=float, default=0.1, help="fraction of the raw pool to select")
    ap.add_argument("--min-tokens", type=int, default=100, help="min tokens (data-selection's min_example_length)")
    ap.add_argument("--peer-python", default="/work/venv-peers/bin/python")
    ap.add_argument("--num-proc", type=int, default=2, help="data-selection worker processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="accepted for uniformity; DSIR here is numpy on the CPU")
    a = ap.parse_args()
    corp = Path(a.corpora)
    with tempfile.TemporaryDirectory() as work:
        if a.generate or not (corp / "raw.parquet").exists():
            raw, target = generate(); rp, tp = Path(work) / "raw.parquet", Path(work) / "target.parquet"
            raw.write_parquet(rp); target.write_parquet(tp); label = "generated (pydoc topics + stdlib source)"
        else: rp, tp, label = corp / "raw.parquet", corp / "target.parquet", str(corp)
        t0 = time.perf_counter()
        raw, target = read(rp), read(tp)
        sel = dsir_select(raw, target, fraction=a.fraction, seed=a.seed, min_tokens=a.min_tokens)
        ours_s = time.perf_counter() - t0
        k = int(sel["dsir_selected"].sum())
        for name, df in (("raw", raw), ("target", target)):   # the peer reads JSONL with `text` (and our ids)
            df.select(pl.col("id").cast(pl.String), "text").write_ndjson(Path(work) / f"{name}.jsonl")
        out = subprocess.run([a.peer_python, "-c", PEER, f"{work}/raw.jsonl", f"{work}/target.jsonl", work, str(k),
                              str(a.min_tokens), str(a.num_proc), str(a.seed)], capture_output=True, text=True)
        if out.returncode: sys.exit(f"data-selection failed:\n{out.stderr[-3000:]}")
        peer = json.loads(out.stdout.strip().splitlines()[-1])
    ids = raw["id"].cast(pl.String)
    ours_ids = set(ids.filter(sel["dsir_selected"]).to_list()); peer_ids = set(map(str, peer["ids"]))
    sel_ids = {"curatekit": ours_ids, "data_selection": peer_ids}
    eligible = np.flatnonzero(hashed_ngrams(raw["text"]).n_tokens >= a.min_tokens)
    rand = np.random.default_rng(a.seed).choice(eligible, k, replace=False)
    kls = {}
    for feat, hs in (("curatekit hash", 0), ("neutral hash (seed 1)", 1), ("SHA-256 (data-selection's)", None)):
        if hs is None: fc = lambda df: sha256_counts(df["text"])
        else: fc = lambda df, hs=hs: bucket_counts(hashed_ngrams(df["text"], seed=hs))
        T = fc(target)
        kl = {name: kl_divergence(T, fc(raw.filter(ids.is_in(list(keep)).to_numpy()))) for name, keep in sel_ids.items()}
        kl.update(random=kl_divergence(T, fc(raw[rand])), raw=kl_divergence(T, fc(raw)))
        kls[feat] = kl
    kl = kls["curatekit hash"]
    n = len(raw)
    rows = [("corpus", label), ("raw docs / target docs / k", f"{n:,} / {len(target):,} / {k:,}"),
            ("curatekit seconds (read + fit + weights + resample)", f"{ours_s:.2f}"),
            ("data-selection seconds (fit + weights + resample, %d procs)" % a.num_proc, f"{peer['seconds']:.2f}"),
            ("docs/s curatekit / data-selection", f"{n / ours_s:,.0f} / {n / peer['seconds']:,.0f}"),
            ("speed ratio", f"{peer['seconds'] / ours_s:.1f}x"),
            *[(f"KL(target||selection) on {f}: curatekit / data-selection / random / raw pool",
               " / ".join(f"{v[x]:.4f}" for x in ("curatekit", "data_selection", "random", "raw"))) for f, v in kls.items()],
            *[(f"KL ratio curatekit / data-selection on {f}", f"{v['curatekit'] / v['data_selection']:.4f}") for f, v in kls.items()],
            ("KL reduction curatekit / data-selection (nats, curatekit hash)", f"{kl['raw'] - kl['curatekit']:.4f} / {kl['raw'] - kl['data_selection']:.4f}"),
            ("selected-id overlap |A∩B|/k", f"{len(ours_ids & peer_ids) / k:.3f}"),
            ("sizes agree", str(len(peer_ids) == k == len(ours_ids)))]
    print("| measure | value |\n|---|---|"); print("\n".join(f"| {r} | {v} |" for r, v in rows))

if __name__ == "__main__": main()
