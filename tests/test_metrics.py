"Diversity, complexity and label-shift metrics against their definitions computed the slow way."
import itertools, math, random
import numpy as np, polars as pl, pytest, torch
from curatekit.core import CuratekitError
from curatekit.metrics import (average_pairwise_similarity, vendi_score, distinct_n, vocabulary_size, cluster_entropy,
                               _familiarity_one, qdc_report, complexity, qdc_section, quality_columns)


def unit(n, d, seed=0):
    return torch.nn.functional.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_aps_matches_pairwise_definition():
    X, lab = unit(60, 12), np.random.default_rng(0).integers(0, 4, 60)
    S = (X @ X.T).double().numpy()
    pairs = [(i, j) for i in range(60) for j in range(60) if i != j]
    intra = np.mean([np.mean([S[i, j] for i, j in pairs if lab[i] == lab[j] == c]) for c in range(4)])
    inter = np.mean([S[i, j] for i, j in pairs if lab[i] != lab[j]])
    got = average_pairwise_similarity(X, lab)
    assert got["aps"] == pytest.approx(np.mean([S[i, j] for i, j in pairs]), abs=1e-6)
    assert got["aps_intra"] == pytest.approx(intra, abs=1e-6) and got["aps_inter"] == pytest.approx(inter, abs=1e-6)


def test_vendi_matches_eigenvalues_of_the_n_by_n_kernel():
    X = unit(40, 16, 3).double()
    lam = np.clip(np.linalg.eigvalsh((X @ X.T).numpy() / 40), 0, None); lam = lam[lam > 1e-12]
    assert vendi_score(X) == pytest.approx(math.exp(-(lam * np.log(lam)).sum()), rel=1e-6)
    assert vendi_score(X, q=2) == pytest.approx(1 / (lam ** 2).sum(), rel=1e-6)


def test_distinct_n_and_vocabulary_match_python():
    rng = random.Random(0)
    texts = [" ".join(rng.choice("ab cd ef gh ij".split()) for _ in range(rng.randint(0, 9))) for _ in range(50)]
    for n in (1, 2, 3):
        grams = [tuple(t.split()[i:i+n]) for t in texts for i in range(len(t.split()) - n + 1)]
        assert distinct_n(texts, n) == pytest.approx(len(set(grams)) / len(grams))
    assert vocabulary_size(texts + ["AB Ab"]) == 5


def test_cluster_entropy_bounds():
    X = unit(200, 8)
    h = cluster_entropy(X, n_clusters=10)
    assert 0 < h <= math.log(10) + 1e-9
    assert cluster_entropy(X[[0] * 50], centroids=X[:10]) == 0


def test_familiarity_weights():
    sims, counts = np.array([0.2, 0.9, 0.5]), np.array([10, 3, 4])
    expanded = np.array([0.9] * 3 + [0.5] * 4 + [0.2] * 3)   # top k=10 occurrences, last count truncated
    r = np.arange(1, 11)
    assert _familiarity_one(sims, counts, 10, "zipf") == pytest.approx((expanded / r).sum() / (1 / r).sum())
    assert _familiarity_one(sims, counts, 10, "linear") == pytest.approx((expanded * (11 - r) / 10).sum() / ((11 - r) / 10).sum())
    assert _familiarity_one(sims, counts, 10, "none") == pytest.approx(expanded.sum() / 10)


def test_complexity_nulls_and_does_not_touch_input():
    df = pl.DataFrame({"text": ["a (b [c])", None]})
    out = complexity(df)
    assert out["complexity_depth"].to_list() == [2, None] and df.columns == ["text"]


def test_qdc_report_html_is_offline_and_complete():
    a = pl.DataFrame({"id": range(6), "text": ["one two three.", "four five", "six (seven)", "eight", "nine ten.", "eleven"],
                      "emb": unit(6, 8).numpy(), "ok": [True, False, True, True, False, True]})
    b = a.filter(pl.col("ok"))
    rep = qdc_report(a, b, quality=["ok"], n_clusters=2)
    assert rep.table.filter(pl.col("metric") == "ok")["after"][0] == 1.0
    html = rep.to_html()
    assert "<svg" in html and "<script" not in html and "http" not in html.split("<svg")[0]
    with pytest.raises(CuratekitError, match="label column 'label' not found"): qdc_report(a, b, label_col="label")


def _docs(n, seed, words):
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(12)) + "." for _ in range(n)]

def test_qdc_report_kl_rows_are_dsir_kl_reduction(tmp_path):
    "With a target (frame or path), the report shows KL(target ‖ each side) and their difference, dsir.kl_reduction's value."
    from curatekit.dsir import kl_reduction
    prose, code = "the of a model data text is and to".split(), "def return self x if else for in".split()
    pool = pl.DataFrame({"text": _docs(40, 0, prose) + _docs(40, 1, code)}).with_row_index("id")
    pool = pool.with_columns(emb=unit(80, 8).numpy())
    after = pool.filter(pl.col("id") < 40)
    target = pl.DataFrame({"text": _docs(30, 2, prose)})
    target.write_parquet(tmp_path/"t.parquet")
    for t in (target, str(tmp_path/"t.parquet")):
        tab = qdc_report(pool, after, target=t, n_clusters=2).table.filter(pl.col("axis") == "target")
        kl, red = tab.row(0, named=True), tab.row(1, named=True)
        assert kl["after"] < kl["before"] and red["before"] is None
        assert red["after"] == pytest.approx(kl_reduction(target, pool, after)) == pytest.approx(kl["before"] - kl["after"])
    assert "KL reduction" not in qdc_report(pool, after, n_clusters=2).table["metric"].to_list()
    with pytest.raises(CuratekitError, match="kl_options"): qdc_report(pool, after, target=target, kl_options={"buckets": 5})

def test_qdc_section_scores_the_input_and_finds_the_dsir_target(tmp_path):
    "The run report's section: quality plug-ins scored on an input sample, KL to the recipe's DSIR target, sample size stated."
    from curatekit.core import Recipe, Filter, map_step
    from curatekit.dsir import dsir_select
    from curatekit.report import trace, run_report
    prose, code = "the of a model data text is and to".split(), "def return self x if else for in".split()
    df = pl.DataFrame({"text": _docs(60, 0, prose) + _docs(60, 1, code)}).with_row_index("id").with_columns(emb=unit(120, 8).numpy())
    pl.DataFrame({"text": _docs(30, 2, prose)}).write_parquet(tmp_path/"target.parquet")
    def has_the(df): return df.with_columns(has_the_ok=pl.col("text").str.contains(r"\bthe\b"))
    recipe = Recipe([Filter("text IS NOT NULL"), map_step(has_the).step(),
                     dsir_select.step(target_df=str(tmp_path/"target.parquet"), k=40), Filter("dsir_selected")])
    run = trace(recipe, df, progress=False)
    assert quality_columns(run.frame) == ["has_the_ok"]
    html = qdc_section(run, df)
    assert "has_the_ok" in html and "KL reduction (nats)" in html and "target.parquet" in html and "40 rows per side" in html
    page = run_report(run, df)
    assert "Quality, diversity, complexity" in page.sections
    assert qdc_section(trace(Recipe([Filter("text IS NULL")]), df, progress=False), df).startswith("<p class='note'>The run kept nothing")

def test_mauve_is_one_for_one_distribution_and_near_zero_for_disjoint_ones():
    "MAUVE: the same set scores 1, two samples of one Gaussian score high, two far-apart blobs score near 0; seeded."
    from curatekit.metrics import mauve
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((300, 16)), rng.standard_normal((300, 16))
    far = rng.standard_normal((300, 16)) * 0.1 + 5 * np.eye(16)[0]
    assert abs(mauve(a, a)["mauve"] - 1) < 1e-9
    assert mauve(a, b)["mauve"] > 0.8 and mauve(a, far)["mauve"] < 0.05
    assert mauve(a, b, seed=3)["mauve"] == mauve(a, b, seed=3)["mauve"] and mauve(a, b)["k"] == 30
