"""The widgets in a real browser: JupyterLab on 127.0.0.1, headless Chromium driven by Playwright.

Opens `tests/browser_nb.ipynb`, runs all its cells, drags the ScoreExplorer's lower threshold and then a brush on its chart and
checks that the kept count follows, then judges two pairs with the PairwiseAnnotator's keys; screenshots are kept under `outputs/`. Nothing is installed here: `make test` set up Debian's chromium and the
`playwright` and `jupyterlab` Python packages. Without them the test skips with a message, and under `CI=true` it fails."""
import os, re, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CURATEKIT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
TOKEN = "curatekit-browser-test"

def missing() -> str|None:
    "What this test lacks to run, or None."
    if not Path(CHROMIUM).exists(): return f"no Chromium at {CHROMIUM} (make setup installs Debian's chromium when root on Debian)"
    try: import playwright.sync_api  # noqa: F401
    except ImportError: return "the playwright Python package is not installed (pip install 'curatekit[dev]')"
    try: import jupyterlab  # noqa: F401
    except ImportError: return "jupyterlab is not installed (pip install 'curatekit[dev]')"
    return None

def skip_or_fail(msg):
    if os.environ.get("CI") == "true": pytest.fail(f"browser test cannot run in CI: {msg}")
    pytest.skip(msg)

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on 127.0.0.1 serving a copy of the test notebook; always stopped afterwards."
    if (why := missing()): skip_or_fail(why)
    shutil.copy(ROOT/"tests"/"browser_nb.ipynb", tmp_path/"browser_nb.ipynb")
    port, home = free_port(), tmp_path/"home"
    (home/"config"/"labconfig").mkdir(parents=True)  # no "get Jupyter news?" toast over the screenshot
    (home/"config"/"labconfig"/"page_config.json").write_text(
        '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "JUPYTER_CONFIG_DIR": str(home/"config"), "JUPYTER_RUNTIME_DIR": str(home/"runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(home/"settings"), "JUPYTERLAB_WORKSPACES_DIR": str(home/"workspaces")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp_path}", "--LabApp.expose_app_in_browser=True",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None"]
    log = open(tmp_path/"lab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if proc.poll() is not None: break
            try: urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2); break
            except OSError: time.sleep(0.5)
        else: pytest.fail("JupyterLab did not answer within 120 s")
        if proc.poll() is not None: pytest.fail(f"JupyterLab exited: {(tmp_path/'lab.log').read_text()[-2000:]}")
        yield url
    finally:
        stop(proc); log.close()

def stop(proc):
    "Stop the server (it shuts its kernels down), then make sure its whole process group is gone."
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try: proc.wait(20)
        except subprocess.TimeoutExpired: pass
    try: os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError: pass
    proc.wait(10)

def kept(page) -> int:
    return int(re.search(r"kept ([\d,]+)", page.locator(".ck-counts").first.inner_text()).group(1).replace(",", ""))

def test_widgets_react_in_jupyterlab(lab):
    "Run all cells; drag the threshold, then brush the chart: the kept count follows; keys judge pairs."
    from playwright.sync_api import sync_playwright
    out = ROOT/"outputs"; out.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.goto(f"{lab}/lab/tree/browser_nb.ipynb?token={TOKEN}&reset")
            page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext"
                                   " && window.jupyterapp.shell.currentWidget.sessionContext.session", timeout=120_000)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            explorer = page.locator(".ck-score-explorer")
            explorer.wait_for(timeout=120_000)
            page.locator(".jp-OutputArea-output pre", has_text="cells ran:").wait_for(timeout=60_000)
            page.locator(".ck-score-explorer .vega-embed").first.wait_for(timeout=60_000)  # the offline chart drew
            before = kept(page)
            assert before == 20_000
            handle = explorer.locator(".noUi-handle-lower").first
            box = handle.bounding_box()
            track = explorer.locator(".noUi-target").first.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(track["x"] + track["width"] * 0.5, box["y"] + box["height"] / 2, steps=10)
            page.mouse.up()
            page.wait_for_function("b => { const e = document.querySelector('.ck-counts b');"
                                   " return e && e.textContent !== b; }", arg=f"kept {before:,}", timeout=30_000)
            page.wait_for_function("() => [...document.querySelectorAll('.ck-score-explorer table')].some("
                                   "t => t.rows[0] && t.rows[0].innerText.startsWith('id') && t.rows.length > 2)", timeout=30_000)
            after = kept(page)
            page.screenshot(path=str(out/"browser_score_explorer.png"), full_page=True)
            assert 0 < after < before, (before, after)
            # a threshold near the median keeps about half of a standard normal score
            assert 0.3 * before < after < 0.7 * before, after
            rows = page.locator(".ck-counts + table tr").all_inner_texts()
            assert any(t.startswith("all") and f"{after:,}" in t for t in rows), rows
            # a brush dragged on the chart sets both thresholds (chart -> slider -> state): fewer rows kept again
            plot = explorer.locator(".vega-embed").first.bounding_box()
            y = plot["y"] + plot["height"] * 0.4
            page.mouse.move(plot["x"] + plot["width"] * 0.45, y)
            page.mouse.down()
            page.mouse.move(plot["x"] + plot["width"] * 0.6, y, steps=10)
            page.mouse.up()
            page.wait_for_function("b => { const e = document.querySelector('.ck-counts b');"
                                   " return e && e.textContent !== b; }", arg=f"kept {after:,}", timeout=30_000)
            page.screenshot(path=str(out/"browser_score_explorer_brush.png"), full_page=True)
            assert 0 < kept(page) < after
            # the annotator judges from the keyboard, and the notebook's own `a` / `b` shortcuts stay out of the way
            cells = page.locator(".jp-Notebook .jp-Cell").count()
            page.locator(".ck-pairwise .ck-keys").first.click()
            page.keyboard.press("a")
            page.locator(".ck-pairwise", has_text="1 judgments").wait_for(timeout=30_000)
            page.keyboard.press("ArrowRight")
            page.locator(".ck-pairwise", has_text="2 judgments").wait_for(timeout=30_000)
            assert page.locator(".jp-Notebook .jp-Cell").count() == cells
            page.locator(".ck-pairwise").first.screenshot(path=str(out/"browser_pairwise.png"))
        except Exception:
            page.screenshot(path=str(out/"browser_score_explorer_failed.png"), full_page=True)
            raise
        finally:
            browser.close()
