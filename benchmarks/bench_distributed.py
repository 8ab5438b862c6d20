"""Distributed dedup: driver peak memory and wall time, local engine vs Ray with 1 and 2 workers, at 1×, 10× (50×) the sample corpus.

    python benchmarks/bench_distributed.py --scales 1 10          # the table of benchmarks/README.md
    python benchmarks/bench_distributed.py --scales 1 --method exact

The corpus is `curatekit.data.sample_corpus()` repeated `scale` times, each copy perturbed (30% of rows get a suffix word:
near duplicates of the original; the rest have their words shuffled with the copy's seed: new documents, except
the shortest), cut into Parquet blocks of 20,000
rows in a temporary folder. Each configuration runs in its own process so that its numbers are its own:
- `local`: what the local engine does with a global dedup step: the ids and texts of every block on the driver, `minhash_dedup`;
- `tasks`: `distributed_dedup(engine="local")`, the same tasks one after another in one process (per-stage seconds: the per-block cost);
- `ray-1`, `ray-2`: `distributed_dedup(engine="ray")` on a local Ray started with 1 or 2 CPUs.
Driver memory is the driver process's own peak RSS (`resource.getrusage(RUSAGE_SELF)`, Ray workers are other processes)
and its peak of Python/NumPy allocations (`tracemalloc`), each minus the same process's figures after its imports.
Every configuration checks its annotation against `local`'s (same rows marked, same survivors).
"""
import argparse, json, os, resource, shutil, subprocess, sys, tempfile, time, tracemalloc
from pathlib import Path
import polars as pl

ROOT = Path(__file__).resolve().parent.parent

def rss_mib() -> float: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def corpus(scale: int, folder: Path, block: int=20_000) -> list[Path]:
    from curatekit.data import sample_corpus
    base = sample_corpus().select("id", "text")
    n = len(base)
    copies = [base]
    for j in range(1, scale):
        c = base.with_row_index("k").with_columns(pl.col("id") + j * 10 * n)
        near = (pl.col("k") * 2654435761 + j) % 10 < 3
        copies.append(c.select("id", pl.when(near).then(pl.col("text") + f" v{j}")
                               .otherwise(pl.col("text").str.split(" ").list.sample(fraction=1.0, shuffle=True, seed=j).list.join(" ")).alias("text")))
    df = pl.concat(copies)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for k, s in enumerate(range(0, len(df), block)):
        files.append(folder/f"block-{k:04d}.parquet"); df.slice(s, block).write_parquet(files[-1])
    return files

def one(mode: str, blocks: list[Path], work: Path, method: str, out: Path) -> dict:
    "Run one configuration in this process; the annotation goes to `out` (for the equality check)."
    import curatekit.distributed as D
    from curatekit.dedup import exact_dedup, minhash_dedup
    import torch; torch.set_num_threads(1)
    if mode.startswith("ray"):
        from curatekit.scale import ray_init
        ray_init(num_cpus=int(mode.split("-")[1]))
    base_rss = rss_mib(); tracemalloc.start()
    t0, stages = time.perf_counter(), {}
    if mode == "local":
        df = pl.concat([pl.read_parquet(b, columns=["id", "text"]) for b in blocks])
        ann = (minhash_dedup if method == "minhash" else exact_dedup)(df).select("id", f"{method}_cluster", f"{method}_dup_of")
        ann.write_parquet(out); del df, ann
    else:
        tasks = D._tasks
        def timed(fn, calls, names, stage, engine, progress=None):
            s = time.perf_counter(); r = tasks(fn, calls, names, stage, engine, progress)
            stages[stage] = stages.get(stage, 0) + time.perf_counter() - s; return r
        D._tasks = timed
        files = D.distributed_dedup(blocks, work, method=method, engine="ray" if mode.startswith("ray") else "local", progress=False)
        wall = time.perf_counter() - t0
        pl.concat([pl.read_parquet(f) for f in files]).write_parquet(out)
    wall = time.perf_counter() - t0 if mode == "local" else wall
    _, peak = tracemalloc.get_traced_memory()
    return dict(mode=mode, seconds=round(wall, 2), rss_mib=round(rss_mib() - base_rss, 1), traced_mib=round(peak / 2**20, 1),
                stages={k: round(v, 2) for k, v in stages.items()})

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--modes", nargs="+", default=["local", "tasks", "ray-1", "ray-2"])
    ap.add_argument("--method", default="minhash", choices=["minhash", "exact"])
    ap.add_argument("--one", nargs=4, help=argparse.SUPPRESS)  # mode, blocks folder, work folder, out file
    a = ap.parse_args()
    if a.one:
        mode, bdir, work, out = a.one
        print(json.dumps(one(mode, sorted(Path(bdir).glob("*.parquet")), Path(work), a.method, Path(out)))); return
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    for scale in a.scales:
        tmp = Path(tempfile.mkdtemp(prefix="bench-dist-"))
        try:
            blocks = corpus(scale, tmp/"blocks")
            rows = sum(pl.scan_parquet(b).select(pl.len()).collect().item() for b in blocks)
            ref = None
            for mode in a.modes:
                r = subprocess.run([sys.executable, __file__, "--method", a.method, "--one", mode, str(tmp/"blocks"), str(tmp/f"work-{mode}"), str(tmp/f"{mode}.parquet")],
                                   capture_output=True, text=True, env=os.environ | {"PYTHONPATH": str(ROOT), "CURATEKIT_PROGRESS": "0"})
                if r.returncode: print(r.stderr[-2000:]); raise SystemExit(f"{mode} failed")
                res = json.loads(r.stdout.strip().splitlines()[-1])
                ann = pl.read_parquet(tmp/f"{mode}.parquet")
                ref = ann if ref is None else ref
                res |= dict(scale=scale, rows=rows, blocks=len(blocks), dups=ann[f"{a.method}_dup_of"].is_not_null().sum(), same=ann.equals(ref),
                            load=round(os.getloadavg()[0], 2))
                print(json.dumps(res), flush=True)
        finally: shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__": main()
