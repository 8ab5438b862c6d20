"""Run every notebook's tests, each in a fresh process, N at a time; print failures and the slowest notebooks.

`nbdev-test --n-workers N` runs notebooks in reused worker processes, so what one notebook leaves in its process (a step it
re-registered from `__main__`, a torch thread count, a cached model) can change what the next one sees. Here each notebook is
its own `nbdev-test NOTEBOOK` (which runs in-process for one file), as a reader running it top to bottom would. Each gets
cores / N threads for torch and BLAS (unless OMP_NUM_THREADS is set): two notebooks each with a pool of every core oversubscribe
the machine and both slow down.

    python tools/nbtest.py [--n-workers 2] [--flags "slow"] [--file-re "(00_core|60_scale)"] [--save]
"""
import argparse, os, re, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def notebooks(file_re: str|None) -> list[Path]:
    "The notebooks nbdev-test would test: those of nbs/ (not hidden, not `_`-prefixed, no `.notest` beside them)."
    from nbdev.doclinks import nbglob
    from nbdev.config import get_config
    files = [Path(f) for f in nbglob(get_config().nbs_path, as_path=True)]
    files = [f for f in files if not (f.parent/".notest").exists()]
    if file_re: files = [f for f in files if re.search(file_re, f.name)]
    return sorted(files, key=lambda f: -f.stat().st_size)  # big notebooks first: the two workers finish together

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

def run(nb: Path, flags: str, save: bool, threads: int) -> tuple[Path, int, float, str]:
    bin_dir = Path(sys.executable).parent
    cmd = [str(bin_dir/"nbdev-test"), str(nb)] + (["--flags", flags] if flags else []) + (["--save"] if save else [])
    t = time.time()
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")  # as in an activated venv: its commands first
    for v in THREAD_VARS: env.setdefault(v, str(threads))  # N notebooks at once share the cores: N torch pools of all cores thrash
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    return nb, r.returncode, time.time() - t, r.stdout + r.stderr

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-workers", type=int, default=2)
    ap.add_argument("--flags", default="", help="test flags to run that are normally skipped (e.g. 'slow')")
    ap.add_argument("--file-re", default=None, help="only notebooks whose file name matches")
    ap.add_argument("--save", action="store_true", help="store outputs in the notebooks that pass")
    ap.add_argument("--top", type=int, default=8, help="how many of the slowest notebooks to list")
    a = ap.parse_args(argv)
    files, t0 = notebooks(a.file_re), time.time()
    if not files: print("no notebooks to test"); return 0
    failed, times = [], []
    threads = max(1, (os.cpu_count() or 1) // a.n_workers)
    with ThreadPoolExecutor(a.n_workers) as ex:
        for nb, rc, secs, out in ex.map(lambda f: run(f, a.flags, a.save, threads), files):
            times.append((secs, nb.name))
            if rc != 0:
                failed.append(nb.name)
                print(f"\n{'=' * 100}\nFAILED {nb.name} ({secs:.0f} s)\n{'=' * 100}\n{out.strip()}\n", flush=True)
    print(f"{len(files) - len(failed)} of {len(files)} notebooks passed in {time.time() - t0:.0f} s ({a.n_workers} at a time); slowest: "
          + ", ".join(f"{n} {s:.0f} s" for s, n in sorted(times, reverse=True)[:a.top]))
    if failed: print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
