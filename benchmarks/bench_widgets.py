"""Widgets at scale: what a threshold move, a chart and a grid window cost the kernel on 1M rows, against the widgets before issue 21.

The budgets of issue 21: at 1M rows a threshold move updates the counts in <= 100 ms and the chart in <= 300 ms, and the grid
scrolls without the browser ever holding the frame. Measured in the kernel (no browser): the time from the browser's message
(new thresholds, a window of rows) to the traits or the reply being ready. The chart's rules and shading move in the browser
from two numbers (no kernel work), so "chart" here is what a new chart costs the kernel: binning the column and building the
spec, and the static SVG picture redrawn half a second after the last move. The previous implementation (`curatekit/widgets.py`
at the merge base with `main`, loaded from git) runs the same moves side by side, alternating, median of `--repeat`.

    python benchmarks/bench_widgets.py                        # 1,000,000 rows, median of 5
    python benchmarks/bench_widgets.py --rows 100000 --repeat 3
"""
import argparse, importlib.util, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from curatekit.widgets import ScoreExplorer, SampleBrowser, histogram, hist_chart
from curatekit.render import chart_svg

def frame(n: int, seed: int=0) -> pl.DataFrame:
    "n rows: string ids, 5 sources, a log-normal `ppl` (with nulls), an integer word count, a second score and a short text."
    rng = np.random.default_rng(seed)
    ppl = np.exp(rng.normal(5.7, 0.8, n)); ppl[rng.choice(n, n // 200, replace=False)] = np.nan
    return pl.DataFrame({"id": pl.int_range(n, eager=True).cast(pl.String).str.replace(r"^", "doc-"),
                         "source": rng.choice(["web", "books", "code", "wiki", "news"], n), "ppl": pl.Series(ppl).fill_nan(None),
                         "words": rng.integers(1, 5000, n), "alpha": rng.random(n)}).with_columns(
        text=pl.format("document {} from {} with {} words", "id", "source", "words"))

def before_module():
    "The widgets module as it was at the merge base with main (relative imports made absolute), or None outside git."
    try:
        base = subprocess.run(["git", "merge-base", "HEAD", "main"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        src = subprocess.run(["git", "show", f"{base}:curatekit/widgets.py"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (subprocess.CalledProcessError, FileNotFoundError): return None, None
    path = Path(tempfile.mkdtemp())/"widgets_before.py"
    path.write_text(src.replace("from .", "from curatekit."))
    spec = importlib.util.spec_from_file_location("widgets_before", path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod, base[:7]

def ms(fn, repeat):
    "Median wall time of fn() in milliseconds over `repeat` runs (after one warm-up)."
    fn(); ts = []
    for _ in range(repeat):
        t = time.perf_counter(); fn(); ts.append(1000 * (time.perf_counter() - t))
    return statistics.median(ts)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    df = frame(a.rows)
    old, base = before_module()
    print(f"{a.rows:,} rows, {len(df.columns)} columns; load average {os.getloadavg()[0]:.1f}; before = widgets.py at {base or '(no git)'}")
    t = time.perf_counter(); ex = ScoreExplorer(df, "ppl", log=True, second="alpha"); prep = time.perf_counter() - t
    w = ex.view()  # the live view's kernel side, no browser
    ox = old.ScoreExplorer(df, "ppl", log=True) if old else None
    moves = [(150.0, 900.0), (200.0, 700.0), (120.0, 1500.0), (250.0, 500.0)]
    k = iter(range(10**9))
    def new_counts():
        lo, hi = moves[next(k) % len(moves)]; ex.set(lo, hi); ex.counts()
    def old_counts():
        lo, hi = moves[next(k) % len(moves)]; ox.set(lo, hi); ox.counts()
    def new_move():  # what the browser's new thresholds cost: state, counts, second score, near samples, YAML
        lo, hi = moves[next(k) % len(moves)]
        with w.hold_trait_notifications(): w.lo, w.hi = lo, hi
    def old_move():  # the old view's refresh: state, summary (counts), near samples
        lo, hi = moves[next(k) % len(moves)]; ox.set(lo, hi); ox.summary_html(); old.table_html(ox.samples("near", 5), ("text",))
    def new_chart():
        ex._hist = ex._spec = None; ex.chart_spec()
    def old_chart():
        ox.chart().to_dict()
    rows = []
    for name, new, before in [("threshold move: counts", new_counts, old_counts), ("threshold move: everything the view shows", new_move, old_move),
                              (f"new chart: bin {a.rows:,} rows + spec", new_chart, old_chart)]:
        n_ms, o_ms = [], []
        for _ in range(a.repeat):  # alternate the two implementations
            n_ms.append(ms(new, 1))
            if ox is not None: o_ms.append(ms(before, 1))
        n, o = statistics.median(n_ms), (statistics.median(o_ms) if o_ms else None)
        rows.append((name, n, o))
    svg = ms(lambda: ex._repr_html_(), a.repeat)
    # the grid: a window of 64 rows at random offsets; sort and filter; bytes sent vs the frame as JSON
    sb = SampleBrowser(df)
    rng = np.random.default_rng(1)
    starts = iter(rng.integers(0, a.rows - 64, 10**6).tolist())
    win = ms(lambda: sb.cells(s := next(starts), s + 64), a.repeat)
    msg = len(json.dumps({"type": "rows", "start": 0, "version": 0, "rows": sb.cells(500_000 % a.rows, 500_000 % a.rows + 64)}))
    whole = len(df.select(sb.columns).write_json())
    sort = ms(lambda: sb.query(sort_by="ppl", descending=True), a.repeat)
    where = ms(lambda: sb.query("ppl > 500 AND source = 'web'"), a.repeat)
    print(f"\nScoreExplorer setup (score as floats, group codes): {1000 * prep:,.0f} ms\n")
    print("| kernel work per event | curatekit (ms) | before (ms) | before ÷ curatekit |\n|---|---:|---:|---:|")
    for name, n, o in rows: print(f"| {name} | {n:,.1f} | {'—' if o is None else f'{o:,.1f}'} | {'—' if o is None else f'{o / n:.1f}×'} |")
    print(f"| static picture redrawn (chart as SVG, tables; half a second after the last move, off the event) | {svg:,.1f} | | |")
    print(f"\n| grid | value |\n|---|---:|\n| one window of 64 rows (HTML cells) | {win:,.1f} ms |\n| sort {a.rows:,} rows by ppl | {sort:,.0f} ms |"
          f"\n| filter `ppl > 500 AND source = 'web'` | {where:,.0f} ms |\n| bytes sent per window | {msg:,} |"
          f"\n| bytes of the shown columns as JSON (what shipping the frame would send) | {whole:,} ({whole / msg:,.0f}× a window) |")

if __name__ == "__main__": main()
