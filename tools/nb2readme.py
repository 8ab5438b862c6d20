"""Write README.md from nbs/index.ipynb without Quarto: markdown cells as they are, code cells fenced, text outputs fenced.

Usage: python tools/nb2readme.py NOTEBOOK README [--check]   (--check: exit 1 if README differs from what NOTEBOOK gives)
"""
import json, sys
from pathlib import Path

def _src(cell): return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]

def _output_text(out):
    if out["output_type"] == "stream":  # stdout only: stderr holds progress bars and warnings
        return ("".join(out["text"]).replace("\r", ""), "text") if out.get("name") != "stderr" else (None, None)
    data = out.get("data", {})
    if "text/markdown" in data: return "".join(data["text/markdown"]), "markdown"
    if "text/plain" in data: return "".join(data["text/plain"]), "text"
    return None, None

def notebook_markdown(nb_path) -> str:
    "The notebook as GitHub markdown; `#| hide` cells are left out and directive lines stripped."
    nb = json.loads(Path(nb_path).read_text())
    parts = []
    for cell in nb["cells"]:
        src = _src(cell)
        lines = src.splitlines()
        if any(l.strip() in ("#| hide", "#|hide") for l in lines): continue
        if cell["cell_type"] == "markdown": parts.append(src.strip()); continue
        code = "\n".join(l for l in lines if not l.startswith("#|")).strip()
        if code: parts.append(f"```python\n{code}\n```")
        for out in cell.get("outputs", []):
            text, kind = _output_text(out)
            if text and text.strip(): parts.append(text.strip() if kind == "markdown" else f"```\n{text.rstrip()}\n```")
    head = "<!-- Generated from nbs/index.ipynb by tools/nb2readme.py (make readme); do not edit. -->\n\n"
    return head + "\n\n".join(parts) + "\n"

if __name__ == "__main__":
    nb, readme = sys.argv[1], Path(sys.argv[2])
    md = notebook_markdown(nb)
    if "--check" in sys.argv:
        if not readme.exists() or readme.read_bytes().decode() != md:
            sys.exit(f"{readme} is stale: it differs from what {nb} gives; run 'make readme' and commit it")
    else: readme.write_text(md)
