"""Peak memory and throughput of the sharded runner as the corpus grows, and local vs Ray rows/s.

Run from a clone:  .venv/bin/python benchmarks/bench_scale.py [--recipe demo] [--sizes 1 2 5 10] [--shard-rows 10000] [--ray]

The corpus is the sample corpus repeated with perturbation (each copy drops a seeded 5% of the words of every document, so
copies are near, not exact, duplicates), written as JSONL shards of --shard-rows rows. Each measurement runs `curatekit run`
in a fresh subprocess with a throw-away cache (--no-cache), started by a small fresh Python that reads the command's peak RSS
from the kernel (RUSAGE_CHILDREN), so the benchmark's own memory never counts.
"""
import argparse, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np
import polars as pl

BIN = Path(sys.executable).parent

def perturbed(base: pl.DataFrame, copy: int, rate: float=0.05) -> pl.DataFrame:
    "Copy `copy` of `base`: every document with a seeded `rate` of its words dropped (copy 0 is `base`)."
    if copy == 0: return base
    rng = np.random.default_rng(copy)
    words = base["text"].fill_null("").str.split(" ")
    keep = [" ".join(w for w, k in zip(ws, rng.random(len(ws)) >= rate) if k) for ws in words.to_list()]
    return base.with_columns(pl.Series("text", keep))

def make_corpus(base: pl.DataFrame, times: int, shard_rows: int, root: Path) -> int:
    "Write `times` perturbed copies of `base` as JSONL shards under `root`; return the row count."
    df = pl.concat([perturbed(base, c) for c in range(times)]).select("text", "source")
    for j, i in enumerate(range(0, len(df), shard_rows)): df.slice(i, shard_rows).write_ndjson(root/f"part-{j:04d}.jsonl")
    return len(df)

_PEAK = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
         "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE); "
         "print(r.returncode, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
         "sys.stderr.write(r.stderr.decode()[-2000:])")

def measure(args: list[str]) -> tuple[float, float]:
    "Run a command; return (seconds, peak RSS in MiB). A small fresh Python starts it, so the peak is the command's own."
    r = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, text=True)
    rc, dt, kb = r.stdout.split()
    if int(rc): raise SystemExit(f"{args} failed: {r.stderr}")
    return float(dt), int(kb) / 1024

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="demo", help="a built-in recipe name or YAML path (default: demo)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 5, 10], help="corpus sizes as multiples of the sample")
    ap.add_argument("--shard-rows", type=int, default=10_000)
    ap.add_argument("--ray", action="store_true", help="also time --engine ray on the largest corpus")
    a = ap.parse_args()
    from curatekit.data import sample_corpus
    base = sample_corpus().select("text", "source")
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    rows_md = ["| corpus | rows | shards | engine | seconds | rows/s | peak RSS (MiB) |", "|---|---|---|---|---|---|---|"]
    try:
        for k in a.sizes:
            d = tmp/f"x{k}"; d.mkdir()
            n = make_corpus(base, k, a.shard_rows, d)
            engines = ["local"] + (["ray"] if a.ray and k == max(a.sizes) else [])
            for eng in engines:
                out = tmp/f"out-{k}-{eng}"
                dt, rss = measure([str(BIN/"curatekit"), "run", a.recipe, str(d), str(out), "--no-cache", "-q", "--engine", eng])
                rows_md.append(f"| {k}x sample | {n:,} | {len(list(d.iterdir()))} | {eng} | {dt:.1f} | {n/dt:,.0f} | {rss:,.0f} |")
                print(rows_md[-1], flush=True)
                shutil.rmtree(out, ignore_errors=True)
    finally: shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nrecipe: {a.recipe}; shards of {a.shard_rows:,} rows; {os.cpu_count()} cores\n")
    print("\n".join(rows_md))

if __name__ == "__main__": main()
