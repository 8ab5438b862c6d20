"""The documentation site: the checks `make test` runs fail on what they exist to catch, and the built site works in a browser.

The site is the one `make docscheck` built (`CURATEKIT_DOCS_SITE`, set by `make test`), or is built here once per worker. The
browser test drives Debian's chromium through Playwright, as tests/test_browser.py does; without them it skips (fails in CI)."""
import json, os, re, shutil, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/"tools"))
import docs  # noqa: E402  (tools/docs.py)

@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Path:
    "The full site, built from the stored outputs."
    given = os.environ.get("CURATEKIT_DOCS_SITE")
    if given and (ROOT/given/"index.html").exists(): return ROOT/given
    out = tmp_path_factory.mktemp("site")/"_docs"
    r = docs.build(out, strict=True)
    assert r["pages"] >= 18, r
    return out

def _nb(tmp_path, cells, name="10_tiny.ipynb") -> Path:
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    for i, c in enumerate(cells): c.setdefault("id", f"c{i}"); c.setdefault("metadata", {})
    for c in cells:
        if c["cell_type"] == "code": c.setdefault("outputs", []); c.setdefault("execution_count", None)
    p = tmp_path/name; p.write_text(json.dumps(nb)); return p

def test_invalid_notebook_is_caught(tmp_path):
    "A cell of type 'md' (what 13_dedup once had) makes the notebook invalid: the check names the file, cell and what is allowed."
    p = _nb(tmp_path, [{"cell_type": "markdown", "source": "# Tiny\n\n> one line"}, {"cell_type": "md", "source": "prose"}])
    errs = docs.validate_notebook(p)
    assert len(errs) == 1 and "10_tiny.ipynb: cell 1 has cell_type 'md'" in errs[0] and "markdown, code, raw" in errs[0], errs
    q = _nb(tmp_path, [{"cell_type": "code", "source": "1", "outputs": [{"output_type": "nonsense"}]}], "11_bad.ipynb")
    assert docs.validate_notebook(q) and "invalid nbformat" in docs.validate_notebook(q)[0]
    (tmp_path/"12_json.ipynb").write_text("{not json")
    assert "not a JSON notebook" in docs.validate_notebook(tmp_path/"12_json.ipynb")[0]
    with pytest.raises(docs.DocsError, match="cell 1 has cell_type 'md'"):
        docs.build_page(p, docs.Symbols({}), print)  # validation comes first: no symbol table needed

def test_project_notebooks_are_valid():
    "Every notebook in nbs/ and tests/ is valid nbformat 4."
    paths = docs.notebooks_to_validate()
    assert any(p.name == "13_dedup.ipynb" for p in paths) and any(p.parent.name == "tests" for p in paths)
    assert [e for p in paths for e in docs.validate_notebook(p)] == []

def test_broken_link_and_anchor_are_caught(site, tmp_path):
    "A link to a missing page, a missing anchor, or a script from the network fails the link check, naming page and link."
    copy = tmp_path/"site"; shutil.copytree(site, copy)
    assert docs.check_links(copy) == []
    page = copy/"dedup.html"
    page.write_text(page.read_text().replace("</main>", '<a href="nowhere.html">x</a><a href="core.html#no-such-anchor">y</a>'
                                               '<script src="https://cdn.example/vega.js"></script></main>'))
    errs = docs.check_links(copy)
    assert "dedup.html: broken link nowhere.html (no page nowhere.html)" in errs, errs
    assert "dedup.html: broken link core.html#no-such-anchor (no anchor #no-such-anchor on core.html)" in errs, errs
    assert any("loads https://cdn.example/vega.js from the network" in e for e in errs), errs

def test_missing_reference_entry_is_caught(site, tmp_path):
    "Every public symbol has an entry where `_modidx.py` points; removing one (here `Recipe`) fails the check, naming it."
    syms = docs.Symbols.load()
    assert docs.check_reference(site, syms) == []
    copy = tmp_path/"site"; shutil.copytree(site, copy)
    core = (copy/"core.html").read_text()
    cut = re.sub(r'<section class="ck-ref ck-class" id="recipe" data-sym="curatekit.core.Recipe">.*?</section>', "", core,
                 count=1, flags=re.S)
    assert cut != core
    (copy/"core.html").write_text(cut)
    assert docs.check_reference(copy, syms) == ["curatekit.core.Recipe: no reference entry at core.html#recipe "
                                                "(export it from a cell of its chapter with a public name)"]

def test_reference_entries_and_cross_links(site):
    "Entries carry nbdev's anchors, the signature with docments and a source link; backticked names link to them."
    core = (site/"core.html").read_text()
    entry = re.search(r'<section class="ck-ref ck-function" id="read" data-sym="curatekit.core.read">.*?</section>', core, re.S)
    assert entry and "a data file or a directory of shards" in entry.group(0)            # a docment
    assert re.search(r'href="https://github.com/curatekit/curatekit/blob/main/curatekit/core.py#L\d+">source', entry.group(0))
    assert 'href="core.html#filter"><code>Filter</code>' in (site/"index.html").read_text()  # cross-link from the home page
    assert (site/"core.html.md").read_text().startswith("# ")                              # the docstrings' `Docs:` URL
    assert 'class="ck-fig ck-chart"><svg' in (site/"mix.html").read_text()                 # altair (CDN renderer) drawn as SVG
    assert "cdn.jsdelivr" not in (site/"mix.html").read_text()

def test_build_warnings_are_errors(tmp_path):
    "A stored error output, or an HTML output loading from the network, stops a strict build, naming notebook and cell."
    nbs = tmp_path/"nbs"; nbs.mkdir()
    _nb(nbs, [{"cell_type": "markdown", "source": "# Tiny\n\n> a page"},
              {"cell_type": "code", "source": "1/0", "outputs": [{"output_type": "error", "ename": "ZeroDivisionError",
                                                                   "evalue": "division by zero", "traceback": []}]},
              {"cell_type": "code", "source": "x", "outputs": [{"output_type": "display_data", "metadata": {},
               "data": {"text/html": '<script src="https://example.org/x.js"></script>'}}]}])
    with pytest.raises(docs.DocsError) as e: docs.build(tmp_path/"out", nbs=nbs, strict=True)
    assert "10_tiny.ipynb cell 1: a stored error output (ZeroDivisionError: division by zero)" in str(e.value)
    assert "10_tiny.ipynb cell 2: an HTML output loads a resource from the network" in str(e.value)

def test_same_notebook_same_page(tmp_path):
    "Building twice gives byte-identical pages."
    a = docs.build(tmp_path/"a", strict=True, only=["70_cli"])
    b = docs.build(tmp_path/"b", strict=True, only=["70_cli"])
    assert a["pages"] == b["pages"] == 1
    assert (tmp_path/"a"/"cli.html").read_bytes() == (tmp_path/"b"/"cli.html").read_bytes()

def test_quarto_config_names_files_that_exist():
    "nbs/_quarto.yml's metadata files exist and parse, so nbdev-docs works where Quarto is installed."
    assert docs.check_quarto(ROOT/"nbs") == []

# ------------------------------------------------------------------------------------------------------------ in a browser
CHROMIUM = os.environ.get("CURATEKIT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

def test_site_in_a_browser(site):
    "The index and a chapter open offline; the chapter's chart drew; search finds a symbol and its link lands on the entry."
    why = None if Path(CHROMIUM).exists() else f"no Chromium at {CHROMIUM}"
    try: from playwright.sync_api import sync_playwright
    except ImportError: why = "the playwright Python package is not installed"
    if why:
        if os.environ.get("CI") == "true": pytest.fail(f"docs browser test cannot run in CI: {why}")
        pytest.skip(why)
    out = ROOT/"outputs"; out.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            remote = []
            page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
            page.goto((site/"index.html").as_uri())
            assert page.title() == "curatekit"
            assert page.locator(".ck-nav a").filter(has_text=re.compile(r"^\s*Dedup\s*$")).count() == 1  # not "Incremental dedup"
            page.screenshot(path=str(out/"docs_index.png"))
            page.goto((site/"mix.html").as_uri())
            chart = page.locator(".ck-chart svg").first
            chart.scroll_into_view_if_needed()
            box = chart.bounding_box()
            assert box and box["width"] > 200 and box["height"] > 100, box
            assert page.locator(".ck-chart svg path").count() > 5          # the areas and axes were drawn
            page.fill("#ck-q", "minhash_dedup")
            first = page.locator("#ck-results li a").first
            first.wait_for(timeout=10_000)
            assert first.get_attribute("href") == "dedup.html#minhash_dedup"
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r"dedup\.html#minhash_dedup$"))
            assert page.locator("#minhash_dedup .ck-sig").inner_text().startswith("def minhash_dedup(")
            tutorials = sorted(site.glob("tutorial_*.html"))
            page.goto((tutorials[0] if tutorials else site/"dedup.html").as_uri())
            page.screenshot(path=str(out/"docs_tutorial.png"))
            assert remote == [], remote                                     # nothing was fetched from the network
        finally: browser.close()
