"""Widget state and views without a browser: large frames, bad input, durability, and the notebook → YAML → CLI round trip."""
import json
import numpy as np
import polars as pl
import pytest
from curatekit.core import CuratekitError, Recipe, read, write
from curatekit.widgets import (ScoreExplorer, SampleBrowser, MixtureEditor, PairwiseAnnotator, FunnelView, histogram,
                               mixture, bradley_terry_mm, score_problem)

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
    "Moving the slider in the view sets the state and refreshes the counts shown."
    ex = ScoreExplorer(big, "score")
    v = ex.view()
    slider, chart, counts = v.children[:3]
    assert f"kept {ex.n_kept:,}" in counts.value
    slider.value = (3.0, slider.max)
    assert ex.lo == 3.0 and ex.hi is None and chart.params.lo == 3.0
    assert f"kept {ex.n_kept:,}" in counts.value and ex.n_kept == big.filter(pl.col("score") >= 3.0).height

def test_sample_browser_sorts_filters_and_pages(big):
    sb = SampleBrowser(big, page_size=7).query("source = 'code'", sort_by="score", descending=True)
    rows = sb.rows()
    assert len(rows) == 7 and (rows["source"] == "code").all()
    assert rows["score"].to_list() == sorted(rows["score"].to_list(), reverse=True)
    assert sb.go(1).rows()["score"][0] <= rows["score"][-1]
    v = sb.view()
    v.children[0].children[2].value = "nonexistent > 1"  # a bad filter shows a message, not a traceback
    assert "cannot evaluate" in v.children[1].children[2].value

def test_sample_browser_heat_map_marks_the_lowest_tokens():
    df = pl.DataFrame({"text": ["a b c d e"], "tokens": [["a", " b", " c", " d", " e"]],
                       "token_logprobs": [[None, -0.1, -9.0, -0.2, -5.0]]})
    html = SampleBrowser(df, k=0.5).page_html()
    assert html.count("rgba(214,39,40") == 2 and 'title="log p = -9.00"' in html

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
    got = out.with_columns(t=tokens).group_by("source").agg((pl.col("mixture_repeats") * pl.col("t")).sum())
    for d, t in got.iter_rows():
        want = plan.filter(pl.col("domain") == d)["intended"][0]
        assert want <= t <= want + tokens.max()
    write(big, tmp_path/"in.parquet")
    Recipe([me.to_step()]).save(tmp_path/"mix.yaml")
    r = cli("run", tmp_path/"mix.yaml", tmp_path/"in.parquet", tmp_path/"out.parquet")
    assert r.returncode == 0, r.stderr
    assert read(tmp_path/"out.parquet")["mixture_repeats"].to_list() == out["mixture_repeats"].to_list()

def test_mixture_rejects_unknown_domains(big):
    with pytest.raises(CuratekitError, match="unknown domain 'news'"): mixture(big, {"news": 1.0}, 100)

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

def test_pairwise_view_buttons_write_judgments(tmp_path):
    df = pl.DataFrame({"text": ["short", "a much longer text", "medium text"]})
    a = PairwiseAnnotator(df, tmp_path/"j.jsonl")
    v = a.view()
    v.children[1].children[0].click()  # "A"
    assert [json.loads(l)["winner"] for l in (tmp_path/"j.jsonl").read_text().splitlines()] == ["A"]
    v.children[1].children[-1].click()  # fit
    assert "bt_score" in v.children[4].value
    v.children[2]._handle_custom_msg({"choice": "tie"}, [])  # a key press from the browser
    assert a.judgments["winner"].to_list() == ["A", "tie"]

def test_pairwise_annotator_bad_input():
    assert "needs at least 2" in PairwiseAnnotator(pl.DataFrame({"text": ["one"]}), "/nonexistent/j.jsonl")._repr_html_()

def test_bradley_terry_ties_and_skips():
    j = pl.DataFrame({"a": [0, 0, 1, 2], "b": [1, 2, 2, 0], "winner": ["A", "tie", "skip", "B"]})
    s = bradley_terry_mm(j).sort("id")
    assert s["bt_score"][0] == s["bt_score"].max() and abs(s["bt_score"].sum()) < 1e-9
    assert s["n_judgments"].to_list() == [3, 1, 2]

def test_funnel_view_shows_reasons(big):
    ex = ScoreExplorer(big, "score", lo=3.0)
    fv = FunnelView(Recipe([ex.to_step()])(big))
    assert fv.table["removed"][0] == len(big) - ex.n_kept
    assert "score outside [3, inf]" in fv.table["reasons"][0] and "<svg" in fv._repr_html_()

def test_explorer_groups_a_by_column_with_thousands_of_values(big):
    "A `by` column with 100k values keeps its ten largest groups and lumps the rest as `other`."
    ex = ScoreExplorer(big, "score", lo=2.0, by="id")
    c = ex.counts()
    assert len(c) == 12 and "other" in c["group"].to_list() and c["kept"][1:].sum() == ex.n_kept
    assert histogram(big, "score", 40, "id")["id"].n_unique() <= 11

def test_explorer_view_pages_samples(big):
    ex = ScoreExplorer(big, "score", lo=2.0)
    v = ex.view()
    side, prev, nxt, page = v.children[3].children
    side.value = "kept"
    first = v.children[4].value
    nxt.click()
    assert page.value == "page 2" and v.children[4].value != first
    prev.click()
    assert v.children[4].value == first
