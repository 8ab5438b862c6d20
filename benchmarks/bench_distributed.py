"""Distributed dedup: driver peak memory and wall time, local engine vs Ray with 1 and 2 workers, at 1×, 10× (50×) the sample corpus.

    python benchmarks/bench_distributed.py --scales 1 10 --repeats 3   # the table of benchmarks/README.md
    python benchmarks/bench_distributed.py --scales 50 --repeats 1     # the 50× row (1.1M rows)
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
Every configuration checks its annotation against `local`'s (same rows marked, same survivors). Configurations alternate
within each repeat; the summary line per configuration is the median over repeats. A configuration whose process tree
brings the machine's available memory under `--min-free-gb` is killed and reported as stopped (the run goes on).
"""
import argparse, json, os, resource, shutil, statistics, subprocess, sys, tempfile, time, tracemalloc
from pathlib import Path
import polars as pl
import psutil

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

def available_gb() -> float: return psutil.virtual_memory().available / 2**30

def run_guarded(cmd: list[str], env: dict, min_free_gb: float) -> tuple[int, str, str, bool]:
    "Run `cmd`, killing it (and its children) if available memory drops under `min_free_gb`; (rc, stdout, stderr, stopped)."
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, start_new_session=True)
        stopped = False
        while p.poll() is None:
            if available_gb() < min_free_gb:
                stopped = True
                os.killpg(p.pid, 9)
                p.wait(); break
            time.sleep(0.5)
        out.seek(0); err.seek(0)
        return p.returncode, out.read(), err.read(), stopped

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--modes", nargs="+", default=["local", "tasks", "ray-1", "ray-2"])
    ap.add_argument("--method", default="minhash", choices=["minhash", "exact"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--min-free-gb", type=float, default=4.0)
    ap.add_argument("--one", nargs=4, help=argparse.SUPPRESS)  # mode, blocks folder, work folder, out file
    a = ap.parse_args()
    if a.one:
        mode, bdir, work, out = a.one
        print(json.dumps(one(mode, sorted(Path(bdir).glob("*.parquet")), Path(work), a.method, Path(out)))); return
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs, {available_gb():.1f} GiB available")
    env = os.environ | {"PYTHONPATH": str(ROOT), "CURATEKIT_PROGRESS": "0"}
    for scale in a.scales:
        tmp = Path(tempfile.mkdtemp(prefix="bench-dist-"))
        try:
            blocks = corpus(scale, tmp/"blocks")
            rows = sum(pl.scan_parquet(b).select(pl.len()).collect().item() for b in blocks)
            ref, runs = None, {m: [] for m in a.modes}
            for rep in range(a.repeats):
                for mode in a.modes:
                    shutil.rmtree(tmp/f"work-{mode}", ignore_errors=True)
                    for attempt in range(3):  # a local Ray can time out starting on a loaded machine: start it again
                        rc, out, err, stopped = run_guarded([sys.executable, __file__, "--method", a.method, "--one", mode, str(tmp/"blocks"), str(tmp/f"work-{mode}"), str(tmp/f"{mode}.parquet")], env, a.min_free_gb)
                        if not (rc and "timed out during startup" in err): break
                    if stopped: print(json.dumps(dict(scale=scale, mode=mode, repeat=rep, stopped=f"available memory under {a.min_free_gb} GiB"))); continue
                    if rc: print(err[-2000:]); raise SystemExit(f"{mode} failed")
                    res = json.loads(out.strip().splitlines()[-1])
                    ann = pl.read_parquet(tmp/f"{mode}.parquet")
                    ref = ann if ref is None else ref
                    res |= dict(scale=scale, repeat=rep, rows=rows, blocks=len(blocks), dups=ann[f"{a.method}_dup_of"].is_not_null().sum(), same=ann.equals(ref),
                                load=round(os.getloadavg()[0], 2))
                    runs[mode].append(res)
                    print(json.dumps(res), flush=True)
            for mode, rs in runs.items():
                if rs: print(json.dumps(dict(summary=True, scale=scale, rows=rows, blocks=len(blocks), mode=mode, n=len(rs),
                                             **{k: statistics.median(r[k] for r in rs) for k in ("seconds", "rss_mib", "traced_mib", "load")},
                                             same=all(r["same"] for r in rs))), flush=True)
        finally: shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__": main()
