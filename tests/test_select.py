"Selection and mixing: behaviour users rely on beyond the notebook lessons (DSIR parity, bad input, recipes, CLI)."
import re
import numpy as np
import polars as pl
import pytest

from curatekit.core import CuratekitError, Recipe, make_step, Filter, write
from curatekit.select import gumbel_topk, top_k, stratified, budget_select, kcenter_greedy, gme_sample, threshold
from curatekit.dsir import (WORDPUNCT, ngram_hash, hashed_ngrams, bucket_counts, segment_sum, dense, dsir_select,
                            kl_divergence, kl_reduction)
from curatekit.rate import judge_pairs, bradley_terry, calibrate, train_rater, qurating_select, curriculum
from curatekit.mix import Mixture, unimax_weights, temperature_weights


def _ref_counts(text, n=2, B=10_000, seed=0):
    w = re.findall(WORDPUNCT, text.lower()); c = np.zeros(B, dtype=np.int64)
    for g in range(1, n + 1):
        for i in range(len(w) - g + 1): c[ngram_hash(" ".join(w[i:i + g]), seed) % B] += 1
    return c


def _random_texts(n, seed=0):
    rng = np.random.default_rng(seed)
    alphabet = list("abcdefghijklmnop qrstuvwxyz  ..,,!?()-_=+é漢字ß\n\t0123456789") + ["  ", "ü", "Ω"]
    return [("".join(rng.choice(alphabet, size=int(rng.integers(0, 400))))) for _ in range(n)]


@pytest.mark.parametrize("n,buckets,seed", [(1, 10_000, 0), (2, 10_000, 0), (3, 97, 5), (2, 70_000, 1)])
def test_vectorized_features_match_reference(n, buckets, seed):
    texts = _random_texts(60, seed)
    F = hashed_ngrams(pl.Series(texts), ngrams=n, num_buckets=buckets, seed=seed, batch_bytes=2_000, hashing="fast")  # many batches
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(np.bincount(F.buckets[F.indptr[i]:F.indptr[i + 1]], minlength=buckets),
                                      _ref_counts(t, n, buckets, seed))
    np.testing.assert_array_equal(bucket_counts(F), sum(_ref_counts(t, n, buckets, seed) for t in texts))
    v = np.random.default_rng(1).normal(size=buckets)
    np.testing.assert_allclose(segment_sum(F, v), dense(F) @ v, rtol=1e-9, atol=1e-9)


def _pool(n=300):
    rng = np.random.default_rng(0)
    a = ["the function returns a value and the argument is a list", "import os def main(): return os.path.join(a, b)"]
    texts = [" ".join(rng.choice(a[i % 2].split(), size=int(rng.integers(5, 60)))) for i in range(n)]
    return pl.DataFrame({"id": [f"d{i}" for i in range(n)], "text": texts, "kind": [["prose", "code"][i % 2] for i in range(n)]})


@pytest.mark.parametrize("hashing", ["sha256", "fast"])
def test_dsir_exact_k_deterministic_and_toward_target(hashing):
    pool = _pool(); target = pl.DataFrame({"text": ["the function returns the value of the argument list"] * 5})
    a, b = [dsir_select(pool, target, k=50, seed=3, min_tokens=0, hashing=hashing) for _ in range(2)]
    assert a["dsir_selected"].sum() == 50 and a.equals(b)
    assert a.drop("dsir_logw", "dsir_selected").equals(pool)
    assert a.filter("dsir_selected")["kind"].to_list().count("prose") >= 45
    assert kl_reduction(target, pool, a.filter("dsir_selected")) > kl_reduction(target, pool, pool.sample(50, seed=0))
    tie = pl.DataFrame({"text": ["the function returns a value"] * 100})   # equal weights: the seed alone decides
    picks = [dsir_select(tie, target, k=10, seed=s, min_tokens=0, hashing=hashing)["dsir_selected"] for s in (3, 4)]
    assert not picks[0].equals(picks[1])


def test_dsir_short_null_and_empty_docs():
    pool = pl.DataFrame({"text": ["the function returns"] * 3 + [None, "", "  "] + ["the function returns a value " * 30] * 4})
    target = pl.DataFrame({"text": ["the function returns a value"]})
    out = dsir_select(pool, target, k=4, min_tokens=50)
    assert out["dsir_selected"].to_list() == [False] * 6 + [True] * 4
    assert out["dsir_logw"][3] is None and out["dsir_logw"][4] == 0.0
    five = dsir_select(pool, target, k=5, min_tokens=50)   # the long ones run out: a short one fills the fifth place
    assert five["dsir_selected"].sum() == 5 and five["dsir_selected"][6:].all() and not five["dsir_selected"][3:6].any()
    assert dsir_select(pool, target, k=7)["dsir_selected"].to_list() == [True] * 3 + [False] * 3 + [True] * 4
    with pytest.raises(CuratekitError, match="eligible"): dsir_select(pool, target, k=8)  # null/empty never eligible
    assert dsir_select(pool, target, k=5, min_tokens=50, device="cpu").equals(five)   # the torch path: same weights, same rows
    E = hashed_ngrams(pl.Series(["", None]))   # no n-grams at all
    assert bucket_counts(E, device="cpu").sum() == 0 and segment_sum(E, np.ones(10_000), device="cpu").tolist() == [0.0, 0.0]


def _official_dsir(raw, target, k, seed, min_len=100, B=10_000):
    "data-selection 1.0.3's HashedNgramDSIR with one process (fit on all tokens, weights, resample), written out."
    import hashlib, regex   # NLTK 3.10's WordPunctTokenizer compiles its pattern with `regex`
    def counts(line):
        w, c = regex.findall(r"\w+|[^\w\s]+", line.lower()), np.zeros(B, dtype=int)
        for g in w + [" ".join(p) for p in zip(w, w[1:])]: c[int(hashlib.sha256(g.encode("utf-8")).hexdigest(), 16) % B] += 1
        return c
    R, T = [counts(t) for t in raw], sum(counts(t) for t in target)
    rp, tp = sum(R) / sum(R).sum(), T / T.sum()
    log_diff = np.log(tp + 1e-8) - np.log(rp + 1e-8)
    logw = np.array([np.dot(log_diff, c) for c in R])
    mask = np.array([(c.sum() + 1) // 2 >= min_len for c in R])
    np.random.seed(seed)
    w = logw[mask] + np.random.gumbel(size=int(mask.sum()))
    return logw, set(np.flatnonzero(mask)[np.argpartition(-w, k)[:k]].tolist())


def test_dsir_sha256_reproduces_data_selection():
    "The default (hashing='sha256'): data-selection's weights to 1e-6 and, with the same seed, its selection."
    rng = np.random.default_rng(1)
    words = "the function returns a value and the argument is a list import os def main return path join Émile ÇA ❤️ cafe\u0301".split()
    raw = [" ".join(rng.choice(words, size=int(rng.integers(20, 300)))) + rng.choice([" !", "...", " (x)"]) for _ in range(120)]
    target = [" ".join(rng.choice(words[:9], size=80)) for _ in range(4)]
    pool, tgt = pl.DataFrame({"text": raw}), pl.DataFrame({"text": target})
    logw, sel = _official_dsir(raw, target, k=20, seed=7)
    out = dsir_select(pool, tgt, k=20, seed=7)   # the default
    np.testing.assert_allclose(out["dsir_logw"].to_numpy(), logw, rtol=0, atol=1e-6)
    assert set(np.flatnonzero(out["dsir_selected"].to_numpy()).tolist()) == sel
    fast = dsir_select(pool, tgt, k=20, seed=7, hashing="fast")   # curatekit's hash: other buckets, the same method
    assert fast["dsir_selected"].sum() == 20 and np.corrcoef(fast["dsir_logw"].to_numpy(), logw)[0, 1] > 0.9


def test_dsir_target_by_path_in_recipe_and_cli(tmp_path):
    from curatekit.cli import main
    pool = _pool(); target = pl.DataFrame({"text": ["the function returns the value of the argument list"] * 5})
    tp = write(target, tmp_path / "target.jsonl"); ip = write(pool, tmp_path / "pool.parquet")
    r = Recipe([make_step("dsir_select", target_df=str(tp), k=20, seed=1), Filter("dsir_selected", reason="dsir")])
    rp = r.save(tmp_path / "r.yaml")
    assert main(["run", str(rp), str(ip), str(tmp_path / "out.parquet")]) in (0, None)
    got = pl.read_parquet(tmp_path / "out.parquet")
    assert got["id"].to_list() == dsir_select(pool, target, k=20, seed=1).filter("dsir_selected")["id"].to_list()
    with pytest.raises(CuratekitError, match="does not exist"): dsir_select(pool, str(tmp_path / "nope.parquet"), k=3)


def test_samplers_bad_input():
    df = pl.DataFrame({"s": [1.0, None, float("nan")], "g": ["a", None, "b"], "text": ["a b", "c", "d e f"]})
    with pytest.raises(CuratekitError, match="NaN score at row 2"): top_k(df, "s", k=1)
    with pytest.raises(CuratekitError, match="null group label"): stratified(df, "g", k=1)
    with pytest.raises(CuratekitError, match="only 1 rows are eligible"): gumbel_topk([1.0, None, -np.inf], 2)
    with pytest.raises(CuratekitError, match="no column"): threshold(df, "missing", lower=0)
    assert threshold(df.with_columns(s=pl.Series([1.0, None, 3.0])), "s", lower=0)["threshold_selected"].to_list() == [True, False, True]
    with pytest.raises(CuratekitError, match="negative length"):
        budget_select(df.with_columns(s=pl.Series([1.0, 2.0, 3.0]), n=pl.Series([1, -1, 2])), "s", 10, length_col="n")


def test_gumbel_topk_temperature_limits():
    s = np.arange(1000.0)
    assert gumbel_topk(s, 10, temperature=0).tolist() == list(range(999, 989, -1))
    assert gumbel_topk(s, 10, temperature=1e-6, seed=9).tolist() == list(range(999, 989, -1))
    hi = np.concatenate([gumbel_topk(s, 10, temperature=1e9, seed=i) for i in range(50)])
    assert hi.mean() == pytest.approx(500, abs=60)   # τ → ∞ is uniform


def test_kcenter_and_gme_small():
    X = np.array([[0, 0], [0.1, 0], [10, 0], [0, 10], [10, 10.1]], dtype=np.float32)
    idx, r = kcenter_greedy(X, 4, seed=0)
    assert set(idx.tolist()) >= {2, 3, 4} and r[-1] <= 0.11
    ents = pl.Series([["a"], ["a"], ["a"], ["b"], ["c"]])
    pick, H = gme_sample(ents, 3)
    assert sorted(pick.tolist())[1:] == [3, 4] and H[-1, 0] == pytest.approx(np.log(3))


def test_judge_pairs_keeps_unparsed_answers():
    df = pl.DataFrame({"id": ["x", "y", "z"], "text": ["one", "two", "three"]})
    answers = iter(["B", "garbage", "A.", "0.25"])
    out = judge_pairs(df, [(0, 1), (1, 2)], lambda ps: [next(answers) for _ in ps])
    assert out["answer_ba"].to_list() == ["A.", "0.25"] and out["answer_ab"].to_list() == ["B", "garbage"]
    assert out["p"].to_list() == [1.0, 0.75]   # pair 2: only the reversed order parsed; 1 - 0.25
    np.testing.assert_allclose(calibrate([1, 0.5], [0, 0.5]), [1.0, 0.5])
    with pytest.raises(CuratekitError, match="answers"): judge_pairs(df, [(0, 1)], lambda ps: ["A"])


def test_rater_learns_linear_signal_and_selection():
    rng = np.random.default_rng(0); X = rng.normal(size=(400, 16)).astype(np.float32)
    true = X @ rng.normal(size=16); P = rng.integers(0, 400, size=(3000, 2))
    p = (true[P[:, 1]] > true[P[:, 0]]).astype(float)
    r = train_rater(X, P, p)
    s = r.score(X)
    assert np.corrcoef(s, true)[0, 1] > 0.9
    df = pl.DataFrame({"q": s, "text": ["w " * 10] * 400})
    sel = qurating_select(df, "q", k=40, temperature=0)["qurating_selected"].to_numpy()
    assert set(np.flatnonzero(sel)) == set(np.argsort(-s)[:40])
    assert curriculum(df, "q")["order"].to_numpy()[np.argmin(s)] == 0
    bt = bradley_terry(pl.DataFrame({"a": P[:, 0], "b": P[:, 1], "p": p}))
    sc = dict(zip(bt["item"].to_list(), bt["score"].to_list()))
    items = np.array(list(sc)); assert np.corrcoef([sc[i] for i in items], true[items])[0, 1] > 0.8


def test_mixture_bad_input_and_budget():
    df = pl.DataFrame({"id": range(6), "text": ["a b c"] * 6, "source": ["x", "x", "x", "y", "y", None]})
    with pytest.raises(CuratekitError, match="null domain label"): Mixture.from_frame(df)
    df = df.with_columns(source=pl.Series(["x", "x", "x", "y", "y", "y"]))
    with pytest.raises(CuratekitError, match="sum to 1"): Mixture({"x": 0.7, "y": 0.7})
    with pytest.raises(CuratekitError, match="no documents"): Mixture({"x": 0.5, "z": 0.5}).sample(df, 30)
    plan = Mixture({"x": 0.5, "y": 0.5}).sample(df, 90, seed=1)
    assert plan["tokens"].sum() == 90 and plan["epoch"].max() == 4
    counts = plan.group_by("id", "epoch").len()
    assert counts["len"].max() == 1   # each document once per epoch
    assert unimax_weights({"a": 10, "b": 1000}, 100)["a"] == pytest.approx(0.1)
    assert temperature_weights({"a": 1, "b": 1e6}, 1e6)["a"] == pytest.approx(0.5, abs=1e-3)


def test_mixture_counts_with_a_hf_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1, "b": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()   # splits punctuation too: "a,b" is 3 tokens, 1 whitespace word
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]")
    df = pl.DataFrame({"id": range(4), "text": ["a,b", "a b", "a,b,a", None], "source": ["x", "x", "y", "y"]})
    from curatekit.mix import count_tokens
    assert count_tokens(df["text"], hf).tolist() == [3, 2, 5, 0]
    assert count_tokens(df["text"]).tolist() == [1, 2, 1, 0]
    m = Mixture.from_frame(df, tokenizer=hf)
    assert m.phases[0][1] == pytest.approx({"x": 0.5, "y": 0.5})


def test_rater_recipe_round_trip(tmp_path):
    rng = np.random.default_rng(1); X = rng.normal(size=(200, 8)).astype(np.float32)
    true = X @ rng.normal(size=8); P = rng.integers(0, 200, size=(1500, 2))
    r = train_rater(X, P, (true[P[:, 1]] > true[P[:, 0]]).astype(float), criterion="educational_value")
    path = r.save(tmp_path / "rater.pt")
    df = pl.DataFrame({"id": range(200), "text": ["w " * 5] * 200, "emb": X}).with_columns(pl.col("emb").cast(pl.Array(pl.Float32, 8)))
    recipe = Recipe([make_step("rate", rater=str(path)), make_step("qurating_select", score_col="educational_value", k=30, seed=2),
                     make_step("curriculum", score_col="educational_value"), Filter("qurating_selected", reason="qurating")])
    run = Recipe.from_yaml(recipe.to_yaml())(df)
    assert len(run.frame) == 30 and len(run.ledger) == 170
    assert run.frame.sort("order")["educational_value"].is_sorted()
    np.testing.assert_allclose(run.frame["educational_value"].to_numpy(), r.score(run.frame["emb"].to_numpy()), rtol=1e-5)


def test_every_selection_step_round_trips_through_yaml():
    steps = [make_step("threshold", score_col="s", lower=0.0), make_step("top_k", score_col="s", k=3, prefix="best"),
             make_step("keep_fraction", score_col="s", fraction=0.5), make_step("gumbel", score_col="s", k=3, temperature=2.0),
             make_step("budget_select", score_col="s", budget=10), make_step("stratified", group_col="g", k=4, equal=True),
             make_step("qurating_select", score_col="s", k=2), make_step("curriculum", score_col="s")]
    r2 = Recipe.from_yaml(Recipe(steps).to_yaml())
    assert [s.name for s in r2.steps] == [s.name for s in steps] and [s.config() for s in r2.steps] == [s.config() for s in steps]
    df = pl.DataFrame({"id": range(8), "s": np.linspace(-1, 1, 8), "g": list("aabbbbcc"), "text": ["one two"] * 8})
    out = r2(df).frame
    assert out["best_selected"].to_list() == [False] * 5 + [True] * 3
    assert {"threshold_selected", "keep_fraction_selected", "gumbel_selected", "budget_selected", "stratified_selected",
            "qurating_selected", "order"} <= set(out.columns)
