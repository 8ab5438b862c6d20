"""Images end to end without apt: readers through `core.read` and `curatekit run`, bad images, hashes against imagehash, a CLIP
trained on scikit-learn's digits, and the built-in image recipe run from the command line."""
import io, json, tarfile, zlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import skimage.data
from PIL import Image
from sklearn.datasets import load_digits

from curatekit.core import CuratekitError, read, read_file, load_recipe, Recipe
from curatekit.image import (decode_images, load_image, encode_png, image_phashes, image_phash_dedup, image_exact_dedup,
                             read_tar, thumbnail_html)
from curatekit.clip import train_clip, load_clip, clip_score, clip_embed, zero_shot_accuracy

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def png(a, **kw):
    b = io.BytesIO(); Image.fromarray(a).save(b, format="PNG", **kw); return b.getvalue()


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x = (d.images * 255 / 16).astype(np.uint8)
    return x, d.target, [f"a handwritten {WORDS[y]}" for y in d.target]


@pytest.fixture(scope="module")
def huge_png():
    "A real 10,000×10,000 PNG (black): decoding it would take 100 MB; it must be refused from its header."
    b = io.BytesIO(); Image.new("L", (10_000, 10_000)).save(b, format="PNG", compress_level=1); return b.getvalue()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    "Tiny models on a shared CPU: one torch thread avoids spin-wait contention (and the same thread count gives the same weights)."
    import torch
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny_clip(digits, tmp_path_factory, one_thread):
    "A CLIP trained on the digits, cached where the session's tests look (conftest's CURATEKIT_HOME)."
    x, y, t = digits
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CURATEKIT_HOME", str(tmp_path_factory.getbasetemp()/"curatekit-home"))
        return train_clip(x[:1500], t[:1500], samples=4096, width=32, layers=1, heads=2, patch_size=4, vocab_size=64, batch_size=64, lr=3e-3)


def test_png_batch_path_equals_pillow():
    "Every PNG flavour decodes to Pillow's pixels: the batch path where it applies, Pillow where it does not."
    astro, cam = skimage.data.astronaut()[::8, ::8], skimage.data.camera()[::8, ::8]
    pal = Image.fromarray(astro).convert("P", palette=Image.Palette.ADAPTIVE)
    b = io.BytesIO(); pal.save(b, format="PNG")
    cells = [png(astro), png(cam), png(astro, optimize=True), png(cam, compress_level=0), b.getvalue(),
             png(np.dstack([astro, astro[..., 0]])), png(cam.astype(np.uint16) * 257), encode_png(cam), encode_png(astro)]
    i = io.BytesIO(); Image.fromarray(astro).save(i, format="PNG", interlace=1); cells.append(i.getvalue())
    for mode in ("RGB", "L", None):
        fast, why = decode_images(cells * 40, mode)
        for v, f in zip(cells, fast):
            ref, r = load_image(v, mode)
            assert r is None and np.array_equal(f, ref)


def _filtered_png(px: np.ndarray, kinds: list) -> bytes:
    "A PNG of 8-bit pixels whose row r is written with PNG filter kinds[r] (the spec's definitions, pixel by pixel)."
    h, ch = px.shape[0], 1 if px.ndim == 2 else px.shape[2]
    x, rows = px.reshape(h, -1).astype(int), []
    for r, k in enumerate(kinds):
        up = x[r - 1] if r else np.zeros_like(x[0])
        out = []
        for j, v in enumerate(x[r]):
            a, b, c = (x[r, j - ch] if j >= ch else 0), up[j], (up[j - ch] if j >= ch else 0)
            p = a + b - c
            paeth = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
            out.append((v - [0, a, b, (a + b) // 2, paeth][k]) % 256)
        rows.append(bytes([k] + out))
    chunk = lambda t, d: len(d).to_bytes(4, "big") + t + d + zlib.crc32(t + d).to_bytes(4, "big")
    head = px.shape[1].to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 0 if ch == 1 else 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")


def test_unfilter_equals_pillow_on_every_filter():
    "PNGs written with every filter type on photographs (RGB and grey): the batch path, Pillow and the pixels agree."
    from curatekit.image import png_chunks, unfilter_scanlines
    rng = np.random.default_rng(0)
    for src, ch in ((skimage.data.astronaut(), 3), (skimage.data.camera(), 1)):
        ims = [src[k:k + 12, 3 * k:3 * k + 10] for k in range(0, 160, 4)]
        cells = [_filtered_png(a, rng.integers(0, 5, 12).tolist()) for a in ims]
        assert all(np.array_equal(np.asarray(Image.open(io.BytesIO(c))), a) for c, a in zip(cells, ims))   # Pillow reads them
        raw = np.stack([np.frombuffer(zlib.decompress(png_chunks(c)[1]), np.uint8).reshape(12, 1 + 10 * ch) for c in cells])
        assert set(np.unique(raw[:, :, 0])) == {0, 1, 2, 3, 4}
        assert np.array_equal(unfilter_scanlines(raw, ch).reshape(len(ims), *ims[0].shape), np.stack(ims))
        assert all(np.array_equal(p, a) for p, a in zip(decode_images(cells, None)[0], ims))


def test_a_large_column_decodes_in_two_threads_to_the_same_pixels(huge_png):
    "Large columns are inflated in two slices at once; the pixels and reasons are those of one thread, and of Pillow."
    cam = skimage.data.camera()[::16, ::16]
    cells = [png(cam), b"\x89PNG damaged", None, huge_png, png(cam)[:-30]] \
            + ([encode_png(np.roll(cam, k, 1)) for k in range(8)] + [png(np.roll(cam, k, 0)) for k in range(8)]) * 256
    one, two = decode_images(cells, "L", max_pixels=10_000, threads=1), decode_images(cells, "L", max_pixels=10_000, threads=2)
    assert one[1] == two[1] and all((a is None and b is None) or np.array_equal(a, b) for a, b in zip(one[0], two[0]))
    assert two[1][:5] == [None, "corrupt", "null", "too_large", "corrupt"] and len(two[0]) == 4101
    assert all(np.array_equal(p, load_image(c, "L")[0]) for p, c in zip(two[0][:21], cells[:21]) if p is not None)
    h1, h2 = image_phashes(cells, 10_000, threads=1)[0], image_phashes(cells, 10_000, threads=2)[0]
    assert np.array_equal(h1, h2)

def test_both_inflates_agree_and_stop_a_zlib_bomb(monkeypatch):
    "libdeflate (where installed) and zlib's capped inflate decode the same pixels and refuse the same streams, a bomb included."
    import curatekit.image as ci
    cam = skimage.data.camera()[::16, ::16]
    head = (32).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    chunk = lambda t, d: len(d).to_bytes(4, "big") + t + d + zlib.crc32(t + d).to_bytes(4, "big")
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(bytes(50_000_000))) + chunk(b"IEND", b"")
    cells = [png(cam), encode_png(cam), png(cam)[:-30], bomb, png(np.roll(cam, 3, 1))]
    ours = decode_images(cells, "L", threads=1)
    monkeypatch.setattr(ci, "_libdeflate", None)
    plain = decode_images(cells, "L", threads=1)
    assert ours[1] == plain[1] == [load_image(c, "L")[1] for c in cells]
    assert all((a is None and b is None) or np.array_equal(a, b) for a, b in zip(ours[0], plain[0]))
    assert ci._inflate_exact(memoryview(bomb)[41:-12], 32 * 33) is None and len(bomb) < 60_000   # refused, not inflated to 50 MB


def test_bad_images_get_reasons_not_errors(tmp_path, huge_png):
    cam = skimage.data.camera()[::8, ::8]
    cells = [png(cam)[:-30], png(cam)[:100], b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"", b"\xff\xd8\xff garbage", huge_png, None,
             str(tmp_path/"missing.png"), png(cam)]
    px, why = decode_images(cells)
    assert why == ["corrupt", "corrupt", "corrupt", "corrupt", "corrupt", "too_large", "null", "missing_path", None]
    assert px[-1].shape == (64, 64, 3) and all(p is None for p in px[:-1])
    assert "corrupt" in thumbnail_html(cells[0])


def test_phash_equals_imagehash(digits):
    import imagehash
    x = digits[0]
    cells = [png(a) for a in x[:300]] + [png(skimage.data.astronaut()[::s, ::t]) for s, t in ((2, 3), (4, 4), (7, 5))] \
            + [png(np.zeros((9, 9), np.uint8))]
    ours, _ = image_phashes(cells)
    assert [f"{h:016x}" for h in ours] == [str(imagehash.phash(Image.open(io.BytesIO(c)))) for c in cells]


def test_image_dedup_annotates_and_names_survivors(digits):
    x = digits[0]
    df = pl.DataFrame({"id": ["a", "b", "c", "d"], "image": [png(x[0]), png(x[0]), encode_png(x[0]), None]})
    ex = image_exact_dedup(df)
    assert ex["image_exact_dup_of"].to_list() == [None, "a", None, None]
    ph = image_phash_dedup(df)
    assert ph["phash_dup_of"].to_list() == [None, "a", "a", None] and ph["image_error"].to_list() == [None, None, None, "null"]
    with pytest.raises(CuratekitError, match="column 'image' must hold image bytes"):
        image_phash_dedup(df.with_columns(image=pl.lit(1.5)))


def webdataset(path, x, texts):
    with tarfile.open(path, "w") as tar:
        for i, (a, t) in enumerate(zip(x, texts)):
            for ext, data in (("png", png(a)), ("txt", t.encode()), ("json", json.dumps({"key": f"{i:06d}"}).encode())):
                info = tarfile.TarInfo(f"{i:06d}.{ext}"); info.size = len(data); tar.addfile(info, io.BytesIO(data))
    return path


def test_readers(tmp_path, digits):
    x, y, t = digits
    shards = tmp_path/"shards"; shards.mkdir()
    webdataset(shards/"part-000.tar", x[:10], t[:10]); webdataset(shards/"part-001.tar", x[10:20], t[10:20])
    df = read(shards)                                         # a directory of tar shards
    assert df.height == 20 and df["text"][0] == t[0]
    one = read_tar(shards/"part-000.tar")
    assert one["key"].to_list() == [f"{i:06d}" for i in range(10)] and json.loads(one["json"][3]) == {"key": "000003"}
    assert df["id"][:2].to_list() == ["part-000-0", "part-000-1"]           # keys repeat across these shards; ids do not
    folder = tmp_path/"folder"
    for i, (a, lab) in enumerate(zip(x[:12], y[:12])):
        (folder/WORDS[lab]).mkdir(parents=True, exist_ok=True)
        (folder/WORDS[lab]/f"{i}.png").write_bytes(png(a))
    f = read(folder)
    assert f.height == 12 and set(f["label"]) <= set(WORDS) and f["text"].null_count() == 12
    (tmp_path/"broken.tar").write_bytes(b"not a tar at all" * 10)
    with pytest.raises(CuratekitError, match="broken.tar: not a readable tar file"):
        read(tmp_path/"broken.tar")
    with pytest.raises(CuratekitError, match="no data files"):
        (tmp_path/"empty").mkdir(); read(tmp_path/"empty")


def test_train_clip_is_deterministic_and_learns(digits, tiny_clip, tmp_path):
    import shutil
    x, y, t = digits
    clip = load_clip(tiny_clip)
    assert zero_shot_accuracy(clip, x[1500:], y[1500:], WORDS, ("a handwritten {}",)) > 0.3
    e1 = clip_embed(pl.DataFrame({"image": [png(a) for a in x[1500:1520]], "text": t[1500:1520]}), clip)
    copy = tmp_path/"copy"; shutil.copytree(tiny_clip, copy); shutil.rmtree(tiny_clip)
    again = train_clip(x[:1500], t[:1500], samples=4096, width=32, layers=1, heads=2, patch_size=4, vocab_size=64, batch_size=64, lr=3e-3)
    assert again == tiny_clip and (again/"model.safetensors").read_bytes() == (copy/"model.safetensors").read_bytes()
    assert e1["clip_image_emb"].dtype == pl.Array(pl.Float32, 32)


def test_clip_score_bad_input(digits, tiny_clip, huge_png):
    x, y, t = digits
    rgba = np.dstack([np.repeat(x[0][..., None], 3, -1), np.full((8, 8), 128, np.uint8)])
    df = pl.DataFrame({"image": [png(x[0]), png(x[0])[:40], huge_png, png(rgba), png(x[0].astype(np.uint16) * 257), None, png(x[1])],
                       "text": [t[0], t[0], t[0], t[0], t[0], t[0], None]})
    out = clip_score(df, str(tiny_clip))
    assert out["image_error"].to_list() == [None, "corrupt", "too_large", None, None, "null", None]
    assert out["clip_score"].is_null().to_list() == [False, True, True, False, False, True, True]
    with pytest.raises(CuratekitError, match="column 'text' must hold strings"):
        clip_score(df.with_columns(text=pl.lit(1)), str(tiny_clip))


def test_builtin_image_recipe_from_the_cli(cli, tmp_path, digits, tiny_clip):
    "`curatekit run` applies the image recipe (its CLIP swapped for a tiny one) to WebDataset shards; the ledger accounts for every row."
    x, y, t = digits
    texts = [s if i % 7 else "img" for i, s in enumerate(t[:60])]          # every 7th caption too short
    shards = tmp_path/"in"; shards.mkdir()
    webdataset(shards/"a.tar", np.concatenate([x[:30], x[:5]]), texts[:30] + texts[:5])   # 5 exact copies
    webdataset(shards/"b.tar", x[30:60], texts[30:60])
    d = load_recipe("image-text-basic").to_dict()
    for s in d["steps"]:
        if s["step"] == "clip_score": s["with"] = {"model": str(tiny_clip)}
    rp = tmp_path/"recipe.yaml"; Recipe.from_dict(d).save(rp)
    import os
    r = cli("run", rp, shards, tmp_path/"out.parquet", env={**os.environ, "OMP_NUM_THREADS": "1"})  # tiny models: one thread
    assert r.returncode == 0, r.stderr
    out, led = read_file(tmp_path/"out.parquet"), read_file(tmp_path/"out.ledger.parquet")
    assert out.height + led.height == 65
    reasons = dict(led.group_by("reason").len().iter_rows())
    assert reasons["short_caption"] == 9 and reasons["image_duplicate"] >= 5 and reasons["low_clip_score"] > 0
