"Mechanics of dataset distillation on scikit-learn's digits (8×8, bundled): gradients, resumable buffers, errors, determinism."
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from curatekit.core import CuratekitError
from curatekit import distill as D

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
def buf(digits, tmp_path_factory):
    x, y = digits
    return D.train_experts(x[:600], y[:600], tmp_path_factory.mktemp("experts"), n_experts=2, epochs=3, width=8, batch_size=64,
                          lr=0.05, momentum=0.9)

def test_forward_flat_matches_module(digits):
    net = D.seeded_convnet(0, im_size=8, width=8)
    x = digits[0][:16]
    assert torch.allclose(net.forward_flat(net.flat(), x), net(x), atol=1e-5)
    assert torch.allclose(net.forward_flat(net.flat(), x, embed=True), net.embed(x), atol=1e-5)

def test_gradients_reach_images_lr_and_soft_labels(digits, buf):
    x, y = digits
    m = D.TrajectoryMatcher(buf, ipc=2, syn_steps=4, expert_epochs=2, max_start_epoch=2, pix_init="correct",
                            soft_labels=True).start(x[:600], y[:600])
    img0, lab0 = m.images.detach().clone(), m.labels.detach().clone()
    m.threshold = None
    m.step(0)
    assert (m.images.grad.flatten(1).abs().sum(1) > 0).all()        # every synthetic image
    assert (m.labels.grad.abs().sum(1) > 0).all()                   # every soft label
    assert m.lr.grad is not None and m.lr.grad.abs() > 0
    assert not torch.equal(m.images.detach(), img0) and not torch.equal(m.labels.detach(), lab0)

def test_threshold_skips_the_update(digits, buf):
    x, y = digits
    m = D.TrajectoryMatcher(buf, ipc=1, syn_steps=3, max_start_epoch=2, threshold=0.0).start(x[:600], y[:600])
    before = m.images.detach().clone()
    assert m.step(0) > 0
    assert torch.equal(m.images.detach(), before)

def test_same_seed_same_distilled_set(digits, buf):
    x, y = digits
    kw = dict(ipc=1, iterations=3, syn_steps=3, max_start_epoch=2, lr_img=100, seed=7)
    a, b = D.mtt_distill(buf, x[:600], y[:600], **kw), D.mtt_distill(buf, x[:600], y[:600], **kw)
    assert torch.equal(a.images, b.images) and a.losses == b.losses and a.lr == b.lr
    c = D.mtt_distill(buf, x[:600], y[:600], **dict(kw, seed=8))
    assert not torch.equal(a.images, c.images)

def test_buffer_resumes_bit_for_bit(digits, tmp_path, monkeypatch):
    x, y = digits
    kw = dict(n_experts=1, epochs=3, width=8, batch_size=64, momentum=0.9)
    full = D.train_experts(x[:300], y[:300], tmp_path/"a", **kw)
    calls, real = [0], D.train_epoch
    def dying(*a, **k):
        calls[0] += 1
        if calls[0] == 3: raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(D, "train_epoch", dying)
    with pytest.raises(KeyboardInterrupt): D.train_experts(x[:300], y[:300], tmp_path/"b", **kw)
    assert (tmp_path/"b"/"expert_000.partial.safetensors").exists()
    monkeypatch.setattr(D, "train_epoch", real)
    resumed = D.train_experts(x[:300], y[:300], tmp_path/"b", **kw)
    assert torch.equal(full[0], resumed[0])
    assert not (tmp_path/"b"/"expert_000.partial.safetensors").exists()

def test_buffers_are_safetensors_not_pickle(buf):
    from safetensors.torch import load_file
    f = buf.files[0]
    assert f.read_bytes()[:1] != b"\x80"                             # not a pickle stream
    assert set(load_file(str(f))) == {"trajectory"}

def test_bad_inputs_name_the_parameter(digits, buf, tmp_path):
    x, y = digits
    with pytest.raises(CuratekitError, match=r"ipc=200, but class \d has only"):
        D.mtt_distill(buf, x[:600], y[:600], ipc=200, iterations=1, max_start_epoch=2)
    with pytest.raises(CuratekitError, match="another architecture; width=8 in the buffer, 16 here"):
        buf.check(D.ConvNet(im_size=8, width=16))
    with pytest.raises(CuratekitError, match="pix_init must be"):
        D.init_synthetic(x, y, 1, "kmeans")
    with pytest.raises(CuratekitError, match="max_start_epoch=5 with expert_epochs=2 needs trajectories of at least 6"):
        D.TrajectoryMatcher(buf, max_start_epoch=5)
    with pytest.raises(CuratekitError, match="experts were trained on"):
        D.mtt_distill(buf, torch.zeros(20, 1, 28, 28), torch.arange(10).repeat(2), iterations=1, max_start_epoch=2)
    with pytest.raises(CuratekitError, match="no such directory"):
        D.ExpertBuffer(tmp_path/"missing")
    D.train_experts(x[:100], y[:100], tmp_path/"e", n_experts=1, epochs=1, width=8)
    with pytest.raises(CuratekitError, match=r"other settings \(width: 8 there, 4 here\)"):
        D.train_experts(x[:100], y[:100], tmp_path/"e", n_experts=1, epochs=1, width=4)

def test_distilled_round_trip(digits, buf, tmp_path):
    x, y = digits
    d = D.datm_distill(buf, x[:600], y[:600], ipc=1, iterations=2, syn_steps=3, max_start_epoch=2)
    e = D.Distilled.load(d.save(tmp_path/"d.safetensors"))
    assert torch.equal(d.images, e.images) and torch.equal(d.labels, e.labels) and e.lr == d.lr and e.soft
    assert e.config["soft_labels"] is True

def test_coresets_pick_per_class(digits, buf):
    x, y = digits
    for m in ("random", "herding", "kcenter"):
        idx = D.coreset(x[:600], y[:600], 3, m, buf)
        assert y[idx].tolist() == [c for c in range(10) for _ in range(3)]

def test_krr_loss_gradients(digits):
    x, _ = digits
    net = D.seeded_convnet(0, im_size=8, width=8, num_classes=5)
    xs, ys = x[:6].clone().requires_grad_(True), torch.randn(6, 5, requires_grad=True)
    D.krr_loss(net, xs, ys, x[6:40], torch.randn(34, 5)).backward()
    assert xs.grad.abs().sum() > 0 and ys.grad.abs().sum() > 0
