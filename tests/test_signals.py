"Rule sets, PII and decontamination as a user drives them: through recipes, files and the CLI."
import polars as pl, pytest, yaml
from curatekit.core import load_recipe, make_step, CuratekitError
from curatekit.cli import main
from curatekit.signals import gopher_quality, c4_quality, fineweb_quality, gopher_repetition, decontaminate, pii

PROSE = ("The history of the printing press is the story of how ideas learned to travel. Before movable type, every copy of a "
         "book had to be written out by hand, and that made books rare and expensive. When printers combined a screw press with "
         "metal type that could be set and reset, the cost of a page fell, and with it the cost of being heard. Within fifty "
         "years printers had spread to more than two hundred towns. They printed bibles and grammars, but also pamphlets.")

def test_thresholds_file_changes_a_rule(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text(yaml.safe_dump({"gopher_quality": {"min_doc_words": 500}}))
    df = pl.DataFrame({"text": [PROSE]})
    assert gopher_quality(df)["gopher_quality_ok"][0]
    assert gopher_quality(df, thresholds=str(f))["gopher_quality_reason"][0] == "word_count"

def test_steps_do_not_mutate_or_reorder_input():
    df = pl.DataFrame({"id": [3, 1, 2], "text": [PROSE, "short", None]})
    before = df.clone()
    for name in ["gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality", "pii"]:
        out = make_step(name)(df)
        assert out["id"].to_list() == [3, 1, 2] and out.columns[:2] == ["id", "text"]
    assert df.equals(before)

def test_big_document_and_non_latin_scripts():
    huge = (PROSE + "\n\n") * 4000  # ~2 MB
    out = fineweb_quality(gopher_repetition(pl.DataFrame({"text": [huge, "日本語の文章です。" * 200, "Привет, мир. " * 100]})))
    assert out["gopher_repetition_reason"][0] == "dup_para_frac"
    assert out["fineweb_quality_reason"].null_count() + out["fineweb_quality_reason"].drop_nulls().len() == 3

def test_web_basic_recipe_runs_from_the_cli(tmp_path):
    rows = [PROSE, PROSE, "Home\nAbout\nContact", "", PROSE.replace(",", ";")]  # same words: a near, not exact, duplicate
    src = tmp_path / "in.parquet"
    pl.DataFrame({"id": [f"d{i}" for i in range(len(rows))], "text": rows}).write_parquet(src)
    assert main(["run", "web-basic", str(src), str(tmp_path / "out.parquet")]) in (0, None)
    kept = pl.read_parquet(tmp_path / "out.parquet")
    ledger = pl.read_parquet(tmp_path / "out.ledger.parquet")
    assert kept["id"].to_list() == ["d0"] and len(kept) + len(ledger) == len(rows)
    assert set(ledger["reason"]) >= {"exact_duplicate", "minhash_duplicate", "empty"}

def test_decontaminate_reads_eval_file(tmp_path):
    ev = tmp_path / "eval.jsonl"
    pl.DataFrame({"text": [PROSE[:200]]}).write_ndjson(ev)
    out = decontaminate(pl.DataFrame({"text": [PROSE, "nothing here at all"]}), str(ev))
    assert out["decon_contaminated"].to_list() == [True, False]
    with pytest.raises(CuratekitError, match="unknown types"): pii(pl.DataFrame({"text": ["x"]}), types=["ssn"])

def test_lang_id_reads_only_max_chars_and_keeps_rows():
    from curatekit.signals import lang_id
    de = "Der Hund schläft im Garten, während die Kinder in der Schule lernen und die Eltern arbeiten. "
    en = "The dog sleeps in the garden while the children learn at school and their parents work. "
    df = pl.DataFrame({"id": [3, 1, 2, 0], "text": [de * 40_000, en + "\n" + de * 200, "   ", None]})
    out = lang_id(df)
    assert out["id"].to_list() == [3, 1, 2, 0] and out.columns == ["id", "text", "lang", "lang_score"]
    assert out["lang"].to_list() == ["de", "de", None, None]  # 1,000 chars of the second text are mostly German
    assert lang_id(df, max_chars=len(en))["lang"][1] == "en"  # only the English opening is read
    assert out["lang_score"].null_count() == 2 and (out["lang_score"].drop_nulls() <= 1).all()

def test_rule_sets_cut_a_heavy_tail_by_bytes_with_the_same_verdicts(monkeypatch):
    "Slices of equal bytes (long documents shared out between threads) give exactly what slices of equal rows give."
    from curatekit import signals
    from curatekit.data import sample_corpus
    base = sample_corpus().head(520).select(pl.col("id").cast(pl.String), "text")
    long = ["\n\n".join(base["text"].drop_nulls().to_list()[i::2]) for i in (0, 1)]  # two long documents: most of the bytes
    df = base.with_columns(pl.Series("text", long + base["text"].to_list()[2:]))
    sizes = signals._sizes(df.select("text"))
    assert len(signals._slices(len(df), 256, sizes)) == 2 and signals._slices(len(df), 256, sizes)[0][1] <= 2
    rules = ["gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality"]
    by_bytes = {r: getattr(signals, r)(df) for r in rules}
    monkeypatch.setattr(signals, "_sizes", lambda d: None)
    for r in rules: assert by_bytes[r].equals(getattr(signals, r)(df)), r
