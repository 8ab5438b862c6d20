"""Training throughput of `curatekit.train` against Hugging Face's `Trainer`, and the wall time of a 4 × 3 ablation.

Part 1 (`--part trainer`): the same model (a GPT-2 built by `curatekit.train.causal_lm`, same seed), the same token blocks
(`token_blocks` on the sample corpus), the same batch (blocks × context), the same optimizer settings (AdamW, peak learning
rate, 5% warmup then cosine, weight decay 0.1, gradient clipping at 1.0), the same number of steps; curatekit's `fit` and a
plain `transformers.Trainer` (no evaluation, no saving, no logging integrations, no dataloader workers) alternate `--repeats`
times and the script reports each side's median tokens/s and their ratio. On CUDA it also reports the model FLOP utilization,
6 × parameters × tokens/s ÷ the device's bf16 peak (`--peak-flops`), both sides in bf16 autocast.

Part 2 (`--part ablation`): `curatekit.ablate.ablate` with 4 variants of the sample corpus (all of it, its clean documents,
what passes Gopher's repetition rules, prose and docstrings only) × 3 seeds, a "2m" GPT-2 (1.9M
parameters at a 4,096-token vocabulary) on 200,000 tokens per cell, scored on held-out clean documents per source, in a fresh
cache directory, two cells at a time (`--workers 2`, one thread each): total wall time, CPU time (this process and its
workers) and the load average.

    python benchmarks/bench_train.py --part trainer                 # CPU, "2m" GPT-2, 40 steps of 8 × 128 tokens, 3 alternations
    python benchmarks/bench_train.py --part trainer --size 2x2x64 --n-ctx 64 --steps 100   # the 0.24M model of the lessons
    python benchmarks/bench_train.py --part ablation                # CPU, 12 cells of 200k tokens, 2 worker processes
    python benchmarks/bench_train.py --part trainer --device cuda --size 50m --batch 32 --n-ctx 256 --steps 100
"""
import argparse, json, math, os, statistics, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CURATEKIT_PROGRESS", "0")

import numpy as np, polars as pl, torch
from curatekit.data import sample_corpus
from curatekit.lm import train_tokenizer
from curatekit.train import causal_lm, token_ids, token_blocks, fit, lr_factor

def blocks_for(args):
    "The token blocks both sides train on, and the tokenizer."
    corpus = sample_corpus().filter(pl.col("corruption").is_null())
    tok = train_tokenizer(corpus["text"].sample(4000, seed=0).to_list(), vocab_size=args.vocab)
    need = args.steps * args.batch * args.n_ctx
    return token_blocks(token_ids(corpus.sample(min(len(corpus), 6000), seed=1), tok), tok, need, args.n_ctx, seed=0), tok

def build(args, tok):
    "A size from LM_SIZES, or LAYERSxHEADSxWIDTH (e.g. 2x2x64)."
    if "x" in args.size:
        L, H, D = map(int, args.size.split("x"))
        return causal_lm(tok, None, args.n_ctx, n_layer=L, n_head=H, d_model=D, seed=0)
    return causal_lm(tok, args.size, args.n_ctx, seed=0)

def run_curatekit(args, x, tok):
    model = build(args, tok)
    b = args.batch
    t0, c0 = time.perf_counter(), time.process_time()
    fit(model, lambda i: x[i * b:(i + 1) * b], lambda m, xb: m(input_ids=xb, labels=xb).loss, args.steps, args.lr,
        weight_decay=0.1, device=args.device, progress=False)
    if args.device.startswith("cuda"): torch.cuda.synchronize()
    return time.perf_counter() - t0, time.process_time() - c0, model.num_parameters()

class Blocks(torch.utils.data.Dataset):
    def __init__(self, x): self.x = x
    def __len__(self): return len(self.x)
    def __getitem__(self, i): return {"input_ids": self.x[i], "labels": self.x[i]}

def run_trainer(args, x, tok):
    from transformers import Trainer, TrainingArguments, logging as hf_logging
    hf_logging.set_verbosity_error()
    model = build(args, tok)
    with tempfile.TemporaryDirectory() as d:
        ta = TrainingArguments(output_dir=d, per_device_train_batch_size=args.batch, max_steps=args.steps, learning_rate=args.lr,
                               lr_scheduler_type="cosine", warmup_steps=0.05, weight_decay=0.1, max_grad_norm=1.0,
                               adam_beta1=0.9, adam_beta2=0.95, logging_strategy="no", save_strategy="no", eval_strategy="no",
                               report_to=[], disable_tqdm=True, dataloader_num_workers=0, seed=0,
                               use_cpu=not args.device.startswith("cuda"), bf16=args.device.startswith("cuda"))
        tr = Trainer(model=model, args=ta, train_dataset=Blocks(x))
        t0, c0 = time.perf_counter(), time.process_time(); tr.train()
        if args.device.startswith("cuda"): torch.cuda.synchronize()
        return time.perf_counter() - t0, time.process_time() - c0, model.num_parameters()

def part_trainer(args):
    x, tok = blocks_for(args)
    x = torch.from_numpy(x)
    tokens = args.steps * args.batch * args.n_ctx
    res, cpu = {"curatekit": [], "trainer": []}, {"curatekit": [], "trainer": []}
    for r in range(args.repeats):  # alternate, so both sides see the same machine load
        for name, fn in (("curatekit", run_curatekit), ("trainer", run_trainer)):
            secs, csecs, params = fn(args, x, tok)
            res[name].append(tokens / secs); cpu[name].append(tokens / csecs)
            print(f"  run {r + 1} {name:<9} {tokens / secs:>9,.0f} tokens/s  {tokens / csecs:>9,.0f} tokens per CPU-second", flush=True)
    med, cmed = ({k: statistics.median(v) for k, v in d.items()} for d in (res, cpu))
    # on a shared machine wall time mostly measures the neighbours; CPU time (one thread: no spin-waits) measures the work
    out = dict(device=args.device, size=args.size, params=params, batch=args.batch, n_ctx=args.n_ctx, steps=args.steps,
               threads=torch.get_num_threads(), load=os.getloadavg(), tokens_per_s=med, ratio=med["curatekit"] / med["trainer"],
               tokens_per_cpu_s=cmed, cpu_ratio=cmed["curatekit"] / cmed["trainer"])
    if args.device.startswith("cuda"): out["mfu"] = {k: 6 * params * v / args.peak_flops for k, v in med.items()}
    return out

def part_ablation(args):
    from curatekit.ablate import ablate
    from curatekit.signals import gopher_repetition
    from curatekit.core import Recipe, Filter
    corpus = sample_corpus()
    clean = corpus.filter(pl.col("corruption").is_null())
    heldout = clean.filter(pl.col("id") % 10 == 0).group_by("source", maintain_order=True).head(50)
    pool = corpus.filter(~pl.col("id").is_in(heldout["id"].implode()))
    variants = {"all": pool, "clean": pool.filter(pl.col("corruption").is_null()),
                "gopher repetition ok": Recipe([gopher_repetition.step(), Filter("gopher_repetition_ok")]),
                "prose+docstring": pool.filter(pl.col("source").is_in(["prose", "docstring"]))}
    cpu0, t0, load0 = time.process_time(), time.perf_counter(), os.getloadavg()
    with tempfile.TemporaryDirectory() as d:
        abl = ablate(variants, heldout, budget=200_000, seeds=3, pool=pool, tokenizer=4096, eval_tokens=256, cache_dir=d,
                     train=dict(model="2m", n_ctx=128, batch_size=8, lr=3e-3), workers=args.workers, progress=True)
    wall = time.perf_counter() - t0
    s = abl.summary().filter(pl.col("metric") == "ppl").select("variant", "mean", "low", "high")
    print(s)
    import resource
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the worker processes' CPU time
    return dict(cells=len(abl.cells), workers=args.workers, wall_s=round(wall, 1), cpu_s=round(time.process_time() - cpu0 + kids.ru_utime + kids.ru_stime, 1),
                cell_s=round(float(abl.cells["seconds"].sum()), 1),
                load_before=load0, load_after=os.getloadavg(), threads=torch.get_num_threads(), ppl=s.rows())

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=["trainer", "ablation"], default="trainer")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--size", default="2m", help="a key of curatekit.train.LM_SIZES, or LAYERSxHEADSxWIDTH")
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--batch", type=int, default=8); p.add_argument("--n-ctx", type=int, default=128)
    p.add_argument("--steps", type=int, default=40); p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--repeats", type=int, default=3); p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workers", type=int, default=2, help="ablation cells trained at once (--part ablation)")
    p.add_argument("--peak-flops", type=float, default=989e12, help="bf16 dense peak of the GPU (default: H100 SXM)")
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args()
    if args.threads: torch.set_num_threads(args.threads)
    out = part_trainer(args) if args.part == "trainer" else part_ablation(args)
    print(json.dumps(out, indent=1, default=str))
    if args.json: Path(args.json).write_text(json.dumps(out, indent=1, default=str))

if __name__ == "__main__": main()
