"""The wheel installs into a clean venv (with the pinned torch), imports, and runs outside the repo."""
import os, subprocess, sys, venv
from pathlib import Path
import polars as pl

ROOT = Path(__file__).resolve().parent.parent

CLEAN_ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

def sh(*args, **kw):
    "Run a command in an environment that knows nothing of this checkout."
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=CLEAN_ENV, **kw)
    assert r.returncode == 0, f"{args}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r

def test_wheel_installs_and_runs_outside_the_repo(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path/"dist"), str(ROOT)],
                   cwd=ROOT, check=True, capture_output=True)
    wheel, = (tmp_path/"dist").glob("curatekit-*.whl")
    venv.create(tmp_path/"venv", with_pip=True)
    py = tmp_path/"venv"/"bin"/"python"
    sh(py, "-m", "pip", "install", "-q", "torch==2.13.0")
    sh(py, "-m", "pip", "install", "-q", "-c", ROOT/"tools"/"constraints.txt", wheel)
    work = tmp_path/"elsewhere"; work.mkdir()
    assert "run a recipe" in sh(tmp_path/"venv"/"bin"/"curatekit", "--help", cwd=work).stdout
    r = sh(py, "-c", "import curatekit.core as c, sys; print(c.__file__); print(sorted(c.builtin_recipes()))", cwd=work)
    assert str(tmp_path/"venv") in r.stdout and "nonempty" in r.stdout
    pl.DataFrame({"text": ["kept", "", None]}).write_ndjson(work/"in.jsonl")
    sh(tmp_path/"venv"/"bin"/"curatekit", "run", "nonempty", "in.jsonl", "out.parquet", "-q", cwd=work)
    assert pl.read_parquet(work/"out.parquet")["text"].to_list() == ["kept"]
