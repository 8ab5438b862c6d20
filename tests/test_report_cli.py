"""`curatekit analyze`, `curatekit run --report` and `curatekit report` end to end, as a user calls them from a shell.

The run report written from the sharded runner's files is the notebook's `run_report(trace(...))` on the same input; a finished
run's report comes back from its output alone; bad input gets one line and no page; and the pages open offline in headless
Chromium with every section (screenshots under `outputs/report-cli/`). Commands run in-process through `cli.main` (one
subprocess checks the installed command), and each fixture runs its command once for the tests that read it."""
import contextlib, io, json, os, re, shutil
from pathlib import Path
import polars as pl
import pytest
from curatekit.cli import main
from curatekit.core import Recipe, Filter, load_recipe, make_step, read, write
from curatekit.data import sample_corpus
from curatekit.report import trace, run_report, funnel_rows
from curatekit.scale import stored_run

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT/"outputs"/"report-cli"
CHROMIUM = os.environ.get("CURATEKIT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

def run_cli(*args) -> tuple[int, str, str]:
    "`curatekit ARGS` in this process: (status, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()

def sections(page: str) -> dict[str, str]:
    "Each top-level section's title -> its HTML."
    return dict(re.findall(r"<section><h2>(.*?)</h2>(.*?)</section>(?=<section><h2>|</div></body>)", page, re.S))

@pytest.fixture(scope="module")
def work(tmp_path_factory):
    "A sample of the sample corpus (with an `id` column), its cache, and a folder for outputs."
    d = tmp_path_factory.mktemp("report-cli")
    df = sample_corpus(800).select("id", "text", "source", "corruption")
    return dict(dir=d, corpus=write(df, d/"corpus.parquet"), df=df, cache=d/"cache")

CHEAP = Recipe([make_step("word_count"), Filter("word_count >= 10", reason="too short"), make_step("pii")], name="short")
RECIPE = Recipe([make_step("word_count"), Filter("word_count >= 10", reason="too short"), make_step("gopher_repetition"),
                 Filter("gopher_repetition_ok", reason="gopher_repetition_reason"), make_step("pii"), make_step("exact_dedup"),
                 Filter("exact_dup_of IS NULL", reason="exact_duplicate")], name="short-rep-dup")

@pytest.fixture(scope="module")
def reported(work):
    "`curatekit run RECIPE corpus out --report page.html`, once."
    d = work["dir"]
    rc, out, err = run_cli("run", RECIPE.save(d/"recipe.yaml"), work["corpus"], d/"out", "--report", d/"run.html",
                           "--title", "parity", "--cache-dir", work["cache"])
    assert rc == 0, err
    return dict(out=d/"out", page=(d/"run.html").read_text(), stdout=out)

@pytest.fixture(scope="module")
def analyzed(work):
    "`curatekit analyze corpus -o analysis.html --signals-out signals.parquet`, once."
    d = work["dir"]
    rc, out, err = run_cli("analyze", work["corpus"], "-o", d/"analysis.html", "--signals-out", d/"signals.parquet",
                           "--cache-dir", work["cache"])
    assert rc == 0, err
    return dict(page=(d/"analysis.html").read_text(), signals=d/"signals.parquet", stdout=out)

def test_run_report_is_the_notebook_report(work, reported):
    "The page `run --report` writes from the runner's files has the notebook's funnel, histograms and examples, value for value."
    df = read(work["corpus"])
    nb_run = trace(load_recipe(work["dir"]/"recipe.yaml"), df, progress=False)
    nb = sections(run_report(nb_run, df, title="parity").html)
    cli = sections(reported["page"])
    assert {"Funnel", "Scores", "Examples"} <= set(cli)
    for title in ("Scores", "Examples"): assert cli[title] == nb[title], title
    chart = lambda s: s[:s.index("</svg>")]
    assert chart(cli["Funnel"]) == chart(nb["Funnel"])  # the funnel chart: rows per step
    timing = lambda rows: [{k: v for k, v in r.items() if k not in ("seconds", "peak MiB")} for r in rows]
    stored = stored_run(reported["out"])
    assert timing(funnel_rows(stored)) == timing(funnel_rows(nb_run))
    assert "peak MiB" in cli["Funnel"] and all(s is not None for s in stored.stats["seconds"])
    assert "800 rows in" in reported["stdout"]

def test_report_rebuilds_a_finished_run(work, reported, tmp_path):
    "`curatekit report OUTPUT` gives the `--report` page again, from the output, ledger and manifest only."
    rc, out, err = run_cli("report", reported["out"], "--title", "parity")
    assert rc == 0, err
    assert (reported["out"]/"report.html").read_text() == reported["page"]
    # a file output: its manifest travels in the ledger's metadata; the default page goes beside it
    cheap = CHEAP.save(tmp_path/"cheap.yaml")
    rc, _, err = run_cli("run", cheap, work["corpus"], tmp_path/"kept.parquet", "--report", tmp_path/"a.html",
                         "--cache-dir", work["cache"], "-q")
    assert rc == 0, err
    assert run_cli("report", tmp_path/"kept.parquet", "-q")[0] == 0  # the default heading is the same both times
    assert (tmp_path/"kept.report.html").read_text() == (tmp_path/"a.html").read_text()
    # a run without --report keeps no scores of removed rows and no timings: the page says so and still draws the rest
    assert run_cli("run", cheap, work["corpus"], tmp_path/"plain", "--cache-dir", work["cache"], "-q")[0] == 0
    rc, out, _ = run_cli("report", tmp_path/"plain")
    page = (tmp_path/"plain"/"report.html").read_text()
    assert rc == 0 and "the histograms show the kept rows" in out
    assert "Kept rows only" in page and "<td>–</td>" in page and "<svg" in page
    # the input moved away: the examples are left out, and the page says why
    moved = tmp_path/"moved"; moved.mkdir()
    shutil.copy(work["corpus"], moved/"corpus.parquet")
    assert run_cli("run", cheap, moved/"corpus.parquet", tmp_path/"gone", "--report", tmp_path/"g.html",
                   "--cache-dir", work["cache"], "-q")[0] == 0
    (moved/"corpus.parquet").unlink()
    assert run_cli("report", tmp_path/"gone", "-q")[0] == 0
    page = (tmp_path/"gone"/"report.html").read_text()
    assert "is not there any more" in page and "no examples to show" in page

def test_analyze_profiles_the_corpus(work, analyzed):
    "Every section of the analysis page is there; the signals file is the annotated corpus; a rerun resumes from the cache."
    s = sections(analyzed["page"])
    assert list(s) == ["Corpus", "Languages", "What the built-in recipes would remove", "Duplicates", "Longest documents", "Signals"]
    assert "<script" not in analyzed["page"] and "min_doc_words 50" in s["Signals"] and "demo: word_count &gt;= 10" in s["Signals"]
    assert "800 documents" in s["Corpus"] and "web-basic" in s["What the built-in recipes would remove"]
    sig = pl.read_parquet(analyzed["signals"])
    assert sig.height == 800 and {"id", "text", "source", "chars", "gopher_quality_ok", "lang", "pii_total", "minhash_dup_of"} <= set(sig.columns)
    assert sig["id"].sort().to_list() == work["df"]["id"].sort().to_list()
    assert "800 documents" in analyzed["stdout"] and "web-basic would keep" in analyzed["stdout"]
    from curatekit.scale import analyze
    again = analyze(work["corpus"], cache_dir=work["cache"], progress=False)  # same input, same cache: nothing runs again
    assert again.stats["seconds"].null_count() == len(again.stats)

def test_analyze_sample(work, tmp_path):
    "A seeded sample is the same rows twice; asking for more rows than exist profiles them all, and the page says so."
    from curatekit.scale import analyze
    a = analyze(work["corpus"], sample=100, seed=3, signals=["pii"], cache_dir=work["cache"], progress=False)
    b = analyze(work["corpus"], sample=100, seed=3, signals=["pii"], cache_dir=tmp_path/"other", progress=False)
    ids = lambda p: p.frame.select("id").collect()["id"].sort().to_list()
    assert len(ids(a)) == 100 and ids(a) == ids(b)
    rc, out, err = run_cli("analyze", work["corpus"], "--sample", 5000, "--signals", "pii", "-o", tmp_path/"all.html", "--cache-dir", work["cache"])
    assert rc == 0, err
    assert "800 documents" in out and "all of them were profiled" in (tmp_path/"all.html").read_text()

def test_model_signals_on_the_page(work):
    "`--lm` and `--embed` add the model steps to the analysis recipe; the page then counts LM tokens and measures diversity."
    import numpy as np
    from curatekit.report import Profile, analysis_report
    from curatekit.scale import analysis_recipe
    r = analysis_recipe(["pii"], lm="some/model", embed=True)
    assert [s.name for s in r.steps] == ["text_stats", "word_count", "pii", "score_lm", "embed"] and r[3].params["model"] == "some/model"
    assert [s.name for s in analysis_recipe(["pii"], text_col="body").steps][-1] == "pii" and analysis_recipe(["pii"], text_col="body")[2].params["text_col"] == "body"
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(200, 16)).astype("float32"); emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    df = work["df"].head(200).with_columns(lm_tokens=pl.col("text").str.len_chars().fill_null(0) // 4, ppl=pl.Series(rng.lognormal(3, 1, 200)),
                                          emb=pl.Series(emb, dtype=pl.Array(pl.Float32, 16)))
    page = analysis_report(Profile(df, r, input_columns=work["df"].columns))
    s = sections(page.html)
    assert list(s) == ["Corpus", "Embedding diversity", "Signals"]
    assert f"{df['lm_tokens'].sum():,} tokens under the language model" in s["Corpus"] and "LM tokens" in s["Corpus"]
    assert "vendi" in s["Embedding diversity"] and "On a seeded sample of 200 documents" in s["Embedding diversity"]
    assert page.html == analysis_report(Profile(df, r, input_columns=work["df"].columns)).html  # same input, same page

@pytest.mark.slow
def test_analyze_with_a_language_model_and_embeddings(work, tmp_path):
    "The same from the shell with real models (a tiny random GPT-2 and MiniLM): `--lm` scores and counts tokens, `--embed` embeds."
    from curatekit.llm import tiny_gpt2
    lm = tiny_gpt2()  # built once per test session, under its CURATEKIT_HOME (test_edges uses it too)
    rc, out, err = run_cli("analyze", work["corpus"], "--sample", 24, "--signals", "pii", "--lm", lm, "--embed",
                           "-o", tmp_path/"lm.html", "--signals-out", tmp_path/"lm.parquet", "--cache-dir", work["cache"], "-q")
    assert rc == 0, err
    sig = pl.read_parquet(tmp_path/"lm.parquet")
    assert sig.height == 24 and {"ppl", "mink", "zlib", "lm_tokens", "emb"} <= set(sig.columns) and sig["lm_tokens"].min() > 0
    s = sections((tmp_path/"lm.html").read_text())
    assert "Embedding diversity" in s and "vendi" in s["Embedding diversity"] and "LM tokens" in s["Corpus"]
    assert f"{sig['lm_tokens'].sum():,} tokens under the language model" in s["Corpus"]

def _one_line(rc, out, err, *words):
    assert rc == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("curatekit: error: "), err
    for w in words: assert w in err, (w, err)

def test_bad_input_gets_one_line_and_no_page(work, tmp_path):
    "No text column, no rows, a text column of numbers, an unwritable or wrong report path: one line, status 2, nothing written."
    d, c = tmp_path, ["--cache-dir", work["cache"]]
    write(pl.DataFrame({"body": ["no text here"]}), d/"body.jsonl")
    _one_line(*run_cli("analyze", d/"body.jsonl", "-o", d/"a.html", *c), "body.jsonl", "no 'text' column", "--text-col")
    write(pl.DataFrame({"text": []}, schema={"text": pl.String}), d/"empty.parquet")
    _one_line(*run_cli("analyze", d/"empty.parquet", "-o", d/"b.html", *c), "empty.parquet", "no rows")
    write(pl.DataFrame({"text": [1, 2]}), d/"numbers.parquet")
    _one_line(*run_cli("analyze", d/"numbers.parquet", "-o", d/"c.html", *c), "numbers.parquet", "'text'")
    (d/"file").write_text("a file, not a folder")
    _one_line(*run_cli("analyze", work["corpus"], "-o", d/"file"/"d.html", *c), "cannot be written")
    _one_line(*run_cli("analyze", work["corpus"], "-o", d/"e.txt", *c), "must end with .html")
    _one_line(*run_cli("analyze", work["corpus"], "--signals", "gopher", "-o", d/"f.html", *c), "unknown 'gopher'", "gopher_quality")
    _one_line(*run_cli("analyze", work["corpus"], "--sample", 0, "-o", d/"g.html", *c), "sample must be at least 1")
    _one_line(*run_cli("run", "nonempty", work["corpus"], d/"out.parquet", "--report", d/"file"/"r.html", *c), "cannot be written")
    _one_line(*run_cli("run", "nonempty", work["corpus"], d/"out.parquet", "--report", d/"out.ledger.parquet", *c), "must end with .html")
    _one_line(*run_cli("report", d/"file"), "not the output of curatekit run")
    _one_line(*run_cli("report", d/"nowhere"), "no such file or directory")
    assert sorted(p.name for p in d.iterdir()) == ["body.jsonl", "empty.parquet", "file", "numbers.parquet"]

def test_the_installed_command(cli, work, tmp_path):
    "`curatekit analyze --help` from a shell lists the options; an error is one line on stderr."
    r = cli("analyze", "--help")
    assert r.returncode == 0 and all(o in r.stdout for o in ("--signals-out", "--sample", "--signals", "--lm", "--embed"))
    r = cli("report", tmp_path/"nowhere")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr

def _browser_missing() -> str|None:
    if not Path(CHROMIUM).exists(): return f"no Chromium at {CHROMIUM} (make setup installs Debian's chromium when root on Debian)"
    try: import playwright.sync_api  # noqa: F401
    except ImportError: return "the playwright Python package is not installed (pip install 'curatekit[dev]')"
    return None

def test_pages_open_in_headless_chromium(work, reported, analyzed):
    "Both pages open from disk in headless Chromium, offline, with every section drawn; screenshots are kept."
    if (why := _browser_missing()):
        if os.environ.get("CI") == "true": pytest.fail(f"browser test cannot run in CI: {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright
    SHOTS.mkdir(parents=True, exist_ok=True)
    pages = {"run": (work["dir"]/"run.html", ["Funnel", "Scores", "Examples"]),
             "analysis": (work["dir"]/"analysis.html", list(sections(analyzed["page"])))}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for name, (path, want) in pages.items():
                page, asked = browser.new_page(viewport={"width": 1280, "height": 900}), []
                page.on("request", lambda r: asked.append(r.url))
                page.goto(path.as_uri())
                assert page.locator("section > h2").all_inner_texts() == want
                assert page.locator("svg").count() >= 3 and page.locator("table").count() >= 1
                assert [u for u in asked if not u.startswith("file:")] == []  # nothing but the page itself
                page.screenshot(path=str(SHOTS/f"{name}.png"), full_page=True)
        finally: browser.close()
    assert all((SHOTS/f"{n}.png").stat().st_size > 10_000 for n in pages)
