"""`curatekit analyze` against the runs it is held to, and the run report at a million rows.

Run from a clone:  .venv/bin/python benchmarks/bench_analyze.py [--times 10] [--repeats 3] [--report-rows 1000000]

1. The sample corpus ×10 (227,620 documents; each copy drops a seeded 5% of every document's words, as in bench_scale.py), as
   JSONL shards of 10,000 rows. Three commands, each in a fresh process with a throw-away cache (--no-cache), alternating, the
   order rotated each round:
     analyze   `curatekit analyze DIR -o page.html`                    (every default signal, the report written)
     web-basic `curatekit run web-basic DIR OUT`                       (the same rows through the built-in recipe)
     rules     `curatekit run rules.yaml DIR OUT`                      (the four rule sets alone: their signals and verdicts)
   Held to: analyze's peak RSS within 1.5x web-basic's, and its time within 1.5x the rule sets'. Medians of --repeats rounds.
2. A run of --report-rows rows (the sample corpus repeated; a recipe with lengths, a word-count filter and two-stage exact
   dedup, so most rows are removed and their scores kept), written with --report; then `curatekit report OUT` rebuilds the
   page from the files alone. Held to: the page is written in under 30 s and is under 5 MB.

Peak RSS is read by a small parent that does nothing else (a fresh Python), so the benchmark's own memory never counts, two
ways: the largest process's peak (RUSAGE_CHILDREN) and the peak of the command's processes together (their resident sizes
summed every 0.1 s from /proc, Linux). They differ for `analyze`, whose `SignalLane` is a second process beside the first;
the memory target is held on the sum. Nothing is written outside a temporary folder, which is removed at the end.
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import make_corpus  # the same corpus as the runner's benchmark

_RUN = r"""
import os, resource, subprocess, sys, threading, time
def tree_rss(root):  # resident bytes of `root` and every process under it, now (Linux /proc; 0 elsewhere)
    kids, rss, todo = {}, 0, [root]
    for d in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not d.isdigit(): continue
        try:
            with open(f"/proc/{d}/stat") as f: kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
        except (OSError, ValueError, IndexError): pass
    while todo:
        q = todo.pop(); todo += kids.get(q, [])
        try:
            with open(f"/proc/{q}/statm") as f: rss += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError): pass
    return rss
t = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
peak = [0]
def watch():
    while p.poll() is None: peak[0] = max(peak[0], tree_rss(p.pid)); time.sleep(0.1)
w = threading.Thread(target=watch, daemon=True); w.start()
err = p.stderr.read(); p.wait(); w.join()
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(p.returncode, time.perf_counter() - t, u.ru_utime + u.ru_stime, u.ru_maxrss, peak[0] // 1024)
sys.stderr.write(err.decode()[-2000:])
"""

def measure(args: list[str]) -> tuple[float, float, float, float]:
    "Run a command; (wall s, CPU s, the largest process's peak RSS, the peak of all its processes' RSS together; MiB), read by a small fresh Python."
    r = subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True)
    rc, wall, cpu, kb, tree = r.stdout.split()
    if int(rc): raise SystemExit(f"{args} failed: {r.stderr}")
    return float(wall), float(cpu), int(kb) / 1024, max(int(tree), int(kb)) / 1024

BIN = Path(sys.executable).parent
RULES = """curatekit: 1
name: four-rule-sets
steps:
- step: gopher_quality
- step: gopher_repetition
- step: c4_quality
- step: fineweb_quality
"""
REPORT_RECIPE = """curatekit: 1
name: lengths-and-exact-dedup
steps:
- step: text_stats
- step: word_count
- {step: filter, with: {keep: word_count >= 10, reason: too short}}
- step: exact_hash
- step: exact_clusters
- {step: filter, with: {keep: exact_dup_of IS NULL, reason: exact duplicate}}
"""

def load() -> str:
    "The load averages, as a reader of the numbers needs them."
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())

def analyze_vs_runs(times: int, repeats: int, tmp: Path) -> str:
    from curatekit.data import sample_corpus
    d = tmp/"corpus"; d.mkdir()
    n = make_corpus(sample_corpus().select("text", "source"), times, 10_000, d)
    (tmp/"rules.yaml").write_text(RULES)
    cur = str(BIN/"curatekit")
    cmds = {"analyze": lambda k: [cur, "analyze", str(d), "-o", str(tmp/f"a{k}.html"), "--no-cache", "-q"],
            "web-basic": lambda k: [cur, "run", "web-basic", str(d), str(tmp/f"w{k}"), "--no-cache", "-q"],
            "rules": lambda k: [cur, "run", str(tmp/"rules.yaml"), str(d), str(tmp/f"r{k}"), "--no-cache", "-q"]}
    res, loads = {c: [] for c in cmds}, []
    for k in range(repeats):
        order = list(cmds)[k % 3:] + list(cmds)[:k % 3]
        for c in order:
            loads.append(os.getloadavg()[0])
            res[c].append(measure(cmds[c](k)))
            print(f"round {k}: {c}: {res[c][-1][0]:.1f} s ({res[c][-1][1]:.1f} s CPU), {res[c][-1][2]:,.0f} MiB largest, {res[c][-1][3]:,.0f} MiB all (load {load()})", flush=True)
    med = {c: tuple(statistics.median(x[j] for x in r) for j in range(4)) for c, r in res.items()}
    page = max(tmp.glob("a*.html"), key=lambda p: p.stat().st_mtime)
    md = [f"{n:,} documents in {len(list(d.iterdir()))} JSONL shards; medians of {repeats} rounds; load average (1 min) at each "
          f"start {min(loads):.1f}–{max(loads):.1f}; analysis page {page.stat().st_size / 1e6:.2f} MB", "",
          "| command | seconds | CPU seconds | rows/s | peak RSS, largest process (MiB) | peak RSS, all processes (MiB) |", "|---|---|---|---|---|---|"]
    md += [f"| {c} | {s:.1f} | {u:.1f} | {n / s:,.0f} | {m:,.0f} | {t:,.0f} |" for c, (s, u, m, t) in med.items()]
    steps = re.findall(r"<tr><td>(?:<div[^>]*>)?(\d+): (\w+)\(.*?</td><td>([\d.]+)</td><td>([\d,]+)</td></tr>", page.read_text())
    if steps:  # the analysis page's own table of its last round: seconds and peak MiB after each step
        md += ["", "analyze, step by step (its last round, from the page's table):", "", "| step | seconds | peak RSS after (MiB) |", "|---|---|---|"]
        md += [f"| {i}: {name} | {sec} | {mib} |" for i, name, sec, mib in steps]
        md += [f"| (each step's seconds in the process that ran it: {sum(float(x[2]) for x in steps):.1f} s in all, overlapping, "
               f"in {res['analyze'][-1][0]:.1f} s of wall time with the page, the input read and start-up) | | |"]
    ratio = [res["analyze"][k][0] / res["rules"][k][0] for k in range(repeats)]
    md += ["", f"analyze / web-basic peak memory, all processes: **{med['analyze'][3] / med['web-basic'][3]:.2f}×** (held to ≤ 1.5×; "
           f"largest process: {med['analyze'][2] / med['web-basic'][2]:.2f}×); "
           f"analyze / four rule sets time: **{med['analyze'][0] / med['rules'][0]:.2f}×** wall (rounds: "
           f"{', '.join(f'{x:.2f}' for x in ratio)}), **{med['analyze'][1] / med['rules'][1]:.2f}×** CPU (held to ≤ 1.5×)"]
    return "\n".join(md)

def report_at_scale(rows: int, tmp: Path) -> str:
    from curatekit.data import sample_corpus
    base = sample_corpus().select("text", "source")
    d = tmp/"big"; d.mkdir()
    copies = -(-rows // len(base))
    for c in range(copies):  # exact copies: the dedup step removes most rows, so the report draws a million scores
        part = base if (c + 1) * len(base) <= rows else base.head(rows - c * len(base))
        part.write_parquet(d/f"part-{c:03d}.parquet")
    (tmp/"report.yaml").write_text(REPORT_RECIPE)
    cur = str(BIN/"curatekit")
    plain = measure([cur, "run", str(tmp/"report.yaml"), str(d), str(tmp/"big-plain"), "--no-cache", "-q"])
    withr = measure([cur, "run", str(tmp/"report.yaml"), str(d), str(tmp/"big-out"), "--no-cache", "-q", "--report", str(tmp/"big.html")])
    again = measure([cur, "report", str(tmp/"big-out"), "-o", str(tmp/"again.html"), "-q"])
    same = (tmp/"big.html").read_bytes() == (tmp/"again.html").read_bytes()
    m = json.loads((tmp/"big-out"/"manifest.json").read_text())
    size = (tmp/"big.html").stat().st_size
    return "\n".join([
        f"{m['rows_in']:,} rows in {copies} parquet shards, {m['rows_out']:,} kept, {m['rows_removed']:,} removed (load {load()})", "",
        "| what | seconds | CPU seconds | peak RSS (MiB) |", "|---|---|---|---|",
        f"| `curatekit run` without a report | {plain[0]:.1f} | {plain[1]:.1f} | {plain[2]:,.0f} |",
        f"| `curatekit run --report` | {withr[0]:.1f} | {withr[1]:.1f} | {withr[2]:,.0f} |",
        f"| `curatekit report OUT` (the page again, from the files) | {again[0]:.1f} | {again[1]:.1f} | {again[2]:,.0f} |", "",
        f"page: **{size / 1e6:.2f} MB** (held to < 5 MB); `report` rebuilds it in **{again[0]:.1f} s** ({again[1]:.1f} s CPU; held to < 30 s), "
        f"byte-identical to the --report page: {same}; --report adds {withr[0] - plain[0]:.1f} s to the run"])

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--times", type=int, default=10, help="copies of the sample corpus for part 1 (default: 10)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of part 1 (default: 3)")
    ap.add_argument("--report-rows", type=int, default=1_000_000, help="rows of part 2's run (0: skip it)")
    ap.add_argument("--skip-analyze", action="store_true", help="only part 2")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-analyze-"))
    print(f"{os.cpu_count()} CPUs; load {load()}", flush=True)
    try:
        if not a.skip_analyze: print("\n" + analyze_vs_runs(a.times, a.repeats, tmp) + "\n", flush=True)
        if a.report_rows: print("\n" + report_at_scale(a.report_rows, tmp) + "\n", flush=True)
    finally: shutil.rmtree(tmp, ignore_errors=True)

if __name__ == "__main__":
    main()
