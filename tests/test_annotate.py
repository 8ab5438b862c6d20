"""GPT self-supervision's generating–recovering loop with scripted backends: no model download, fast."""
import polars as pl
import pytest
from curatekit.core import CuratekitError, make_step, execute
from curatekit.annotate import (GAR_PROMPTS, annotate, alignment, as_example, generate_recover, gold_agreement, self_supervised_template,
                                selection_summary)
from curatekit.llm import CallableBackend

SUPPORT = pl.DataFrame({"id": ["s0", "s1", "s2"], "text": ["Return the sum of two numbers.", "Open a file for reading.", "Close the socket now."]})
CANDS = pl.DataFrame({"id": ["a", "b", "c"], "text": ["Sort a list.", "Parse a date.", "Join paths."],
                      "annotation": ["Sorts.", "Parses a date.", "Joins."]})

def query(prompt) -> str: return prompt[-1]["content"].split(": ", 1)[1]
def is_annotate(prompt) -> bool: return prompt[0]["content"] == GAR_PROMPTS["annotate"]
def shot(prompt) -> str: return prompt[1]["content"] if len(prompt) > 2 else ""

def recovers_after(good: str):
    "Annotates with 'two words | the text'; recovers the full text only when the example's turn mentions `good`."
    def fn(prompt, **kw):
        if is_annotate(prompt): return "Summary: " + " ".join(query(prompt).split()[:2]) + " | " + query(prompt)
        return query(prompt).split(" | ", 1)[1] if good in shot(prompt) else query(prompt).split(" | ", 1)[0]
    return CallableBackend(fn, f"recovers-after-{good}")

def test_alignment_picks_the_template_whose_recovery_matches():
    for good in ("Sorts", "Parses", "Joins"):
        ranked = self_supervised_template(SUPPORT, CANDS, recovers_after(good))
        assert ranked["annotation"][0].startswith(good)
        assert ranked["alignment"][0] == pytest.approx(1.0) and ranked["alignment"][1] < 0.6
        assert ranked["rank"].to_list() == [1, 2, 3] and ranked["n"].to_list() == [3, 3, 3]

def test_ties_keep_the_candidates_order():
    echo = CallableBackend(lambda p, **kw: query(p), "echo")  # every candidate recovers perfectly
    ranked = self_supervised_template(SUPPORT, CANDS.reverse(), echo)
    assert ranked["id"].to_list() == ["c", "b", "a"] and ranked["alignment"].to_list() == [1.0]*3

def test_a_candidate_is_not_scored_on_its_own_text():
    ranked = self_supervised_template(pl.concat([SUPPORT, CANDS.select("id", "text")]), CANDS, recovers_after("Sorts"))
    assert ranked["n"].to_list() == [5, 5, 5]

def test_prompts_carry_the_example_and_its_swap():
    seen = []
    def fn(prompt, **kw):
        seen.append(prompt)
        return "Summary: short" if is_annotate(prompt) else "Text: long"
    generate_recover(["Open a file."], ("Sort a list.", "Sorts."), CallableBackend(fn, "spy"), prompts={"recover": "Rebuild it."})
    ann, rec = seen
    assert [m["content"] for m in ann] == [GAR_PROMPTS["annotate"], "Text: Sort a list.", "Summary: Sorts.", "Text: Open a file."]
    assert [m["content"] for m in rec] == ["Rebuild it.", "Summary: Sorts.", "Text: Sort a list.", "Summary: short"]

def test_generation_is_greedy_and_seeded():
    params = []
    be = CallableBackend(lambda p, **kw: params.append(kw) or "x", "params")
    annotate(SUPPORT, backend=be, seed=3)
    assert params[0]["temperature"] == 0 and params[0]["seed"] == 3

def test_same_input_same_output():
    a = self_supervised_template(SUPPORT, CANDS, recovers_after("Parses"), seed=1)
    b = self_supervised_template(SUPPORT, CANDS, recovers_after("Parses"), seed=1)
    assert a.equals(b)

def test_annotate_step_with_the_chosen_template():
    ranked = self_supervised_template(SUPPORT, CANDS, recovers_after("Joins"))
    step = make_step("annotate", **as_example(ranked), backend=recovers_after("Joins"), prefix="gar_")
    out = execute(step, SUPPORT.with_columns(pl.Series("text", [SUPPORT["text"][0], None, "  "]))).frame
    assert out["gar_annotation"].to_list() == ["Return the | Return the sum of two numbers.", None, None]

def test_gold_agreement_and_summary():
    scored = gold_agreement(SUPPORT.with_columns(gold=pl.col("text")), self_supervised_template(SUPPORT, CANDS, recovers_after("Sorts")),
                            recovers_after("Sorts"))
    assert scored["gold_rougeL"].is_between(0.5, 1.0).all()
    s = selection_summary(scored)
    assert s["choice"].to_list()[0] == "best by alignment" and s["gold_rougeL"][3] == scored["gold_rougeL"].max()

def test_alignment_metrics():
    assert alignment(["Open a file."], ["open the files"])[0] == pytest.approx(2/3)  # LCS open..file of 3 words each; 'files' stems to 'file'
    assert alignment(["Return the sum."], ["Return the sum."], metric="cosine")[0] == pytest.approx(1.0, abs=1e-5)
    assert alignment(["", "a b"], ["x", None]) == [None, 0.0]

@pytest.mark.parametrize("call, msg", [
    (lambda: self_supervised_template(SUPPORT.clear(), CANDS, recovers_after("x")), "support set has no non-empty text"),
    (lambda: self_supervised_template(SUPPORT, CANDS.clear(), recovers_after("x")), "no candidates"),
    (lambda: self_supervised_template(SUPPORT, CANDS.with_columns(annotation=pl.Series(["Sorts.", None, "Joins."])), recovers_after("x")),
     "candidate 'b' has no 'annotation'"),
    (lambda: self_supervised_template(SUPPORT, CANDS.drop("annotation"), recovers_after("x")), "column 'annotation' not found"),
    (lambda: self_supervised_template(SUPPORT, CANDS, CallableBackend(lambda p, **kw: "", "mute")), "returned no text"),
    (lambda: self_supervised_template(SUPPORT, CANDS, CallableBackend(lambda p, **kw: None, "none")), "returned no text"),
    (lambda: self_supervised_template(SUPPORT, CANDS, recovers_after("x"), metric="bleu"), "must be one of 'rougeL', 'cosine'"),
    (lambda: self_supervised_template(SUPPORT, CANDS, recovers_after("x"), prompts={"recovr": "x"}), "did you mean 'recover'"),
    (lambda: annotate(SUPPORT, example_annotation="Sorts.", backend=recovers_after("x")), "give both"),
    (lambda: make_step("annotate", max_tokens=0), "max_tokens"),
    (lambda: as_example(self_supervised_template(SUPPORT, CANDS, recovers_after("x")), rank=4), "between 1 and 3"),
])
def test_bad_input_is_one_line(call, msg):
    with pytest.raises(CuratekitError, match=msg.replace("(", r"\(").replace(")", r"\)")) as e: call()
    assert "\n" not in str(e.value)
