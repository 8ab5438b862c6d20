"""Recipes that cannot hurt you: the defects of the 'one runner' issue, each as a user meets it from the shell or from Python.

Every error is one line (no traceback), names what is wrong, and leaves every input and earlier output as it was."""
import json, os, shutil, subprocess, sys
from pathlib import Path
import polars as pl
import pytest
from curatekit.core import (CuratekitError, Recipe, Filter, Ledger, LazyStep, execute, load_recipe, make_step, read, read_file,
                            write, word_count)

TEXTS = ["Data curation decides what a model learns from the web.", "", None, "too short",
         "Near duplicate documents waste compute and skew evaluations of models.",
         "Near duplicate documents waste compute and skew evaluations of models."]

@pytest.fixture
def corpus(tmp_path):
    return write(pl.DataFrame({"text": TEXTS}), tmp_path/"a.parquet")

def one_line(r):
    "The run failed with exactly one line on stderr, no traceback."
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("curatekit: error:") and "Traceback" not in r.stderr, r.stderr
    return lines[0]

def snapshot(d: Path) -> dict: return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}

def recipe_file(tmp_path, body: str, name="r.yaml") -> Path:
    p = tmp_path/name; p.write_text("curatekit: 1\nsteps:\n" + body); return p

# --- a recipe is data ---------------------------------------------------------------------------------------------------

def test_a_pickled_udf_in_a_recipe_is_refused_before_anything_runs(cli, tmp_path, corpus):
    marker = tmp_path/"pwned"
    evil = Recipe([Filter(pl.col("text").map_elements(lambda t: marker.touch() or True, return_dtype=pl.Boolean))])
    r = cli("run", evil.save(tmp_path/"evil.yaml"), corpus, tmp_path/"out.parquet")
    assert "polars expression holds Python code" in one_line(r)
    assert not marker.exists() and not (tmp_path/"out.parquet").exists()

def test_a_tampered_cache_entry_cannot_run_code(cli, tmp_path, corpus):
    rec = recipe_file(tmp_path, "- step: word_count\n- step: zscore\n  with: {column: word_count}\n")
    args = ("run", rec, corpus, tmp_path/"out.parquet", "--cache-dir", tmp_path/"cache", "-q")
    assert cli(*args).returncode == 0
    first = (tmp_path/"out.parquet").read_bytes()
    states = list((tmp_path/"cache").rglob("state.parquet"))
    assert len(states) == 1  # the zscore fit, stored as parquet
    marker = tmp_path/"pwned"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()  # a pickle that runs a shell command when loaded
    states[0].unlink(); (states[0].parent/"state.pkl").write_bytes(payload)
    (tmp_path/"out.parquet").unlink(); (tmp_path/"out.ledger.parquet").unlink()
    assert cli(*args).returncode == 0
    assert not marker.exists() and (tmp_path/"out.parquet").read_bytes() == first

# --- outputs never destroy inputs ---------------------------------------------------------------------------------------

def test_output_equal_to_input_is_refused_and_the_input_survives(cli, tmp_path, corpus):
    before = corpus.read_bytes()
    assert "is, or is inside, the input" in one_line(cli("run", "nonempty", corpus, corpus))
    assert corpus.read_bytes() == before
    shards = tmp_path/"shards"; write(pl.DataFrame({"text": ["x y"]}), shards/"p.jsonl")
    assert "is, or is inside, the input" in one_line(cli("run", "nonempty", shards, shards/"out.parquet"))
    assert "inside this output directory" in one_line(cli("run", "nonempty", shards, tmp_path))
    assert sorted(p.name for p in shards.iterdir()) == ["p.jsonl"]

def test_existing_outputs_are_kept_unless_same_run_or_overwrite(cli, tmp_path, corpus):
    out = tmp_path/"out.parquet"
    out.write_bytes(b"somebody's data")
    assert "was not written by curatekit run" in one_line(cli("run", "nonempty", corpus, out))
    assert out.read_bytes() == b"somebody's data"
    assert cli("run", "nonempty", corpus, out, "--overwrite", "-q").returncode == 0
    first = out.read_bytes()
    assert cli("run", "nonempty", corpus, out, "-q").returncode == 0  # the same run again: a rerun, no flag needed
    assert out.read_bytes() == first
    assert "written by another run" in one_line(cli("run", "web-basic", corpus, out))
    assert out.read_bytes() == first

def test_a_rerun_is_the_same_run_after_the_first_wrote_a_file_the_recipe_names(cli, tmp_path):
    "A plan written beside the recipe by the first run (so its relative path now resolves there) does not make the rerun foreign."
    shards = tmp_path/"shards"; shards.mkdir()
    for j in range(2): write(pl.DataFrame({"text": TEXTS[j::2], "source": ["a", "b", "a"][:len(TEXTS[j::2])]}), shards/f"p{j}.parquet")
    r = recipe_file(tmp_path, "- step: mixture_plan\n  with: {weights: {a: 0.5, b: 0.5}, budget: 20, domain_col: source, plan_path: plan.parquet}\n")
    run = lambda: cli("run", r.name, "shards", "out", "-q", cwd=tmp_path)
    assert run().returncode == 0 and (tmp_path/"plan.parquet").exists()
    first = (tmp_path/"out"/"part-00001.parquet").read_bytes()
    (tmp_path/"out"/"part-00001.parquet").unlink()
    again = run()
    assert again.returncode == 0, again.stderr
    assert (tmp_path/"out"/"part-00001.parquet").read_bytes() == first
    assert json.loads((tmp_path/"out"/"manifest.json").read_text())["recipe"]["steps"][0]["with"]["plan_path"] == "plan.parquet"

def test_two_outputs_in_one_folder_never_share_a_ledger(cli, tmp_path, corpus):
    for name in ("out.parquet", "out.jsonl", "out.jsonl.gz", "out.PARQUET"):
        assert cli("run", "nonempty", corpus, tmp_path/name, "-q").returncode == 0, name
    names = sorted(p.name for p in tmp_path.glob("out*ledger.parquet"))
    assert names == ["out.PARQUET.ledger.parquet", "out.jsonl.gz.ledger.parquet", "out.jsonl.ledger.parquet", "out.ledger.parquet"]
    ids = set(read(corpus)["id"])
    for name in ("out.parquet", "out.jsonl", "out.jsonl.gz", "out.PARQUET"):
        led = Ledger.load(next(tmp_path.glob(f"{name}.ledger.parquet")) if name != "out.parquet" else tmp_path/"out.ledger.parquet")
        assert set(read_file(tmp_path/name)["id"]) | set(led.frame["id"]) == ids, name

def test_unknown_output_suffix_is_an_error_not_a_directory(cli, tmp_path, corpus):
    assert "unknown output type" in one_line(cli("run", "nonempty", corpus, tmp_path/"out.csv"))
    assert not (tmp_path/"out.csv").exists()

def test_another_run_is_refused_before_any_work(cli, tmp_path, corpus):
    assert cli("run", "nonempty", corpus, tmp_path/"out", "-q", "--cache-dir", tmp_path/"c1").returncode == 0
    one_line(cli("run", "web-basic", corpus, tmp_path/"out", "--cache-dir", tmp_path/"c2"))
    assert not (tmp_path/"c2").exists()  # refused before the input was even ingested

def test_temp_files_of_a_killed_run_are_removed_by_the_next(cli, tmp_path, corpus):
    dead = 2**22 + 12345  # no such process
    (tmp_path/f".out.parquet.tmp-{dead}").write_bytes(b"half a file")
    (tmp_path/"cache"/"ab").mkdir(parents=True); (tmp_path/"cache"/"ab"/f".abcd.tmp-{dead}").mkdir()
    assert cli("run", "nonempty", corpus, tmp_path/"out.parquet", "--cache-dir", tmp_path/"cache", "-q").returncode == 0
    assert not (tmp_path/f".out.parquet.tmp-{dead}").exists() and not (tmp_path/"cache"/"ab"/f".abcd.tmp-{dead}").exists()

def _unwritable(tmp_path):
    "A folder nobody may write to: chmod for a normal user, an immutable folder for root (where chattr works)."
    d = tmp_path/"ro"; d.mkdir()
    if os.geteuid() != 0: d.chmod(0o555); return d, lambda: d.chmod(0o755)
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode == 0:
        return d, lambda: subprocess.run(["chattr", "-i", str(d)])
    pytest.skip("root without chattr: cannot make a folder read-only")

def test_read_only_and_full_disks_give_one_line_naming_the_path(cli, tmp_path, corpus):
    ro, undo = _unwritable(tmp_path)
    try:
        line = one_line(cli("run", "nonempty", corpus, ro/"out.parquet", "-q"))
        assert str(ro) in line and "cannot write" in line
    finally: undo()
    full = tmp_path/"full"; full.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(full)], capture_output=True).returncode:
        pytest.skip("cannot mount a tiny tmpfs here")
    try:
        big = write(pl.DataFrame({"text": [f"document {i} " * 40 for i in range(2_000)]}), tmp_path/"big.parquet")
        line = one_line(cli("run", "nonempty", big, full/"out.jsonl", "-q", "--cache-dir", tmp_path/"c"))
        assert str(full) in line and "No space left on device" in line
    finally: subprocess.run(["umount", str(full)])

# --- wrong parameters are one line, before any data is read -------------------------------------------------------------

@pytest.mark.parametrize("body,words", [
    ("- step: gopher_quality\n  with: {thresholds: {min_doc_word: 10}}\n", ["step 0 (gopher_quality)", "no key 'min_doc_word'", "did you mean 'min_doc_words'"]),
    ("- step: gopher_quality\n  with: {thresholds: {min_doc_words: ten}}\n", ["key 'min_doc_words' is 'ten'", "a number"]),
    ("- step: minhash_dedup\n  with: {ngram: 0}\n", ["step 0 (minhash_dedup)", "parameter 'ngram' is 0", ">= 1"]),
    ("- step: minhash_dedup\n  with: {threshold: high}\n", ["parameter 'threshold' is 'high'", "a number"]),
    ("- step: minhash_dedup\n  with: {threshold: 1.5}\n", ["parameter 'threshold' is 1.5", "> 0 and <= 1"]),
    ("- step: c4_quality\n  with: {thresholds: missing.yaml}\n", ["step 0 (c4_quality)", "missing.yaml", "no such file"]),
    ("- step: c4_quality\n  with: {thresholds: list.yaml}\n", ["list.yaml", "must hold a mapping"]),
    ("- step: exact_dedup\n  with: {keep: lognest}\n", ["parameter 'keep' is 'lognest'", "did you mean 'longest'"]),
])
def test_bad_parameters_are_one_line_before_any_data_is_read(cli, tmp_path, body, words):
    (tmp_path/"list.yaml").write_text("- a\n- b\n")
    line = one_line(cli("run", recipe_file(tmp_path, body), tmp_path/"never-read.parquet", tmp_path/"out.parquet"))
    assert "r.yaml:3:" in line and all(w in line for w in words), line

def test_batch_size_zero_is_one_line(cli, tmp_path, corpus):
    assert "batch_size must be >= 1" in one_line(cli("run", "nonempty", corpus, tmp_path/"o.parquet", "--batch-size", "0"))

def test_parameters_are_checked_in_python_too():
    with pytest.raises(CuratekitError, match="step 'minhash_dedup': parameter 'ngram' is 0, but it must be >= 1"): make_step("minhash_dedup", ngram=0)
    with pytest.raises(CuratekitError, match="parameter 'num_perm' is 'many'"): make_step("minhash_dedup", num_perm="many")
    with pytest.raises(CuratekitError, match="has no key 'min_doc_word'"): make_step("gopher_quality", thresholds={"min_doc_word": 1})

# --- messages with a place -----------------------------------------------------------------------------------------------

def test_bad_jsonl_and_yaml_name_the_line(cli, tmp_path):
    (tmp_path/"bad.jsonl").write_text('{"text": "one"}\n{"text": "two"}\n{"text": "three\n')
    assert "bad.jsonl:3: not valid JSON" in one_line(cli("run", "nonempty", tmp_path/"bad.jsonl", tmp_path/"o.parquet"))
    rec = tmp_path/"r.yaml"; rec.write_text("curatekit: 1\nsteps:\n  - step: word_count\n   with: {prefix: x}\n")
    assert "r.yaml:4: not valid YAML" in one_line(cli("run", rec, tmp_path/"bad.jsonl", tmp_path/"o.parquet"))

# --- edge inputs --------------------------------------------------------------------------------------------------------

def test_an_all_null_jsonl_text_column_runs(cli, tmp_path):
    (tmp_path/"nulls.jsonl").write_text('{"text": null}\n{"text": null}\n')
    r = cli("run", "web-basic", tmp_path/"nulls.jsonl", tmp_path/"out.parquet", "-q")
    assert r.returncode == 0, r.stderr
    assert Ledger.load(tmp_path/"out.ledger.parquet").frame["reason"].to_list() == ["empty", "empty"]

def test_demo_recipe_on_rows_all_filtered_before_the_lm(cli, tmp_path):
    demo = Path(load_recipe("demo").save(tmp_path/"demo.yaml"))
    write(pl.DataFrame({"id": ["t"], "text": ["The target domain: prose about Python's data model and its types."]}), tmp_path/"target.parquet")
    write(pl.DataFrame({"text": ["tiny", "", None, "x y"]}), tmp_path/"four.parquet")
    r = cli("run", demo, tmp_path/"four.parquet", tmp_path/"out.parquet", "-q")
    assert r.returncode == 0, r.stderr
    assert len(read_file(tmp_path/"out.parquet")) == 0 and len(Ledger.load(tmp_path/"out.ledger.parquet")) == 4

# --- generating steps from YAML, on 1 and 8 shards, locally and on Ray ---------------------------------------------------

CHUNKS = "- step: paragraph_chunks\n  with: {max_words: 12}\n- step: filter\n  with: {keep: origin IS NOT NULL, reason: chunked}\n"

def _docs(n=16):
    para = "Curation decides what a model learns. Every choice should end in a number measured on a trained model."
    return pl.DataFrame({"id": [f"d{i}" for i in range(n)], "text": ["\n\n".join([para] * (1 + i % 3)) for i in range(n)]})

def test_a_generating_step_from_yaml_on_1_and_8_shards_locally_and_on_ray(cli, tmp_path):
    pytest.importorskip("ray")
    from curatekit.scale import run_recipe
    from curatekit.synth import paragraph_chunks
    docs = _docs()
    write(docs, tmp_path/"one/all.parquet")
    for j in range(8): write(docs[j::8], tmp_path/f"eight/part-{j}.parquet")
    rec, n = recipe_file(tmp_path, CHUNKS), len(paragraph_chunks(docs, max_words=12))
    for name in ("one", "eight"):
        r = cli("run", rec, tmp_path/name, tmp_path/f"local-{name}", "-q", "--cache-dir", tmp_path/"c-local")  # from the shell
        assert r.returncode == 0, r.stderr
        run_recipe(rec, tmp_path/name, tmp_path/f"ray-{name}", engine="ray", cache_dir=tmp_path/"c-ray", progress=False)
    for out in ("local-one", "local-eight", "ray-one", "ray-eight"):
        m = json.loads((tmp_path/out/"manifest.json").read_text())
        assert m["rows_in"] + m["rows_generated"] == m["rows_out"] + m["rows_removed"], out
        assert (m["rows_generated"], m["rows_removed"], m["rows_out"]) == (n, len(docs), n), out
        assert m["generated_by_step"] == [{"step_index": 0, "step": "paragraph_chunks", "rows": n}], out
        led = Ledger.load(tmp_path/out/"ledger.parquet")
        assert set(led.generated["id"]) == set(read(tmp_path/out)["id"]) and set(led.frame["reason"]) == {"chunked"}, out
    for name in ("one", "eight"):  # Ray writes exactly what the local runner writes, file for file
        local, ray = (tmp_path/f"{e}-{name}" for e in ("local", "ray"))
        for f in sorted(p.name for p in local.iterdir() if p.suffix == ".parquet"):
            assert read_file(ray/f).equals(read_file(local/f)), (name, f)
    one, eight = (read(tmp_path/f"local-{k}").sort("id") for k in ("one", "eight"))
    assert one.equals(eight)  # the same rows whether the corpus comes in one shard or eight
    assert one["origin"].struct.field("generator").unique().to_list() == ["paragraph_chunks"]
    assert set(one["origin"].struct.field("seed_ids").list.first()) == set(docs["id"])

def test_a_step_returning_a_wrong_row_set_is_caught_under_ray(tmp_path):
    pytest.importorskip("ray")
    from curatekit.core import Step
    from curatekit.scale import run_recipe
    class Lossy(Step):  # defined here, so it travels to the Ray workers by value
        name = "lossy"
        def map(self, df): return df.head(max(len(df) - 1, 0))
    write(_docs(), tmp_path/"in/a.parquet")
    with pytest.raises(CuratekitError, match=r"a.parquet: step 1 \(lossy\): changed the rows it was given"):
        run_recipe(Recipe([word_count.step(), Lossy()]), tmp_path/"in", tmp_path/"out", engine="ray", cache_dir=tmp_path/"c", progress=False)
    assert not (tmp_path/"out").exists()

# --- lazy start ----------------------------------------------------------------------------------------------------------

def test_loading_a_recipe_imports_no_torch_widgets_or_synth():
    code = "from curatekit.core import load_recipe; r = load_recipe('web-basic'); import sys; print(sorted(sys.modules))"
    mods = json.loads(subprocess.run([sys.executable, "-c", code.replace("print(sorted(sys.modules))", "import json; print(json.dumps(sorted(sys.modules)))")],
                                     capture_output=True, text=True, check=True).stdout)
    assert not [m for m in mods if m == "torch" or m.startswith(("torch.", "curatekit.widgets", "curatekit.synth", "curatekit.dedup"))]
    assert isinstance(load_recipe("web-basic")[10], LazyStep)

def test_the_step_table_is_current():
    r = subprocess.run([sys.executable, "tools/steps_table.py", "--check"], cwd=Path(__file__).parent.parent, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
