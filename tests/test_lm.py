"The LM scoring kernel: same numbers as a naive loop, windows, OOM retry, nulls, reference LMs and the recipe step."
import math
import numpy as np, polars as pl, pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")
from curatekit.core import CuratekitError, Recipe
import curatekit.lm as lm
from curatekit.lm import token_logprobs, score_lm, train_reference_lm, load_lm, sliding_windows

TEXTS = ["Assert statements are a convenient way to insert debugging assertions into a program.",
         "The simple form is equivalent to an if statement that raises AssertionError. " * 5,
         "def add(a, b):\n    return a + b\n", "x"]
TINY = dict(vocab_size=300, n_ctx=32, n_layer=1, n_head=2, n_embd=32, epochs=1, batch_size=4, lr=1e-3)

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    "Tiny models on a shared 2-core machine: one torch thread avoids OpenMP spin-wait contention."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

@pytest.fixture(scope="module")
def ref_lm(tmp_path_factory):
    "A tiny reference LM trained on TEXTS in a fresh cache directory."
    mp = pytest.MonkeyPatch(); mp.setenv("CURATEKIT_HOME", str(tmp_path_factory.mktemp("home")))
    yield train_reference_lm(TEXTS * 4, progress=False, **TINY)
    mp.undo()

def naive(model, ids, context, stride):
    "Batch 1, no padding, one window at a time: the reference the kernel must reproduce."
    out = []
    for s, e, f in sliding_windows(len(ids), context, stride):
        with torch.no_grad(): lp = model(torch.tensor(ids[None, s:e])).logits[0].float().log_softmax(-1)
        out.append(lp[f - s - 1:e - s - 1].gather(-1, torch.tensor(ids[f:e])[:, None])[:, 0].numpy())
    return np.concatenate(out) if out else np.zeros(0)

def test_kernel_matches_naive_loop_with_windows(ref_lm):
    model, tok = load_lm(ref_lm, "cpu")
    assert tok.pad_token is None  # the trained tokenizer has no pad token and the kernel does not need one
    res = token_logprobs(model, TEXTS, tok, batch_tokens=96, progress=False)
    for t, r in zip(TEXTS, res):
        ids = np.array(tok(t)["input_ids"])
        assert len(r) == len(ids) - 1  # every token after the first is scored, long texts included
        np.testing.assert_allclose(r.logp, naive(model, ids, 32, 16), atol=1e-5)
    assert len(tok(TEXTS[1])["input_ids"]) > 32  # the long text really needed windows

def test_gpt2_written_out_forward_checked_repacked_and_skipped(ref_lm):
    "A fp32 CPU GPT-2 runs through `_Gpt2Fast`; weights changed in place are repacked; a GPT-2 it does not write out falls back."
    model, tok = load_lm(ref_lm, "cpu")
    ids = np.array(tok(TEXTS[1])["input_ids"])
    assert lm._fast(model, ids[:32], False) is not None and lm._fast(model, ids[:32], True) is None  # autocast: the model's modules
    torch.manual_seed(0)
    m = tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=len(tok), n_positions=32, n_embd=32, n_layer=2, n_head=2)).eval()
    token_logprobs(m, TEXTS[1:2], tok)
    with torch.no_grad(): m.transformer.h[1].mlp.c_fc.weight.mul_(3)  # after the first pack
    np.testing.assert_allclose(token_logprobs(m, TEXTS[1:2], tok)[0].logp, naive(m, ids, 32, 16), atol=1e-5)
    with torch.inference_mode(): inf = tf.GPT2LMHeadModel(m.config).eval(); inf.load_state_dict(m.state_dict())  # weights made under inference_mode, as a soup's are
    assert any(p.is_inference() for p in inf.parameters()) and lm._fast(inf, ids[:32], False) is None  # no version counter: the model's own forward
    np.testing.assert_allclose(token_logprobs(inf, TEXTS[1:2], tok)[0].logp, naive(m, ids, 32, 16), atol=1e-5)
    cfg = dict(m.config.to_dict(), scale_attn_by_inverse_layer_idx=True)  # another attention scale: the model's own forward
    m = tf.GPT2LMHeadModel(tf.GPT2Config(**cfg)).eval()
    assert lm._fast(m, ids[:32], False) is None
    np.testing.assert_allclose(token_logprobs(m, TEXTS[1:2], tok)[0].logp, naive(m, ids, 32, 16), atol=1e-5)

def test_stride_changes_only_context_not_coverage(ref_lm):
    a, b = token_logprobs(ref_lm, TEXTS[1:2], stride=8, device="cpu")[0], token_logprobs(ref_lm, TEXTS[1:2], stride=24, device="cpu")[0]
    assert len(a) == len(b)
    np.testing.assert_allclose(a.logp[:31], b.logp[:31], atol=1e-6)  # the first window is the same
    with pytest.raises(CuratekitError, match="stride=32"): token_logprobs(ref_lm, TEXTS, stride=32, device="cpu")

def test_oom_halves_and_retries(ref_lm, monkeypatch):
    model, tok = load_lm(ref_lm, "cpu")
    want = token_logprobs(model, TEXTS, tok)
    real, sizes = lm._forward, []
    def flaky(model, rows, *a):
        sizes.append(len(rows))
        if len(rows) > 1: raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, rows, *a)
    monkeypatch.setattr(lm, "_forward", flaky)
    got = token_logprobs(model, TEXTS, tok, batch_tokens=4096)
    assert sizes[0] > 1 and 1 in sizes
    for g, w in zip(got, want): np.testing.assert_allclose(g.logp, w.logp, atol=1e-6)

def test_empty_and_null_texts_get_null_scores(ref_lm):
    df = pl.DataFrame({"id": ["a", "b", "c", "d"], "text": [TEXTS[0], "", None, "   \n\t"]})
    out = score_lm(df, ref_lm, device="cpu", progress=False)
    assert out.select("id", "text").equals(df)  # inputs untouched, only columns added
    for c in ("ppl", "nll", "mink", "minkpp", "zlib"): assert out[c].is_null().to_list() == [False, True, True, True]
    assert out["lm_tokens"].to_list()[1:] == [0, 0, 0]
    from curatekit.core import Filter  # a blank text is empty for the filter too: its reason says so
    kept, dropped = Filter("ppl < 1e9", reason="high_perplexity").split(out)
    assert kept["id"].to_list() == ["a"] and dropped["reason"].to_list() == ["empty"] * 3

def test_scores_follow_their_definitions(ref_lm):
    tl = token_logprobs(ref_lm, TEXTS[:1], moments=True, device="cpu")[0]
    row = score_lm(pl.DataFrame({"text": TEXTS[:1]}), ref_lm, k=0.2, device="cpu").row(0, named=True)
    n = max(1, int(len(tl) * 0.2))
    assert math.isclose(row["nll"], -tl.logp.mean(), rel_tol=1e-6) and math.isclose(row["ppl"], math.exp(row["nll"]), rel_tol=1e-9)
    assert math.isclose(row["mink"], np.sort(tl.logp)[:n].mean(), rel_tol=1e-6)
    assert math.isclose(row["minkpp"], np.sort((tl.logp - tl.mu) / tl.sigma)[:n].mean(), rel_tol=1e-5)

def test_moore_lewis_is_a_cross_entropy_difference(ref_lm, tmp_path, monkeypatch):
    monkeypatch.setenv("CURATEKIT_HOME", str(tmp_path))
    other = train_reference_lm(["Completely different words about the sea and ships."] * 8, progress=False, **TINY)
    df = pl.DataFrame({"text": TEXTS[:3]})
    same = score_lm(df, ref_lm, scores=["ppl"], reference=ref_lm, device="cpu")["moore_lewis"]
    assert np.allclose(same.to_numpy(), 0, atol=1e-6)
    ab = score_lm(df, ref_lm, scores=["ppl"], reference=other, device="cpu")["moore_lewis"].to_numpy()
    ba = score_lm(df, other, scores=["ppl"], reference=ref_lm, device="cpu")["moore_lewis"].to_numpy()
    np.testing.assert_allclose(ab, -ba, atol=1e-6)
    assert ab.mean() > 0  # on average, the texts the first LM was trained on are more like its domain

def test_reference_lm_cached_and_deterministic(ref_lm, tmp_path, monkeypatch):
    assert (ref_lm/"config.json").exists() and (ref_lm/"tokenizer.json").exists() and (ref_lm/"curatekit_lm.json").exists()
    monkeypatch.setenv("CURATEKIT_HOME", str(tmp_path))
    again = train_reference_lm(TEXTS * 4, progress=False, **TINY)
    assert again != ref_lm and again.name == ref_lm.name  # same content hash in a fresh cache
    a, b = token_logprobs(ref_lm, TEXTS, device="cpu"), token_logprobs(again, TEXTS, device="cpu")
    for x, y in zip(a, b): np.testing.assert_array_equal(x.logp, y.logp)
    assert train_reference_lm(TEXTS * 4, progress=False, **TINY) == again

def test_unknown_model_says_nothing_is_downloaded():
    with pytest.raises(CuratekitError, match="Nothing is downloaded offline"): load_lm("no-such-org/no-such-model-xyz", "cpu")
    with pytest.raises(CuratekitError, match="needs its tokenizer"): token_logprobs(torch.nn.Linear(2, 2), ["a"])

def test_recipe_step_with_token_limit(ref_lm):
    rec = Recipe.from_yaml(f"""
curatekit: 1
steps:
  - step: score_lm
    with: {{model: '{ref_lm}', scores: [ppl, mink], max_tokens: 16, device: cpu}}
  - step: filter
    with: {{keep: "ppl is not null", reason: empty}}
""")
    df = pl.DataFrame({"text": TEXTS + [""]})
    run = rec(df, progress=False)
    assert run.frame.height == len(TEXTS) and len(run.ledger) == 1
    assert run.frame["lm_truncated"].to_list() == [True, True, True, False]
    assert run.frame["lm_tokens"].max() == 15
    with pytest.raises(CuratekitError, match="unknown score 'perplexity'"): score_lm(df, ref_lm, scores=["perplexity"])

def test_builtin_lm_names_resolve_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("CURATEKIT_HOME", str(tmp_path))
    monkeypatch.setitem(lm.BUILTIN_LMS, "curatekit/tiny-test", (lambda: TEXTS * 4, TINY))
    path = lm.builtin_lm("curatekit/tiny-test")
    assert path.parent == tmp_path/"lm" and (path/"config.json").exists()
    out = score_lm(pl.DataFrame({"text": TEXTS}), "curatekit/tiny-test", scores=["ppl"], device="cpu")  # a name, as in a recipe
    assert out["ppl"].null_count() == 0
    with pytest.raises(CuratekitError, match="no built-in LM"): lm.builtin_lm("curatekit/nope")
