"""Distributed dedup on Ray: the local steps' annotations exactly, a failing block or a killed worker named in one line, a rerun
that resumes, the CLI's Ray engine equal to its local one."""
from pathlib import Path
import polars as pl
import pytest
from curatekit.core import CuratekitError
from curatekit.data import sample_corpus
from curatekit.dedup import exact_dedup, minhash_dedup
from curatekit.distributed import distributed_dedup

def planted(n: int=1_500) -> pl.DataFrame:
    "The first `n` sample documents plus near and exact copies of long ones, ids after theirs (copies land in the last block)."
    base = sample_corpus().head(n).select("id", "text")
    src = base.filter(pl.col("text").str.split(" ").list.len() >= 50).head(200).with_row_index("k")
    return pl.concat([base, src.filter(pl.col("k") % 2 == 0).select(pl.col("id") + 10**6, pl.col("text") + " One more sentence."),
                      src.filter(pl.col("k") % 2 == 1).select(pl.col("id") + 2 * 10**6, pl.col("text").str.to_uppercase())])

def blocks(df: pl.DataFrame, n: int, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(df) // n)
    for k in range(n): df.slice(k * size, size).write_parquet(folder/f"b{k}.parquet")
    return [folder/f"b{k}.parquet" for k in range(n)]

def annotations(files) -> pl.DataFrame: return pl.concat([pl.read_parquet(f) for f in files])

@pytest.fixture(scope="module")
def ray2():
    ray = pytest.importorskip("ray")
    from curatekit.scale import ray_init
    if not ray.is_initialized(): ray_init(num_cpus=2)
    return ray

def test_ray_equals_local_steps(tmp_path, ray2):
    df = planted()
    bl = blocks(df, 3, tmp_path/"in")
    for method, keep, local, engine in [("minhash", "first", minhash_dedup, "ray"), ("exact", "first", exact_dedup, "ray"), ("minhash", "longest", minhash_dedup, "local")]:
        got = annotations(distributed_dedup(bl, tmp_path/"work", method=method, keep=keep, partitions=3, engine=engine, progress=False))
        want = local(df, keep=keep).select(got.columns)
        assert got.equals(want), (method, keep)
        assert got[f"{method}_dup_of"].is_not_null().sum() >= (190 if method == "minhash" else 100)  # the planted copies (exact: the upper-cased), across blocks
    est = annotations(distributed_dedup(bl, tmp_path/"work", verify="estimate", threshold=0.7, num_perm=64, partitions=2, engine="local", progress=False))
    assert est.equals(minhash_dedup(df, verify="estimate", threshold=0.7, num_perm=64).select(est.columns))

def test_failing_block_is_named_and_rerun_resumes(tmp_path, ray2):
    df = planted(600)
    bl = blocks(df, 3, tmp_path/"in")
    good = pl.read_parquet(bl[1])
    good.with_columns(pl.col("id").alias("text")).write_parquet(bl[1])  # a block whose text column holds numbers
    with pytest.raises(CuratekitError) as e: distributed_dedup(bl, tmp_path/"work", partitions=2, progress=False)
    msg = str(e.value)
    assert "\n" not in msg and str(bl[1]) in msg and "signatures" in msg and str(bl[0]) not in msg, msg
    done = {p: p.stat().st_mtime_ns for p in (tmp_path/"work"/"blocks").iterdir()}
    assert len(done) == 2 and not list((tmp_path/"work"/"blocks").glob(".*"))  # the two good blocks finished, nothing partial
    good.write_parquet(bl[1])
    got = annotations(distributed_dedup(bl, tmp_path/"work", partitions=2, keep_work=True, progress=False))
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())  # reused, not recomputed
    assert got.equals(minhash_dedup(df).select(got.columns))
    distributed_dedup(bl, tmp_path/"work", partitions=2, progress=False)  # the same run again, default: only the annotations stay
    left = sorted({p.parent.name.rsplit("-", 1)[0] for p in (tmp_path/"work").rglob("*") if p.is_file()})
    assert left == ["annotated"], left

def test_killed_worker_is_named_and_rerun_resumes(tmp_path, ray2, monkeypatch):
    import curatekit.distributed as D
    df = planted(600)
    bl = blocks(df, 3, tmp_path/"in")
    real = D.block_signatures
    def dies_on_block_1(out, path, off, p):  # a worker process that dies half-way through writing block 1 (no exception: os._exit)
        if path.endswith("b1.parquet"):
            import os, polars
            w = polars.DataFrame.write_parquet
            def write_then_die(self, *a, **k): w(self, *a, **k); os._exit(1)
            polars.DataFrame.write_parquet = write_then_die
        return real(out, path, off, p)
    monkeypatch.setattr(D, "block_signatures", dies_on_block_1)
    with pytest.raises(CuratekitError) as e: distributed_dedup(bl, tmp_path/"work", partitions=2, progress=False)
    msg = str(e.value)
    assert "\n" not in msg and str(bl[1]) in msg and "signatures" in msg and "worker process died" in msg, msg
    done = {p: p.stat().st_mtime_ns for p in (tmp_path/"work"/"blocks").iterdir()}
    assert len(done) == 2 and not list((tmp_path/"work"/"blocks").glob(".*"))  # blocks 0 and 2 finished; block 1's half-written folder removed
    monkeypatch.setattr(D, "block_signatures", real)
    got = annotations(distributed_dedup(bl, tmp_path/"work", partitions=2, keep_work=True, progress=False))
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())  # resumed from the finished blocks
    assert got.equals(minhash_dedup(df).select(got.columns))

def test_bad_parameters(tmp_path):
    with pytest.raises(CuratekitError, match="method must be"): distributed_dedup([], tmp_path, method="fuzzy")
    with pytest.raises(CuratekitError, match="no such block"): distributed_dedup([tmp_path/"nope.parquet"], tmp_path, engine="local")
    assert distributed_dedup([], tmp_path/"w", engine="local") == []  # no blocks: nothing to annotate

def test_cli_on_ray_dispatches_dedup(tmp_path, ray2):
    "`curatekit run RECIPE IN OUT --engine ray` (in this process, on its Ray session) writes what the local engine writes."
    from curatekit.cli import main
    from curatekit.core import Recipe, make_step, read_file
    from curatekit.scale import run_recipe
    blocks(planted(600), 3, tmp_path/"in")
    recipe = Recipe([make_step("minhash_dedup", threshold=0.7)]).save(tmp_path/"r.yaml")
    ml = run_recipe(recipe, tmp_path/"in", tmp_path/"local", cache_dir=tmp_path/"c1", progress=False)
    assert main(["run", str(recipe), str(tmp_path/"in"), str(tmp_path/"ray"), "--engine", "ray", "--cache-dir", str(tmp_path/"c2"), "-q"]) == 0
    assert (tmp_path/"c2"/"distributed").is_dir() and not (tmp_path/"c1"/"distributed").exists()  # the Ray engine ran the tasks
    assert not [p for p in (tmp_path/"c2"/"distributed").rglob("*") if p.is_file()]  # and removed their files once cached
    for name in ml["parts"] + ["ledger.parquet"]:
        assert read_file(tmp_path/"ray"/name).equals(read_file(tmp_path/"local"/name)), name
    assert read_file(tmp_path/"ray"/ml["parts"][-1])["minhash_dup_of"].is_not_null().sum() >= 90  # the planted copies in the last shard

def test_string_ids_empty_texts_and_an_empty_block(tmp_path):
    df = planted(300).with_columns(pl.col("id").cast(pl.String).str.zfill(8))
    df = pl.concat([df, pl.DataFrame({"id": ["e1", "e2"], "text": ["  ", None]})])
    bl = blocks(df, 2, tmp_path/"in") + [tmp_path/"in"/"empty.parquet"]
    df.head(0).write_parquet(bl[-1])
    for method, local in [("minhash", minhash_dedup), ("exact", exact_dedup)]:
        got = annotations(distributed_dedup(bl, tmp_path/"work", method=method, engine="local", partitions=2, progress=False))
        assert got.equals(local(df).select(got.columns)), method

def test_semantic_dedup_on_ray_equals_local(tmp_path, ray2):
    import numpy as np, torch
    from curatekit.dedup import semantic_dedup
    from curatekit.distributed import distributed_semantic_dedup
    g = torch.Generator().manual_seed(1)
    base = torch.nn.functional.normalize(torch.randn(500, 64, generator=g), dim=1)
    near = torch.nn.functional.normalize(base[:100] + 0.01 * torch.randn(100, 64, generator=g), dim=1)
    df = pl.DataFrame({"id": [f"v{i:04d}" for i in range(600)], "emb": torch.cat([base, near]).numpy()})
    df = pl.concat([df, pl.DataFrame({"id": ["none"], "emb": [None]}, schema=df.schema)])  # a row without a vector: in no cluster
    bl = blocks(df, 2, tmp_path/"in")
    got = annotations(distributed_semantic_dedup(bl, tmp_path/"work", threshold=0.9, partitions=3, progress=False))
    assert got.equals(semantic_dedup(df, threshold=0.9).select(got.columns))
    assert got["semdedup_dup_of"].is_not_null().sum() >= 95
    small = [annotations(distributed_semantic_dedup(bl, tmp_path/f"w{i}", threshold=0.9, sample=200, engine="local", progress=False)) for i in range(2)]
    assert small[0].equals(small[1]) and small[0]["semdedup_dup_of"].is_not_null().sum() >= 90  # k-means on a 200-row sample: same seed, same output
    with pytest.raises(CuratekitError, match="keep must be"): distributed_semantic_dedup(bl, tmp_path/"w", keep="middle")

def test_recipe_on_ray_runs_semantic_dedup_as_tasks(tmp_path, ray2):
    "A `semantic_dedup` step of a Ray run (vectors already in the frame) runs as tasks and writes what the local engine writes."
    import torch
    from curatekit.core import Recipe, make_step, read_file
    from curatekit.scale import run_recipe
    g = torch.Generator().manual_seed(2)
    base = torch.nn.functional.normalize(torch.randn(400, 32, generator=g), dim=1)
    near = torch.nn.functional.normalize(base[:80] + 0.01 * torch.randn(80, 32, generator=g), dim=1)
    df = pl.DataFrame({"id": [f"v{i:04d}" for i in range(480)], "text": [f"row {i}" for i in range(480)], "emb": torch.cat([base, near]).numpy()})
    blocks(df, 3, tmp_path/"in")
    recipe = Recipe([make_step("semantic_dedup", threshold=0.9), make_step("filter", keep="semdedup_dup_of IS NULL", reason="semantic duplicate")])
    ml = run_recipe(recipe, tmp_path/"in", tmp_path/"local", cache_dir=tmp_path/"c1", progress=False)
    run_recipe(recipe, tmp_path/"in", tmp_path/"ray", engine="ray", cache_dir=tmp_path/"c2", progress=False)
    assert (tmp_path/"c2"/"distributed").is_dir() and not (tmp_path/"c1"/"distributed").exists()  # the Ray engine ran the tasks
    for name in ml["parts"] + ["ledger.parquet"]:
        assert read_file(tmp_path/"ray"/name).equals(read_file(tmp_path/"local"/name)), name
    assert len(read_file(tmp_path/"ray"/"ledger.parquet")) >= 75  # the planted near-copies removed
