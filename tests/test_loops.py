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

# --- DP fine-tuning -------------------------------------------------------------------------------------------------------
from curatekit.private import lora_model, prefix_lm_rows, prefix_lm_loss, dp_finetune, dp_noise_multiplier, epsilon_spent
import curatekit.private as private
from curatekit.train import causal_lm
from curatekit.lm import train_tokenizer

@pytest.fixture(scope="module")
def tiny_lm():
    texts = [f"row {i}: the {w} sat on the {v}" for i in range(60) for w, v in [("cat", "mat"), ("dog", "log")]]
    tok = train_tokenizer(texts, vocab_size=300)
    return causal_lm(tok, size=None, n_ctx=32, n_layer=1, n_head=2, d_model=16, seed=0), tok, texts

def test_prefix_lm_rows_mask_the_prefix(tiny_lm):
    _, tok, _ = tiny_lm
    r = prefix_lm_rows(tok, ["[a] ", "[bb] "], ["the cat", "the dog sat"], max_length=16)
    for i, p in enumerate(["[a] ", "[bb] "]):
        n_pre = len(tok(p)["input_ids"])
        assert (r["labels"][i, :n_pre] == -100).all() and (r["labels"][i, n_pre] != -100)
        n = int(r["attention_mask"][i].sum())
        assert (r["labels"][i, n:] == -100).all() and r["labels"][i, n - 1] == tok.eos_token_id

@pytest.mark.filterwarnings("ignore:Secure RNG", "ignore:Full backward hook")  # opacus' notes on a research setting
def test_dp_sgd_clips_each_example_and_adds_noise(tiny_lm):
    from opacus import PrivacyEngine
    model, tok, texts = tiny_lm
    r = prefix_lm_rows(tok, ["[x] "] * 8, texts[:8], max_length=20)
    ds = torch.utils.data.TensorDataset(r["input_ids"], r["attention_mask"], r["labels"])
    C = 0.05
    def grads(sigma):
        m = lora_model(model, r=2, seed=0)
        params = [p for p in m.parameters() if p.requires_grad]
        manual = torch.zeros(sum(p.numel() for p in params))
        for i in range(8):  # each example's gradient alone, clipped to norm C
            m.zero_grad(); prefix_lm_loss(m, *(t[i:i + 1] for t in ds.tensors)).mean().backward()
            g = torch.cat([p.grad.flatten() for p in params]); manual += g * min(1.0, C / float(g.norm()))
        m.zero_grad()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            gm, opt, _ = PrivacyEngine().make_private(module=m, optimizer=torch.optim.SGD(params, lr=0.0), noise_multiplier=sigma, max_grad_norm=C,
                                                     data_loader=torch.utils.data.DataLoader(ds, batch_size=8), poisson_sampling=False)
            prefix_lm_loss(gm, *ds.tensors).mean().backward(); opt.step()
        return torch.cat([p.grad.flatten() for p in params]) * 8, manual
    dp, manual = grads(0.0)
    torch.testing.assert_close(dp, manual, rtol=1e-4, atol=1e-7)  # per-example clipping, summed: no noise at σ = 0
    noisy, manual = grads(2.0)
    assert abs(float((noisy - manual).std()) / (2.0 * C) - 1) < 0.15  # Gaussian noise of std σ·C on the summed gradient

def test_dp_accounting_and_bad_input(tiny_lm):
    sigma = dp_noise_multiplier(3.0, 1e-3, 0.1, 2)
    assert 0.5 < sigma < 5 and dp_noise_multiplier(1.0, 1e-3, 0.1, 2) > sigma > dp_noise_multiplier(10.0, 1e-3, 0.1, 2)
    assert epsilon_spent([(sigma, 0.1, 20)], 1e-3) == pytest.approx(3.0, rel=0.05)
    model, tok, texts = tiny_lm
    df = pl.DataFrame(dict(text=texts[:40], label=["a", "b"] * 20))
    with pytest.raises(CuratekitError, match="epsilon must be > 0"): dp_finetune(df, (model, tok), epsilon=0)
    with pytest.raises(CuratekitError, match="40 rows, fewer than batch_size=64"): dp_finetune(df, (model, tok), batch_size=64)

def test_dp_finetune_resumes_after_interruption(tiny_lm, tmp_path, monkeypatch):
    model, tok, texts = tiny_lm
    df = pl.DataFrame(dict(text=texts[:64], label=["a", "b"] * 32))
    kw = dict(epsilon=3.0, epochs=3, batch_size=16, max_length=20, lora_r=2, progress=False)
    straight = dp_finetune(df, (model, tok), **kw)
    real_epoch, calls = private._epoch, []
    def dies(*a, **k):
        calls.append(1)
        if len(calls) == 2: raise KeyboardInterrupt
        return real_epoch(*a, **k)
    monkeypatch.setattr(private, "_epoch", dies)
    with pytest.raises(KeyboardInterrupt): dp_finetune(df, (model, tok), checkpoint=tmp_path, **kw)
    monkeypatch.setattr(private, "_epoch", real_epoch)
    resumed = dp_finetune(df, (model, tok), checkpoint=tmp_path, **kw)
    assert resumed.curve.equals(straight.curve)
    assert resumed.info["epsilon_spent"] == pytest.approx(straight.info["epsilon_spent"]) and resumed.info["epsilon_spent"] <= 3.0 + 1e-6
    for a, b in zip([p for p in resumed.model.parameters() if p.requires_grad], [p for p in straight.model.parameters() if p.requires_grad]):
        torch.testing.assert_close(a, b)

def test_curated_lm_loop_is_seeded_and_leaves_generation_zero_alone():
    from curatekit.train import train_lm
    from curatekit.loops import curated_lm_loop, lm_samples
    texts = [f"Return the {w} of the {v}." for w in ("sum", "length", "name", "path") for v in ("list", "file", "string")] * 20
    lm = train_lm(pl.DataFrame({"text": texts}), tokenizer=300, model=dict(n_layer=1, n_head=1, d_model=16), budget=4096, n_ctx=32, batch_size=8, max_epochs=3, progress=False)
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    reward = lambda t: np.array([len(x) for x in t], dtype=float)
    run = lambda: curated_lm_loop(lm, texts, reward, generations=2, n=8, K=3, real_fraction=0.25, max_new_tokens=8, batch_size=4, n_ctx=16,
                                  measure=lambda t: dict(words=float(np.mean([len(x.split()) for x in t]))), progress=False)
    a, b = run(), run()
    assert a.stats.equals(b.stats) and a.samples == b.samples                    # same seed, same loop
    assert a.stats["generation"].to_list() == [0, 1, 2] and "words" in a.stats.columns and len(a.samples[0]) == 8
    assert np.isclose(a.stats["reward"][0], reward(a.samples[0]).mean())          # the reward column is that of the plain samples
    assert all(torch.equal(v, lm.model.state_dict()[k]) for k, v in before.items())  # generation 0 is not trained in place
    assert lm_samples(lm, 3, 5, seed=1) == lm_samples(lm, 3, 5, seed=1)
    with pytest.raises(CuratekitError, match=r"real_fraction must be in \[0, 1\)"): curated_lm_loop(lm, texts, reward, real_fraction=1.0)
    with pytest.raises(CuratekitError, match="K and n must be"): curated_lm_loop(lm, texts, reward, K=0)
