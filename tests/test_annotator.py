"""LabelAnnotator: the append-only file, resume, undo and skip, bad files, the active-learning oracle, and the live view in a real
JupyterLab driven by headless Chromium (label keys, digit keys, undo), checked against the JSONL it wrote."""
import json
from pathlib import Path
import numpy as np, polars as pl, pytest, pydoc_data.topics, torch
from curatekit.core import CuratekitError
from curatekit.widgets import LabelAnnotator, LabelsPending, label_keys
from curatekit.active import active_learning

CLASSES = ["code", "docstring", "prose"]

def paragraphs(n: int) -> pl.DataFrame:
    "`n` paragraphs of the Python reference with a `source` (code examples are the indented ones): real text, no corpus build."
    paras = [p for _, t in sorted(pydoc_data.topics.topics.items()) for p in t.split("\n\n") if p.strip()][:n]
    return pl.DataFrame({"text": paras, "source": ["code" if p.startswith("   ") else "prose" for p in paras]}).with_row_index("id")

@pytest.fixture
def rows(): return paragraphs(30)

@pytest.fixture(autouse=True)
def one_thread():
    "Tiny models on a shared machine: one torch thread is ~10x faster than contended ones."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def records(p: Path) -> list[dict]: return [json.loads(l) for l in p.read_text().splitlines()]

def test_keys():
    assert label_keys(CLASSES) == {"c": "code", "d": "docstring", "p": "prose"}
    assert label_keys(["Shirt", "Sneaker", "Sandal"]) == {"1": "Shirt", "2": "Sneaker", "3": "Sandal"}  # first letters clash
    assert label_keys(["spam", "ham"]) == {"1": "spam", "2": "ham"}  # s is skip
    assert list(label_keys([f"c{i}" for i in range(12)])) == [*"1234567890"]

def test_file_only_grows_and_resumes(rows, tmp_path):
    p, gold = tmp_path/"l.jsonl", dict(zip(rows["id"], rows["source"]))
    a = LabelAnnotator(rows, CLASSES, p)
    first = a.current
    a.answer("prose"); a.answer("code")
    assert a.undo() != first and a.current != first   # the second answer undone: its row is shown again
    a.skip()
    sizes = []
    for _ in range(5): a.answer(gold[a.current]); sizes.append(p.stat().st_size)
    assert sizes == sorted(sizes)
    recs = records(p)
    assert [("undo" in r, r.get("skip", False)) for r in recs[:4]] == [(False, False), (False, False), (True, False), (False, True)]
    b = LabelAnnotator(rows, CLASSES, p)
    assert (b.current, b.progress, b.labels.to_dicts()) == (a.current, a.progress, a.labels.to_dicts())
    assert b.labels["label"][0] == "prose" and len(b.labels) == 6
    while b.current is not None: b.answer(gold[b.current])
    assert b.progress == (30, 30) and set(b.labels["id"]) == set(rows["id"])

def test_bad_input(rows, tmp_path):
    with pytest.raises(CuratekitError, match="label set .* is empty"): LabelAnnotator(rows, [], tmp_path/"x.jsonl")
    with pytest.raises(CuratekitError, match="neither 'body' nor 'image'"): LabelAnnotator(rows, CLASSES, tmp_path/"x.jsonl", text_col="body")
    a = LabelAnnotator(rows, CLASSES, tmp_path/"x.jsonl")
    with pytest.raises(CuratekitError, match="'poetry' is not one of code, docstring, prose"): a.answer("poetry")
    assert not (tmp_path/"x.jsonl").exists()   # nothing written for a refused answer
    i = rows["id"][0]
    for body, says in [(f'{{"id": {i}, "label": "code"}}\n{{"id": 10**9}}\n', "line 2 is not valid JSON"),
                       (f'{{"id": {i}, "label": "code"}}\n{{"id": "zz", "label": "code"}}\n', "line 2 names id 'zz'"),
                       (f'\n{{"id": {i}, "label": "Code"}}\n', "line 2 has label 'Code'")]:
        (tmp_path/"bad.jsonl").write_text(body)
        with pytest.raises(CuratekitError, match=f"bad.jsonl: {says}"): LabelAnnotator(rows, CLASSES, tmp_path/"bad.jsonl")

def test_oracle_resumes_active_learning(tmp_path):
    rng = np.random.default_rng(0)
    pool = pl.DataFrame(dict(id=[f"r{i}" for i in range(120)], text=[f"row {i}" for i in range(120)],
                             emb=np.r_[rng.normal(-1, 1, (60, 4)), rng.normal(1, 1, (60, 4))].astype(np.float32), label=["a"] * 60 + ["b"] * 60))
    gold = dict(zip(pool["id"], pool["label"]))
    person = LabelAnnotator(pool.drop("label"), ["a", "b"], tmp_path/"p.jsonl")
    go = lambda: active_learning(pool.drop("label"), oracle=person.oracle, classes=["a", "b"], rounds=2, seed_size=6, query_size=4,
                                 checkpoint=tmp_path/"ck", progress=False, steps=50)
    with pytest.raises(LabelsPending, match="6 of 6 rows wait for a person in p.jsonl"): go()
    assert person.progress == (0, 6)
    for _ in range(4): person.answer(gold[person.current])
    with pytest.raises(LabelsPending, match="2 of 6 rows wait"): go()   # a half-labelled round stays stopped
    while person.current is not None: person.answer(gold[person.current])
    with pytest.raises(LabelsPending, match="4 of 4 rows wait"): go()   # round 0 done (checkpointed), round 1 asks
    assert (tmp_path/"ck"/"curve.parquet").exists()
    while True:
        try: run = go(); break
        except LabelsPending: pass
        while person.current is not None: person.answer(gold[person.current])
    sim = active_learning(pool, oracle=lambda r: r["label"].to_list(), classes=["a", "b"], rounds=2, seed_size=6, query_size=4, progress=False, steps=50)
    assert run.labelled.equals(sim.labelled) and len(run.labelled) == 14
    assert "LabelsPending: " in LabelsPending("x")._render_traceback_()[0]

# --- the live view in a real browser -------------------------------------------------------------------------------------

NB_CELLS = [
    """import numpy as np, polars as pl, pydoc_data.topics
from curatekit.data import fashion_mnist
from curatekit.image import encode_pngs
from curatekit.widgets import LabelAnnotator
paras = [p for _, t in sorted(pydoc_data.topics.topics.items()) for p in t.split("\\n\\n") if p.strip()][:12]
rows = pl.DataFrame({"text": paras}).with_row_index("id")
la = LabelAnnotator(rows, ["code", "docstring", "prose"], "texts.jsonl")
la""",
    """X, y = fashion_mnist("test")
im = LabelAnnotator(pl.DataFrame(dict(id=np.arange(8), image=encode_pngs(X[:8]))), ["Shirt", "Sneaker", "Sandal"], "images.jsonl")
im""",
    """print("cells ran:", la, im, sep="\\n")""",
]

def test_label_annotator_in_jupyterlab(tmp_path):
    import test_browser as tb
    if (why := tb.missing()): tb.skip_or_fail(why)
    import nbformat
    from playwright.sync_api import sync_playwright
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NB_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path/"annotator_nb.ipynb")
    lab = tb.Lab(tmp_path)
    tb.OUT.mkdir(exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=tb.CHROMIUM, args=tb.ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            try:
                page.goto(f"{lab.url}/lab/tree/annotator_nb.ipynb?token={tb.TOKEN}&reset")
                page.wait_for_function("window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                       " && window.jupyterapp.shell.currentWidget.sessionContext"
                                       " && window.jupyterapp.shell.currentWidget.sessionContext.session", timeout=120_000)
                page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
                page.locator(".jp-OutputArea-output pre", has_text="cells ran:").wait_for(timeout=180_000)
                texts, images = page.locator(".ck-labeller").nth(0), page.locator(".ck-labeller").nth(1)
                texts.locator(".ck-la-progress", has_text="0 of 12 labelled").wait_for(timeout=30_000)
                assert texts.locator(".ck-la-label kbd").all_inner_texts() == ["c", "d", "p"]
                cells = page.locator(".jp-Notebook .jp-Cell").count()
                texts.click(position={"x": 5, "y": 5})
                for key, n in (("c", 1), ("p", 2), ("u", 1), ("d", 2), ("s", 2), ("p", 3)):
                    page.keyboard.press(key); texts.locator(".ck-la-progress", has_text=f"{n} of 12 labelled").wait_for(timeout=30_000)
                    page.wait_for_timeout(200)
                assert page.locator(".jp-Notebook .jp-Cell").count() == cells   # the keys never reached the notebook
                tb.shot(page, "label_annotator", texts)
                # the image annotator: first letters clash (S…), so the keys are digits; the row shows its image
                assert images.locator(".ck-la-label kbd").all_inner_texts() == ["1", "2", "3"]
                assert images.locator(".ck-la-current img").count() == 1
                images.click(position={"x": 5, "y": 5})
                page.keyboard.press("2"); images.locator(".ck-la-progress", has_text="1 of 8 labelled").wait_for(timeout=30_000)
                images.locator(".ck-la-label", has_text="Sandal").click(); images.locator(".ck-la-progress", has_text="2 of 8 labelled").wait_for(timeout=30_000)
                page.keyboard.press("Backspace"); images.locator(".ck-la-progress", has_text="1 of 8 labelled").wait_for(timeout=30_000)
                tb.shot(page, "label_annotator_images", images)
            except Exception:
                tb.shot(page, "label_annotator_failed"); raise
            finally:
                browser.close()
    finally:
        lab.stop()
    recs = records(tmp_path/"texts.jsonl")
    assert [r.get("label") or ("undo" if r.get("undo") else "skip") for r in recs] == ["code", "prose", "undo", "docstring", "skip", "prose"]
    assert recs[4]["id"] not in {recs[0]["id"], recs[3]["id"], recs[5]["id"]}   # the skipped row was not answered
    got = LabelAnnotator(paragraphs(12).drop("source"), CLASSES, tmp_path/"texts.jsonl").labels   # the file replays to what the keys did
    assert got["label"].to_list() == ["code", "docstring", "prose"]
    assert [r.get("label") or ("undo" if r.get("undo") else "skip") for r in records(tmp_path/"images.jsonl")] == ["Sneaker", "Sandal", "undo"]

def test_judge_oracle(tmp_path):
    "A two-way judge as the oracle: probabilities thresholded, server answers matched by their start, unknown answers refused."
    from curatekit.active import JudgeOracle
    rows = paragraphs(40)
    p_prose = lambda prompts: [0.2 if "\n   " in p else 0.9 for p in prompts]   # a judge that reads indentation
    o = JudgeOracle(p_prose, ["code", "prose"], "Code or prose?\n{text}\nAnswer:")
    got = o(rows)
    assert got == ["code" if "\n   " in "\n" + t[:600] else "prose" for t in rows["text"]] and "code" in got and "prose" in got
    assert o.answers["id"].to_list() == rows["id"].to_list() and o.answers["p"].is_in([0.2, 0.9]).all()
    assert JudgeOracle(p_prose, ["code", "prose"], "{text}", threshold=0.95)(rows.head(3)) == ["code"] * 3
    words = JudgeOracle(lambda ps: ["Prose.", " code", "poetry"], ["code", "prose"], "{text}")
    assert words(rows.head(3)) == ["prose", "code", None]
    with pytest.raises(CuratekitError, match="exactly two classes"): JudgeOracle(p_prose, ["a", "b", "c"], "{text}")
    with pytest.raises(CuratekitError, match="no \\{text\\} placeholder"): JudgeOracle(p_prose, ["code", "prose"], "Code or prose?")
    pool = rows.with_columns(emb=np.eye(40, 8, dtype=np.float32) + 0.01)
    bad = JudgeOracle(lambda ps: ["maybe"] * len(ps), ["code", "prose"], "{text}")
    with pytest.raises(CuratekitError, match="answered None for row id"):
        active_learning(pool, oracle=bad, classes=["code", "prose"], rounds=0, seed_size=4, progress=False)
