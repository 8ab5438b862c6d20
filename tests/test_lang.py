"Language ID in NumPy against fastText's own C++ (`fasttext-predict`): the packaged lid.176, and small model files written here."
import struct
import numpy as np, polars as pl, pytest
from curatekit.core import CuratekitError
from curatekit.data import sample_corpus
from curatekit import signals
from curatekit.signals import FastTextModel, lang_id, lid_model, lid_lines

fasttext = pytest.importorskip("fasttext")

LINES = ["日本語のテキストです。東京は日本の首都です。", "هذا نص باللغة العربية", "I love 🍕 and 🎉🎉", "👨\u200d👩\u200d👧 🇫🇷",
         "e\u0301cole cafe\u0301", "\u0301\u0301", "hello\x00world", "\x00", "bonjour\tle\tmonde", "a\x0bb\x0cc\rd",
         "__label__en hello world", "__label__", "hello __label__de Welt", "hello </s> world", "</s>", "a</s>b", "x\t</s>\ty",
         "a" * 3000, "日本" * 1000, "🍕" * 300, "", " ", "\t\t", "non\u00a0breaking", "next\x85line", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𠀀𠀁",
         "<", ">", "<>", "ß", "\x7f\x01", "Der schnelle braune Fuchs springt über den faulen Hund.", "the The THE"]

def reference(path, lines):
    "fastText's C++ predict (k=1): labels (None where it predicts nothing) and probabilities."
    ft, out = fasttext.load_model(str(path)), []
    for t in lines:
        (lab, p) = ft.predict(t)
        out.append((lab[0].removeprefix("__label__"), float(p[0])) if lab else (None, np.nan))
    return [l for l, _ in out], np.array([p for _, p in out])

def assert_parity(model, path, lines, tol=1e-5):
    lab, p = model.predict(pl.Series(lines, dtype=pl.String))
    rl, rp = reference(path, lines)
    bad = [(t[:30], a, b) for t, a, b in zip(lines, lab, rl) if a != b]
    assert not bad, bad
    np.testing.assert_allclose(p.fill_null(np.nan).to_numpy(), rp, atol=tol)

def test_lid176_same_labels_as_fasttext_on_the_sample_corpus():
    "The whole sample corpus as `analyze` reads it (300 characters), and 5,000 of its documents whole: every label, p within 1e-4."
    texts = sample_corpus()["text"]
    for t, max_chars in ((texts, 300), (texts.sample(5_000, seed=0), 10**9)):
        ours, ref = (lang_id(pl.DataFrame({"text": t}), max_chars=max_chars, engine=e) for e in ("numpy", "fasttext"))
        same = (ours["lang"] == ref["lang"]).fill_null(True)
        assert same.all(), ours.filter(~same)
        assert ours["lang"].null_count() == ref["lang"].null_count()
        assert (ours["lang_score"] - ref["lang_score"]).abs().max() <= 1e-4

def test_lid176_torture_lines_raw():
    "Lines as they are (not through lid_lines): NUL and other separators, labels, EOS tokens, long words, empty lines."
    assert_parity(lid_model(), signals._lid_path(), LINES)

def test_batches_cache_and_collisions_do_not_change_predictions(monkeypatch):
    lines = pl.Series(LINES + lid_lines(sample_corpus()["text"].head(400), 300).to_list())
    fresh = FastTextModel(signals._lid_path())
    lab, p = fresh.predict(lines)
    again = fresh.predict(lines)  # every token now from the table
    assert again[0].equals(lab) and np.array_equal(again[1].to_numpy(), p.to_numpy(), equal_nan=True)
    for cap in (50, 400):  # a small table: kept to each batch's tokens when full, or bypassed when a batch has more
        monkeypatch.setattr(signals, "_CACHE_TOKENS", cap); small = FastTextModel(signals._lid_path())
        for b in (7, 64, 1000):
            l2, p2 = small.predict(lines, batch=b)
            assert l2.equals(lab) and np.allclose(p2.to_numpy(), p.to_numpy(), atol=1e-6, equal_nan=True)
    keys = fresh._cache["keys"]  # hashes pointing at other tokens' rows: the stored token is checked, so they are misses
    fresh._cache["keys"] = keys.with_columns(pl.col("row").shuffle(seed=0))
    l3, p3 = fresh.predict(lines)
    assert l3.equals(lab) and np.allclose(p3.to_numpy(), p.to_numpy(), atol=1e-6, equal_nan=True)
    assert fresh.predict(pl.Series([], dtype=pl.String))[0].len() == 0

def write_model(path, loss, seed=0, dim=5, bucket=997, minn=2, maxn=3, labels=("a", "b", "c", "d"), eos=True, word_ngrams=1):
    "A small dense supervised fastText model file (version 12), in fastText's format, with random weights."
    rng = np.random.default_rng(seed)
    words = (["</s>"] if eos else []) + ["hello", "world", "der", "Hund", "日本"]
    b = struct.pack("<2i", 793712314, 12)
    b += struct.pack("<12id", dim, 5, 5, 1, 5, word_ngrams, {"hs": 1, "softmax": 3}[loss], 3, bucket, minn, maxn, 100, 1e-4)
    b += struct.pack("<3i2q", len(words) + len(labels), len(words), len(labels), 1000, -1)
    for i, w in enumerate(words): b += w.encode() + b"\0" + struct.pack("<qb", 100 - i, 0)
    for i, l in enumerate(labels): b += f"__label__{l}".encode() + b"\0" + struct.pack("<qb", 50 - 10 * i, 1)
    wi = rng.normal(size=(len(words) + bucket, dim)).astype("<f4"); wo = rng.normal(size=(len(labels), dim)).astype("<f4")
    b += struct.pack("<?2q", False, *wi.shape) + wi.tobytes() + struct.pack("<?2q", False, *wo.shape) + wo.tobytes()
    path.write_bytes(b); return path

@pytest.mark.parametrize("loss", ["hs", "softmax"])
def test_dense_models_of_both_losses(tmp_path, loss):
    "An unpruned, unquantized model (every n-gram bucket has a row) with a hierarchical or a flat softmax."
    lines = LINES + ["hello world", "der Hund hello", "日本 world", "hellö wörld", "xyz"] * 2
    for seed in range(3):
        path = write_model(tmp_path / f"m{seed}.bin", loss, seed)
        assert_parity(FastTextModel(path), path, lines, tol=1e-4)  # random weights, 9,000 rows in a line: float32 sums in another order
    path = write_model(tmp_path / "noeos.bin", loss, eos=False, maxn=0)  # no EOS, no n-grams: "xyz" has no row, so no label
    m = FastTextModel(path); assert_parity(m, path, ["xyz", "hello xyz", "", "der"])
    assert m.predict(pl.Series(["xyz"]))[0][0] is None

@pytest.mark.parametrize("n", [2, 3])
def test_word_ngrams(tmp_path, n):
    "wordNgrams > 1: each run of 2..n words (EOS the last; labels not words) adds its hashed bucket's row (`addWordNgrams`)."
    lines = LINES + ["hello world der Hund", "der __label__a Hund hello", "x y z w v u t", "hello </s> world der", "日本 日本 日本"]
    path = write_model(tmp_path / "w.bin", "hs", seed=n, word_ngrams=n)
    assert_parity(FastTextModel(path), path, lines, tol=1e-4)

def test_bad_model_files_and_arguments(tmp_path):
    good = write_model(tmp_path / "m.bin", "hs").read_bytes()
    (tmp_path / "cut.bin").write_bytes(good[:len(good) // 2])
    with pytest.raises(CuratekitError, match="cut.bin: truncated"): FastTextModel(tmp_path / "cut.bin")
    (tmp_path / "x.bin").write_bytes(b"not a model at all")
    with pytest.raises(CuratekitError, match="x.bin: not a fastText model"): FastTextModel(tmp_path / "x.bin")
    with pytest.raises(CuratekitError, match="engine"): lang_id(pl.DataFrame({"text": ["x"]}), engine="cld3")
