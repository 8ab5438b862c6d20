"Embeddings, knn, k-means and semantic dedup: behaviour users rely on, checked against brute force."
import numpy as np, polars as pl, pytest, torch
from curatekit.core import CuratekitError, Recipe, write, read
from curatekit.embed import Encoder, embed, encode, knn, kmeans, as_matrix, load_encoder, length_batches, hard_negatives, recall_at_k
from curatekit.dedup import semantic_dedup


def unit(n, d, seed=0):
    return torch.nn.functional.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1)


@pytest.fixture(scope="module")
def tiny():
    "A 1-layer BERT with random weights and the real MiniLM tokenizer: fast, and every code path of a real encoder."
    from transformers import BertConfig, BertModel
    real = load_encoder(device="cpu")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=real.tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    return Encoder(real.tokenizer, BertModel(cfg).eval(), max_seq_length=16, name="tiny")


def test_knn_matches_brute_force_in_small_blocks():
    q, c = unit(50, 24, 1), unit(333, 24, 2)
    s, i = knn(q, c, k=7, query_block=8, corpus_block=19, device="cpu")
    ref = (q @ c.T).topk(7, dim=1)
    assert torch.allclose(s, ref.values, atol=1e-5) and torch.equal(i, ref.indices)


def test_knn_exclude_self_and_memmap(tmp_path):
    x = unit(200, 16)
    mm = np.lib.format.open_memmap(tmp_path/"c.npy", mode="w+", dtype=np.float32, shape=tuple(x.shape)); mm[:] = x.numpy(); mm.flush()
    s, i = knn(x, np.load(tmp_path/"c.npy", mmap_mode="r"), k=3, exclude_self=True, corpus_block=64, query_block=50, device="cpu")
    ref = (x @ x.T).fill_diagonal_(-torch.inf).topk(3, dim=1)
    assert torch.equal(i, ref.indices) and not (i == torch.arange(200)[:, None]).any()


def test_knn_bad_inputs_and_large_k():
    x = unit(5, 8)
    assert knn(x, x[:3], k=50)[1].shape == (5, 3)
    with pytest.raises(CuratekitError, match="dimension 8 but corpus has dimension 4"): knn(x, unit(5, 4))
    bad = x.clone(); bad[3] *= 2
    with pytest.raises(CuratekitError, match="corpus: row 3 is not a unit vector"): knn(x, bad)
    with pytest.raises(CuratekitError, match="unknown backend"): knn(x, x, backend="annoy")


def test_faiss_backend_agrees_or_names_the_extra():
    x = unit(40, 8)
    try: import faiss  # noqa: F401
    except ImportError:
        with pytest.raises(CuratekitError, match="pip install faiss"): knn(x, x, 3, backend="faiss")
        return
    assert torch.equal(knn(x, x, 3, backend="faiss", exclude_self=True)[1], knn(x, x, 3, exclude_self=True, device="cpu")[1])


def test_length_batches_cover_every_input_once_under_budget():
    lens = np.random.default_rng(0).integers(1, 300, 1000)
    bs = length_batches(lens, batch_tokens=2000, batch_size=64)
    assert sorted(np.concatenate(bs).tolist()) == list(range(1000))
    assert all(len(b) <= 64 and (len(b) == 1 or len(b) * lens[b].max() <= 2000) for b in bs)


def test_encode_is_masked_mean_pooling_then_normalization(tiny):
    texts = ["a short one", "a considerably longer sentence with more tokens in it"]
    got = encode(texts, tiny, device="cpu")
    t = tiny.tokenizer(texts, padding=True, truncation=True, max_length=16, return_tensors="pt")
    with torch.inference_mode(): h = tiny.model(**t).last_hidden_state
    m = t["attention_mask"].unsqueeze(-1).float()
    ref = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=1)
    assert torch.allclose(got, ref, atol=1e-5)


def test_unpadded_forward_equals_the_padded_one(tiny, monkeypatch):
    "BERT encoders run their dense layers on real tokens only (through oneDNN on a CPU); the vectors are the padded forward's."
    import curatekit.embed as E
    texts = ["one", "two words here", "a third and much longer text to pad the others against", "same len", "same len"]
    got = encode(texts, tiny, device="cpu")
    assert E._UNPADDED[tiny.model] == ({"onednn": True} if E._onednn(tiny.model, False) else {"unpadded": True})
    E._UNPADDED[tiny.model] = {"onednn": False}   # oneDNN refused: the model's own modules on the real tokens
    assert torch.allclose(encode(texts, tiny, device="cpu"), got, atol=1e-6) and E._UNPADDED[tiny.model]["unpadded"] is True
    monkeypatch.setattr(E, "_bert_like", lambda m: False); E._UNPADDED.pop(tiny.model)
    assert torch.allclose(encode(texts, tiny, device="cpu"), got, atol=1e-6) and not any(E._UNPADDED[tiny.model].values())
    E._UNPADDED.pop(tiny.model)


def test_vectors_do_not_depend_on_batches_threads_or_order(tiny):
    "The same text gets the same vector alone, in any batch, in any order, on one torch thread or in side-by-side workers."
    import curatekit.embed as E, random
    texts = [" ".join(f"w{j}" for j in range(1 + i % 13)) + f" text {i}" for i in range(24)]
    ref = torch.cat([encode([t], tiny, device="cpu") for t in texts])
    perm = random.Random(0).sample(range(24), 24)
    prev = torch.get_num_threads()
    for bt in (40, 200, 10_000):
        got = encode([texts[i] for i in perm], tiny, device="cpu", batch_tokens=bt)
        assert (got - ref[perm]).abs().max() <= 1e-5
    torch.set_num_threads(2)
    try: assert E._cpu_workers(tiny, False, 9) == 2 and (encode(texts, tiny, device="cpu", batch_tokens=40) - ref).abs().max() <= 1e-5
    finally: torch.set_num_threads(prev)
    assert torch.get_num_threads() == prev and E._cpu_workers(tiny, True, 9) == 1


def test_onednn_weights_repack_when_the_model_changes(tiny):
    "Packed weights follow the model: a weight changed in place is seen by the next call."
    import copy, curatekit.embed as E
    m = copy.deepcopy(tiny.model); enc = Encoder(tiny.tokenizer, m, 16, name="copy")
    before = encode(["a changing model"], enc, device="cpu")
    with torch.no_grad(): m.encoder.layer[0].intermediate.dense.weight.mul_(3)
    after = encode(["a changing model"], enc, device="cpu")
    t = tiny.tokenizer(["a changing model"], return_tensors="pt")
    with torch.inference_mode(): ref = torch.nn.functional.normalize(m(**t).last_hidden_state.mean(1), dim=1)
    assert (after - ref).abs().max() <= 1e-5 and (after - before).abs().max() > 1e-3


def test_chunking_averages_windows_and_truncation_cuts(tiny):
    words = " ".join(f"word{i}" for i in range(40))
    ids = tiny.tokenizer(words, add_special_tokens=False)["input_ids"]
    cls, sep = tiny.tokenizer.cls_token_id, tiny.tokenizer.sep_token_id
    wins = [[cls] + ids[s:s+14] + [sep] for s in range(0, len(ids), 14)]
    with torch.inference_mode():
        pooled = [tiny.model(input_ids=torch.tensor([w])).last_hidden_state.mean(1)[0] * len(w) for w in wins]
    ref = torch.nn.functional.normalize(torch.stack(pooled).sum(0), dim=0)
    assert torch.allclose(encode([words], tiny, chunk=True, device="cpu")[0], ref, atol=1e-5)
    head = tiny.tokenizer.decode(ids[:14])
    assert torch.allclose(encode([words], tiny, device="cpu"), encode([head], tiny, device="cpu"), atol=1e-5)


def test_embed_nulls_dtype_and_parquet_round_trip(tiny, tmp_path):
    df = pl.DataFrame({"id": [1, 2, 3, 4], "text": ["alpha beta", "", None, "gamma"]})
    out = embed(df, tiny)
    assert out.schema["emb"] == pl.Array(pl.Float32, 32)
    assert out["emb"].is_null().to_list() == [False, True, True, False]
    assert read(write(out, tmp_path/"e.parquet"))["emb"].to_list() == out["emb"].to_list()
    assert df.columns == ["id", "text"]  # input untouched


def test_recipe_embed_semantic_dedup_filter_from_yaml(tiny, monkeypatch):
    import curatekit.embed as E
    monkeypatch.setattr(E, "_load", lambda name, device: tiny)   # any model name resolves to the tiny encoder
    df = pl.DataFrame({"text": ["the cat sat", "the cat sat", "dogs bark loudly at night", "", "stock prices fell"]})
    yaml = ("curatekit: 1\nsteps:\n- step: embed\n  with: {model: tiny}\n- step: semantic_dedup\n  with: {threshold: 0.99, n_clusters: 2}\n"
            "- step: filter\n  with: {keep: semdedup_dup_of IS NULL, reason: semantic duplicate}\n")
    run = Recipe.from_yaml(yaml)(df)
    assert run.ledger.frame["id"].to_list() == ["1"] and run.ledger.frame["reason"].to_list() == ["semantic duplicate"]


def planted(n_groups=30, per=4, d=32, noise=0.02, seed=0):
    "Groups of near-identical unit vectors around random centres."
    g = torch.Generator().manual_seed(seed)
    centres = torch.nn.functional.normalize(torch.randn(n_groups, d, generator=g), dim=1)
    X = torch.nn.functional.normalize(centres.repeat_interleave(per, 0) + noise * torch.randn(n_groups * per, d, generator=g), dim=1)
    return X, torch.arange(n_groups).repeat_interleave(per)


def test_semantic_dedup_finds_planted_groups_one_survivor_each():
    X, group = planted()
    df = pl.DataFrame({"id": [f"d{i}" for i in range(len(X))], "emb": X.numpy()}, schema={"id": pl.String, "emb": pl.Array(pl.Float32, 32)})
    out = semantic_dedup(df, threshold=0.95, n_clusters=8)
    surv = out.with_columns(g=pl.Series(group.numpy()), root=pl.coalesce("semdedup_dup_of", "id"))
    per_group = surv.group_by("g").agg(pl.col("root").n_unique(), pl.col("semdedup_dup_of").null_count().alias("survivors"))
    assert per_group["root"].to_list() == [1] * 30 and per_group["survivors"].to_list() == [1] * 30
    assert out["semdedup_dup_of"].equals(semantic_dedup(df, threshold=0.95, n_clusters=8, device="cpu")["semdedup_dup_of"])   # seeded; explicit device


def test_kmeans_recovers_planted_clusters_and_is_seeded():
    X, group = planted(n_groups=5, per=40, noise=0.05)
    C, a = kmeans(X, 5, seed=3, device="cpu")
    assert torch.equal(a, kmeans(X, 5, seed=3, device="cpu")[1])
    pairs = pl.DataFrame({"a": a.numpy(), "g": group.numpy()}).unique()
    assert len(pairs) == 5


def test_hard_negatives_and_recall_at_k():
    X, group = planted(n_groups=4, per=5, noise=0.1)
    df = pl.DataFrame({"id": range(20), "label": group.numpy(), "emb": X.numpy()})
    hn = hard_negatives(df, k=3)
    assert all(df["label"][i] != l for ids, l in zip(hn["hard_negative_ids"], hn["label"]) for i in ids)
    r = recall_at_k(X, X, list(range(20)), ks=(1, 3))
    assert r == {1: 1.0, 3: 1.0}
    with pytest.raises(CuratekitError, match="2 relevance sets"): recall_at_k(X, X, [0, 1])
