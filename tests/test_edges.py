"""Edge frames through every registered step: zero rows, one row, all-null text, whitespace only, odd Unicode (the `image` column holds a PNG, bytes no decoder reads, or null), and (for string
steps; model steps truncate at their documented limits) one 50 MB document. Each step returns a frame whose schema does not
depend on how many rows came in, or a one-line `CuratekitError` naming it — never another exception. The test is
parametrized over the step table, so a step is covered the day it is registered: a step that needs parameters must have them
in `PARAMS`, or this test fails and says so."""
import functools
import numpy as np
import polars as pl
import pytest
from curatekit.core import CuratekitError, build_step_table, execute, make_step

TABLE = build_step_table()
TEXT = "Curation decides what a model learns: every choice should end in a number measured on a trained model."

@functools.cache
def tiny_lm():
    "A tiny random GPT-2 and its tokenizer, built offline once per process."
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from curatekit.llm import tiny_gpt2
    d = tiny_gpt2()
    return AutoModelForCausalLM.from_pretrained(d), AutoTokenizer.from_pretrained(d)

@functools.cache
def tiny_clip():
    "A random CLIP a few kilobytes wide (no training: the test checks frames, not embeddings)."
    import torch
    from transformers import AutoTokenizer, CLIPModel
    from curatekit.clip import Clip, clip_config
    from curatekit.llm import tiny_gpt2
    tok = AutoTokenizer.from_pretrained(tiny_gpt2())
    torch.manual_seed(0)
    m = CLIPModel(clip_config(vocab_size=len(tok), width=16, layers=1, heads=2)).eval()
    return Clip(m, tok, image_size=28, mean=(0.5,) * 3, std=(0.5,) * 3, max_length=32, name="tiny")

@functools.cache
def png() -> bytes:
    from curatekit.image import encode_png
    return encode_png(np.arange(28 * 28, dtype=np.uint8).reshape(28, 28))

def backend():
    from curatekit.llm import CallableBackend
    return CallableBackend(lambda p, **kw: "EDITED:\nA simpler text about models. <end>\nQuestion: What? Answer: models.", model="scripted")

@functools.cache
def minhash_index() -> str:
    "A persistent MinHash index of the TARGET frame, in a folder removed when the process exits."
    import atexit, shutil, tempfile
    from curatekit.incremental import build_index
    d = tempfile.mkdtemp(prefix="edges-index-"); atexit.register(shutil.rmtree, d, True)
    build_index(TARGET, f"{d}/index")
    return f"{d}/index"

def rater():
    from curatekit.rate import Rater
    return Rater(dim=4)

TARGET = pl.DataFrame({"id": ["t0", "t1"], "text": [TEXT, "Models learn from data that people curate by hand and by rule."]})

PARAMS = {  # steps whose parameters have no defaults, or whose defaults need something this test supplies
    "filter": dict(keep="text IS NOT NULL"), "zscore": dict(column="score"), "budget_select": dict(score_col="score", budget=10.0),
    "curriculum": dict(score_col="score"), "dsir_select": dict(target_df=TARGET, fraction=0.5), "gme": dict(entity_cols=["entities"], n=1),
    "gumbel": dict(score_col="score", fraction=0.5), "keep_fraction": dict(score_col="score", fraction=0.5), "kcenter": dict(k=1),
    "mixture_plan": dict(weights={"a": 1.0}, budget=10.0, domain_col="group"), "qurating_select": dict(score_col="score", fraction=0.5),
    "stratified": dict(group_col="group", fraction=0.5), "threshold": dict(score_col="score", lower=0.0), "top_k": dict(score_col="score", k=1),
    "decontaminate": dict(eval_texts=[TEXT]), "critic_filter": dict(critic=lambda t: 0.5), "paraphrase_diversity": dict(entail=lambda a, b: 0.0),
    "class_exemplars": dict(k=1), "hard_negatives": dict(k=1), "semantic_dedup": dict(n_clusters=1),
    "score_lm": lambda: dict(model=tiny_lm()[0], tokenizer=tiny_lm()[1], scores=["ppl", "mink", "minkpp", "zlib"]),
    "rate": lambda: dict(rater=rater()), "synthesize": lambda: dict(generator="simplify", backend=backend()),
    "prox_refine": lambda: dict(backend=backend()),
    "clip_embed": lambda: dict(model=tiny_clip()), "clip_score": lambda: dict(model=tiny_clip()),
    "cabage_filter": dict(k=1, score_col="score"), "herding": dict(k=1), "dedup_against": lambda: dict(index=minhash_index()),
    "discriminator_filter": dict(synthetic_col="label"),  # every edge row counts as synthetic: nothing to learn, all kept
    "annotate": lambda: dict(backend=backend()),
}
MODEL_STEPS = {"embed", "score_lm", "semantic_dedup", "rate", "synthesize", "prox_refine", "class_exemplars", "hard_negatives", "kcenter",
               "clip_embed", "clip_score"}
ONE_LINE_OK = {  # (step, frame) pairs where a one-line error is the documented answer
    ("dsir_select", "nulls"), ("dsir_select", "blank"),  # no document is eligible: k of them cannot be selected
    ("mixture_plan", "zero"), ("mixture_plan", "nulls"), ("mixture_plan", "blank"),  # a budget cannot be filled from no tokens
    ("gme", "zero"), ("kcenter", "zero"), ("top_k", "zero"), ("herding", "zero"), ("cabage_filter", "zero"),  # asked for k=1 of no rows
}
SCHEMA_VARIES = {"synthesize"}  # generated rows carry the fields the model's output parsed into

SCHEMA = {"id": pl.String, "text": pl.String, "score": pl.Float64, "group": pl.String, "label": pl.String,
          "emb": pl.Array(pl.Float32, 4), "entities": pl.List(pl.String), "answer": pl.String, "context": pl.String,
          "x": pl.String, "y": pl.String, "ctx": pl.Int64, "paraphrase_entail_xy": pl.Float64, "paraphrase_entail_yx": pl.Float64, "image": pl.Binary,
          "probs": pl.List(pl.List(pl.Float64)), "proba": pl.Array(pl.Float64, 2), "exact_hash": pl.UInt64, "minhash_sig": pl.Array(pl.UInt32, 8)}

def frame(texts: list) -> pl.DataFrame:
    "An edge frame: `texts` plus the columns other steps read (scores, groups, labels, embeddings, QA and pair fields, class probabilities, dedup hashes and signatures)."
    n, rng = len(texts), np.random.default_rng(0)
    return pl.DataFrame({
        "id": [f"r{i}" for i in range(n)], "text": texts, "score": rng.random(n).tolist(), "group": ["a"] * n,
        "label": (["x", "y"] * n)[:n], "emb": [(v / np.linalg.norm(v)).astype(np.float32).tolist() for v in rng.standard_normal((n, 4))],
        "entities": [["e"]] * n, "answer": ["models"] * n, "context": [TEXT] * n, "x": [TEXT] * n, "y": [TEXT] * n, "ctx": [0] * n,
        "paraphrase_entail_xy": [0.9] * n, "paraphrase_entail_yx": [0.9] * n,
        "image": [None if t is None else png() if i % 2 == 0 else b"not an image" for i, t in enumerate(texts)],
        "probs": [[[0.7, 0.3], [0.4, 0.6]]] * n, "proba": [[0.8, 0.2]] * n,
        "exact_hash": [7] * n, "minhash_sig": [list(range(8))] * n}, schema=SCHEMA)  # every row a duplicate of every other

@functools.cache
def frames():
    huge = (TEXT + "\n") * (50_000_000 // (len(TEXT) + 1))
    return {"zero": frame([]), "one": frame([TEXT]), "nulls": frame([None, None, None]), "blank": frame(["", " ", "\n\t  "]),
            "unicode": frame(["a\ufffdb", "emoji 😀 and RTL שלום", "combining e\u0301 " * 20]), "huge": frame([huge, TEXT])}

def params(name):
    p = PARAMS.get(name, {})
    return p() if callable(p) else p

def run(name, kind):
    try: return execute(make_step(name, **params(name)), frames()[kind], batch_size=10_000).frame, None
    except CuratekitError as e: return None, str(e)

@pytest.mark.parametrize("name", sorted(TABLE))
def test_every_step_meets_edge_frames(name):
    required = [k for k, s in TABLE[name]["params"].items() if s["required"]]
    assert not required or name in PARAMS, f"step {name!r} needs {required}: add an entry to PARAMS in {__file__}"
    schemas = {}
    for kind in ("zero", "one", "nulls", "blank", "unicode") + (() if name in MODEL_STEPS else ("huge",)):
        out, err = run(name, kind)
        if err is not None:
            assert "\n" not in err and (name, kind) in ONE_LINE_OK, f"{name} on the {kind} frame: {err}"
            continue
        assert isinstance(out, pl.DataFrame), (name, kind)
        if kind != "huge": schemas[kind] = {c: t for c, t in out.schema.items()}
    if "zero" in schemas and "one" in schemas and name not in SCHEMA_VARIES:
        assert schemas["zero"] == schemas["one"], f"{name}: the schema on zero rows differs from one row: {schemas['zero']} vs {schemas['one']}"
