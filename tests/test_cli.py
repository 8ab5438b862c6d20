"""`curatekit run` and `curatekit recipe` end to end, as a user calls them from a shell."""
import json
from pathlib import Path
import polars as pl
import pytest
from curatekit.core import Recipe, Filter, SelectColumns, Ledger, read, write, word_count

TEXTS = ["Data curation decides what a model learns.", "", None, "too short",
         "Near-duplicate documents waste compute and skew evaluations.", "A third document with enough words in it."]

@pytest.fixture
def corpus(tmp_path):
    return write(pl.DataFrame({"text": TEXTS, "source": ["web"] * 6}), tmp_path/"corpus.jsonl")

@pytest.fixture
def recipe():
    return Recipe([word_count.step(), Filter("word_count >= 5", reason="too short"), SelectColumns(drop=["word_count"])])

def test_notebook_recipe_runs_the_same_from_the_cli(cli, tmp_path, corpus, recipe):
    "A recipe built in Python, saved as YAML and run by `curatekit run`, gives the rows it gave in the notebook."
    in_notebook = recipe(read(corpus))
    r = cli("run", recipe.save(tmp_path/"r.yaml"), corpus, tmp_path/"out.parquet")
    assert r.returncode == 0, r.stderr
    assert pl.read_parquet(tmp_path/"out.parquet").equals(in_notebook.frame)
    ledger = Ledger.load(tmp_path/"out.ledger.parquet")
    assert ledger.frame.equals(in_notebook.ledger.frame)
    assert sorted(ledger.frame["reason"]) == ["empty", "empty", "too short"]
    assert "3 rows in" not in r.stdout and "6 rows in, 3 kept, 3 removed" in r.stdout

def test_directory_output_and_shard_input(cli, tmp_path, corpus, recipe):
    shards = tmp_path/"shards"
    write(read(corpus).drop("id")[:3], shards/"a.jsonl.gz"); write(read(corpus).drop("id")[3:], shards/"b.jsonl.zst")
    r = cli("run", recipe.save(tmp_path/"r.yaml"), shards, tmp_path/"out", "-q")
    assert r.returncode == 0, r.stderr
    out = tmp_path/"out"
    assert sorted(p.name for p in out.iterdir()) == ["ledger.parquet", "manifest.json", "part-00000.parquet", "part-00001.parquet"]
    m = json.loads((out/"manifest.json").read_text())
    assert (m["rows_in"], m["rows_out"], m["rows_removed"]) == (6, 3, 3)
    assert len(m["input_files"]) == 2 and m["recipe"] == recipe.to_dict()
    assert read(out)["id"].to_list() == ["a-0", "b-1", "b-2"]
    # another run's output directory is replaced only when asked; a foreign directory never
    r = cli("run", "nonempty", shards, out, "-q")
    assert r.returncode == 2 and "holds the output of a different run" in r.stderr
    assert cli("run", "nonempty", shards, out, "-q", "--overwrite").returncode == 0
    assert json.loads((out/"manifest.json").read_text())["recipe"]["name"] == "nonempty"
    (tmp_path/"mine").mkdir(); (tmp_path/"mine"/"notes.txt").write_text("keep me")
    r = cli("run", "nonempty", shards, tmp_path/"mine")
    assert r.returncode == 2 and "not a curatekit output directory" in r.stderr
    assert (tmp_path/"mine"/"notes.txt").read_text() == "keep me"

def _bad(tmp_path, corpus):
    "Each case: (recipe, input, words the one-line error must contain)."
    good = tmp_path/"good.yaml"; good.write_text("curatekit: 1\nsteps:\n- step: word_count\n- step: filter\n  with: {keep: 'word_count > 0'}\n")
    cases = {}
    (tmp_path/"notyaml.yaml").write_text("curatekit: 1\nsteps: [filter\n")
    cases["not yaml"] = (tmp_path/"notyaml.yaml", corpus, ["notyaml.yaml", "not valid YAML"])
    (tmp_path/"unknown.yaml").write_text("curatekit: 1\nsteps:\n- step: gopher_qualty\n")
    cases["unknown step"] = (tmp_path/"unknown.yaml", corpus, ["unknown.yaml", "step 0", "unknown step 'gopher_qualty'"])
    (tmp_path/"param.yaml").write_text("curatekit: 1\nsteps:\n- step: word_count\n  with: {text_column: body}\n")
    cases["wrong parameter"] = (tmp_path/"param.yaml", corpus, ["param.yaml", "no parameter 'text_column'", "did you mean 'text_col'"])
    (tmp_path/"noversion.yaml").write_text("steps: []\n")
    cases["no version"] = (tmp_path/"noversion.yaml", corpus, ["noversion.yaml", "curatekit: 1"])
    write(pl.DataFrame({"body": ["x"]}), tmp_path/"notext.parquet")
    cases["missing text column"] = (good, tmp_path/"notext.parquet", ["step 0 (word_count)", "column 'text' not found"])
    write(pl.DataFrame({"text": [1, 2]}), tmp_path/"inttext.parquet")
    cases["text of wrong type"] = (good, tmp_path/"inttext.parquet", ["column 'text' must hold strings"])
    write(pl.DataFrame({"id": ["a", "a"], "text": ["x", "y"]}), tmp_path/"dupid.jsonl")
    cases["duplicate id"] = (good, tmp_path/"dupid.jsonl", ["dupid.jsonl", "column 'id' has duplicate values"])
    (tmp_path/"trunc.parquet").write_bytes(Path(corpus).read_bytes()[:0] + pl.read_ndjson(corpus).write_ipc(None).getvalue()[:50])
    cases["truncated parquet"] = (good, tmp_path/"trunc.parquet", ["trunc.parquet", "cannot read this parquet file"])
    (tmp_path/"bad.jsonl").write_text('{"text": "fine"}\n{"text": "cut off\n')
    cases["bad jsonl"] = (good, tmp_path/"bad.jsonl", ["bad.jsonl:2", "not valid JSON"])
    (tmp_path/"corpus.txt").write_text("plain text")
    cases["unknown file type"] = (good, tmp_path/"corpus.txt", ["corpus.txt", "unknown file type"])
    cases["missing input"] = (good, tmp_path/"nope.parquet", ["nope.parquet", "no such file"])
    (tmp_path/"empty").mkdir()
    cases["empty directory"] = (good, tmp_path/"empty", ["empty", "no data files"])
    cases["missing recipe"] = (tmp_path/"nope.yaml", corpus, ["nope.yaml", "no such recipe"])
    return cases

CASES = ["not yaml", "unknown step", "wrong parameter", "no version", "missing text column", "text of wrong type", "duplicate id",
         "truncated parquet", "bad jsonl", "unknown file type", "missing input", "empty directory", "missing recipe"]

@pytest.mark.parametrize("case", CASES)
def test_bad_input_gives_one_clear_line_and_no_output(cli, tmp_path, corpus, case):
    recipe, inp, words = _bad(tmp_path, corpus)[case]
    out = tmp_path/"out.parquet"
    r = cli("run", recipe, inp, out)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("curatekit: error: ")
    for w in words: assert w in r.stderr, (w, r.stderr)
    assert not out.exists() and not (tmp_path/"out.ledger.parquet").exists()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]

def test_help_and_builtin_recipes(cli):
    r = cli("--help")
    assert r.returncode == 0 and "run" in r.stdout and "recipe" in r.stdout
    r = cli("recipe", "list")
    assert r.returncode == 0 and "nonempty" in r.stdout
    r = cli("recipe", "show", "nonempty")
    assert r.returncode == 0 and Recipe.from_yaml(r.stdout).to_dict()["steps"][0]["step"] == "filter"
    r = cli("recipe", "show", "nonesuch")
    assert r.returncode == 2 and "no built-in recipe 'nonesuch'" in r.stderr

def test_every_builtin_recipe_loads_and_shows(cli):
    "Each shipped recipe names registered steps with valid parameters (it would fail `curatekit run` otherwise)."
    from curatekit.core import builtin_recipes, load_recipe
    for name in builtin_recipes():
        assert len(load_recipe(name)) > 0
        r = cli("recipe", "show", name)
        assert r.returncode == 0 and f"name: {name}" in r.stdout, r.stderr
