"""Image throughput and agreement: curatekit's `encode_images` (the image half of `clip_embed`) vs Hugging Face's reference
preprocessing (`CLIPImageProcessorPil`) + `CLIPModel.get_image_features`, same model and images; and the perceptual-hash
dedup vs `imagehash.phash` looped per image.

    python benchmarks/bench_image.py [--n 2000] [--n-hash 10000] [--repeats 5] [--threads 1] [--device cpu|cuda] [--skip clip] [--profile]

Images: Fashion-MNIST test images as PNG bytes (`curatekit.data.fashion_mnist`), the same bytes for both sides; hashing also
on photographs of other sizes (`skimage.data`) for the bit-equality check. CLIP models, both saved Hugging Face folders:

- `reference`: curatekit's reference CLIP (28×28 input; trained once and cached by `clip.builtin_clip`);
- `vit-224`: a CLIP with a 224×224 ViT (patch 32, width 256, 4 layers; weights from its config with a fixed seed, so only
  speed and agreement mean anything), so that both sides resize every image 28 → 224 with Pillow's bicubic filter.

Both sides start from the bytes and end at L2-normalized image embeddings, in batches of `--batch`; they run alternately in one
process, `--repeats` times each after a warm-up, and the median counts. Reported: images/s of each, the ratio, the max absolute
difference of the embeddings (must be ≤ 1e-4), the hashes' agreement (must be 100%), and the load average.

Hashing rows: each round times the imagehash loop once (on decoded images, and from bytes) and every curatekit row once, in
turn; the medians of `--repeats` rounds count. curatekit runs on one thread (`threads=1`) and on all of polars' threads (the
column cut into one slice per thread); imagehash is one loop on one thread. Rows also give the ratio of CPU time
(`time.process_time`, all threads summed), which waiting for a core does not inflate, and each round's own ratio (its imagehash
run over its curatekit run, seconds apart) with their median, which a load that changes between rounds moves less. `--profile` adds the CPU milliseconds of
each stage of the dedup step on one thread (minimum of 5).
"""
import argparse, io, json, os, statistics, sys, tempfile, time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CURATEKIT_PROGRESS", "0")


def hf_embed(path, blobs, batch, device):
    "The reference: Pillow images -> CLIPImageProcessorPil -> CLIPModel.get_image_features -> normalize."
    from PIL import Image
    from transformers import CLIPModel
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    if path not in hf_embed.cache:
        hf_embed.cache[path] = (CLIPModel.from_pretrained(path).to(device).eval(), CLIPImageProcessorPil.from_pretrained(path))
    model, proc = hf_embed.cache[path]
    out = []
    with torch.inference_mode():
        for s in range(0, len(blobs), batch):
            imgs = [Image.open(io.BytesIO(b)) for b in blobs[s:s + batch]]
            px = proc(images=imgs, return_tensors="pt")["pixel_values"].to(device)
            f = model.get_image_features(pixel_values=px)
            f = f if isinstance(f, torch.Tensor) else f.pooler_output
            out.append(torch.nn.functional.normalize(f.float(), dim=-1).cpu())
    return torch.cat(out)
hf_embed.cache = {}


def ck_embed(path, blobs, batch, device):
    "curatekit: decode the column (batch PNG path), CLIP preprocessing over the batch, the image tower."
    from curatekit.clip import encode_images, load_clip
    from curatekit.image import decode_images
    px, _ = decode_images(blobs, None)
    return encode_images(px, load_clip(path, device), batch_size=batch)


def vit224(tmp):
    "A 224-px CLIP from a config (fixed seed), saved with curatekit's tokenizer and a 224-px preprocessing config."
    from transformers import CLIPConfig, CLIPModel
    from curatekit.clip import builtin_clip
    src = builtin_clip()
    torch.manual_seed(0)
    tower = dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4)
    cfg = CLIPConfig(text_config=dict(vocab_size=1024, max_position_embeddings=32, eos_token_id=3, bos_token_id=2, pad_token_id=0, **tower),
                     vision_config=dict(image_size=224, patch_size=32, num_channels=3, **tower), projection_dim=256)
    out = Path(tmp)/"vit-224"
    CLIPModel(cfg).save_pretrained(out)
    from transformers import AutoTokenizer
    AutoTokenizer.from_pretrained(src).save_pretrained(out)
    pre = json.loads((src/"preprocessor_config.json").read_text())
    pre.update(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    (out/"preprocessor_config.json").write_text(json.dumps(pre))
    return str(out)


def timed(fn, repeats):
    fn()  # warm-up (and the result checked for agreement)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter(); r = fn(); ts.append(time.perf_counter() - t0)
    return r, ts


def bench_clip(a, blobs):
    from curatekit.clip import builtin_clip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, n in [("reference (28 px)", str(builtin_clip()), a.n), ("vit-224 (224 px)", vit224(tmp), a.n_224)]:
            b = blobs[:n]
            ours, theirs = ck_embed(path, b, a.batch, a.device), hf_embed(path, b, a.batch, a.device)
            t_ck, t_hf = [], []
            for _ in range(a.repeats):   # alternate the two sides, so that load changes hit both
                t0 = time.perf_counter(); ck_embed(path, b, a.batch, a.device); t_ck.append(time.perf_counter() - t0)
                t0 = time.perf_counter(); hf_embed(path, b, a.batch, a.device); t_hf.append(time.perf_counter() - t0)
            ck, hf = n / statistics.median(t_ck), n / statistics.median(t_hf)
            rows.append(dict(model=name, images=n, curatekit_img_s=round(ck), hf_img_s=round(hf), ratio=round(ck / hf, 2),
                             max_abs_diff=float((ours - theirs).abs().max())))
    return rows


def bench_hash(a, blobs):
    import imagehash, skimage.data
    from PIL import Image
    from curatekit import image as ci
    from curatekit.image import image_phashes, image_phash_dedup, phash, decode_images
    import polars as pl
    def png(x):
        b = io.BytesIO(); Image.fromarray(x).save(b, format="PNG"); return b.getvalue()
    photos = [png(skimage.data.astronaut()[::s, ::t]) for s in (2, 3, 5) for t in (2, 4)] + [png(skimage.data.camera()[::s, ::s]) for s in (1, 3, 7)]
    check = blobs[:2000] + photos
    ours = [f"{h:016x}" for h in image_phashes(check)[0]]
    theirs = [str(imagehash.phash(Image.open(io.BytesIO(b)))) for b in check]
    agree = float(np.mean([o == t for o, t in zip(ours, theirs)]))
    b = blobs[:a.n_hash]
    frame = pl.DataFrame({"id": range(len(b)), "image": b}, schema={"id": pl.Int64, "image": pl.Binary})
    pil = [Image.open(io.BytesIO(x)) for x in b]
    for im in pil: im.load()
    arrays = np.stack(decode_images(b, "L")[0])
    cores = ci._threads()
    def dedup(threads):   # the step takes its thread count from polars' pool (POLARS_MAX_THREADS); pinned here for the 1-thread row
        keep, ci._threads = ci._threads, lambda: threads
        try: return image_phash_dedup(frame)
        finally: ci._threads = keep
    peer_decoded = lambda: [imagehash.phash(im) for im in pil]
    peer_bytes = lambda: [imagehash.phash(Image.open(io.BytesIO(x))) for x in b]
    rows = [("pHash of decoded images: phash(batch) vs imagehash.phash(PIL image) per image", 1, lambda: phash(arrays), "decoded"),
            ("pHash from PNG bytes, decoding included: image_phashes vs Image.open + imagehash.phash per image", 1, lambda: image_phashes(b, threads=1), "bytes"),
            ("pHash from PNG bytes, decoding included", cores, lambda: image_phashes(b, threads=cores), "bytes"),
            ("the dedup step from bytes (hashes, pairs <= 2 bits, clusters: image_phash_dedup) vs the imagehash loop (hashes only)", 1, lambda: dedup(1), "bytes"),
            ("the dedup step from bytes", cores, lambda: dedup(cores), "bytes")]
    peers = {"decoded": peer_decoded, "bytes": peer_bytes}
    wall, cpu = ({k: [] for k in [*range(len(rows)), *peers]} for _ in range(2))
    for _ in range(a.repeats):            # alternate every side in each round, so that load changes hit all of them
        for k, fn in [*peers.items(), *((k, r[2]) for k, r in enumerate(rows))]:
            t0, c0 = time.perf_counter(), time.process_time(); fn()
            wall[k].append(time.perf_counter() - t0); cpu[k].append(time.process_time() - c0)
    n, out, med = len(b), [], statistics.median
    for k, (what, threads, _, peer) in enumerate(rows):
        out.append(dict(what=what, curatekit_threads=threads, images=n, curatekit_img_s=round(n / med(wall[k])),
                        imagehash_img_s=round(n / med(wall[peer])), ratio=round(med(wall[peer]) / med(wall[k]), 1),
                        cpu_time_ratio=round(med(cpu[peer]) / med(cpu[k]), 1),
                        round_ratios=[round(p / o, 1) for p, o in zip(wall[peer], wall[k])],   # each round's pair, run minutes apart at most
                        median_round_ratio=round(med([p / o for p, o in zip(wall[peer], wall[k])]), 1), runs=[round(x, 3) for x in wall[k]],
                        peer_runs=[round(x, 3) for x in wall[peer]]))
    out.append(dict(what=f"bit agreement with imagehash on {len(check):,} images (incl. {len(photos)} photographs)", images=len(check), ratio=agree))
    return out


def profile_hash(a, blobs, repeats=5):
    "CPU milliseconds of each stage of `image_phash_dedup` on one thread (the minimum of `repeats`), and of the imagehash loop."
    import imagehash, polars as pl
    from PIL import Image
    from curatekit import image as ci
    from curatekit.dedup import connected_components
    b = blobs[:a.n_hash]
    def cpu(fn, k=repeats):
        ts = []
        for _ in range(k):
            c0 = time.process_time(); r = fn(); ts.append(time.process_time() - c0)
        return r, round(min(ts) * 1e3, 1)
    out = {}
    (rows, lens, h, w, ch), out["parse the column's headers (_plain_pngs)"] = cpu(lambda: ci._plain_pngs(b, ci.MAX_PIXELS))
    inflate = lambda: ci._inflate_plain(b, rows, lens, h * (1 + w * ch))
    raws, out[f"inflate ({'libdeflate' if ci._libdeflate else 'zlib'} per image)"] = cpu(inflate)
    if ci._libdeflate is not None:   # what libdeflate buys: the same streams through zlib's capped decompressobj
        keep, ci._libdeflate = ci._libdeflate, None
        try: _, out["inflate without libdeflate (zlib decompressobj per image, the fallback)"] = cpu(inflate)
        finally: ci._libdeflate = keep
    raw, out["join into one array"] = cpu(lambda: np.frombuffer(b"".join(raws), np.uint8).reshape(len(raws), int(h[0]), -1))
    px, out["undo the row filters (unfilter_scanlines)"] = cpu(lambda: ci.unfilter_scanlines(raw, 1))
    hs, out["pHash (phash: Lanczos resize, DCT corner, median)"] = cpu(lambda: ci.phash(np.ascontiguousarray(px)))
    _, out["pairs within 2 bits and clusters"] = cpu(lambda: connected_components(len(hs), ci.hamming_pairs(hs, 2)))
    _, out["image_phashes, end to end"] = cpu(lambda: ci.image_phashes(b, threads=1))
    frame = pl.DataFrame({"id": range(len(b)), "image": b}, schema={"id": pl.Int64, "image": pl.Binary})
    keep, ci._threads = ci._threads, lambda: 1
    try: _, out["image_phash_dedup, end to end"] = cpu(lambda: ci.image_phash_dedup(frame))
    finally: ci._threads = keep
    _, out["imagehash: Image.open + phash per image"] = cpu(lambda: [imagehash.phash(Image.open(io.BytesIO(x))) for x in b], 3)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="images for the reference CLIP")
    p.add_argument("--n-224", type=int, default=300, help="images for the 224-px CLIP")
    p.add_argument("--n-hash", type=int, default=10000, help="images hashed")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1 avoids spin-wait contention on a shared machine)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--skip", choices=["clip", "hash"], default=None)
    p.add_argument("--profile", action="store_true", help="also the CPU time of each stage of the dedup step, one thread")
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    from curatekit.data import fashion_mnist
    from curatekit.image import encode_png
    from PIL import Image
    x, _ = fashion_mnist("test")
    def png(im):
        b = io.BytesIO(); Image.fromarray(im).save(b, format="PNG"); return b.getvalue()
    blobs = [png(im) for im in x]   # Pillow's PNGs (adaptive filters), as images arrive from elsewhere
    dev = torch.cuda.get_device_name() if a.device == "cuda" else f"cpu, {torch.get_num_threads()} torch thread(s)"
    print(f"device: {dev}; load average before: {os.getloadavg()}")
    if a.skip != "clip":
        for r in bench_clip(a, blobs): print(json.dumps(r))
    if a.skip != "hash":
        for r in bench_hash(a, blobs): print(json.dumps(r))
    if a.profile:
        print(json.dumps({"cpu_ms_one_thread": profile_hash(a, blobs), "images": min(a.n_hash, len(blobs))}, ensure_ascii=False))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
