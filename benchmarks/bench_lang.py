"""Language ID: curatekit's `lang_id` (fastText lid.176.ftz) vs langid.py, py3langid and lingua, on one labelled set.

    python benchmarks/bench_lang.py --corpora /work/corpora      # English from the shared raw pool
    python benchmarks/bench_lang.py                              # English from the standard library's docstrings
    python benchmarks/bench_lang.py --extra-path DIR             # where langid / py3langid / lingua are installed (pip --target)
    python benchmarks/bench_lang.py --engines [--repeats 3]      # lang_id's NumPy lid.176 vs fastText's C++ (the same model)

The labelled set is built offline-friendly: German, French, Spanish, Italian, Dutch, Polish, Portuguese, Czech, Russian, Ukrainian
and Japanese prose paragraphs from Debian's translated man pages (`apt-get download manpages-de ...`, cached in `--cache`;
paragraphs that contain both " the " and " of " are skipped, being untranslated English), plus English documents. Every text is cut
to its first 1,000 characters. Each candidate that imports runs in its own process; docs/s is timed after the model is loaded.
"""
import argparse, gzip, json, os, random, re, subprocess, sys, tempfile, time
import numpy as np
from pathlib import Path
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
MANPAGES = {"cs": "cs", "de": "de", "es": "es", "fr": "fr", "it": "it", "ja": "ja", "nl": "nl", "pl": "pl", "pt-br": "pt", "ru": "ru", "uk": "uk"}

def _prose(src):
    "Paragraphs of running text in a roff man page (macros and font escapes dropped)."
    out, para = [], []
    for line in src.splitlines():
        if line.startswith((".", "'")) or not line.strip():
            if (line.startswith((".PP", ".P", ".LP", ".SH", ".TP", ".IP")) or not line.strip()) and para:
                out.append(" ".join(para)); para = []
            continue
        line = re.sub(r"\\f[BIRP]|\\f\(..|\\\(..|\\[&-]|\\e|\\\*\(..|\\\*.|\\s[-+]?\d", "", line)
        para.append(line.replace("\\-", "-").replace("\\", ""))
    if para: out.append(" ".join(para))
    return out

def manpage_docs(cache, per_lang=150, seed=0):
    cache.mkdir(parents=True, exist_ok=True)
    if not list(cache.glob("*.deb")):
        subprocess.run(["apt-get", "download"] + [f"manpages-{k}" for k in MANPAGES], cwd=cache, capture_output=True)
    for deb in cache.glob("*.deb"): subprocess.run(["dpkg-deb", "-x", str(deb), str(cache / "x")], check=True)
    rng, rows = random.Random(seed), []
    for d, lab in MANPAGES.items():
        files = sorted((cache / "x/usr/share/man" / d.replace("pt-br", "pt_BR")).rglob("*.gz")); rng.shuffle(files)
        docs = []
        for f in files:
            try: ps = _prose(gzip.decompress(f.read_bytes()).decode("utf-8", "replace"))
            except (OSError, EOFError): continue
            text = ""
            for p in ps:
                if len(p) < 80 or (" the " in p and " of " in p): continue
                text += p + "\n"
                if len(text) > 600: break
            if len(text) >= 200: docs.append((f"{lab}:{f.name}", lab, text.strip()))
            if len(docs) >= per_lang: break
        rows += docs
    return rows

def english_docs(corpora, n=150):
    if corpora:
        en = pl.read_parquet(Path(corpora) / "raw.parquet", columns=["text"]).sample(n, seed=0)["text"].to_list()
    else:
        import pkgutil, importlib
        en = []
        for m in sorted(m.name for m in pkgutil.iter_modules() if not m.name.startswith("_"))[:400]:
            try: d = importlib.import_module(m).__doc__ or ""
            except Exception: continue
            if len(d) > 300: en.append(d)
        en = en[:n]
    return [(f"en:{i}", "en", t) for i, t in enumerate(en)]

# ---- workers: texts in, (labels, seconds) out ----

def run_curatekit(texts):
    sys.path.insert(0, str(ROOT))
    from curatekit.signals import lang_id
    df = pl.DataFrame({"text": texts})
    lang_id(df.head(2))
    t0 = time.perf_counter(); out = lang_id(df, max_chars=1000)
    return out["lang"].to_list(), time.perf_counter() - t0

def run_langid(texts):
    from langid.langid import LanguageIdentifier, model
    li = LanguageIdentifier.from_modelstring(model, norm_probs=True); li.classify("warm up")
    t0 = time.perf_counter(); p = [li.classify(t)[0] for t in texts]
    return p, time.perf_counter() - t0

def run_py3langid(texts):
    from py3langid.langid import _load_identifier
    li = _load_identifier(norm_probs=True); li.classify("warm up")
    t0 = time.perf_counter(); p = [li.classify(t)[0] for t in texts]
    return p, time.perf_counter() - t0

def run_lingua(texts):
    from lingua import LanguageDetectorBuilder
    det = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()
    t0 = time.perf_counter(); out = det.detect_languages_in_parallel_of(texts)
    return [o.iso_code_639_1.name.lower() if o else None for o in out], time.perf_counter() - t0

# ---- the same model, two engines: curatekit's NumPy lid.176 vs fastText's C++ (fasttext-predict), one process, alternating ----

def heavy_tailed(base: list[str], n: int, seed: int=0) -> list[str]:
    "`n` documents whose lengths follow a Pareto law (alpha 1.1, at least 200 characters): consecutive texts of `base` joined."
    rng = np.random.default_rng(seed); lens = (200 * (1 + rng.pareto(1.1, n))).astype(int).clip(max=2_000_000)
    flat, out, at = "\n".join(base), [], 0
    for k in lens:
        if at + k > len(flat): at = 0
        out.append(flat[at:at + k]); at += k
    return out

def engine_rows(repeats: int) -> str:
    sys.path.insert(0, str(ROOT))
    from curatekit.data import sample_corpus
    from curatekit.signals import FastTextModel, _lid_path, _lid_fasttext, lid_lines
    sys.path.insert(0, str(ROOT / "benchmarks")); from bench_scale import perturbed
    base = sample_corpus()
    x10 = pl.concat([perturbed(base, c) for c in range(10)])["text"]
    cases = [("sample corpus ×10, 300 characters (analyze), batches of 10,000", lid_lines(x10, 300), 10_000),
             ("sample corpus, 1,000 characters (lang_id's default)", lid_lines(base["text"], 1000), None),
             ("heavy-tailed: 3,000 documents of Pareto(1.1) lengths, whole", lid_lines(pl.Series(heavy_tailed(base["text"].drop_nulls().to_list(), 3_000)), 10**9), None)]
    ft, rows = _lid_fasttext(), []
    for name, lines, batch in cases:
        lines = lines.filter(lines.str.len_bytes() > 0); parts = [lines] if batch is None else [lines.slice(i, batch) for i in range(0, len(lines), batch)]
        t, got = {"numpy": [], "fasttext": []}, {}
        for k in range(repeats):
            for e in (["numpy", "fasttext"] if k % 2 == 0 else ["fasttext", "numpy"]):
                m = FastTextModel(_lid_path()) if e == "numpy" else None  # a fresh model: its token table starts empty
                w0, c0 = time.perf_counter(), time.process_time()
                if e == "numpy": res = [m.predict(b) for b in parts]; lab, p = pl.concat([r[0] for r in res]), pl.concat([r[1] for r in res])
                else: res = [ft.predict(x) for b in parts for x in b]; lab, p = pl.Series([r[0][0][9:] for r in res]), pl.Series([float(r[1][0]) for r in res])
                t[e].append((time.perf_counter() - w0, time.process_time() - c0, os.getloadavg()[0])); got[e] = (lab, p)
        med = {e: [sorted(x[j] for x in v)[len(v) // 2] for j in range(2)] for e, v in t.items()}
        same = (got["numpy"][0] == got["fasttext"][0]); dp = (got["numpy"][1] - got["fasttext"][1]).abs().filter(same).max()
        chars = lines.str.len_chars()
        rows.append(f"| {name} | {len(lines):,} | {chars.median():,.0f} / {chars.max():,} | {len(lines) / med['numpy'][0]:,.0f} | "
                    f"{len(lines) / med['fasttext'][0]:,.0f} | **{med['fasttext'][0] / med['numpy'][0]:.1f}×** | {med['numpy'][1]:.2f} / "
                    f"{med['fasttext'][1]:.2f} | {med['fasttext'][1] / med['numpy'][1]:.1f}× | {same.mean():.4%} ({(~same).sum()}) | {dp:.1e} | "
                    f"{min(x[2] for v in t.values() for x in v):.1f}–{max(x[2] for v in t.values() for x in v):.1f} |")
    return "\n".join(["| lines | n | characters (median / max) | NumPy lines/s | C++ lines/s | wall ratio | CPU s (NumPy / C++) | CPU ratio | "
                      "same label (differing) | max abs(p - p_C++) | load (1 min) |", "|---|---|---|---|---|---|---|---|---|---|---|"] + rows)

WORKERS = {"curatekit lang_id (fastText lid.176.ftz)": run_curatekit, "langid.py": run_langid, "py3langid": run_py3langid,
           "lingua (all languages)": run_lingua}

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", help="directory with raw.parquet (English documents)")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "curatekit-bench-lang"), help="where man-page .debs go")
    ap.add_argument("--extra-path", action="append", default=[], help="a directory to append to sys.path (candidates installed there)")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--engines", action="store_true", help="only compare lang_id's NumPy engine with fastText's C++ (same model)")
    ap.add_argument("--repeats", type=int, default=3, help="rounds of --engines (medians; the engines alternate)")
    a = ap.parse_args(argv)
    sys.path += a.extra_path
    if a.engines: print(f"load {os.getloadavg()}\n\n" + engine_rows(a.repeats)); return
    if a.worker:
        tool, data, out = a.worker
        texts = pl.read_parquet(data)["text"].to_list()
        try: labels, sec = WORKERS[tool](texts)
        except ImportError as e: labels, sec = None, str(e)
        Path(out).write_text(json.dumps({"labels": labels, "seconds": sec})); return
    df = pl.DataFrame(manpage_docs(Path(a.cache)) + english_docs(a.corpora), schema=["id", "lang", "text"], orient="row")
    df = df.with_columns(pl.col("text").str.slice(0, 1000))
    tmp = Path(tempfile.mkdtemp()); df.write_parquet(tmp / "data.parquet")
    print(f"\n{len(df):,} documents, {df['lang'].n_unique()} languages: "
          + ", ".join(f"{k} {v}" for k, v in df.group_by("lang").len().sort("lang").iter_rows()) + "\n")
    print("| model | docs/s | accuracy | worst language (accuracy) |\n|---|---|---|---|")
    for tool in WORKERS:
        cp = subprocess.run([sys.executable, __file__, "--worker", tool, str(tmp / "data.parquet"), str(tmp / "out.json")]
                            + [x for p in a.extra_path for x in ("--extra-path", p)], capture_output=True, text=True)
        if cp.returncode: print(f"| {tool} | failed: {cp.stderr.strip().splitlines()[-1][:80]} | | |"); continue
        r = json.loads((tmp / "out.json").read_text())
        if r["labels"] is None: print(f"| {tool} | not installed ({r['seconds']}) | | |"); continue
        res = df.with_columns(pred=pl.Series(r["labels"], dtype=pl.String)).with_columns(ok=pl.col("pred") == pl.col("lang"))
        per = res.group_by("lang").agg(pl.col("ok").fill_null(False).mean()).sort("ok")
        print(f"| {tool} | {len(df) / r['seconds']:,.0f} | {res['ok'].fill_null(False).mean():.3f} | {per['lang'][0]} ({per['ok'][0]:.2f}) |")

if __name__ == "__main__": main()
