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

def _ngram_oracle(words: list[str], n: int) -> tuple[int, int]:
    "One document in plain Python: characters of its top n-gram × its count; characters of the words in repeated n-grams."
    from collections import Counter
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    top = 0
    if grams: g, c = Counter(grams).most_common(1)[0]; top = (sum(map(len, g)) + n - 1) * c  # ties: the first seen
    seen, rep = set(), []
    for g in grams: rep.append(g in seen); seen.add(g)
    cov, start = [False] * len(words), 0
    for i, r in enumerate(rep):  # every n-th start of each run of repeated starts
        if r and (i == 0 or not rep[i - 1]): start = i
        if r and (i - start) % n == 0: cov[i:i + n] = [True] * n
    return top, sum(len(w) for w, c in zip(words, cov) if c)

def test_gopher_repetition_ngrams_of_long_documents_match_a_plain_python_count(monkeypatch):
    "Long repetitive documents: the n-gram chain, on parts of documents side by side or on one part, equals a per-document Python count."
    from curatekit import signals
    from curatekit.data import sample_corpus
    docs = sample_corpus().filter(pl.col("text").str.len_bytes() > 200)["text"].head(150).to_list()
    long = ["\n\n".join(docs[i::3] + docs[i::9]) for i in range(3)]  # ~50 kB each, every third document twice
    df = pl.DataFrame({"text": long + docs[:20] + [PROSE + " " + PROSE, "a b a b a b", "x", None]})
    t = signals.rules("gopher_repetition")
    sizes = sorted({*t["top_ngram_char_frac"], *t["dup_ngram_char_frac"]})
    orig = signals._doc_parts
    monkeypatch.setattr(signals, "_doc_parts", lambda doc: orig(doc, 5_000))  # many parts, a long document alone in its part
    many = gopher_repetition(df)
    monkeypatch.setattr(signals, "_doc_parts", lambda doc: orig(doc, 1 << 40))  # one part
    assert many.equals(gopher_repetition(df))
    words = df.select(pl.col("text").ck.words())["text"].to_list()
    for i, (w, text) in enumerate(zip(words, df["text"])):
        if not text: continue
        for n in sizes:
            top, dup = _ngram_oracle(w, n)
            if n in t["top_ngram_char_frac"]: assert many[f"gopher_repetition_top_{n}gram_char_frac"][i] == top / len(text), (i, n)
            if n in t["dup_ngram_char_frac"]: assert many[f"gopher_repetition_dup_{n}gram_char_frac"][i] == dup / len(text), (i, n)

def test_c4_checks_rare_lines_exactly():
    "Keyword and long-word checks run on candidate lines only: a Kelvin sign that lowercases to k, a keyword joined by a removed citation, bytes vs characters."
    lines = ["We use coo\u212aies to improve your experience on this site.",  # lowercases to "use cookies": a policy line
             "Java[1]Script is required to view this page, please enable it.",  # the citation goes, "javascript" remains
             "x" * 1001 + " is one word too long for a line.",  # a word over 1,000 characters
             "é" * 600 + " is 1,200 bytes but 600 characters, so it stays.",  # over 1,000 bytes, not characters
             "Plain prose ends here with a full stop, and nothing else."]
    out = c4_quality(pl.DataFrame({"text": ["\n".join(lines)]}))
    assert out["c4_quality_lines"][0] == 5 and out["c4_quality_kept_lines"][0] == 2
    assert c4_quality(pl.DataFrame({"text": [lines[0]]}), thresholds={"filter_policy": False})["c4_quality_kept_lines"][0] == 1
