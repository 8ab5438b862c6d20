"Learned post-filters as users rely on them: the discriminator is cross-fitted, keeps the real-looking synthetic rows, never drops real ones."
import numpy as np, polars as pl, pytest

torch = pytest.importorskip("torch")
from curatekit.core import CuratekitError, execute, make_step
from curatekit.learned_filters import realness_scores, discriminator_filter

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def pool(n_real=120, n_good=40, n_bad=80, dim=16, seed=0) -> pl.DataFrame:
    "Real rows from N(0, I); synthetic rows that imitate them well (same law) or badly (shifted): which ones does the filter keep?"
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.standard_normal((n_real + n_good, dim)), rng.standard_normal((n_bad, dim)) + 1.5]).astype(np.float32)
    kind = ["real"] * n_real + ["good"] * n_good + ["bad"] * n_bad
    return pl.DataFrame({"id": [f"r{i}" for i in range(len(X))], "emb": X, "kind": kind, "synthetic": [k != "real" for k in kind]})

def test_realness_is_cross_fitted():
    "With labels that carry no signal a discriminator scoring its own training rows would still separate them; held-out scores cannot."
    X = np.random.default_rng(1).standard_normal((200, 64)).astype(np.float32)
    s = np.random.default_rng(2).random(200) < 0.5
    from sklearn.metrics import roc_auc_score
    auc = roc_auc_score(~s, realness_scores(X, s, epochs=20))
    assert 0.35 < auc < 0.65, auc

def test_keeps_the_synthetic_rows_that_look_real():
    out = discriminator_filter(pool(), synthetic_col="synthetic", keep=0.4)
    kept = dict(out.group_by("kind").agg(pl.col("discriminator_keep").mean()).rows())
    assert kept["real"] == 1.0                               # real rows are never dropped
    assert kept["good"] > 0.8 and kept["bad"] < 0.2        # the keep share goes to the good imitations
    assert int(out.filter(pl.col("synthetic"))["discriminator_keep"].sum()) == int(np.ceil(0.4 * 120))
    r = dict(out.group_by("kind").agg(pl.col("realness").mean()).rows())
    assert r["good"] > r["bad"]

def test_origin_marks_synthetic_rows_and_filter_drops():
    df = pool().with_columns(origin=pl.when(pl.col("synthetic")).then(pl.lit("gen")).otherwise(None)).drop("synthetic")
    out = execute(make_step("discriminator_filter", keep=0.5), df).frame
    assert out["id"].to_list() == df["id"].to_list() and out.filter(pl.col("origin").is_null())["discriminator_keep"].all()
    kept = execute(make_step("filter", keep="discriminator_keep"), out).frame
    assert len(kept) == 120 + 60

def test_seeded():
    a, b = discriminator_filter(pool(), synthetic_col="synthetic", seed=3), discriminator_filter(pool(), synthetic_col="synthetic", seed=3)
    assert a.equals(b)

def test_nothing_to_learn_keeps_everything():
    out = discriminator_filter(pool().filter(pl.col("kind") == "real"), synthetic_col="synthetic")
    assert out["realness"].null_count() == len(out) and out["discriminator_keep"].all()
    one = discriminator_filter(pool(n_real=1, n_good=1, n_bad=0), synthetic_col="synthetic")
    assert one["discriminator_keep"].all()

def test_bad_input_is_one_line():
    with pytest.raises(CuratekitError, match="no column 'origin' marks the synthetic rows"): discriminator_filter(pool())
    with pytest.raises(CuratekitError, match="no column 'vec'"): discriminator_filter(pool(), emb_col="vec", synthetic_col="synthetic")
    with pytest.raises(CuratekitError, match="keep"): make_step("discriminator_filter", keep=1.5)
