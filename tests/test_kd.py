"Mechanics of CaBaGe's curation pieces and class-relation KD."
import numpy as np
import polars as pl
import pytest
import torch
import torch.nn.functional as F

from curatekit.core import CuratekitError, make_step
from curatekit import kd as K

@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    "One torch thread while this module runs (pytest -n 2 on two cores); restored after."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def test_hardness_scores():
    p = torch.tensor([[[1.0, 0.0], [0.5, 0.5]], [[1.0, 0.0], [0.5, 0.5]]])   # 2 models agree
    h = K.ensemble_hardness(p)
    assert np.allclose(h["disagreement"], 0) and np.allclose(h["confidence"], [1.0, 0.5])
    q = torch.tensor([[[0.8, 0.2]], [[0.2, 0.8]]])
    m = q.mean(0)
    js = ((q * (q.log() - m.log())).sum(-1)).mean(0)
    assert np.allclose(K.ensemble_hardness(q)["disagreement"], js.numpy())
    df = pl.DataFrame(dict(id=[0], probs=[[[0.8, 0.2], [0.2, 0.8]]]))
    out = K.hardness(df)
    assert np.isclose(out["cabage_hardness"][0], 1 - 0.5 + float(js[0]))
    with pytest.raises(CuratekitError, match="no column 'p'"): K.hardness(df, probs_col="p")

def test_cabage_filter_is_class_balanced_and_hardest():
    rng = np.random.default_rng(1)
    df = pl.DataFrame(dict(id=range(300), label=rng.choice([0, 1, 2], 300, p=[0.8, 0.15, 0.05]), cabage_hardness=rng.random(300)))
    out = make_step("cabage_filter", k=30)(df)
    sel = out.filter("cabage_selected")
    counts = dict(zip(*[sel["label"].value_counts().sort("label")[c].to_list() for c in ("label", "count")]))
    small = int((df["label"] == 2).sum())
    assert counts[2] == min(small, 10) and sum(counts.values()) == 30       # the small class gives its share to the others
    for c in (0, 1, 2):
        s = sel.filter(pl.col("label") == c)["cabage_hardness"]; r = out.filter(~pl.col("cabage_selected"), pl.col("label") == c)["cabage_hardness"]
        if len(r): assert s.min() >= r.max()

def test_replay_buffer_keeps_the_hardest():
    rb = K.ReplayBuffer(2, capacity=3)
    for s in range(3):
        x = torch.arange(4.)[:, None] + 10 * s; y = F.one_hot(torch.tensor([0, 0, 1, 1]), 2).float()
        rb.add(x, y, torch.tensor([0.1, 0.9, 0.2, 0.8]) + s)
    assert len(rb) == 6 and rb.score[0].min() >= 1.9

def test_sinkhorn_and_cr_kd():
    logits = 0.1 * torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    Q = K.sinkhorn_knopp(logits, iters=10)
    assert torch.allclose(Q.sum(1), torch.ones(32), atol=1e-5)
    old, new = torch.randn(6, 3), torch.randn(6, 8, requires_grad=True)
    tau, T = 0.1, 4.0
    p_old = F.softmax(old / tau / T, -1); p_new = F.softmax(new[:, :3] / tau / T, -1)
    w = F.softmax(new / tau / T, -1)[:, :3].sum(-1, keepdim=True); w = w / w.mean()
    want = (-(p_new.log()) * p_old * T ** 2 * w).sum(-1).mean()
    got = K.cr_kd_loss(old, new, tau, T)
    assert torch.allclose(got, want); got.backward(); assert new.grad.abs().sum() > 0

def test_cluster_accuracy_is_permutation_invariant():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    assert K.cluster_accuracy(y, (y + 1) % 3) == 1.0
    assert K.cluster_accuracy(y, [0, 0, 0, 0, 0, 0, 0]) == pytest.approx(3 / 7)

def test_generated_kd_counts_answers_and_is_seeded():
    teacher = K.ConvNet(width=4)
    def run():
        k = K.GeneratedKD(teacher, students=2, generators=2, width=4, gen_width=4, seed=3, device="cpu")
        return k.fit(rounds=2, queries=10, pool_size=40, generator_steps=1, student_steps=2)
    a, b = run(), run()
    assert a.queries == 20 and len(a.answered) == 2 and all(len(x) == 10 for x, _ in a.answered)
    assert torch.equal(a.answered[1][0], b.answered[1][0])
    assert all(torch.equal(p, q) for p, q in zip(a.students[0].parameters(), b.students[0].parameters()))
