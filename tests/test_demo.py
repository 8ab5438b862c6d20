"""`curatekit demo` end to end, as `make demo` runs it: the outputs, the saved recipe re-run, and the report in a browser."""
import os, shutil, struct, subprocess, sys
from pathlib import Path
import polars as pl
import yaml
import pytest
from curatekit.core import Recipe, Ledger, read

FILES = ["curated.ledger.parquet", "curated.parquet", "input.parquet", "recipe.yaml", "report.html", "target.parquet"]

@pytest.fixture(scope="session")
def lm_cache(tmp_path_factory):
    "The demo's reference LM (`curatekit/python-docs`), trained once per test session rather than once per test."
    return tmp_path_factory.mktemp("shared-lm")

def fresh_home(path: Path, lm_cache: Path) -> Path:
    "A new `$CURATEKIT_HOME` at `path`: nothing cached but the session's trained LMs."
    path.mkdir(parents=True, exist_ok=True); (path/"lm").symlink_to(lm_cache, target_is_directory=True)
    return path

# The full demo is the slowest thing `make test` does (≈ 3 CPU-minutes): it runs once per session and the outputs test and the
# browser test both read it, on one xdist worker.
DEMO = pytest.mark.xdist_group("demo")

@pytest.fixture(scope="session")
def full_demo(tmp_path_factory, lm_cache):
    "`curatekit demo --out DIR` with a fresh `$CURATEKIT_HOME`: (the CompletedProcess, DIR, that home)."
    base = tmp_path_factory.mktemp("full-demo")
    env = {**os.environ, "CURATEKIT_HOME": str(fresh_home(base/"home", lm_cache))}
    r = subprocess.run([str(Path(sys.executable).parent/"curatekit"), "demo", "--out", str(base/"demo")], capture_output=True, text=True, env=env)
    return r, base/"demo", base/"home"

@pytest.fixture
def home(tmp_path, monkeypatch, lm_cache):
    "A fresh `$CURATEKIT_HOME`, so the demo builds the sample corpus from scratch, as on a new machine."
    monkeypatch.setenv("CURATEKIT_HOME", str(fresh_home(tmp_path/"home", lm_cache)))
    return tmp_path/"home"

@DEMO
def test_demo_writes_five_outputs_and_its_recipe_reruns(cli, tmp_path, full_demo):
    "The full demo: five outputs and the DSIR target; `curatekit run recipe.yaml input.parquet X.parquet` gives the rows in curated.parquet."
    r, out, home = full_demo
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == FILES
    assert "report.html" in r.stdout and "kept" in r.stdout
    corpus = read(out/"input.parquet")
    assert len(corpus) >= 20_000 and set(corpus["source"]) == {"prose", "docstring", "code", "licence"}
    assert list(home.rglob("sample-*.parquet")), "the sample corpus is cached under $CURATEKIT_HOME"
    assert yaml.safe_load((out/"recipe.yaml").read_text()) == Recipe.load(Path(__file__).parent.parent/"curatekit/recipes/demo.yaml").to_dict()

    r = cli("run", out/"recipe.yaml", out/"input.parquet", tmp_path/"X.parquet", "-q", env={**os.environ, "CURATEKIT_HOME": str(home)})
    assert r.returncode == 0, r.stderr
    curated = pl.read_parquet(out/"curated.parquet")
    assert pl.read_parquet(tmp_path/"X.parquet").equals(curated)
    assert Ledger.load(tmp_path/"X.ledger.parquet").frame.equals(Ledger.load(out/"curated.ledger.parquet").frame)
    ledger = Ledger.load(out/"curated.ledger.parquet").frame
    assert len(curated) + len(ledger) == len(corpus) and len(ledger) > 0

def test_demo_sample_is_deterministic_and_report_self_contained(cli, tmp_path, home, lm_cache):
    """`--n` curates that many rows; two processes building the corpus from scratch write the same data files; the report has
    charts and reaches for nothing outside."""
    a, b = tmp_path/"a", tmp_path/"b"
    assert cli("demo", "--out", a, "--n", "1500", "-q").returncode == 0
    env = {**os.environ, "CURATEKIT_HOME": str(fresh_home(tmp_path/"home-b", lm_cache)), "PYTHONHASHSEED": "123"}
    assert cli("demo", "--out", b, "--n", "1500", "-q", env=env).returncode == 0
    assert len(read(a/"input.parquet")) == 1500
    for f in ["input.parquet", "curated.parquet", "curated.ledger.parquet"]: assert pl.read_parquet(a/f).equals(pl.read_parquet(b/f))
    page = (a/"report.html").read_text()
    assert page.count("<svg") >= 2 and "Funnel" in page and "too short" in page
    assert "<h2>Quality, diversity, complexity</h2>" in page and "rows per side" in page
    assert "KL reduction (nats)" in page and "KL(target ‖ ·) (nats)" in page and "target.parquet" in page
    for outside in ["<script", "<link", "src=\"http", "src='http", "@import", "url(http"]: assert outside not in page, outside

def _png_size(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

@DEMO
@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(tmp_path, full_demo):
    "Chromium, offline, parses the full demo's report into charts, tables and examples, and paints a full page."
    r, out, _ = full_demo
    assert r.returncode == 0, r.stderr
    url = (out/"report.html").resolve().as_uri()
    dom = subprocess.run([CHROMIUM, *FLAGS, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    for part in ["<svg", "<h2>Funnel</h2>", "<h2>Quality, diversity, complexity</h2>", "KL reduction (nats)", "<h2>Scores</h2>",
                 "<h2>Examples</h2>", "class=\"ex\""]: assert part in dom, part
    shot = tmp_path/"report.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--screenshot={shot}", "--window-size=1280,2000", url], capture_output=True, timeout=120)
    assert _png_size(shot) == (1280, 2000)
    assert shot.stat().st_size > 50_000, "a page with charts and examples is not a blank screenshot"
    if os.environ.get("CURATEKIT_KEEP_SCREENSHOT"): shutil.copy(shot, os.environ["CURATEKIT_KEEP_SCREENSHOT"])
