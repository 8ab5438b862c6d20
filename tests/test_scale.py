"""The sharded runner as a user meets it: killed and resumed, on Ray, with failures and bad output directories."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import polars as pl
import pytest
from curatekit.core import Recipe, Filter, make_step, write, read_file, zscore
from curatekit.scale import run_recipe

CLI = Path(sys.executable).parent/"curatekit"
WORDS = "data curation decides what a model learns from the web and from books and code".split()

def corpus(root: Path, shards: int, rows: int) -> Path:
    "A corpus of `shards` JSONL shards with texts of varied length."
    for j in range(shards):
        texts = [" ".join(WORDS[(i + j) % 7:(i * 7 + j) % len(WORDS) + 1]) * (1 + i % 5) for i in range(rows)]
        write(pl.DataFrame({"text": texts}), root/f"part-{j:03d}.jsonl")
    return root

RECIPE = Recipe([make_step("word_count"), Filter("word_count >= 4", reason="short"), zscore.step(column="word_count"),
                 Filter("word_count_z < 2", reason="long for the corpus")])

def files(d: Path): return {p.name: p.read_bytes() for p in sorted(d.iterdir())}

def test_killed_run_resumes_to_identical_output(tmp_path):
    inp = corpus(tmp_path/"in", 24, 20_000)
    recipe = RECIPE.save(tmp_path/"r.yaml")
    run_recipe(recipe, inp, tmp_path/"clean", cache_dir=tmp_path/"clean-cache", progress=False)
    cache = tmp_path/"cache"
    args = [CLI, "run", recipe, inp, tmp_path/"out", "--cache-dir", cache, "-q"]
    p = subprocess.Popen([str(a) for a in args])
    # kill once at least one shard has been through the first stretch of steps (the ingest stage's entries come first)
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        try: done = [d for d in cache.rglob("ledger.parquet")]
        except FileNotFoundError: continue  # a temporary folder renamed into place while we walked the cache
        if len(done) > 24 + 1: break
        time.sleep(0.05)
    assert p.poll() is None, "the run finished before it could be killed; make the corpus larger"
    p.send_signal(signal.SIGKILL); p.wait()
    assert not (tmp_path/"out").exists()
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert files(tmp_path/"out") == files(tmp_path/"clean")
    m = json.loads((tmp_path/"out"/"manifest.json").read_text())
    assert m["rows_out"] + m["rows_removed"] == m["rows_in"] == 24 * 20_000

def test_ray_gives_the_local_output(tmp_path):
    pytest.importorskip("ray")
    inp = corpus(tmp_path/"in", 3, 500)
    run_recipe(RECIPE, inp, tmp_path/"local", cache_dir=tmp_path/"c1", progress=False)
    run_recipe(RECIPE, inp, tmp_path/"ray", engine="ray", cache_dir=tmp_path/"c2", progress=False)
    for name in ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet", "ledger.parquet"]:
        assert read_file(tmp_path/"ray"/name).equals(read_file(tmp_path/"local"/name)), name

def test_ray_worker_failure_names_shard_and_step(tmp_path):
    pytest.importorskip("ray")
    write(pl.DataFrame({"text": ["12", "7", "40"]}), tmp_path/"in/numbers.jsonl")
    write(pl.DataFrame({"text": ["not a number"]}), tmp_path/"in/words.jsonl")
    recipe = Recipe([make_step("word_count"), Filter("CAST(text AS INT) > 10", reason="small")]).save(tmp_path/"r.yaml")
    r = subprocess.run([str(CLI), "run", recipe, tmp_path/"in", tmp_path/"out", "--engine", "ray", "--cache-dir", tmp_path/"c"],
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("curatekit: error:") and "words.jsonl" in last and "step 1 (filter)" in last, r.stderr
    assert "numbers.jsonl" not in last and "Traceback" not in r.stderr
    assert not (tmp_path/"out").exists()

def test_bad_shards_and_output_dirs(tmp_path, cli):
    write(pl.DataFrame({"text": ["a b c d e"]}), tmp_path/"mixed/a.jsonl")
    write(pl.DataFrame({"text": [1]}), tmp_path/"mixed/b.jsonl")
    r = cli("run", "nonempty", tmp_path/"mixed", tmp_path/"o1")
    assert r.returncode == 2 and "b.jsonl" in r.stderr and "must hold strings" in r.stderr
    write(pl.DataFrame({"text": ["fine"]}), tmp_path/"unreadable/a.jsonl")
    (tmp_path/"unreadable/b.parquet").write_bytes(b"PAR1 not really")
    r = cli("run", "nonempty", tmp_path/"unreadable", tmp_path/"o2")
    assert r.returncode == 2 and "b.parquet: cannot read" in r.stderr
    write(pl.DataFrame({"id": ["x"], "text": ["one"]}), tmp_path/"dupids/a.jsonl")
    write(pl.DataFrame({"id": ["x"], "text": ["two"]}), tmp_path/"dupids/b.jsonl")
    r = cli("run", "nonempty", tmp_path/"dupids", tmp_path/"o3")
    assert r.returncode == 2 and "id 'x' also appears in another shard" in r.stderr
    write(pl.DataFrame({"text": ["one"], "source": ["web"]}), tmp_path/"schemas/a.jsonl")
    write(pl.DataFrame({"text": ["two"]}), tmp_path/"schemas/b.jsonl")
    r = cli("run", "nonempty", tmp_path/"schemas", tmp_path/"o4")
    assert r.returncode == 2 and "b.jsonl: its columns" in r.stderr
    assert not any((tmp_path/o).exists() for o in ("o1", "o2", "o3", "o4"))

def test_global_steps_that_add_columns_are_cached_as_columns(tmp_path):
    "A global step that only adds columns is cached as those columns beside the previous entry (the last step whole); the output is the in-memory one, also when read back."
    from curatekit.scale import ShardedRunner, StepCache, input_shards
    inp = corpus(tmp_path/"in", 3, 400)
    recipe = Recipe([make_step("word_count"), zscore.step(column="word_count"), zscore.step(column="word_count_z", suffix="2")])
    run = lambda: ShardedRunner(recipe, input_shards(inp), StepCache(tmp_path/"c"), progress=False)
    r = run(); out, _ = r.collect()
    expect = recipe(pl.concat([r.cache.frame(r.key(sh, -1)) for sh in r.shards])).frame
    assert out.columns == expect.columns and out.drop("word_count_z2").equals(expect.drop("word_count_z2"))
    assert (out["word_count_z2"] - expect["word_count_z2"]).abs().max() < 1e-12  # a z-score's sums, over shards or whole: the last bits may differ
    assert all((r.cache.path(r.key(sh, 1))/"columns.parquet").is_file() and not (r.cache.path(r.key(sh, 1))/"frame.parquet").exists() for sh in r.shards)
    assert all((r.cache.path(r.key(sh, 2))/"frame.parquet").is_file() for sh in r.shards)  # the run's last entry: whole
    assert "text" not in pl.read_parquet_schema(r.cache.path(r.key(r.shards[0], 1))/"columns.parquet")
    assert run().collect()[0].equals(out)  # resumed from the cache

def test_normalize_text_collapses_whitespace_as_before():
    "`normalize_text` leaves single spaces alone but gives the strings `\\s+` -> ' ' gave (so exact-dedup hashes do not change)."
    from curatekit.dedup import normalize_text
    texts = pl.Series(["a  b", "a\tb", " a\n\nb ", "a\u00a0b", "a \u2003 b", "\u3000x\u3000", "a\r\nb", "", "   ", None, "a b", "x\x0by\x0cz", "A \t B\n"])
    old = texts.str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()
    assert pl.select(normalize_text(pl.lit(texts))).to_series().equals(old, check_names=False)
