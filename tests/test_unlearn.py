"Mechanics of unlearning: SSD leaves low-importance parameters alone, WHP's targets follow the formula, errors name the input."
import copy
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from curatekit.core import CuratekitError
from curatekit import unlearn as U
from curatekit.distill import seeded_convnet, train_fresh

@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    "One torch thread while this module runs (pytest -n 2 on two cores); restored after."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16
    return (x - x.mean()) / x.std(), torch.tensor(d.target)

@pytest.fixture(scope="module")
def model(digits):
    x, y = digits
    return train_fresh(x[:500], y[:500], epochs=3, lr=0.05, arch=dict(width=8, im_size=8), dsa=False)

def test_fisher_importance_is_mean_squared_batch_gradient(digits, model):
    x, y = digits
    imp = U.fisher_importance(model, x[:100], y[:100], batch_size=50)
    grads = []
    for i in (0, 50):
        model.zero_grad(); torch.nn.functional.cross_entropy(model(x[i:i + 50]), y[i:i + 50]).backward()
        grads.append({n: p.grad.clone() ** 2 for n, p in model.named_parameters()})
    for n in imp: assert torch.allclose(imp[n], (grads[0][n] + grads[1][n]) / 2, atol=1e-7)

def test_ssd_leaves_low_importance_parameters_untouched(digits, model):
    x, y = digits
    forget = np.arange(20)
    full, fo = U.fisher_importance(model, x[:500], y[:500]), U.fisher_importance(model, x[forget], y[forget])
    edited, counts = U.ssd_unlearn(model, x[:500], y[:500], forget)
    assert sum(counts.values()) > 0
    for (n, p0), p1 in zip(model.named_parameters(), edited.parameters()):
        sel = fo[n] > 10 * full[n]
        assert torch.equal(p0[~sel], p1[~sel])                      # untouched, bit for bit
        assert (p1[sel].abs() <= p0[sel].abs() + 1e-12).all()       # dampened, never grown
        beta = (full[n][sel] / fo[n][sel]).clamp(max=1)
        assert torch.allclose(p1[sel], p0[sel] * beta)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), copy.deepcopy(model).parameters()))  # original kept

def test_ssd_layers_restrict_the_edit(digits, model):
    x, y = digits
    edited, counts = U.ssd_unlearn(model, x[:500], y[:500], np.arange(20), alpha=0.0, layers=["classifier"])
    assert set(counts) == {"classifier.weight", "classifier.bias"}
    for (n, p0), p1 in zip(model.named_parameters(), edited.parameters()):
        if not n.startswith("classifier"): assert torch.equal(p0, p1)

def test_ssd_bad_inputs(digits, model):
    x, y = digits
    with pytest.raises(CuratekitError, match="forget set: id 'zz' is not in the training set"):
        U.ssd_unlearn(model, x[:5], y[:5], ["a", "zz"], ids=["a", "b", "c", "d", "e"])
    with pytest.raises(CuratekitError, match="no layer 'features.99'"):
        U.ssd_unlearn(model, x[:50], y[:50], [1], layers=["features.99"])
    with pytest.raises(CuratekitError, match="no ids given"):
        U.ssd_unlearn(model, x[:50], y[:50], [])

def test_manipulations_are_seeded(digits):
    x = (np.random.default_rng(0).random((50, 8, 8)) * 200).astype(np.uint8); y = np.arange(50) % 10
    a, b = U.plant_backdoor(x, y, 5, seed=3), U.plant_backdoor(x, y, 5, seed=3)
    assert np.array_equal(a[2], b[2]) and np.array_equal(a[0], b[0])
    assert (a[1][a[2]] == 0).all() and (a[0][a[2]][:, -3:, -3:] == 255).all()
    with pytest.raises(CuratekitError, match="n=60, but there are 50 images"): U.plant_backdoor(x, y, 60)

def test_loss_mia(digits, model):
    x, y = digits
    assert U.loss_mia_auc(model, (x[:50], y[:50]), (x[:50], y[:50])) == pytest.approx(0.5)
    wrong = (y[:50] + 1) % 10                                        # higher loss: looks like a non-member
    auc = U.loss_mia_auc(model, (x[:50], y[:50]), (x[:50], wrong))
    a, b = U.per_sample_loss(model, x[:50], y[:50]), U.per_sample_loss(model, x[:50], wrong)
    assert auc == pytest.approx(float((b[None, :] > a[:, None]).float().mean() + 0.5 * (b[None, :] == a[:, None]).float().mean()))
    assert auc > 0.5

def test_whp_generic_targets_formula():
    g = torch.Generator().manual_seed(0)
    vb, vr, vt = (torch.randn(7, 11, generator=g) for _ in range(3))
    for a in (0.5, 1.0, 5.0):
        assert torch.allclose(U.whp_generic_targets(vb, vr, a), vb - a * torch.clamp(vr - vb, min=0))
        assert torch.allclose(U.whp_generic_targets(vb, vr, a, vt), vt - a * torch.clamp(vr - vb, min=0))

@pytest.fixture(scope="module")
def tiny_lm():
    from curatekit.lm import train_reference_lm, load_lm
    texts = [f"The turtle moves {i} steps and the pen draws a line of colour {i % 7}." for i in range(60)]
    return load_lm(train_reference_lm(texts, vocab_size=300, n_ctx=32, n_layer=1, n_head=1, n_embd=16, epochs=1, name="t"), device="cpu")

def test_whp_labels_align_with_the_text(tiny_lm):
    m, tok = tiny_lm
    text = "Move the turtle forward, then lift the pen."
    ids, labels = U.whp_labels(m, m, tok, text, {}, alpha=1.0)      # no anchors, reinforced = baseline: argmax of the baseline
    assert ids.tolist() == tok(text)["input_ids"]
    assert labels[0] == -100 and torch.equal(labels[1:], U._logits(m, ids.tolist())[:-1].argmax(-1))
    anchors = {"turtle": "zebra crossing"}
    ids2, lab2 = U.whp_labels(m, m, tok, text, anchors)
    spans = U.anchored_spans(text, anchors)
    _, starts = U._span_ids(tok, spans, False)
    k = [i for i, (_, g) in enumerate(spans) if g][0]
    inside = range(starts[k] + 1, starts[k + 1])
    assert all(lab2[i] == -100 for i in inside) and lab2[starts[k]] != -100
    assert U.translate(text, anchors) == "Move the zebra crossing forward, then lift the pen."

def test_soft_whp_targets_are_distributions(tiny_lm):
    m, tok = tiny_lm
    ids, t = U.whp_labels(m, m, tok, "The turtle moves 3 steps.", {"turtle": "cat"}, soft=True)
    has = t.sum(-1) > 0
    assert torch.allclose(t[has].sum(-1), torch.ones(int(has.sum()))) and not has[0]
    tuned = U.finetune_lm(m, [(ids, t)], epochs=3, lr=1e-2)
    before, after = U._lm_loss(m, ids[None], t[None], torch.ones(1, len(ids))), U._lm_loss(tuned, ids[None], t[None], torch.ones(1, len(ids)))
    assert after < before
