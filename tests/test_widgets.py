"""Widget state and views without a browser: large frames, bad input, durability, and the notebook → YAML → CLI round trip."""
import json, time
import numpy as np
import polars as pl
import pytest
from curatekit.core import CuratekitError, Recipe, read, write
from curatekit.widgets import (ScoreExplorer, SampleBrowser, MixtureEditor, PairwiseAnnotator, FunnelView, histogram,
                               bt_scores, judgment_pairs, score_problem, token_pieces)

@pytest.fixture(scope="module")
def big():
    "100k rows: a skewed score with nulls and NaNs, three sources, short texts."
    rng = np.random.default_rng(0)
    n = 100_000
    s = rng.lognormal(1.0, 1.0, n)
    s[rng.choice(n, 500, replace=False)] = np.nan
    score = pl.Series("score", s).fill_nan(None).to_list()
    for i in rng.choice(n, 300, replace=False): score[i] = None
    return pl.DataFrame({"id": [f"doc-{i}" for i in range(n)], "text": [f"word {'x ' * (i % 40)}" for i in range(n)],
                         "source": rng.choice(["web", "books", "code"], n).tolist(), "score": score})

def test_explorer_sends_bins_not_rows_and_counts_match_the_filter(big):
    "On 100k rows the chart gets at most bins x groups rows, and the counts are the filter step's counts."
    ex = ScoreExplorer(big, "score", lo=1.5, hi=40.0, log=True)
    h = histogram(big, "score", 40, "source", log=True)
    assert len(h) <= 40 * 3 and h["count"].sum() == big["score"].is_not_null().sum()
    kept, dropped = ex.to_step().split(big)
    assert ex.n_kept == len(kept) == ex.counts()["kept"][0]
    assert set(kept["id"]) == set(ex.kept["id"])
    assert dropped.filter(pl.col("reason") == "null").height == big["score"].is_null().sum()
    assert (kept["score"] >= 1.5).all() and (kept["score"] <= 40.0).all()

def test_explorer_round_trip_through_yaml_and_cli(big, tmp_path, cli):
    "explore → threshold → to_step → recipe → YAML → `curatekit run` keeps exactly the rows the explorer counted."
    x = big["score"].drop_nulls()
    ex = ScoreExplorer(big, "score").set(lo=float(x.quantile(0.1)), hi=float(x.quantile(0.85)))  # float thresholds, full precision
    write(big, tmp_path/"in.parquet")
    Recipe([ex.to_step()]).save(tmp_path/"r.yaml")
    r = cli("run", tmp_path/"r.yaml", tmp_path/"in.parquet", tmp_path/"out.parquet")
    assert r.returncode == 0, r.stderr
    assert read(tmp_path/"out.parquet")["id"].to_list() == ex.kept["id"].to_list()

def test_explorer_set_and_samples(big):
    ex = ScoreExplorer(big, "score", lo=2.0)
    before = ex.n_kept
    assert ex.set(lo=5.0).n_kept < before
    near = ex.samples("near", 10)
    assert set(near["kept"]) == {True, False} and (near["score"] - 5.0).abs().max() < 0.01
    assert not ex.samples("dropped", 5)["kept"].any()
    with pytest.raises(CuratekitError, match="is above"): ex.set(lo=3, hi=1)

@pytest.mark.parametrize("frame,column,says", [
    (pl.DataFrame({"text": ["a", "b"], "s": ["x", "y"]}), "s", "holds String, not numbers"),
    (pl.DataFrame({"text": ["a", "b"], "s": [None, None]}, schema={"text": pl.String, "s": pl.Float64}), "s", "no finite values"),
    (pl.DataFrame({"text": ["a", "b", "c"], "s": [2.0, 2.0, None]}), "s", "single value 2"),
    (pl.DataFrame({"text": [], "s": []}, schema={"text": pl.String, "s": pl.Float64}), "s", "frame is empty"),
    (pl.DataFrame({"text": ["a", "b"], "s": [1, 2]}), "ppl", "'ppl' not found"),
])
def test_explorer_bad_input_renders_a_message(frame, column, says):
    "Bad input gives a widget whose static and live views show the message, and whose to_step says it."
    ex = ScoreExplorer(frame, column)
    assert says in score_problem(frame, column)
    assert says in ex._repr_html_() and says in repr(ex)
    assert says in ex.view().value
    with pytest.raises(CuratekitError, match=says): ex.to_step()

def test_live_explorer_view_updates_counts(big):
    "Setting the thresholds in the view sets the state and refreshes what the view shows."
    ex = ScoreExplorer(big, "score")
    w = ex.view()
    assert f"kept {ex.n_kept:,}" in w.kept_line and w.lo is None and w.hi is None
    w.lo = 3.0
    assert ex.lo == 3.0 and ex.hi is None
    assert f"kept {ex.n_kept:,}" in w.kept_line and ex.n_kept == big.filter(pl.col("score") >= 3.0).height
    assert '"score" >= 3' in w.yaml and w.title == repr(ex)

def test_explorer_view_takes_both_thresholds_of_a_brush_at_once(big):
    "A brush sends lo and hi together; moving both past the old hi is not an error, and one handle never moves the other."
    ex = ScoreExplorer(big, "score", lo=1.0, hi=2.0)
    w = ex.view()
    with w.hold_trait_notifications(): w.lo, w.hi = 5.0, 9.0  # as one message from the browser
    assert (ex.lo, ex.hi) == (5.0, 9.0)
    w.hi = 12.5
    assert (ex.lo, ex.hi) == (5.0, 12.5)
    w.lo = 20.0  # above hi: refused, the state stands and goes back to the browser
    assert (ex.lo, ex.hi, w.lo, w.hi) == (5.0, 12.5, 5.0, 12.5)

def test_explorer_integer_column_log_scale_and_bins(big):
    "Integer columns get whole-number thresholds; the log slider moves in log10 units; a clicked bar's rows are in it."
    df = big.with_columns(words=pl.col("text").str.count_matches(r"\S+"))
    ex = ScoreExplorer(df, "words", log=True, second="score")
    s = ex.slider_scale()
    assert s["log"] and s["integer"] and s["min"] == 0.0 and abs(s["max"] - np.log10(40)) < 1e-9
    w = ex.view()
    w.lo, w.hi = 3.4, 17.9
    assert (ex.lo, ex.hi) == (4, 17) and ex.predicate() == '"words" >= 4 AND "words" <= 17' and (w.lo, w.hi) == (4, 17)
    w.bin, w.side = [10.0, 12.0, "web"], "bin"
    rows = ex.samples("bin", 100)
    assert len(rows) and rows["words"].is_between(10, 12, closed="left").all() and (rows["source"] == "web").all()
    assert "<table" in w.samples_html
    sec = ex.second_summary()
    assert sec["side"].to_list() == ["kept", "dropped"] and sec["rows"].sum() == big["score"].is_not_null().sum()

def test_widget_display_is_a_picture_then_a_live_view(big, monkeypatch):
    "In a kernel a widget displays its static picture, then the live view with no text/plain; elsewhere the picture alone."
    import IPython.display, curatekit.render as R
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    ex = ScoreExplorer(big.head(1000), "score", lo=1.0)
    ex._ipython_display_()
    assert len(shown) == 1 and 'class="ck ck-static"' in shown[0][0]["text/html"]
    shown.clear(); monkeypatch.setattr(R, "in_kernel", lambda: True)
    ex._ipython_display_()
    (static, kw), (live, _) = shown
    assert "ck-static" in static["text/html"] and kw.get("display_id") is True
    assert set(live) == {"application/vnd.jupyter.widget-view+json"}
    shown.clear(); ScoreExplorer(big, "nope")._ipython_display_()
    assert len(shown) == 1 and "'nope' not found" in shown[0][0]["text/html"]  # bad input: the notice alone

def test_static_picture_follows_the_live_view(big):
    "Once the view is still for half a second, the static picture beside it is redrawn with the last thresholds."
    ex = ScoreExplorer(big.head(2000), "score")
    updates = []
    ex._static = type("Handle", (), {"update": lambda self, data, raw: updates.append(data)})()
    w = ex.view()
    w.lo = 2.0
    w.lo = 2.5
    time.sleep(1.5)
    assert len(updates) == 1 and "[2.5, inf]" in updates[0]["text/html"]  # debounced: one redraw, of the last state

def test_explorer_view_pages_samples(big):
    ex = ScoreExplorer(big, "score", lo=2.0)
    w = ex.view()
    w.side = "kept"
    first = w.samples_html
    w.page = 1
    assert w.samples_html != first
    w.page = 0
    assert w.samples_html == first
    w.side = "bin"
    assert "click a bar" in w.samples_html

def test_sample_browser_sorts_filters_and_pages(big):
    sb = SampleBrowser(big, page_size=7).query("source = 'code'", sort_by="score", descending=True)
    rows = sb.rows()
    assert len(rows) == 7 and (rows["source"] == "code").all()
    assert rows["score"].to_list() == sorted(rows["score"].to_list(), reverse=True)
    assert sb.go(1).rows()["score"][0] <= rows["score"][-1]
    w = sb.view()
    w.where = "nonexistent > 1"  # a bad filter shows a message, not a traceback
    assert "cannot evaluate" in w.error

def test_grid_sends_windows_of_rows(big):
    "The live grid answers the browser's requests for a window of rows, sorts and filters in the kernel, and bumps its version."
    sb = SampleBrowser(big.with_columns(vec=pl.lit([0.5] * 300)))
    assert sb.columns == ["id", "source", "score", "text"]  # the list column is hidden
    w = sb.view()
    sent = []
    w.send = lambda msg, *a, **k: sent.append(msg)
    w._handle_custom_msg({"type": "rows", "start": 64, "stop": 128, "version": 0}, [])
    (msg,) = sent
    assert msg["start"] == 64 and len(msg["rows"]) == 64 and len(msg["rows"][0]) == 4 and msg["rows"][0][0] == "doc-64"
    w.sort = ["score", True]
    assert w.version == 1 and sb.sort_by == "score" and sb.descending and w.n_rows == len(big)
    w._handle_custom_msg({"type": "rows", "start": 0, "stop": 3, "version": 0}, [])  # a stale request: no answer
    assert len(sent) == 1
    w.where = "source = 'web'"
    assert w.version == 2 and w.n_rows == big.filter(pl.col("source") == "web").height and w.error == ""
    w.visible = ["id", "score", "vec", "text"]
    assert [c["name"] for c in w.columns] == ["id", "score", "vec", "text"] and not w.columns[2]["sortable"]
    w.selected = 0
    assert "[300 items]" in w.detail
    w.sort = ["vec", False]
    assert "cannot sort by 'vec'" in w.error

def test_sample_browser_heat_map_marks_the_lowest_tokens():
    "`lm_logprobs` (every token after the first, as score_lm keeps them) beside `lm_token_strings`."
    df = pl.DataFrame({"text": ["a b c d e"], "lm_token_strings": [["a", " b", " c", " d", " e"]],
                       "lm_logprobs": [[-0.1, -9.0, -0.2, -5.0]]})
    html = SampleBrowser(df, k=0.5).page_html()
    assert html.count("rgba(214,39,40") == 2 and 'title="log p = -9.00"' in html
    with pytest.raises(CuratekitError, match="is the tokenizer the scoring LM's"):
        SampleBrowser(df.with_columns(lm_logprobs=pl.Series([[-1.0] * 5])), k=0.5).page_html()

def test_sample_browser_heat_map_from_a_real_lm(tmp_path, monkeypatch):
    "score_lm(keep_logprobs=True) output plus the model path: the browser tokenizes the page and draws the heat map."
    from curatekit.lm import train_reference_lm, score_lm
    monkeypatch.setenv("CURATEKIT_HOME", str(tmp_path))
    texts = [f"The {w} sat on the mat number {i}. It was a quiet {w}." for i, w in enumerate(["cat", "dog", "owl", "fox"] * 10)]
    lm = train_reference_lm(texts, vocab_size=300, n_ctx=64, n_layer=1, n_head=1, n_embd=32, epochs=1, progress=False)
    df = score_lm(pl.DataFrame({"text": ["The zebra sat on the mat.", "", "A quiet owl."]}), lm, scores=["mink"], keep_logprobs=True, progress=False)
    pieces = token_pieces(df["text"], lm)
    assert ["".join(p) for p in pieces] == df["text"].to_list()
    assert [len(p) - 1 for p in pieces if p] == [n for n in df["lm_tokens"].to_list() if n]
    html = SampleBrowser(df, tokenizer=lm).page_html()
    assert html.count("<tr>") == 4 and "rgba(214,39,40" in html  # a header and three rows, heat maps in the rows

@pytest.mark.parametrize("by,says", [("one", "only one domain"), ("id", "map them to coarser groups"), ("nope", "not found")])
def test_mixture_editor_bad_domains_render_a_message(big, by, says):
    me = MixtureEditor(big.with_columns(one=pl.lit("x")), by=by)
    assert says in me._repr_html_() and says in me.view().value
    with pytest.raises(CuratekitError, match=says): me.to_step()

def test_mixture_editor_sliders_stay_normalised_and_step_meets_the_budget(big, tmp_path, cli):
    me = MixtureEditor(big, "source", budget=6_000_000, seed=3)
    v = me.view()
    v.children[0].value = 0.6  # the first domain's slider
    assert abs(me.weights[v.children[0].description] - 0.6) < 1e-9 and abs(sum(me.weights.values()) - 1) < 1e-9
    assert abs(sum(s.value for s in v.children[:3]) - 1) < 1e-3
    plan = me.plan()
    assert plan.filter(pl.col("weight") > 0.5)["too_many_epochs"][0]
    out = me.to_step()(big)
    tokens = big["text"].str.count_matches(r"\S+")
    got = out.with_columns(t=tokens).group_by("source").agg((pl.col("mix_count") * pl.col("t")).sum())
    for d, t in got.iter_rows():
        want = plan.filter(pl.col("domain") == d)["intended"][0]
        assert want - 1 <= t <= want + tokens.max()
    write(big, tmp_path/"in.parquet")
    Recipe([me.to_step()]).save(tmp_path/"mix.yaml")
    r = cli("run", tmp_path/"mix.yaml", tmp_path/"in.parquet", tmp_path/"out.parquet")
    assert r.returncode == 0, r.stderr
    assert read(tmp_path/"out.parquet")["mix_count"].to_list() == out["mix_count"].to_list()

def test_mixture_editor_exports_mix_mixture_plan_with_its_schedule(big, tmp_path):
    "to_step is curatekit.mix's mixture_plan: the plan it writes follows the editor's phases, and its Mixture is the editor's."
    from curatekit.mix import Mixture
    me = MixtureEditor(big, "source", budget=500_000, final_weights={"code": 1.0}, final_from=0.75)
    step = me.to_step(plan_path=str(tmp_path/"plan.parquet"))
    assert step.name == "mixture_plan" and step.config()["phases"] == [[0.75, {"books": 0.0, "code": 1.0, "web": 0.0}]]
    out = step(big)
    plan = read(tmp_path/"plan.parquet")
    assert out["mix_count"].sum() == len(plan)
    late = plan.filter(pl.col("phase") == 1)
    assert set(late["domain"]) == {"code"} and late["tokens"].sum() >= 0.25 * 500_000
    assert isinstance(me.mixture(), Mixture) and me.mixture().weights_at(0.9) == {"books": 0.0, "code": 1.0, "web": 0.0}
    assert me.plan().filter(pl.col("domain") == "code")["intended"][0] == round(500_000 * (0.75 * me.weights["code"] + 0.25))

def test_mixture_rejects_unknown_domains(big):
    with pytest.raises(CuratekitError, match="unknown domain 'news'"): MixtureEditor(big, weights={"news": 1.0})
    with pytest.raises(CuratekitError, match="unknown domain 'news'"): MixtureEditor(big).set_weight("news", 0.5)

def test_pairwise_annotator_survives_a_restart(tmp_path):
    "Judgments are on disk as soon as they are made; a new annotator resumes without repeating a pair."
    df = pl.DataFrame({"text": [f"text {'x' * i}" for i in range(8)]})
    path = tmp_path/"j.jsonl"
    a = PairwiseAnnotator(df, path)
    for c in ["A", "B", "tie", "skip", "A"]: a.judge(c)
    assert len(path.read_text().splitlines()) == 5
    with open(path, "a") as f: f.write('{"a": 1, "b"')  # a write cut short by a crash
    b = PairwiseAnnotator(df, path)
    assert b.judgments["winner"].to_list() == ["A", "B", "tie", "skip", "A"]
    judged = set(zip(b.judgments["a"], b.judgments["b"]))
    while b.pair is not None:
        assert b.pair not in judged and b.pair[::-1] not in judged
        judged.add(b.pair); b.judge("A")
    assert len(judged) == 8 * 7 // 2
    with pytest.raises(CuratekitError, match="every pair"): b.judge("A")

def test_pairwise_view_keys_write_judgments_and_undo(tmp_path):
    "The view's keys (messages from the browser) judge, undo and rank; the file is the truth."
    df = pl.DataFrame({"text": ["short", "a much longer text", "medium text"]})
    a = PairwiseAnnotator(df, tmp_path/"j.jsonl", target=3)
    v = a.view()
    keys = v.children[0]
    keys._handle_custom_msg({"choice": "fit"}, [])  # before any judgment: a message, not a traceback
    assert "no judgments to fit yet" in v.children[1].value
    keys._handle_custom_msg({"choice": "A"}, [])
    assert [json.loads(l)["winner"] for l in (tmp_path/"j.jsonl").read_text().splitlines()] == ["A"]
    assert keys.progress == [1, 3] and keys.can_undo
    keys._handle_custom_msg({"choice": "tie"}, [])
    keys._handle_custom_msg({"choice": "undo"}, [])
    assert a.judgments["winner"].to_list() == ["A"] and keys.progress == [1, 3]
    keys._handle_custom_msg({"choice": "fit"}, [])
    assert [c["name"] for c in v.children[1].columns] == ["rank", "id", "bt_score", "wins", "comparisons", "text"]

def test_pairwise_undo_is_durable(tmp_path):
    df = pl.DataFrame({"text": [f"text {i}" for i in range(6)]})
    a = PairwiseAnnotator(df, tmp_path/"j.jsonl")
    p1 = a.pair; a.judge("A"); p2 = a.pair; a.judge("B")
    assert a.undo() == p2 and a.pair == p2
    b = PairwiseAnnotator(df, tmp_path/"j.jsonl")  # a restart sees the undo
    assert b.judgments["winner"].to_list() == ["A"] and p2 not in set(zip(b.judgments["a"], b.judgments["b"]))
    assert a.undo() == p1 and a.undo() is None and a.judgments.is_empty()
    recs = [json.loads(l) for l in (tmp_path/"j.jsonl").read_text().splitlines()]
    assert [r.get("winner", "undo") for r in recs] == ["A", "B", "undo", "undo"]  # append-only: nothing written is rewritten
    assert PairwiseAnnotator(df, tmp_path/"j.jsonl").judgments.is_empty()

def test_pairwise_annotator_bad_input():
    assert "needs at least 2" in PairwiseAnnotator(pl.DataFrame({"text": ["one"]}), "/nonexistent/j.jsonl")._repr_html_()

def test_bradley_terry_ties_and_skips():
    "Judgments become rate.bradley_terry pairs (A: p=0, B: p=1, tie: 0.5, skip dropped); the fit ranks the winner first."
    j = pl.DataFrame({"a": [0, 0, 1, 2], "b": [1, 2, 2, 0], "winner": ["A", "tie", "skip", "B"]})
    assert judgment_pairs(j)["p"].to_list() == [0.0, 0.5, 1.0]
    s = bt_scores(j).sort("id")
    assert s["bt_score"][0] == s["bt_score"].max() and abs(s["bt_score"].sum()) < 1e-9
    assert s["comparisons"].to_list() == [3, 1, 2]
    with pytest.raises(CuratekitError, match="no judgments to fit"): bt_scores(j.filter(pl.col("winner") == "skip"))
    with pytest.raises(CuratekitError, match="'C' is not one of"): judgment_pairs(j.with_columns(winner=pl.lit("C")))

def test_funnel_view_shows_reasons(big):
    ex = ScoreExplorer(big, "score", lo=3.0)
    run = Recipe([ex.to_step()])(big)
    fv = FunnelView(run)
    assert run.stats["rows_out"][0] == ex.n_kept and fv.table["rows_out"][0] == f"{ex.n_kept:,}"
    assert fv.table["removed"][0].startswith(f"{len(big) - ex.n_kept:,} (")
    assert "score outside [3, inf]" in fv.table["reasons"][0] and "<svg" in fv._repr_html_()

def test_explorer_groups_a_by_column_with_thousands_of_values(big):
    "A `by` column with 100k values keeps its ten largest groups and lumps the rest as `other`."
    ex = ScoreExplorer(big, "score", lo=2.0, by="id")
    c = ex.counts()
    assert len(c) == 12 and "other" in c["group"].to_list() and c["kept"][1:].sum() == ex.n_kept
    assert histogram(big, "score", 40, "id")["id"].n_unique() <= 11

def test_qdc_view_of_a_run_draws_its_charts(big):
    "qdc_view takes a frame and a Run; frames of thousands of rows still draw (the length chart stays under altair's limit)."
    from curatekit.widgets import qdc_view
    before = big.head(6000)
    ex = ScoreExplorer(before, "score", lo=1.0)
    q = qdc_view(before, Recipe([ex.to_step()])(before), sample=20, names=("input", "kept"))
    rows = q.table.filter(pl.col("metric") == "rows")
    assert (rows["before"][0], rows["after"][0]) == (6000, ex.n_kept) and q.names == ("input", "kept")
    assert q._repr_html_().count("<svg") >= 1

def test_grid_draws_a_column_with_its_registered_renderer():
    "A renderer registered for `image` (as the image chapter registers its thumbnails) draws that column in pictures and grids."
    from curatekit.render import register_cell_renderer, cell_renderers
    df = pl.DataFrame({"text": ["a cat", "a dog"], "image": [b"\x89PNG-cat", b"\x89PNG-dog!"], "score": [0.5, 0.7]})
    import curatekit.image  # noqa: F401  (a browser showing `image` loads the image chapter: load it first, so it registers now)
    before = cell_renderers.pop("image", None)  # the image chapter's thumbnails, set aside for this test
    blob = df.rename({"image": "blob"})  # a bytes column with no renderer: its bytes are counted, not printed
    assert "9 bytes" in SampleBrowser(blob, columns=["text", "blob"]).page_html()
    register_cell_renderer("image", lambda v: f'<img class="thumb" alt="{len(v)} bytes">')
    try:
        sb = SampleBrowser(df)
        assert sb.columns == ["id", "image", "score", "text"]
        assert sb.cells(0, 2)[1][1] == '<img class="thumb" alt="9 bytes">' and sb.page_html().count('class="thumb"') == 2
        assert sb.grid_columns()[1]["width"] == 96
    finally:
        cell_renderers.pop("image")
        if before is not None: cell_renderers["image"] = before
