"Incremental dedup against a persistent MinHash index; character shingles."
import json
import numpy as np
import polars as pl
import pytest
from curatekit.core import CuratekitError
from curatekit.dedup import minhash_dedup, shingle_hashes
from curatekit.incremental import build_index, create_index, open_index, dedup_against, against_recipe


def _corpus(n=400, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(3000)]
    base = [" ".join(rng.choice(words, size=int(rng.integers(40, 120)))) for _ in range(n)]
    texts, copy_of = [], []
    for i, t in enumerate(base):   # every 4th document is a light edit of an earlier one
        if i % 4 == 3:
            w = base[i - 3].split(); w[int(rng.integers(len(w)))] = "edited"; texts.append(" ".join(w)); copy_of.append(i - 3)
        else: texts.append(t); copy_of.append(None)
    return pl.DataFrame({"id": np.arange(n), "text": texts, "copy_of": copy_of})


def test_against_index_equals_minhash_on_the_union(tmp_path):
    df = _corpus()
    old, new = df.head(200), df.slice(200)
    new = pl.concat([new, old.head(5).with_columns(pl.col("id") + 1000)])   # exact copies of indexed documents
    idx = build_index(old, tmp_path / "ix")
    assert len(idx) == 200 and json.loads((tmp_path / "ix/index.json").read_text())["format"] == 1
    out = dedup_against(new, tmp_path / "ix")
    full = minhash_dedup(pl.concat([old, new])).slice(len(old))
    assert out["against_dup_of"].is_not_null().to_list() == full["minhash_dup_of"].is_not_null().to_list()
    tail = out.tail(5)
    assert tail["against_in_index"].all() and tail["against_dup_of"].to_list() == [0, 1, 2, 0, 4]   # 3 is itself a copy of 0
    assert out.equals(dedup_against(new, tmp_path / "ix"))   # same input, same index: same answer


def test_index_grows_without_recomputing_old_parts(tmp_path):
    df = _corpus()
    idx = build_index(df.head(100), tmp_path / "ix")
    before = (tmp_path / "ix/signatures/part-00000.parquet").stat().st_mtime_ns
    idx.add(df.slice(100, 100))
    assert len(open_index(tmp_path / "ix").parts) == 2 and len(idx) == 200
    assert (tmp_path / "ix/signatures/part-00000.parquet").stat().st_mtime_ns == before
    again = dedup_against(df.slice(100, 20), tmp_path / "ix")
    assert again["against_in_index"].all()   # every row is in the index now: it survives as itself, or its original does
    assert again["against_dup_of"].to_list() == again["copy_of"].fill_null(again["id"]).to_list()


def test_bad_index_input(tmp_path):
    df = _corpus(40)
    with pytest.raises(CuratekitError, match="not a MinHash index"): open_index(tmp_path)
    build_index(df, tmp_path / "ix")
    with pytest.raises(CuratekitError, match="not empty"): create_index(tmp_path / "ix")
    with pytest.raises(CuratekitError, match="holds Int64 ids"): dedup_against(df.with_columns(pl.col("id").cast(pl.String)), tmp_path / "ix")
    with pytest.raises(CuratekitError, match="tokenization"): create_index(tmp_path / "iy", tokenization="bpe")
    (tmp_path / "ix/index.json").write_text("{not json")
    with pytest.raises(CuratekitError, match="not valid JSON"): open_index(tmp_path / "ix")


def test_cli_run_against_index(tmp_path):
    from curatekit.cli import main
    df = _corpus(200)
    old, new = df.head(100), df.slice(100)
    old.write_parquet(tmp_path / "old.parquet"); new.write_parquet(tmp_path / "new.parquet")
    assert main(["index", "add", str(tmp_path / "ix"), str(tmp_path / "old.parquet")]) == 0
    assert main(["run", "nonempty", str(tmp_path / "new.parquet"), str(tmp_path / "out.parquet"), "--against", str(tmp_path / "ix"),
                 "--no-cache", "-q"]) == 0
    got = pl.read_parquet(tmp_path / "out.parquet")
    want = dedup_against(new, tmp_path / "ix").filter(pl.col("against_dup_of").is_null())
    assert sorted(got["id"].to_list()) == sorted(want["id"].to_list()) and len(got) < len(new)
    assert main(["run", "nonempty", str(tmp_path / "new.parquet"), str(tmp_path / "o2.parquet"), "--against", str(tmp_path / "nope"), "-q"]) == 2


def test_char_shingles():
    t = pl.Series(["数据清洗工具", "数据清洗工具", "ab", None, ""])
    d, x = shingle_hashes(t, 3, "char")
    assert np.bincount(d, minlength=5).tolist() == [4, 4, 1, 0, 0]
    assert (x[d == 0] == x[d == 1]).all()
    zh = pl.DataFrame({"id": [0, 1, 2], "text": ["今天天气很好我们一起去公园散步吧然后去吃饭", "今天天气很好我们一起去公园散步吧然后去喝茶", "完全不同的一句话没有任何关系的内容"]})
    out = minhash_dedup(zh, threshold=0.6, ngram=3, tokenization="char")
    assert out["minhash_dup_of"].to_list() == [None, 0, None]
    assert minhash_dedup(zh, threshold=0.6)["minhash_dup_of"].to_list() == [None, None, None]   # one "word" each: no overlap
