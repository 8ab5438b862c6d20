"""Shared helpers of the benchmarks: a heavy-tailed pool, the machine's load average, medians of alternating runs.

A heavy-tailed pool is a seeded sample of `raw.parquet` (the corpora of `/work/shared/corpora/make_corpora.py`) in which a few
documents are replaced by long ones: consecutive documents of one source concatenated up to 4 MB, 2 MB, 1 MB, 512 kB, 2 × 256 kB,
4 × 128 kB and 8 × 64 kB (a Pareto-like tail: man pages, the Bible, code and changelogs as single documents).
"""
import os, statistics, time
import polars as pl

TAIL = [4 << 20, 2 << 20, 1 << 20, 512 << 10] + [256 << 10] * 2 + [128 << 10] * 4 + [64 << 10] * 8

def heavy_pool(raw: pl.DataFrame, n: int = 10_000, seed: int = 0, tail=TAIL, text_col: str = "text") -> pl.DataFrame:
    "`n` documents of `raw` (seeded), the first len(tail) replaced by long documents of the sizes in `tail` (bytes)."
    pool = raw.sample(min(n, len(raw)), seed=seed, shuffle=True)
    srcs = raw.filter(pl.col(text_col).str.len_bytes() > 200)["source"].unique().sort().to_list() if "source" in raw.columns else [None]
    long = []
    for i, size in enumerate(tail):
        src = srcs[i % len(srcs)]
        docs = (raw if src is None else raw.filter(source=src))[text_col].to_list()
        out, total, j = [], 0, (i * 7919) % max(len(docs), 1)
        while total < size:
            d = docs[j % len(docs)]; out.append(d); total += len(d.encode()) + 2; j += 1
        long.append("\n\n".join(out).encode()[:size].decode(errors="ignore"))
    k = min(len(long), len(pool))
    pool = pool.with_columns(pl.Series(text_col, long[:k] + pool[text_col].to_list()[k:]))
    if "source" in pool.columns:
        pool = pool.with_columns(pl.Series("source", [srcs[i % len(srcs)] for i in range(k)] + pool["source"].to_list()[k:]))
    return pool

def load() -> str:
    "The 1, 5 and 15-minute load averages and the number of cores, as one line."
    a = os.getloadavg(); return f"load average {a[0]:.2f} {a[1]:.2f} {a[2]:.2f} on {os.cpu_count()} cores"

def median(xs): return statistics.median(xs)

def wait_idle(pct: float, max_s: float = 300) -> float:
    "Wait until the machine is at least `pct`% idle over 2 s (at most `max_s` seconds); the idle share last seen."
    t0, seen = time.time(), 0.0
    while time.time() - t0 < max_s:
        a = [int(x) for x in open("/proc/stat").readline().split()[1:9]]; time.sleep(2)
        b = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
        d = [y - x for x, y in zip(a, b)]; seen = 100 * (d[3] + d[4]) / max(sum(d), 1)
        if seen >= pct: break
    return seen
