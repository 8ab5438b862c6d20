"""The widgets in a real browser: JupyterLab on 127.0.0.1, headless Chromium driven by Playwright.

Opens `tests/browser_nb.ipynb` and runs all its cells: a ScoreExplorer on a log-normal `ppl` (log slider) of a 32-column scored
frame with list columns, two SampleBrowser grids (that frame, and 200,000 rows), a PairwiseAnnotator, a MixtureEditor and a
ScoreExplorer on a text column (a notice). Then it checks what a user relies on: no element wider than the output area and the
text column at least 40% of the grid; the log slider moves by a constant factor and one handle never moves the other; a brush
sets both thresholds, the next arrow key moves only its own handle and the rules sit over the handles; a clicked bar shows its
rows; the grid sorts and scrolls 200,000 rows while drawing a few dozen; the annotator judges and undoes from the keyboard; the
dark theme keeps text readable; and after saving, restarting the server and reopening, the static pictures stand in for the
widgets (no "model not found") and show the last thresholds. Screenshots go to `outputs/browser_*.png`.

Nothing is installed here: `make test` set up Debian's chromium and the `playwright` and `jupyterlab` Python packages. Without
them the test skips with a message, and under `CI=true` it fails."""
import math, os, re, shutil, signal, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT/"outputs"
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

class Lab:
    "A JupyterLab server on 127.0.0.1 serving `root`; `restart()` stops it and starts a new one on the same files."
    def __init__(self, root: Path):
        self.root, self.home, self.proc = root, root/"home", None
        (self.home/"config"/"labconfig").mkdir(parents=True)  # no "get Jupyter news?" toast over the screenshots
        (self.home/"config"/"labconfig"/"page_config.json").write_text(
            '{"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": true}}')
        tracker = self.home/"settings"/"@jupyterlab"/"notebook-extension"
        tracker.mkdir(parents=True)  # draw every cell, not only those in view, so the test can reach all outputs
        (tracker/"tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
        self.start()

    def start(self):
        port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "JUPYTER_CONFIG_DIR": str(self.home/"config"), "JUPYTER_RUNTIME_DIR": str(self.home/"runtime"),
               "JUPYTERLAB_SETTINGS_DIR": str(self.home/"settings"), "JUPYTERLAB_WORKSPACES_DIR": str(self.home/"workspaces")}
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={self.root}", "--LabApp.expose_app_in_browser=True",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None"]
        self.log = open(self.root/"lab.log", "a")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(240):
            if self.proc.poll() is not None: pytest.fail(f"JupyterLab exited: {(self.root/'lab.log').read_text()[-2000:]}")
            try: urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=2); return
            except OSError: time.sleep(0.5)
        pytest.fail("JupyterLab did not answer within 120 s")

    def stop(self):
        "Stop the server (it shuts its kernels down), then make sure its whole process group is gone."
        if self.proc is None: return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try: self.proc.wait(20)
            except subprocess.TimeoutExpired: pass
        try: os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError: pass
        self.proc.wait(10); self.log.close(); self.proc = None

    def restart(self): self.stop(); self.start()

@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server serving a copy of the test notebook; always stopped afterwards."
    if (why := missing()): skip_or_fail(why)
    shutil.copy(ROOT/"tests"/"browser_nb.ipynb", tmp_path/"browser_nb.ipynb")
    lab = Lab(tmp_path)
    try: yield lab
    finally: lab.stop()

def open_notebook(page, lab):
    page.goto(f"{lab.url}/lab/tree/browser_nb.ipynb?token={TOKEN}&reset")
    page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                           " && window.jupyterapp.shell.currentWidget.sessionContext"
                           " && window.jupyterapp.shell.currentWidget.sessionContext.session", timeout=120_000)

def shot(page, name, locator=None):
    (locator or page).screenshot(path=str(OUT/f"browser_{name}.png"), **({} if locator else {"full_page": True}))

def kept(page) -> int:
    return int(re.search(r"kept ([\d,]+)", page.locator(".ck-explorer .ck-x-kept").inner_text()).group(1).replace(",", ""))

def box_values(ex) -> tuple:
    return ex.locator("input.ck-x-lobox").input_value(), ex.locator("input.ck-x-hibox").input_value()

def wait_kept_change(page, before):
    page.wait_for_function("b => { const e = document.querySelector('.ck-explorer .ck-x-kept');"
                           " return e && !e.textContent.includes(b); }", arg=f"kept {before:,} ", timeout=30_000)

# Every element inside a live view lies within the output area that holds it.
OVERFLOW = """() => [...document.querySelectorAll('.jp-OutputArea-output')].filter(o => o.querySelector('.ck-live')).flatMap(o => {
  const r = o.getBoundingClientRect();
  return [...o.querySelectorAll('.ck-live, .ck-live *')].filter(e => {
    const b = e.getBoundingClientRect();
    return b.width > 0 && b.height > 0 && (b.right > r.right + 1 || b.left < r.left - 1);
  }).map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().width)}px in ${Math.round(r.width)}px`);
})"""

# WCAG contrast ratio of an element's text colour against the first opaque background behind it.
CONTRAST = """sel => { const el = document.querySelector(sel);
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                     return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  let bg = null;
  for (let e = el; e && !bg; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length === 3 || c[3] > 0.9) bg = c; }
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(bg || [255, 255, 255])];
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); }"""

def test_widgets_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        console = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        try:
            open_notebook(page, lab)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.locator(".jp-OutputArea-output pre", has_text="cells ran:").wait_for(timeout=180_000)
            ex = page.locator(".ck-explorer")
            ex.locator(".vega-embed svg").wait_for(timeout=60_000)  # the offline chart drew
            page.locator(".ck-grid .ck-grid-tr .ck-grid-cell").first.wait_for(timeout=60_000)
            # the live views stand, their static pictures are hidden, and a bad column shows a notice
            assert page.locator(".ck-live").count() >= 5
            assert not page.locator(".ck-static", has=page.locator(".ck-title")).first.is_visible()
            assert "holds String, not numbers" in page.locator(".ck-msg").first.inner_text()
            assert not [m for m in console if "Infinite extent" in m or "WARN" in m], console  # Vega draws the chart without complaint

            # layout: nothing wider than its output; the grid's text column keeps at least 40% of the row
            assert page.evaluate(OVERFLOW) == []
            grid = page.locator(".ck-grid").first
            view = grid.locator(".ck-grid-viewport")
            assert view.evaluate("v => v.scrollWidth <= v.clientWidth"), "the grid scrolls sideways"
            row_w = grid.locator(".ck-grid-head").bounding_box()["width"]
            text_w = grid.locator(".ck-grid-th.ck-kind-text").bounding_box()["width"]
            assert text_w >= 0.4 * row_w - 1, (text_w, row_w)
            heads = grid.locator(".ck-grid-th").all_inner_texts()
            assert not any("lm_logprobs" in h or "lm_token" in h for h in heads), heads  # list columns stay hidden
            assert grid.locator(".ck-grid-tr").first.locator("span[title^='log p']").count() > 0  # the heat map is in the row
            shot(page, "layout")
            grid.scroll_into_view_if_needed(); shot(page, "grid_scored", grid)

            # the log slider: log10 units, the bulk in the middle of the track, each arrow key one constant factor
            lo_in, hi_in = ex.locator("input.ck-x-lo"), ex.locator("input.ck-x-hi")
            umin, umax, step = (float(lo_in.get_attribute(a)) for a in ("min", "max", "step"))
            assert 1 < umin < umax < 5, (umin, umax)  # log10 of ppl: 98 .. 16,490 is 2 .. 4.2
            bulk = (math.log10(300) - umin) / (umax - umin)
            assert 0.3 < bulk < 0.7, bulk
            before = kept(page)
            lo_in.focus()
            for _ in range(60): page.keyboard.press("ArrowRight")
            wait_kept_change(page, before)
            lo_txt, hi_txt = box_values(ex)
            assert hi_txt == "", hi_txt  # the other handle did not move
            assert abs(float(lo_txt) / 10 ** (umin + 60 * step) - 1) < 0.01, (lo_txt, 10 ** (umin + 60 * step))
            assert kept(page) < before
            shot(page, "log_slider", ex)

            # brush and slider are one state: a brush sets both; then an arrow key moves only its own handle
            plot = ex.locator(".vega-embed svg").bounding_box()
            y = plot["y"] + plot["height"] * 0.5
            x0, x1 = plot["x"] + plot["width"] * 0.35, plot["x"] + plot["width"] * 0.6
            before = kept(page)
            page.mouse.move(x0, y); page.mouse.down(); page.mouse.move(x1, y, steps=8); page.mouse.up()
            wait_kept_change(page, before)
            lo_b, hi_b = box_values(ex)
            assert lo_b and hi_b and float(lo_b) < float(hi_b), (lo_b, hi_b)
            assert not ex.locator(".ck-x-band").is_visible()  # no stale brush band: the rules and shading show the state
            hi_in.focus()
            page.keyboard.press("ArrowRight")
            page.wait_for_function("v => document.querySelector('.ck-explorer input.ck-x-hibox').value !== v", arg=hi_b, timeout=30_000)
            lo_c, hi_c = box_values(ex)
            assert lo_c == lo_b and float(hi_c) > float(hi_b), (lo_b, hi_b, lo_c, hi_c)
            time.sleep(0.5)
            rules = ex.locator(".mark-rule.role-mark line, .mark-rule.role-mark path").evaluate_all("ps => ps.map(p => p.getBoundingClientRect().x)")
            thumbs = [i.evaluate("r => { const b = r.getBoundingClientRect(), f = (r.value - r.min) / (r.max - r.min);"
                                 " return b.left + 8 + f * (b.width - 16); }") for i in (lo_in, hi_in)]
            assert len(rules) == 2 and all(abs(a - b) < 4 for a, b in zip(sorted(rules), thumbs)), (rules, thumbs)
            shot(page, "brush_then_key", ex)
            last_kept = kept(page)

            # a click on a bar shows its rows
            bar = ex.locator(".mark-rect path").nth(8)
            bar.click()
            ex.locator(".ck-x-tabs button", has_text="clicked bar").wait_for(timeout=30_000)
            page.wait_for_function("() => document.querySelector('.ck-explorer .ck-x-samples table')", timeout=30_000)
            assert kept(page) == last_kept  # a click is not a brush

            # the grid: click a header to sort; 200,000 rows scroll with a few dozen drawn
            sort = grid.locator(".ck-grid-th", has_text="ppl").locator(".ck-grid-label")
            sort.click()
            page.wait_for_function("() => document.querySelector('.ck-grid .ck-grid-th.ck-kind-num .ck-grid-label')"
                                   " && [...document.querySelectorAll('.ck-grid')][0].innerText.includes('▲')", timeout=30_000)
            page.wait_for_timeout(500)
            ppl = [float(t.replace(",", "")) for t in grid.locator(".ck-grid-tr").evaluate_all(
                "rs => rs.filter(r => r.style.display !== 'none').slice(0, 5).map(r => r.children[2].textContent)") if t]
            assert ppl == sorted(ppl) and len(ppl) == 5, ppl
            big = page.locator(".ck-grid").nth(1)
            bview = big.locator(".ck-grid-viewport")
            bview.evaluate("v => { v.scrollTop = v.scrollHeight; }")
            big.locator(".ck-grid-tr", has_text="document number 199999").wait_for(timeout=30_000)
            drawn = big.locator(".ck-grid-tr").count()
            assert drawn < 60, drawn
            shot(page, "grid", big)

            # the annotator: keys judge, u undoes, and the keys never reach the notebook
            cells = page.locator(".jp-Notebook .jp-Cell").count()
            ann = page.locator(".ck-pairwise")
            ann.click(position={"x": 5, "y": 5})
            page.keyboard.press("a"); ann.locator(".ck-note", has_text="1 of 10 judgments").wait_for(timeout=30_000)
            page.keyboard.press("ArrowRight"); ann.locator(".ck-note", has_text="2 of 10 judgments").wait_for(timeout=30_000)
            page.keyboard.press("u"); ann.locator(".ck-note", has_text="1 of 10 judgments").wait_for(timeout=30_000)
            assert page.locator(".jp-Notebook .jp-Cell").count() == cells
            ann.locator(".ck-pw-fit").click()
            page.locator(".ck-grid").nth(2).locator(".ck-grid-tr").first.wait_for(timeout=30_000)
            shot(page, "pairwise", page.locator(".jp-OutputArea-output", has=ann))

            # the dark theme: text on the notice, the grid and the explorer stays readable
            page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
            page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
            page.wait_for_timeout(1500)
            for sel in (".ck-msg", ".ck-grid .ck-grid-tr .ck-grid-cell", ".ck-explorer .ck-x-kept", ".ck-pairwise .ck-pw-guide"):
                assert page.evaluate(CONTRAST, sel) >= 4.5, (sel, page.evaluate(CONTRAST, sel))
            for name, loc in (("dark_explorer", ex), ("dark_grid", grid), ("dark_notice", page.locator(".ck-msg").first)):
                loc.scroll_into_view_if_needed(); shot(page, name, loc)
            page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")

            # save, restart the server, reopen: the static pictures stand in, with the last thresholds
            page.wait_for_timeout(1500)  # the static picture follows the live view after half a second of quiet
            page.evaluate("window.jupyterapp.commands.execute('docmanager:save')")
            page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=30_000)
            lab.restart()
            open_notebook(page, lab)
            page.locator(".ck-static .ck-chart svg").first.wait_for(timeout=60_000)
            page.wait_for_timeout(3000)
            assert page.get_by_text("Error displaying widget").filter(visible=True).count() == 0
            assert page.locator(".ck-static").filter(visible=True).count() >= 6
            static_ex = page.locator(".ck-static", has_text="ScoreExplorer('ppl'").first
            assert f"kept {last_kept:,} " in static_ex.inner_text()
            assert page.evaluate(OVERFLOW.replace(".ck-live", ".ck-static")) == []
            shot(page, "after_restart")
            for name, text in (("after_restart_grid", "SampleBrowser(2,608"), ("after_restart_pairwise", "PairwiseAnnotator(")):
                loc = page.locator(".ck-static", has_text=text).first
                loc.scroll_into_view_if_needed(); shot(page, name, loc)
        except Exception:
            shot(page, "failed")
            raise
        finally:
            browser.close()
