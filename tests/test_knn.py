"kNN backends: every index finds the exact neighbours of an easy set, `auto` picks exact below its threshold, same seed → same answer."
import importlib.util, warnings
import numpy as np, pytest, torch
from curatekit.core import CuratekitError
import curatekit.embed as E
from curatekit.embed import knn, ANN_BACKENDS

LIB = {"faiss": "faiss", "faiss-ivf": "faiss", "usearch": "usearch", "usearch-f16": "usearch", "usearch-i8": "usearch"}


def easy(n=2000, d=32, seed=0):
    "Tight clusters of 10: each row's 9 cluster-mates are its 9 nearest neighbours by a wide margin."
    g = torch.Generator().manual_seed(seed)
    c = torch.nn.functional.normalize(torch.randn(n // 10, d, generator=g), dim=1)
    return torch.nn.functional.normalize(c.repeat_interleave(10, 0) + 0.05 * torch.randn(n, d, generator=g), dim=1)


@pytest.fixture(scope="module")
def x(): return easy()


@pytest.fixture(scope="module")
def exact(x): return knn(x, x, 9, exclude_self=True, backend="torch", device="cpu")


@pytest.mark.parametrize("backend", ["faiss", *ANN_BACKENDS])
def test_each_backend_finds_the_exact_neighbours_of_an_easy_set(x, exact, backend):
    pytest.importorskip(LIB[backend])
    s, i = knn(x, x, 9, exclude_self=True, backend=backend)
    recall = np.mean([len(set(a) & set(b)) / 9 for a, b in zip(i.tolist(), exact[1].tolist())])
    assert recall >= (0.99 if backend != "usearch-i8" else 0.95), recall   # i8 quantization: ≥ 0.95 stated
    assert not (i == torch.arange(len(x))[:, None]).any()                     # exclude_self holds
    assert torch.allclose(s, (x[:, None] * x[i]).sum(-1), atol=1e-5)         # scores are exact cosines of the returned rows
    assert (s[:, :-1] >= s[:, 1:]).all()                                      # best first
    s2, i2 = knn(x, x, 9, exclude_self=True, backend=backend)                 # seed 0 twice: the same answer
    assert torch.equal(i, i2) and torch.equal(s, s2)


def test_auto_is_exact_below_the_threshold_and_an_index_above(x, exact):
    assert E._pick_backend("auto", 999_999, 1_000_000) == "torch"
    assert E._pick_backend("auto", 5_000_000, 1_000_000, many_queries=False) == "torch"    # few queries: the build would not pay
    assert torch.equal(knn(x, x, 9, exclude_self=True, ann_rows=1000)[1], exact[1])          # 2,000 queries < ann_queries: exact
    assert torch.equal(knn(x, x, 9, exclude_self=True)[1], exact[1])          # 2,000 rows < 1M: the exact kernel, identically
    if importlib.util.find_spec("faiss") is None: pytest.skip("faiss not installed")
    assert E._pick_backend("auto", 1_000_000, 1_000_000) == "faiss-ivf"
    s, i = knn(x, x, 9, exclude_self=True, ann_rows=1000, ann_queries=100)
    assert torch.equal(i, knn(x, x, 9, exclude_self=True, backend="faiss-ivf")[1])


def test_without_the_libraries_auto_stays_exact_and_says_so_once(x, exact, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in ("faiss", "usearch") else real(name, *a))
    with pytest.warns(UserWarning, match=r"2,000 corpus rows searched exactly; pip install 'curatekit\[ann\]'"):
        assert torch.equal(knn(x, x, 9, exclude_self=True, ann_rows=1000, ann_queries=100)[1], exact[1])
    with pytest.raises(CuratekitError, match=r"knn\(backend='usearch'\) needs usearch: pip install 'curatekit\[ann\]'"):
        knn(x, x, 3, backend="usearch")


def test_index_backends_check_input_and_read_memmaps(x, tmp_path):
    pytest.importorskip("faiss")
    bad = x.clone(); bad[1500] *= 2
    with pytest.raises(CuratekitError, match="corpus: row 1500 is not a unit vector"): knn(x[:5], bad, backend="faiss-ivf")
    with pytest.raises(CuratekitError, match="corpus: row 1500 is not a unit vector"): knn(x[:5], bad, backend="faiss")
    with pytest.raises(CuratekitError, match="dimension 32 but corpus has dimension 8"): knn(x, easy(100, 8), backend="faiss-ivf")
    with pytest.raises(CuratekitError, match="recall must be in"): knn(x, x, backend="faiss-ivf", recall=1.5)
    with pytest.raises(CuratekitError, match="unknown backend 'hnsw'; use 'auto', 'torch'"): knn(x, x, backend="hnsw")
    np.save(tmp_path/"c.npy", x.numpy())
    s, i = knn(x[:50], np.load(tmp_path/"c.npy", mmap_mode="r"), 10, backend="faiss-ivf", corpus_block=700)
    ref = (x[:50] @ x.T).topk(10, dim=1)
    assert np.mean([len(set(a) & set(b)) for a, b in zip(i.tolist(), ref.indices.tolist())]) / 10 >= 0.99
    assert knn(x[:3], x[:4], 10, backend="faiss-ivf")[1].shape == (3, 4)    # k clipped to the corpus, as exact
    for b in ("torch", "faiss", "faiss-ivf"): assert knn(x[:0], x, 5, backend=b)[1].shape == (0, 5)   # no queries: empty


def test_unreachable_recall_target_warns():
    pytest.importorskip("faiss")
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(1000, 64, generator=g), dim=1)   # no structure: IVF at full width is exact, so 1.0
    with warnings.catch_warnings(): warnings.simplefilter("error"); knn(x[:100], x, 10, backend="faiss-ivf", recall=1.0)
    pytest.importorskip("usearch")
    with pytest.warns(UserWarning, match="usearch-i8 reaches recall@10"): knn(x[:100], x, 10, backend="usearch-i8", recall=1.0)
