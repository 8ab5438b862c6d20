"Trainers, ablations and soups as users rely on them: seeded, resumable after a kill, one-line errors, the CLI end to end."
import contextlib, io, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, polars as pl, pytest, yaml

torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")
from curatekit.core import CuratekitError, Filter, Recipe, write, read_file, word_count
from curatekit.data import sample_corpus
from curatekit.lm import train_tokenizer
from curatekit.mix import Mixture
import curatekit.train as train
from curatekit.train import (causal_lm, token_ids, token_blocks, train_lm, train_head, finetune_encoder, classify, classification_scores,
                             heldout_perplexity, load_trained, Head)
from curatekit.ablate import ablate, Ablation
from curatekit.merge import weight_average, greedy_soup
from curatekit.cli import main

TINY = dict(n_layer=1, n_head=2, d_model=32)
QUIET = {"CURATEKIT_PROGRESS": "0", "OMP_NUM_THREADS": "1"}  # for subprocesses: OpenMP spin-waits burn a busy machine's cores
FAST = dict(n_ctx=32, batch_size=4, lr=1e-2)

@pytest.fixture(autouse=True, scope="module")
def one_thread():
    "Tiny models on a shared 2-core machine: one torch thread avoids OpenMP spin-wait contention."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

@pytest.fixture(scope="module")
def data():
    "Clean prose and docstrings of the sample corpus, a held-out slice, and a small tokenizer trained on the rest."
    c = sample_corpus().filter(pl.col("corruption").is_null() & pl.col("source").is_in(["prose", "docstring"]))
    held, rest = c.filter(pl.col("id") % 10 == 0).head(40), c.filter(pl.col("id") % 10 != 0).head(1500)
    tok = train_tokenizer(rest["text"].to_list(), vocab_size=300)
    return token_ids(rest, tok), held, tok

def test_train_lm_is_seeded_for_gpt2_and_llama(data):
    pool, held, tok = data
    for arch in ("gpt2", "llama"):
        a, b = (train_lm(pool, tok, TINY, budget=2048, arch=arch, seed=3, device="cpu", **FAST) for _ in range(2))
        assert a.curve.equals(b.curve) and type(a.model).__name__.lower().startswith(arch)
        assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
        loss = a.curve.filter(pl.col("metric") == "loss")["value"]
        assert loss[-3:].mean() < loss[:3].mean()
        c = train_lm(pool, tok, TINY, budget=2048, arch=arch, seed=4, device="cpu", **FAST)
        assert not c.curve.equals(a.curve)

def test_mixture_schedule_is_followed_block_by_block(data):
    pool, _, tok = data
    mix = Mixture({"docstring": 1.0}).upsample(0.5, {"prose": 1.0})
    blocks, dom = token_blocks(mix, tok, budget=64 * 32, n_ctx=32, pool=pool, with_domains=True)
    assert blocks.shape == (64, 32)
    # the switch at half the tokens, give or take the documents that straddle it
    assert (dom[:30] == "docstring").all() and (dom[40:] == "prose").all() and (dom == "prose").sum() in range(28, 37)

def test_bad_input_is_one_line(data):
    pool, _, tok = data
    cases = [(lambda: train_lm(pool.head(3), tok, TINY, budget=10**6, **FAST), "fewer than the budget of"),
             (lambda: train_lm(pool.head(0), tok, TINY, budget=2048, **FAST), "no rows with text"),
             (lambda: train_lm(pool, tok, causal_lm(100, None, 32, **TINY), budget=2048, **FAST), "the tokenizer has 300 tokens but the model's vocabulary has 100"),
             (lambda: train_lm(pool, tok, causal_lm(tok, None, 16, **TINY), budget=2048, **FAST), r"n_ctx=32 is longer than the model.s context \(16\)"),
             (lambda: train_lm(Mixture({"prose": 1.0}), tok, TINY, budget=2048, **FAST), "needs pool="),
             (lambda: train_lm(pool, tok, TINY, budget=2048, n_ctx=32, batch_size=4, lr=float("inf")), "loss is nan at step 2")]
    for fn, msg in cases:
        with pytest.raises(CuratekitError, match=msg) as e: fn()
        assert "\n" not in str(e.value)

def test_out_of_memory_names_the_batch(data, monkeypatch):
    pool, _, tok = data
    def oom(model, x): raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
    monkeypatch.setattr(train, "_lm_loss", oom)
    with pytest.raises(CuratekitError, match="step 1 ran out of memory with batch_size=4, n_ctx=32: lower batch_size="):
        train_lm(pool, tok, TINY, budget=2048, **FAST)

def test_saved_model_reloads_with_the_same_perplexity(data, tmp_path):
    pool, held, tok = data
    t = train_lm(pool, tok, TINY, budget=2048, device="cpu", **FAST)
    back = load_trained(t.save(tmp_path/"m"))
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.pkl"))
    a, b = heldout_perplexity(t.model, tok, held), heldout_perplexity(back.model, back.tokenizer, held)
    np.testing.assert_allclose(a["ppl"].to_numpy(), b["ppl"].to_numpy(), rtol=1e-5)

def test_head_and_tiny_bert_finetune(data, tmp_path):
    pool, _, _ = data
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8)).astype(np.float32); y = np.where(X[:, 0] + X[:, 1] > 0, "pos", "neg")
    df = pl.DataFrame({"emb": X, "label": y})
    h = train_head(df, epochs=60, seed=0, device="cpu")
    assert isinstance(h.model, Head) and (classify(h, df) == pl.Series(y)).mean() > 0.93
    back = load_trained(h.save(tmp_path/"head"))
    assert (classify(back.model, df) == classify(h, df)).all()
    # a tiny BERT from a config, with the packaged MiniLM tokenizer: the fine-tuning code path, fast
    from curatekit.embed import default_model_path
    btok = tf.AutoTokenizer.from_pretrained(default_model_path())
    texts = pool.head(60).with_columns(label=pl.col("source"))
    def tiny_bert():
        torch.manual_seed(0)
        return tf.BertForSequenceClassification(tf.BertConfig(vocab_size=len(btok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                              intermediate_size=64, num_labels=2, id2label={0: "docstring", 1: "prose"}))
    a = finetune_encoder(texts, model=tiny_bert(), tokenizer=btok, epochs=2, batch_size=8, lr=1e-3, max_length=32, device="cpu")
    b = finetune_encoder(texts, model=tiny_bert(), tokenizer=btok, epochs=2, batch_size=8, lr=1e-3, max_length=32, device="cpu")
    assert a.curve.equals(b.curve) and len(a.curve.filter(pl.col("metric") == "loss")) == 16
    assert set(classify(a, texts).to_list()) <= {"docstring", "prose"}
    with pytest.raises(CuratekitError, match="the model has 2 labels but the data has 3 classes"):
        finetune_encoder(texts.with_columns(label=pl.Series(["a", "b", "c"] * 20)), model=tiny_bert(), tokenizer=btok)

def test_classification_scores_match_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    t, p = rng.choice(list("abcd"), 300), rng.choice(list("abce"), 300)
    s = classification_scores(t, p, n_boot=300, seed=0)
    assert abs(s["value"][0] - metrics.accuracy_score(t, p)) < 1e-12
    assert abs(s["value"][1] - metrics.f1_score(t, p, average="macro")) < 1e-12
    assert (s["low"] < s["value"]).all() and (s["value"] < s["high"]).all()

def test_weight_average_and_greedy_soup():
    heads = []
    for s in range(3):
        torch.manual_seed(s); heads.append(Head(4, ["a", "b"]))
    avg = weight_average(heads, [1, 1, 2])
    want = (heads[0].net.weight + heads[1].net.weight + 2 * heads[2].net.weight) / 4
    torch.testing.assert_close(avg.net.weight, want)
    with pytest.raises(CuratekitError, match="'net.weight' has shape"): weight_average([heads[0], Head(5, ["a", "b"])])
    # a soup scored by closeness to a target: greedy keeps only what brings the average closer
    target = heads[0].net.weight.detach() * 0.5 + heads[1].net.weight.detach() * 0.5
    score = lambda m: -float((m.net.weight - target).norm())
    soup = greedy_soup(heads, score)
    assert sorted(soup.ingredients) == [0, 1]
    torch.testing.assert_close(soup.model.net.weight, target)

# --- ablations: resume after a kill, NaN with finished cells kept, the CLI -----------------------------------------------

def _ablation_inputs():
    c = sample_corpus().filter(pl.col("corruption").is_null())
    held = c.filter(pl.col("id") % 10 == 0).group_by("source", maintain_order=True).head(10)
    pool = c.filter(pl.col("id") % 10 != 0).sample(1500, seed=0)
    variants = {"prose+doc": pool.filter(pl.col("source") != "code"), "all": pool}
    return variants, held, pool

def _ablation(cache, workers=1):
    "The ablation the kill test runs, in a subprocess and in the test: 2 variants × 2 seeds of a tiny LM."
    torch.set_num_threads(1)
    variants, held, pool = _ablation_inputs()
    return ablate(variants, held, budget=4096, seeds=2, train=dict(model=TINY, **FAST), tokenizer=300, pool=pool,
                  eval_tokens=32, cache_dir=cache, workers=workers, progress=False)

def test_interrupted_ablation_resumes_with_the_same_numbers(tmp_path):
    cache, cells = tmp_path/"killed", tmp_path/"killed"/"cells"
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); from test_train import _ablation; _ablation({str(cache)!r}); print('DONE')"
    env = {**os.environ, **QUIET}
    p = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.time()
    while time.time() - t0 < 300 and not (cells.is_dir() and any(cells.glob("*/result.parquet"))): time.sleep(0.1)
    p.send_signal(signal.SIGKILL); out, err = p.communicate()
    assert b"DONE" not in out, "the ablation finished before it could be interrupted"
    done = len(list(cells.glob("*/result.parquet")))
    assert 1 <= done < 4
    resumed = _ablation(cache)
    assert int(resumed.cells["cached"].sum()) == done and len(resumed.cells) == 4
    fresh = _ablation(tmp_path/"fresh", workers=2)   # uninterrupted, and two cells at a time in worker processes
    assert int(fresh.cells["cached"].sum()) == 0
    assert resumed.results.sort("variant", "seed", "metric").equals(fresh.results.sort("variant", "seed", "metric"))

def test_nan_in_one_variant_keeps_the_finished_cells(tmp_path):
    variants, held, pool = _ablation_inputs()
    bad = variants["all"]
    def trainer(data, seed, budget, tokenizer, pool):
        lr = float("inf") if len(data) == len(bad) else 1e-2
        return train_lm(data, tokenizer, TINY, budget=budget, seed=seed, n_ctx=32, batch_size=4, lr=lr, device="cpu")
    with pytest.raises(CuratekitError, match=r"^variant 'all', seed 0: train_lm: the loss is nan at step 2") as e:
        ablate(variants, held, budget=4096, seeds=1, train=trainer, tokenizer=300, pool=pool, cache_dir=tmp_path, progress=False)
    assert "\n" not in str(e.value)
    assert len(list((tmp_path/"cells").glob("*/result.parquet"))) == 1   # 'prose+doc' finished and stays

def test_compare_pairs_by_seed():
    "Seed-to-seed spread shared by two variants hides a steady difference from the per-variant intervals, not from compare."
    v, s = ["a"] * 3 + ["b"] * 3, [0, 1, 2] * 2
    res = pl.DataFrame(dict(variant=v, seed=s, metric=["ppl"] * 6, value=[10.0, 20.0, 30.0, 9.0, 19.0, 29.2]))
    cells = pl.DataFrame(dict(variant=v, seed=s, tokens=[1] * 6, seconds=[0.0] * 6, cached=[True] * 6, path=[""] * 6))
    abl = Ablation(res, cells, pl.DataFrame())
    summ = abl.summary()
    assert summ["low"][0] < summ["high"][1] and summ["low"][1] < summ["high"][0]   # the per-variant intervals overlap
    c = abl.compare("a").row(0, named=True)
    half = 4.302653 * np.std([-1.0, -1.0, -0.8], ddof=1) / np.sqrt(3)
    assert c["variant"] == "b" and c["seeds"] == 3 and c["shown"]
    assert abs(c["diff"] + 2.8 / 3) < 1e-12 and abs(c["high"] - (c["diff"] + half)) < 1e-5
    with pytest.raises(CuratekitError, match="baseline 'c' is not a variant"): abl.compare("c")

def test_cli_ablate_writes_results_and_resumes(cli, tmp_path):
    variants, held, pool = _ablation_inputs()
    write(pool, tmp_path/"pool.parquet"); write(held, tmp_path/"heldout.parquet"); write(variants["prose+doc"], tmp_path/"prose.parquet")
    Recipe([word_count.step(), Filter("word_count >= 40")]).save(tmp_path/"long.yaml")
    cfg = dict(curatekit=1, pool="pool.parquet", evaluate="heldout.parquet", budget=4096, seeds=1, tokenizer=300, eval_tokens=32,
               train=dict(model=TINY, **FAST), variants={"prose": "prose.parquet", "long docs": {"recipe": "long.yaml"},
                                                         "half code": {"mixture": {"weights": {"code": 0.5, "prose": 0.25, "docstring": 0.25}}}})
    (tmp_path/"ablation.yaml").write_text(yaml.safe_dump(cfg))
    r = cli("ablate", tmp_path/"ablation.yaml", "--out", tmp_path/"out", env={**os.environ, **QUIET})
    assert r.returncode == 0, r.stderr
    res = read_file(tmp_path/"out"/"results.parquet")
    assert res.columns == ["variant", "seed", "metric", "value"] and res["variant"].n_unique() == 3 and len(res) == 3 * 1 * 5
    assert "<h2>Ablation</h2>" in (tmp_path/"out"/"report.html").read_text()
    # the same command again (in this process: one end-to-end run of the installed command is enough) resumes from the cells
    with contextlib.redirect_stdout(io.StringIO()) as out: assert main(["ablate", str(tmp_path/"ablation.yaml"), "--out", str(tmp_path/"out")]) == 0
    assert "3 cells (3 from cache)" in out.getvalue()
    cfg["variants"]["oops"] = "missing.parquet"
    (tmp_path/"bad.yaml").write_text(yaml.safe_dump(cfg))
    with contextlib.redirect_stderr(io.StringIO()) as err: assert main(["ablate", str(tmp_path/"bad.yaml"), "--out", str(tmp_path/"out")]) == 2
    assert "variant 'oops'" in err.getvalue() and "missing.parquet: no such file" in err.getvalue() and len(err.getvalue().strip().splitlines()) == 1
