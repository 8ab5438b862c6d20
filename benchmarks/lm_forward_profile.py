"""Where a GPT-2 forward spends its time on a GPU: forward under autocast vs bf16 weights, and the per-token log-prob step."""
# Run on a CUDA machine: python benchmarks/lm_forward_profile.py
import time, torch, transformers as tf
cfg = tf.GPT2Config(); m = tf.GPT2LMHeadModel(cfg).cuda().eval()
print("attn impl:", m.config._attn_implementation)
def t(fn, n=5):
    fn(); torch.cuda.synchronize(); t0=time.perf_counter()
    for _ in range(n): fn()
    torch.cuda.synchronize(); return (time.perf_counter()-t0)/n
for B, T in [(32, 512), (128, 512), (64, 1024)]:
    ids = torch.randint(0, 50257, (B, T), device="cuda"); mask = torch.ones_like(ids)
    with torch.inference_mode():
        f_ac = lambda: m(input_ids=ids, attention_mask=mask).logits
        def fwd_ac():
            with torch.autocast("cuda", dtype=torch.bfloat16): return m(input_ids=ids, attention_mask=mask).logits
        tf_ = t(fwd_ac)
        with torch.autocast("cuda", dtype=torch.bfloat16): lg = m(input_ids=ids, attention_mask=mask).logits
        def stats():
            x = lg[:, :-1].float(); lse = torch.logsumexp(x, -1); return x.gather(-1, ids[:, 1:, None]).squeeze(-1) - lse
        ts = t(stats)
        def stats_fused():
            x = torch.log_softmax(lg[:, :-1], -1, dtype=torch.float32); return x.gather(-1, ids[:, 1:, None]).squeeze(-1)
        tsf = t(stats_fused)
        mb = m.to(torch.bfloat16)
        tbf = t(lambda: mb(input_ids=ids, attention_mask=mask).logits)
        m.float()
    print(f"B={B} T={T} tokens={B*T}: fwd autocast {tf_*1e3:.1f} ms ({B*T/tf_:,.0f} tok/s), stats {ts*1e3:.1f} ms, stats fused {tsf*1e3:.1f} ms, fwd bf16 weights {tbf*1e3:.1f} ms ({B*T/tbf:,.0f} tok/s)")
