"""The LM scoring kernel (`curatekit.lm.token_logprobs`) vs a plain per-document Hugging Face loop, on the same documents and model.

The naive loop is the Hugging Face perplexity guide applied per document: tokenize one text, run batch 1 without padding, one
sliding window at a time (labels -100 on context tokens), and read `.loss`. Both sides score every token after the first of
every document with the same windows, so their perplexities must agree; the script reports the tokens/s ratio and the maximum
relative difference of the per-document perplexities.

    python benchmarks/bench_lm.py                               # CPU: a 5M-parameter GPT-2 from a config, docs cut from the Python docs and stdlib
    python benchmarks/bench_lm.py --corpora /work/corpora       # documents sampled from raw.parquet instead
    python benchmarks/bench_lm.py --device cuda --corpora DIR   # GPU: GPT-2 small (124M) from a config, bf16, roofline fraction

Needs only torch, transformers, tokenizers, numpy (and polars/pyarrow for --corpora) besides curatekit. Weights are random
(throughput does not depend on them; agreement is checked on whatever the model computes) unless --model names a saved model.
"""
import argparse, json, math, re, sys, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

def import_lm():
    "`curatekit.lm`; where curatekit's core dependencies (polars, pyyaml, fastcore) are missing, with a minimal stand-in core."
    try:
        from curatekit import lm
        return lm
    except ImportError as e:
        print(f"note: {e}; loading curatekit/lm.py with a stand-in core (the kernel needs only torch + transformers)")
    import importlib.util, os, types
    core = types.ModuleType("curatekit.core")
    core.CuratekitError = type("CuratekitError", (ValueError,), {})
    core.map_step = lambda f=None, **kw: f if f is not None else (lambda g: g)
    core.check_text = lambda df, col="text": df
    core.curatekit_home = lambda: Path(os.environ.get("CURATEKIT_HOME") or Path.home()/".cache"/"curatekit")
    core.default_device = lambda: "cuda" if torch.cuda.is_available() else "cpu"
    core._progress = lambda p: bool(p)
    pkg = types.ModuleType("curatekit"); pkg.__path__ = [str(ROOT/"curatekit")]
    sys.modules.update({"curatekit": pkg, "curatekit.core": core})
    if sys.modules.get("polars") is None: sys.modules["polars"] = types.ModuleType("polars")
    spec = importlib.util.spec_from_file_location("curatekit.lm", ROOT/"curatekit"/"lm.py")
    lm = importlib.util.module_from_spec(spec); sys.modules["curatekit.lm"] = lm; spec.loader.exec_module(lm)
    return lm

lm = import_lm()

SIZES = {"tiny": dict(n_embd=64, n_layer=2, n_head=2, n_positions=128, vocab=1024),     # 0.17M: the shape of the built-in curatekit/python-docs LM
         "mini": dict(n_embd=128, n_layer=2, n_head=2, n_positions=256, vocab=8192),    # ~1.5M parameters
         "small": dict(n_embd=256, n_layer=4, n_head=4, n_positions=256, vocab=8192),   # ~5M parameters (train_reference_lm's defaults)
         "gpt2": dict(n_embd=768, n_layer=12, n_head=12, n_positions=1024, vocab=8192)} # GPT-2 small, 124M with vocab 50257

def docs_python(n, max_chars):
    "`n` documents of mixed length (uniform in 100..`max_chars` characters) cut from the Python reference manual and stdlib source."
    import sysconfig
    from pydoc_data.topics import topics
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    text = "\n\n".join(list(topics.values()) + [p.read_text(errors="replace") for p in files])
    rng = np.random.default_rng(0)
    lens = rng.integers(100, max(101, max_chars), n)
    starts = rng.integers(0, len(text) - max_chars, n)
    return [text[s:s + l] for s, l in zip(starts, lens)]

def docs_corpora(path, n, heavy=False, tail_scale=1.0):
    import polars as pl
    df = pl.read_parquet(Path(path)/"raw.parquet", columns=["text", "source"])
    if heavy:   # the tail of benchmarks/heavy.py (4 MB ... 8 x 64 kB), each size times tail_scale
        sys.path.insert(0, str(Path(__file__).resolve().parent)); from heavy import heavy_pool, TAIL
        return heavy_pool(df, n, 0, tail=[int(s * tail_scale) for s in TAIL])["text"].to_list()
    return df.sample(min(n, len(df)), seed=0)["text"].to_list()

def build(args, texts):
    "(model, tokenizer, description): a saved model, or a GPT-2 from a config with a BPE tokenizer trained on the texts."
    import transformers as tf
    tf.utils.logging.set_verbosity_error()
    if args.model:
        m, t = lm.load_lm(args.model, args.device); return m, t, args.model
    shape = dict(SIZES[args.size]); vocab = shape.pop("vocab")
    tok = lm.train_tokenizer(texts, vocab)
    torch.manual_seed(0)
    cfg = dict(shape, vocab_size=50257 if args.size == "gpt2" else len(tok), initializer_range=0.1)
    model = tf.GPT2LMHeadModel(tf.GPT2Config(**cfg)).to(args.device).eval()
    return model, tok, f"GPT-2 {args.size} from config (random weights)"

def naive(model, tok, texts, device, autocast, context, stride):
    "The plain loop: per document, batch 1, no padding, strided windows, `labels` with -100 on the context."
    nll, ntok = [], 0
    for t in texts:
        ids = torch.tensor([tok(t)["input_ids"]], device=device)
        tot, cnt = 0.0, 0
        for s, e, f in lm.sliding_windows(ids.shape[1], context, stride) if ids.shape[1] > 1 else []:
            x = ids[:, s:e]; y = x.clone(); y[:, :f - s] = -100
            with torch.inference_mode(), torch.autocast(torch.device(device).type, torch.bfloat16, enabled=autocast):
                loss = model(input_ids=x, labels=y).loss
            tot += loss.float().item() * (e - f); cnt += e - f
        nll.append(tot / cnt if cnt else float("nan")); ntok += cnt
    return np.array(nll), ntok

def kernel(model, tok, texts, device, autocast, batch_tokens):
    res = lm.token_logprobs(model, texts, tok, device=device, autocast=autocast, batch_tokens=batch_tokens, progress=False)
    return np.array([-r.logp.astype(np.float64).mean() if len(r) else np.nan for r in res]), sum(map(len, res))

def timed(fn, device):
    "(fn(), wall seconds, CPU seconds of this process): on a shared machine CPU time does not count the time other jobs held the core."
    if device.startswith("cuda"): torch.cuda.synchronize()
    t, c = time.perf_counter(), time.process_time(); out = fn()
    if device.startswith("cuda"): torch.cuda.synchronize()
    return out, time.perf_counter() - t, time.process_time() - c

def max_rel(a, b):
    ok = ~np.isnan(a) & ~np.isnan(b)
    pa, pb = np.exp(a[ok]), np.exp(b[ok])
    return float(np.max(np.abs(pa - pb) / pb))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--corpora", help="directory with raw.parquet (default: text from the Python installation)")
    p.add_argument("--docs", type=int, help="documents (default 100 on CPU, 3000 on CUDA)")
    p.add_argument("--max-chars", type=int, default=4000, help="cut each document to this many characters (both sides; 0: no cut)")
    p.add_argument("--heavy", action="store_true", help="with --corpora: a heavy-tailed pool (benchmarks/heavy.py; use --max-chars 0 to keep the tail)")
    p.add_argument("--tail-scale", type=float, default=1.0, help="with --heavy: scale the long documents' sizes (1/16: 256 kB down to 4 kB)")
    p.add_argument("--repeats", type=int, default=3, help="alternating timed runs of each side (median reported)")
    p.add_argument("--size", choices=list(SIZES), help="model size from config (default small on CPU, gpt2 on CUDA)")
    p.add_argument("--model", help="a saved model directory instead of a config")
    p.add_argument("--batch-tokens", type=int, help="kernel token budget per batch (default: token_logprobs's)")
    p.add_argument("--peak-flops", type=float, default=989e12, help="peak bf16 FLOP/s for the roofline (H100 SXM dense: 989e12)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)
    cuda = a.device.startswith("cuda")
    a.size = a.size or ("gpt2" if cuda else "small"); a.docs = a.docs or (3000 if cuda else 100)
    if a.threads: torch.set_num_threads(a.threads)
    texts = docs_corpora(a.corpora, a.docs, a.heavy, a.tail_scale) if a.corpora else docs_python(a.docs, a.max_chars)
    texts = [t[:a.max_chars] for t in texts] if a.max_chars else texts
    model, tok, desc = build(a, texts)
    params, context = model.num_parameters(), lm._context(model, None)
    stride = context // 2
    autocast = cuda
    warm = texts[:8]
    naive(model, tok, warm, a.device, autocast, context, stride); kernel(model, tok, warm, a.device, autocast, a.batch_tokens)
    sys.path.insert(0, str(Path(__file__).resolve().parent)); import heavy
    tn, tk, cn, ck, loads = [], [], [], [], []
    for i in range(a.repeats):   # alternate the two sides so that both see the same load; order flips every run
        order = ("n", "k") if i % 2 == 0 else ("k", "n")
        for side in order:
            if side == "n": (nll_n, tok_n), t, c = timed(lambda: naive(model, tok, texts, a.device, autocast, context, stride), a.device); tn.append(t); cn.append(c)
            else: (nll_k, tok_k), t, c = timed(lambda: kernel(model, tok, texts, a.device, autocast, a.batch_tokens), a.device); tk.append(t); ck.append(c)
        loads.append(heavy.load())
        print(f"run {i}: naive {tn[-1]:.2f} s ({cn[-1]:.2f} s CPU), kernel {tk[-1]:.2f} s ({ck[-1]:.2f} s CPU), {loads[-1]}", file=sys.stderr)
    t_n, t_k = heavy.median(tn), heavy.median(tk)
    assert tok_n == tok_k, (tok_n, tok_k)
    ntoks = [len(i) for i in tok(texts)["input_ids"]]
    r = dict(device=torch.cuda.get_device_name() if cuda else f"cpu ({torch.get_num_threads()} threads)", model=desc,
             params=params, context=context, docs=len(texts), tokens=tok_k, mean_nll=float(np.nanmean(nll_k)),
             naive_tok_s=tok_n / t_n, kernel_tok_s=tok_k / t_k, speedup=t_n / t_k,
             speedup_cpu_time=heavy.median(cn) / heavy.median(ck),
             max_rel_diff_ppl=max_rel(nll_k, nll_n), precision="bf16 autocast" if autocast else "fp32",
             runs=f"median of {a.repeats} alternating; wall ratios " + ", ".join(f"{x / y:.2f}" for x, y in zip(tn, tk))
                  + "; CPU-time ratios " + ", ".join(f"{x / y:.2f}" for x, y in zip(cn, ck)),
             load="; ".join(loads), megabytes=sum(len(t.encode()) for t in texts) / 1e6,
             longest_doc_tokens=max(ntoks),
             docs_beyond_context=sum(n > context for n in ntoks), windows=sum(len(lm.sliding_windows(n, context, stride)) for n in ntoks if n > 1))
    if cuda:
        r["roofline_fraction"] = 2 * params * r["kernel_tok_s"] / a.peak_flops
        r["naive_roofline_fraction"] = 2 * params * r["naive_tok_s"] / a.peak_flops
        sub = texts[:64]  # the same numbers in fp32: kernel vs naive without autocast
        r["max_rel_diff_ppl_fp32"] = max_rel(kernel(model, tok, sub, a.device, False, a.batch_tokens)[0],
                                             naive(model, tok, sub, a.device, False, context, stride)[0])
    for k, v in r.items(): print(f"{k:>24}: {v:.4g}" if isinstance(v, float) else f"{k:>24}: {v}")
    if a.json: Path(a.json).write_text(json.dumps(r, indent=1))
    return r

if __name__ == "__main__": main()
