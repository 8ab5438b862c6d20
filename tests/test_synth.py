"""Synthetic-data generators with scripted backends: structured-output failures and their reason, parse rates per stage, the
default backend, LLM judges in the post-filters, real vs synthetic. (The built-in model itself runs in `41_synth` and in
`tests/test_llm.py`.)"""
import json

import numpy as np
import polars as pl
import pytest

from curatekit import synth
from curatekit.core import CuratekitError, Recipe, make_step
from curatekit.llm import Backend, CallableBackend

DOCS = pl.DataFrame({"id": ["json", "csv"], "text": ["The json module encodes Python objects as JSON text.",
                                                      "The csv module reads and writes comma separated values."]})

@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATEKIT_HOME", str(tmp_path/"home"))

def scripted(answers: dict, calls: list|None=None):
    "A backend answering by the first key found in the messages (or the raw prompt); records every call's params; its own cache key."
    def fn(p, **kw):
        text = p if isinstance(p, str) else p[-1]["content"] + p[0]["content"]
        if calls is not None: calls.append(kw)
        return next(v for k, v in answers.items() if k in text)
    return CallableBackend(fn, "scripted-" + json.dumps(answers))

def test_structured_output_failures_are_unparseable_after_retries_not_backend_errors():
    calls = []
    be = scripted({"knowledge analyzer": "The article is about modules.", "": "x"}, calls)
    s = synth.entigraph(DOCS.head(1), be)
    assert s.failures["reason"].to_list() == ["unparseable after 3 tries: invalid JSON (Expecting value at char 0)"]
    assert s.failures["raw"].to_list() == ["The article is about modules."] and s.failures["generator"].to_list() == ["entigraph_entities"]
    assert [c["response_format"]["json_schema"]["schema"] for c in calls] == [synth.ENTITY_SCHEMA] * 3  # asked, then retried twice
    assert calls[0]["seed"] == 42 and len({c["seed"] for c in calls}) == 3  # seeded (the same run writes the same), each retry anew
    free = synth.entigraph(DOCS.head(1), scripted({"": "The article is about modules."}), structured=False)
    assert free.failures["reason"].to_list() == ["unparseable: no JSON object"]
    partial = synth.entigraph(DOCS.head(1), scripted({"knowledge analyzer": '{"summary": "s", "entities": []}', "": "x"}))
    assert partial.failures["reason"][0].startswith("unparseable after 3 tries: does not match the schema at entities")

def test_structured_entities_feed_the_writing_steps():
    be = scripted({"knowledge analyzer": '{"summary": "s", "entities": ["json", "JSON text", "json"]}', "": "a passage"})
    s = synth.entigraph(DOCS.head(1), be, max_pairs=1)
    assert s.prompts == {"entigraph_entities": 1, "entigraph": 3}  # 2 distinct entities, 1 pair
    assert s.frame["entities"].to_list() == [["json"], ["JSON text"], ["json", "JSON text"]]
    assert s.frame["origin"].struct.field("template").to_list() == ["entigraph_entity"] * 2 + ["entigraph_relation"]
    assert not len(s.failures)

def test_rates_count_prompts_parsed_and_failures_by_kind_per_stage():
    be = scripted({"Transform": "An argument.", "Read": "no instruction here", "": "x"})
    s = synth.agentinstruct(DOCS, be)
    t = s.rates()
    assert t.select("stage", "prompts", "parsed").rows() == [("agentinstruct_transform", 2, 2), ("agentinstruct", 2, 0)]
    assert t["unparseable"].to_list() == [0, 2] and t["parse_rate"].to_list() == [1.0, 0.0]
    w = synth.wrap(DOCS, scripted({"": "A rephrasing."}), style=["easy", "qa"])
    both = synth.parse_rates({"agent": s, "wrap": w})
    assert both.columns[:5] == ["run", "stage", "prompts", "parsed", "parse_rate"]
    assert both.filter(pl.col("run") == "wrap").select("prompts", "parsed", "unparseable").row(0) == (4, 4, 0)  # a kind it lacked is 0
    assert repr(s) == "Synth(0 rows from 4 prompts, 2 failures: unparseable 2)"
    assert (s + w).prompts == {"agentinstruct_transform": 2, "agentinstruct": 2, "wrap": 4}

def test_wrap_takes_several_styles_and_records_each_template():
    s = synth.wrap(DOCS.head(1), scripted({"": "Rephrased."}), style=["easy", "hard"])
    assert s.frame["style"].to_list() == ["easy", "hard"]
    assert s.frame["origin"].struct.field("template").to_list() == ["wrap_easy", "wrap_hard"]
    with pytest.raises(CuratekitError, match="style must be one of .* got 'toddler'"): synth.wrap(DOCS, style=["easy", "toddler"])

def test_generators_and_steps_default_to_the_built_in_model(monkeypatch):
    asked = []
    def fake(spec=None): asked.append(spec); return spec if isinstance(spec, Backend) else scripted({"": "Rephrased."})
    monkeypatch.setattr(synth, "make_backend", fake)
    assert len(synth.wrap(DOCS, style="easy").frame) == 2 and asked == [None]
    assert len(synth.targen("a task", {"yes": "it is"}, n_contexts=1, n_seeds=1, verify=False).frame) == 1
    run = Recipe([make_step("synthesize", generator="wrap", params=dict(style="easy"))])(DOCS, progress=False)
    assert len(run.ledger.generated) == 2 and asked.count(None) == 3  # wrap, targen, the step

def test_prox_refine_step_and_program_failures_keep_the_raw_program():
    be = scripted({"[doc]": "remove_lines(0, 0)\nthis is not a call", "": "keep_doc()"})
    df = pl.DataFrame({"id": ["a"], "text": ["Menu\nThe json module encodes Python objects as JSON text, and decodes them back again."]})
    s = synth.prox(df, be)
    assert s.failures["reason"].to_list() == ["unparseable: 1 program line(s): not a call: 'this is not a call'"]
    assert s.failures["raw"].to_list() == ["remove_lines(0, 0)\nthis is not a call"] and s.prompts == {"prox_doc": 1, "prox_chunk": 1}
    out = Recipe([make_step("prox_refine", backend=be), make_step("filter", keep="prox_keep", reason="prox_action")])(df, progress=False)
    assert out.frame["prox_text"].to_list() == [df["text"][0].split("\n")[1]]

class Probs(Backend):
    "A local-looking backend whose P(Yes) is the share of the letter 'y' in the prompt; counts its batched calls."
    kind, model = "probs", "probs"
    def __init__(self): self.calls = 0
    def choice_probs(self, prompts, options):
        self.calls += 1
        y = [min(1.0, json.dumps(p).count("y") / 10) for p in prompts]
        return np.array([[a, 1 - a] for a in y])

def test_llm_judges_score_every_row_in_one_batched_call():
    be = Probs()
    critic = synth.llm_critic(be)
    df = pl.DataFrame({"id": [0, 1, 2], "text": ["yyyyyyyyyy", None, "no"]})
    out = synth.critic_filter(df, critic)
    assert be.calls == 1 and out["critic_score"][1] is None and out["critic_ok"].to_list() == [True, False, False]
    assert critic("no") == out["critic_score"][2]
    pairs = pl.DataFrame({"x": ["a cat", "yy"], "y": ["the cat", None]})
    pf = synth.paraphrase_filter(pairs, entail=synth.llm_entailment(be))
    assert be.calls == 3 and pf["paraphrase_entail_xy"][1] is None and 0 <= pf["paraphrase_entail_xy"][0] <= 1
    with pytest.raises(CuratekitError, match="also needs \\['hypothesis'\\]"): synth.LLMJudge("entailment", ("premise",), be)

def test_a_server_judge_reads_yes_or_no():
    be = scripted({"cat": "Yes, it is.", "dog": "No.", "": "Maybe"})
    assert synth.yes_probability(["a cat?", "a dog?", "a bird?"], be) == [1.0, 0.0, None]

def test_real_vs_synthetic_compares_a_synth_with_real_rows():
    rng = np.random.default_rng(0)
    unit = lambda n: (lambda x: (x / np.linalg.norm(x, axis=1, keepdims=True)).tolist())(rng.normal(size=(n, 8)))
    real = pl.DataFrame({"id": ["r0", "r1", "r2"], "text": ["Sets hold unique items.", "Lists keep order.", "Dicts map keys."],
                         "emb": unit(3)})
    syn = synth.Synth(pl.DataFrame({"id": ["s0", "s1", "s2"], "text": ["Sets are unique.", "", "Lists are ordered."],
                                    "emb": unit(3)}), pl.DataFrame(schema=synth.FAILURE_SCHEMA))
    rep = synth.real_vs_synthetic(real, syn, n_clusters=2)
    assert rep.names == ("real", "synthetic")
    assert rep.table.filter(pl.col("metric") == "rows").row(0, named=True)["after"] == 2  # the empty text is left out
    with pytest.raises(CuratekitError, match="the synthetic frame has no non-empty 'text'"):
        synth.real_vs_synthetic(real, pl.DataFrame({"text": ["  "]}))
