"DSIR beyond the lessons: exactly k rows under the official defaults, and the compatibility featurizer on awkward Unicode."
import hashlib
import numpy as np
import polars as pl
import pytest
import regex

import pydoc_data.topics
import curatekit.dsir as dsir
from curatekit.dsir import dsir_select, hashed_ngrams, sha256_bucket, _sha_buckets


def test_defaults_select_exactly_k_when_few_documents_are_long():
    "min_tokens=100 (the default): the long documents all go first, the short ones fill the rest by their own keys."
    topics = [t for _, t in sorted(pydoc_data.topics.topics.items())]   # the pydoc topics of this Python: whole and by paragraph
    paras = [p for t in topics[1::2] for p in t.split("\n\n") if p.strip()]
    pool = pl.DataFrame({"text": topics[1::2] + paras[:1500]})
    target, code = pl.DataFrame({"text": topics[::2]}), pl.DataFrame({"text": [p for p in paras if "    " in p][:200]})
    long = (hashed_ngrams(pool["text"]).n_tokens >= 100)
    k = int(long.sum()) + 500   # more than the long documents
    out = dsir_select(pool, target, k=k, seed=0)
    sel = out["dsir_selected"].to_numpy()
    assert sel.sum() == k and sel[long].all()
    assert out.equals(dsir_select(pool, target, k=k, seed=0))   # same input, same seed: same rows
    two = dsir_select(pool, {"prose": target, "code": code}, k=k, seed=0)
    assert two["dsir_selected"].sum() == k and two["dsir_target"].drop_nulls().len() == k


def _official_counts(line, n, B=10_000):
    "data_selection.hashed_ngram_dsir.get_ngram_counts (NLTK 3.10's regex engine), for n-grams up to n."
    w, c = regex.findall(r"\w+|[^\w\s]+", line.lower()), np.zeros(B, dtype=np.int64)
    for g in range(1, n + 1):
        for j in range(len(w) - g + 1): c[int(hashlib.sha256(" ".join(w[j:j + g]).encode("utf-8")).hexdigest(), 16) % B] += 1
    return c


@pytest.mark.parametrize("n", [1, 2, 3])
def test_sha256_featurizer_matches_data_selection_on_mixed_text(n):
    "Texts take polars' tokenizer, those holding a code point where the engines differ NLTK's pattern: both give data-selection's buckets."
    rng = np.random.default_rng(n)
    alphabet = list("abcdefghij klmnop qrstuvwxyz ..,!?()-_=+é漢ß\n\t\r0123\x1c\x0b\x85") + ["  ", "Ω", "Σ", "❤️", "e\u0301", "İ",
                                                                                   "\U000107bb", "\ua7cb", "\U00010d50"]   # engines differ on these
    texts = ["".join(rng.choice(alphabet[:40] if i % 2 else alphabet, size=int(rng.integers(0, 300)))) for i in range(80)]
    texts += [None, "", "plain ascii text, here!"]
    F = hashed_ngrams(pl.Series(texts), ngrams=n, hashing="sha256", batch_bytes=2_000)   # many batches
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(np.bincount(F.buckets[F.indptr[i]:F.indptr[i + 1]], minlength=10_000), _official_counts(t or "", n))


@pytest.mark.parametrize("B", [1, 7, 10_000, 65_536, 2**31 - 1, 2**32, 2**32 + 7, 2**40 + 15])
def test_vectorized_sha256_buckets_equal_the_python_integer_ones(B):
    "The digest's mod is taken over 32-bit words in uint64 (or Python ints past 2^32 buckets): every bucket as `int(hex, 16) % B`."
    names = pl.Series(["", "a", "the end", "é漢 ❤️", "x" * 200] + [f"w{i} {i * i}" for i in range(500)])
    test = [int(hashlib.sha256(s.encode("utf-8")).hexdigest(), 16) % B for s in names.to_list()]
    assert _sha_buckets(names, B).tolist() == test == [sha256_bucket(s, B) for s in names.to_list()]


def test_stored_disagreements_are_what_the_engines_give_now():
    "polars tokenizes every text without one of these code points; the stored set is recomputed by brute force over Unicode."
    found = dsir._disagreements()
    assert dsir._KNOWN.get(dsir._ENGINES, found) == found == dsir._unsafe()
    assert pl.Series(["\U000107bb", "ⴀ", "\u03a3", "x"]).str.contains(found).to_list() == [True, False, True, False]


def test_sha256_token_key_collisions_fall_back_to_strings(monkeypatch):
    "Tokens are joined on a 64-bit hash checked against their spelling: a collision re-keys them by the strings themselves."
    monkeypatch.setattr(dsir, "_token_keys", lambda flat: flat.str.len_bytes().cast(pl.UInt64))   # same length, same key
    texts = ["the cat sat on the mat", "a dog, a cat; two birds!", None, "", "the mat sat on the cat again"] * 3
    F = hashed_ngrams(pl.Series(texts), ngrams=3, hashing="sha256", batch_bytes=40)
    for i, t in enumerate(texts):
        np.testing.assert_array_equal(np.bincount(F.buckets[F.indptr[i]:F.indptr[i + 1]], minlength=10_000), _official_counts(t or "", 3))
