"Labels and feedback loops as users rely on them: HAST keeps only agreed pseudo-labels, the curator follows Luce's rule, AL runs resume."
import numpy as np, polars as pl, pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
from sklearn.datasets import load_digits
from curatekit.core import CuratekitError
from curatekit.active import hast_pseudo_labels, hast_class_weights, active_learning, query
from curatekit.loops import luce_probabilities, luce_choice, expected_choice_update, curated_retraining, fit_gmm

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    df = pl.DataFrame(dict(id=np.arange(len(X)), emb=(X / 16).astype(np.float32), label=y.astype(str)))
    return df[:1200], df[1200:]

def reference_hast(emb, proba, k=15):
    "HAST as the official code writes it: normalize, search k with the row itself first, drop it, vote with predicted labels."
    E = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    pred = proba.argmax(1)
    nn = np.argsort(-(E @ E.T), axis=1, kind="stable")[:, :k][:, 1:]
    hist = np.stack([np.bincount(pred[r], minlength=proba.shape[1]) / (k - 1) for r in nn])
    return pred, hist.argmax(1), hist.max(1)

def test_hast_keeps_only_where_knn_agrees():
    rng = np.random.default_rng(0)
    centers = np.eye(3, 8) * 5
    emb = np.concatenate([c + rng.standard_normal((30, 8)) for c in centers])
    proba = np.full((90, 3), 0.05); proba[np.arange(90), np.repeat(np.arange(3), 30)] = 0.9
    proba[5] = [0.05, 0.9, 0.05]    # predicted 1 inside cluster 0: its neighbours disagree
    proba[40] = [0.3, 0.45, 0.25]   # agrees with its neighbours but the model is unsure
    out = hast_pseudo_labels(emb, proba)
    pred, knn_label, share = reference_hast(emb, proba)
    assert out["pred"].to_list() == pred.tolist() and out["knn_label"].to_list() == knn_label.tolist()
    np.testing.assert_allclose(out["agreement"].to_numpy(), share, rtol=1e-6)
    keep = out["keep"].to_numpy()
    assert not keep[5] and not keep[40] and keep.sum() == 88
    assert (knn_label[keep] == pred[keep]).all() and (share[keep] > 0.5).all()
    w = out["weight"].to_numpy()
    assert (w[~keep] == 0).all()
    np.testing.assert_allclose(w[keep], 0.1 * hast_class_weights(pred[keep], 3))

def test_hast_class_weights_formula():
    y = np.array([0] * 50 + [1] * 5 + [2] * 5)  # mean 20
    expect = 10 / (1 + np.exp(-(20 - np.array([50, 5, 5])) / np.array([50, 5, 5])))
    np.testing.assert_allclose(hast_class_weights(y, 3)[[0, 50, 55]], expect)

def test_luce_choice_probabilities_and_the_exact_update():
    r = np.array([[1.0, 0.0, -2.0]])
    np.testing.assert_allclose(luce_probabilities(r)[0], np.exp(r[0]) / np.exp(r[0]).sum())
    picks = luce_choice(np.repeat(r, 50_000, 0), seed=1)
    np.testing.assert_allclose(np.bincount(picks, minlength=3) / 50_000, luce_probabilities(r)[0], atol=0.01)
    # K = 2 on a finite support: the curated distribution is p(x) Σ_y p(y) 2 e^r(x) / (e^r(x) + e^r(y))
    p, rr = np.array([0.5, 0.3, 0.2]), np.array([0.0, 1.0, 2.0])
    e = np.exp(rr)
    exact = p * (p[None, :] * 2 * e[:, None] / (e[:, None] + e[None, :])).sum(1)
    np.testing.assert_allclose(expected_choice_update(p, rr, K=2), exact)
    rng = np.random.default_rng(0)
    pairs = rng.choice(3, size=(60_000, 2), p=p)
    picked = pairs[np.arange(60_000), luce_choice(rr[pairs], seed=2)]
    np.testing.assert_allclose(np.bincount(picked, minlength=3) / 60_000, exact, atol=0.01)

def test_curated_loop_raises_reward_and_checks_input():
    rng = np.random.default_rng(0)
    real = np.concatenate([rng.normal(-3, 0.5, (300, 1)), rng.normal(3, 0.5, (300, 1))])
    loop = curated_retraining(real, lambda x: x[:, 0], generations=3, n=300, K=4, fit=lambda x, s: fit_gmm(x, s, components=2), progress=False)
    assert loop.stats["reward"][-1] > loop.stats["reward"][0] + 2
    with pytest.raises(CuratekitError, match="real_fraction"): curated_retraining(real, lambda x: x[:, 0], real_fraction=-0.1)

def test_active_learning_bad_input(digits):
    pool, test = digits
    with pytest.raises(CuratekitError, match="answered '11' for row id"):
        active_learning(pool, oracle=lambda rows: ["11"] * len(rows), classes=[str(i) for i in range(10)], rounds=0)
    with pytest.raises(CuratekitError, match="only 10 unlabelled rows"):
        active_learning(pool[:30], query_size=11, rounds=1, progress=False)
    with pytest.raises(CuratekitError, match="seed_size=40 but the pool has 30 rows"):
        active_learning(pool[:30], seed_size=40)
    with pytest.raises(CuratekitError, match="unknown strategy"): query(torch.rand(5, 2), torch.rand(5, 3), np.zeros(5, bool), 1, "bald")

def test_active_learning_resumes_after_interruption(digits, tmp_path):
    pool, test = digits
    kw = dict(test=test, strategy="margin", self_training=True, rounds=3, seed_size=20, query_size=10, classes=[str(i) for i in range(10)], progress=False)
    gold = dict(zip(pool["id"].to_list(), pool["label"].to_list()))
    calls = []
    def flaky(rows):
        calls.append(len(rows))
        if len(calls) == 3: raise KeyboardInterrupt  # the annotator walks away in round 2
        return [gold[i] for i in rows["id"].to_list()]
    with pytest.raises(KeyboardInterrupt): active_learning(pool, oracle=flaky, checkpoint=tmp_path, **kw)
    assert (tmp_path/"model.safetensors").is_file() and not list(tmp_path.glob("*.pkl"))
    resumed = active_learning(pool, oracle=flaky, checkpoint=tmp_path, **kw)
    assert calls == [20, 10, 10, 10, 10]  # rounds 0 and 1 were not asked again
    again = active_learning(pool, oracle=flaky, **kw)
    assert resumed.curve.equals(again.curve) and resumed.labelled.equals(again.labelled)  # same as never interrupted
    assert resumed.curve["accuracy"][-1] > 0.6 and resumed.curve["pseudo"].min() > 0
