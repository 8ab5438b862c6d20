"""Build curatekit's documentation site from the notebooks' stored outputs, offline, and check it.

  python tools/docs.py build [--out _docs] [--strict]   render nbs/*.ipynb and benchmarks/README.md into a static site
  python tools/docs.py check [--out _docs]              notebook format (nbs/, tests/), links and anchors, reference entries
  python tools/docs.py all [--out _docs]                build with warnings as errors, then check (what `make test` runs)

Nothing is executed: a page shows the outputs nbdev-test stored in the notebook. Page names follow nbdev (`00_core.ipynb` ->
`core.html`, anchors as in `curatekit/_modidx.py`), so the `Docs:` links in the module docstrings and nbdev's own lookups land
here; each page also has a markdown twin (`core.html.md`). Why nbconvert-style rendering in this one file rather than mkdocs or
sphinx: see `nbs/docs.ipynb` ("How this site is built")."""
from __future__ import annotations
import argparse, ast, base64, html, importlib, inspect, json, re, shutil, sys, time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path(__file__).resolve().parent/"site"
SECTIONS = {"0": "Foundations", "1": "Signals", "2": "Selection", "3": "Evaluation and training", "4": "LLMs and loops",
            "5": "Widgets", "6": "Scale", "7": "Command line", "8": "Model-centric", "9": "Tutorials"}
NAV_ORDER = ["Home", "Tutorials", *[s for s in SECTIONS.values() if s != "Tutorials"], "About"]

class DocsError(Exception): "A problem that stops the build or fails the check; the message names the file."

# ---------------------------------------------------------------------------------------------------------------- notebooks
def _rel(p: Path) -> str: return Path(p).resolve().relative_to(ROOT).as_posix() if Path(p).resolve().is_relative_to(ROOT) else str(p)

def validate_notebook(path: Path) -> list[str]:
    "One line per problem that makes `path` an invalid notebook (nbformat 4), naming the cell."
    import nbformat
    name = _rel(path)
    try: nb = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e: return [f"{name}: not a JSON notebook ({e})"]
    bad = [f"{name}: cell {i} has cell_type {c.get('cell_type')!r} (allowed: markdown, code, raw)"
           for i, c in enumerate(nb.get("cells", [])) if c.get("cell_type") not in ("markdown", "code", "raw")]
    if bad: return bad
    try: nbformat.validate(nbformat.reads(json.dumps(nb), as_version=4))
    except Exception as e: return [f"{name}: invalid nbformat: {str(e).splitlines()[0]}"]
    return []

def notebooks_to_validate(root: Path = ROOT) -> list[Path]:
    "Every notebook of the project: `nbs/` and `tests/`."
    return sorted(p for d in ("nbs", "tests") for p in (root/d).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)

def src(cell) -> str: return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]

_re_directive = re.compile(r"^\s*#\s?\|\s*([\w-]+)\s*:?\s*(.*?)\s*$")

def directives(code: str) -> tuple[dict, str]:
    "The nbdev directives at the top of a code cell (`#| export`, `#| echo: false` ...) and the code without them."
    lines, d = code.splitlines(), {}
    while lines and (m := _re_directive.match(lines[0])):
        d[m.group(1)] = m.group(2); lines.pop(0)
    return d, "\n".join(lines).strip("\n")

def page_name(nb: Path) -> str:
    "nbdev's page name: the notebook's name without its number prefix (`00_core.ipynb` -> `core.html`)."
    return re.sub(r"^\d+[a-zA-Z0-9]*_", "", nb.name.lower()).rsplit(".", 1)[0] + ".html"

def section(nb: Path) -> str:
    if nb.stem == "index": return "Home"
    m = re.match(r"(\d)\d*[a-zA-Z0-9]*_", nb.name)
    if not m: return "About"
    if m.group(1) == "9": return "Tutorials" if nb.stem.split("_", 1)[1].startswith("tutorial") else "About"
    return SECTIONS[m.group(1)]

# ----------------------------------------------------------------------------------------------------------- symbol table
@dataclass
class Symbols:
    "curatekit's public names: where each one's reference entry lives, from nbdev's `_modidx.py` and each module's `__all__`."
    settings: dict
    where: dict = field(default_factory=dict)   # "curatekit.core.Recipe" -> "core.html#recipe"
    short: dict = field(default_factory=dict)   # "Recipe", "core.Recipe" -> the full name

    @classmethod
    def load(cls, lib="curatekit"):
        modidx = importlib.import_module(f"{lib}._modidx").d
        self = cls(modidx["settings"])
        for mod, syms in modidx["syms"].items():
            pages = {v[0].split("#")[0] for v in syms.values()}
            for full, (url, _) in syms.items():
                if all(not p.startswith("_") for p in full[len(mod) + 1:].split(".")): self.where[full] = url
            m = importlib.import_module(mod)
            for n in getattr(m, "__all__", []):
                if f"{mod}.{n}" not in self.where and len(pages) == 1: self.where[f"{mod}.{n}"] = f"{min(pages)}#{n.lower()}"
        for full in sorted(self.where, key=lambda f: (f.count("."), f)):
            mod, rest = full.split(".", 2)[1], full.split(".", 2)[2]
            for k in (rest, f"{mod}.{rest}", full): self.short.setdefault(k, full)
        return self

    def url(self, name: str, here: str = "") -> str|None:
        "The site-relative link for a backticked `name`, or None."
        full = self.short.get(name.removesuffix("()"))
        if full is None: return None
        u = self.where[full]
        return u[len(here):] if here and u.startswith(here + "#") else u

    def source_url(self, obj, path: str) -> str:
        s = self.settings
        try: line = f"#L{inspect.getsourcelines(inspect.unwrap(obj))[1]}"
        except (TypeError, OSError): line = ""
        return f"{s['git_url']}/blob/{s['branch']}/{path}{line}"

# ------------------------------------------------------------------------------------------------------- reference entries
def _anno(a) -> str: return a if isinstance(a, str) else inspect.formatannotation(a)

def _default(v) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."

def signature(obj, name: str) -> str:
    "nbdev's form of a signature: one parameter a line, each followed by its docment."
    from fastcore.docments import docments
    target = obj.fget if isinstance(obj, property) else obj
    try: sig = inspect.signature(target)
    except (TypeError, ValueError): return f"{name}"
    try: dm = docments(target, full=True, returns=True)
    except Exception: dm = {}
    kw = "class" if inspect.isclass(obj) else "def"
    params, lines, star = list(sig.parameters.values()), [], False
    if params and params[0].name in ("self", "cls") and not inspect.isclass(obj) and "." in name: params = params[1:]
    if inspect.isclass(obj) and params and params[0].name == "self": params = params[1:]
    for p in params:
        if p.kind is p.KEYWORD_ONLY and not star: lines.append("*,"); star = True
        if p.kind is p.VAR_POSITIONAL: star = True
        s = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        if p.annotation is not p.empty: s += f":{_anno(p.annotation)}"
        if p.default is not p.empty: s += f"={_default(p.default)}"
        doc = (dm.get(p.name) or {}).get("docment")
        lines.append(f"{s}, # {doc}" if doc else f"{s},")
    ret = "" if sig.return_annotation is sig.empty or inspect.isclass(obj) else f"->{_anno(sig.return_annotation)}"
    rdoc = (dm.get("return") or {}).get("docment")
    head = f"{kw} {name.split('.')[-1] if kw == 'class' else name}("
    if not lines: return f"{head}){ret}:" + (f" # {rdoc}" if rdoc else "")
    return head + "\n" + "\n".join("    " + l for l in lines) + f"\n){ret}:" + (f" # {rdoc}" if rdoc else "")

@dataclass
class Entry:
    "One reference entry: a public function, class, method or constant."
    full: str      # curatekit.core.Recipe
    name: str      # Recipe, Filter.split
    sig: str
    doc: str
    source: str
    kind: str
    @property
    def anchor(self): return self.name.lower()

def _obj(mod, name):
    o = mod
    for part in name.split("."): o = o.__dict__[part] if isinstance(o, type) and part in o.__dict__ else getattr(o, part)
    return o

def _patch_names(node) -> list[str]:
    from nbdev.showdoc import showdoc_nm
    nm = showdoc_nm(node)
    return nm if isinstance(nm, list) else [nm]

def cell_entries(code: str, mod, syms: Symbols) -> tuple[list[Entry], list[str]]:
    "The reference entries for the public names an exported cell defines, and a warning per name it cannot document."
    try: tree = ast.parse(code)
    except SyntaxError as e: return [], [f"cannot parse an exported cell of {mod.__name__}: {e}"]
    path = Path(inspect.getfile(mod)).relative_to(ROOT).as_posix() if Path(inspect.getfile(mod)).is_relative_to(ROOT) else ""
    out, warns, public = [], [], set(getattr(mod, "__all__", []))
    def add(name, kind, node=None):
        try: obj = _obj(mod, name)
        except (AttributeError, KeyError): return warns.append(f"{mod.__name__}.{name}: defined in the notebook but not found in the module")
        if kind == "constant":
            sig, doc = f"{name} = {ast.get_source_segment(code, node.value) or _default(obj)}", ""
            if len(sig) > 300: sig = f"{name}: {type(obj).__name__}  # {len(sig)} characters of source"
        else: sig, doc = signature(obj, name), inspect.getdoc(obj.fget if isinstance(obj, property) else obj) or ""
        out.append(Entry(f"{mod.__name__}.{name}", name, sig, doc, syms.source_url(obj, path) if path else "", kind))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for nm in _patch_names(node):
                if any(p.startswith("_") for p in nm.split(".")): continue
                add(nm, "class" if isinstance(node, ast.ClassDef) else "function")
                if isinstance(node, ast.ClassDef):
                    for sub in node.body:
                        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and not sub.name.startswith("_"):
                            add(f"{nm}.{sub.name}", "method")
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [n for t in targets for n in ([t] if isinstance(t, ast.Name) else t.elts if isinstance(t, ast.Tuple) else [])]
            for t in names:  # `A = ...` and `A, B = ...`
                if isinstance(t, ast.Name) and t.id in public: add(t.id, "constant", node)
    return out, warns

# ---------------------------------------------------------------------------------------------------------------- markdown
def _md():
    from markdown_it import MarkdownIt
    return MarkdownIt("commonmark", {"html": True, "typographer": False}).enable(["table", "strikethrough"])

_MD = None
_re_math = re.compile(r"(\$\$.+?\$\$|(?<![\\$\w])\$[^\s$](?:[^$\n]*?[^\s$])?\$(?![\w$]))", re.S)
_re_fence = re.compile(r"^(```|~~~)")
_re_backticks = re.compile(r"(?<!\[)`([^`\s]+?)`(?!\])")

def slug(text: str) -> str:
    "A heading's anchor, as GitHub makes it: lower case, punctuation dropped, spaces as hyphens."
    t = re.sub(r"<[^>]+>", "", html.unescape(text)).strip().lower()
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", t))

def linkify(md: str, syms: Symbols, here: str) -> str:
    "Backticked public names become links to their reference entries, outside code fences (nbdev's rule)."
    lines, fence = md.splitlines(), False
    for i, l in enumerate(lines):
        if _re_fence.match(l.lstrip()): fence = not fence; continue
        if fence or l.startswith("    "): continue
        lines[i] = _re_backticks.sub(lambda m: f"[`{m.group(1)}`]({u})" if (u := syms.url(m.group(1), here)) else m.group(0), l)
    return "\n".join(lines)

def render_markdown(md: str, ids: set) -> tuple[str, list[tuple[int, str, str]]]:
    "HTML for markdown `md` (inline math kept as TeX), and its headings as (level, anchor, text); anchors are unique in `ids`."
    global _MD
    _MD = _MD or _md()
    maths = []
    def keep(m): maths.append(m.group(0)); return f"\x00M{len(maths) - 1}\x00"
    parts, out = re.split(r"(^```.*?^```[ \t]*$)", md, flags=re.S | re.M), []
    md = "".join(p if p.startswith("```") else _re_math.sub(keep, p) for p in parts)
    tokens, heads = _MD.parse(md), []
    for i, t in enumerate(tokens):
        if t.type == "heading_open":
            text = tokens[i + 1].content
            a = base = slug(re.sub(r"\x00M(\d+)\x00", lambda m: maths[int(m.group(1))], text)) or "section"
            n = 1
            while a in ids: a = f"{base}-{n}"; n += 1
            ids.add(a); t.attrSet("id", a); heads.append((int(t.tag[1]), a, text))
    body = _MD.renderer.render(tokens, _MD.options, {})
    body = re.sub(r"\x00M(\d+)\x00", lambda m: f'<span class="math">{html.escape(maths[int(m.group(1))])}</span>', body)
    heads = [(l, a, re.sub(r"\x00M(\d+)\x00", lambda m: maths[int(m.group(1))], t)) for l, a, t in heads]
    return body, heads

# ------------------------------------------------------------------------------------------------------------------ outputs
_re_altair = re.compile(r"\}\)\((\{.*\}),\s*(\{\"mode\":\s*\"vega-lite\"[^}]*\})\);\s*</script>", re.S)

def altair_svg(htm: str) -> str|None:
    "An altair chart saved with its default (CDN) renderer, as an inline SVG drawn offline by vl-convert; None if none."
    m = _re_altair.search(htm)
    if not m or "vegaEmbed" not in htm: return None
    import vl_convert as vlc
    spec = json.loads(m.group(1))
    return _svg(vlc.vegalite_to_svg(spec))

def _svg(s: str) -> str: return re.sub(r"^\s*<\?xml[^>]*>\s*", "", s)

def _pre(text: str, cls="ck-out") -> str:
    from nbconvert.filters.ansi import ansi2html
    return f'<pre class="{cls}">{ansi2html(text)}</pre>'

def render_output(out: dict, where: str, warn) -> str:
    "One stored output as HTML: SVG/PNG, HTML (altair charts as SVG), markdown, then text; widget views by their fallback."
    kind = out.get("output_type")
    if kind == "stream":
        return "" if out.get("name") == "stderr" else _pre("".join(out["text"]) if isinstance(out["text"], list) else out["text"])
    if kind == "error": warn(f"{where}: a stored error output ({out.get('ename')}: {out.get('evalue')})"); return ""
    d = {k: ("".join(v) if isinstance(v, list) else v) for k, v in out.get("data", {}).items()}
    if "image/svg+xml" in d: return f'<div class="ck-fig">{_svg(d["image/svg+xml"])}</div>'
    for img in ("image/png", "image/jpeg", "image/gif"):
        if img in d: return f'<div class="ck-fig"><img alt="figure" src="data:{img};base64,{d[img].strip()}"></div>'
    if "text/html" in d:
        h = d["text/html"]
        if "vegaEmbed" in h:
            try:
                if (svg := altair_svg(h)): return f'<div class="ck-fig ck-chart">{svg}</div>'
            except Exception as e: warn(f"{where}: an altair chart could not be drawn offline ({e})")
            warn(f"{where}: an HTML output loads vega from the network; enable altair's svg renderer or store the spec")
            return ""
        if re.search(r"<(script|link|img|iframe)[^>]+(src|href)=[\"']https?:", h):
            warn(f"{where}: an HTML output loads a resource from the network (the site must work offline)")
        return f'<div class="ck-html">{h}</div>'
    if "text/markdown" in d: return f'<div class="ck-md-out">{render_markdown(d["text/markdown"], set())[0]}</div>'
    if "text/latex" in d: return _pre(d["text/latex"])
    if "text/plain" in d: return _pre(d["text/plain"])
    return ""

# --------------------------------------------------------------------------------------------------------------------- pages
@dataclass
class Page:
    source: Path
    name: str
    title: str
    desc: str
    section: str
    body: str = ""
    md: str = ""
    toc: list = field(default_factory=list)
    search: list = field(default_factory=list)
    entries: list = field(default_factory=list)

def _highlight(code: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer
    return highlight(code, PythonLexer(), HtmlFormatter(nowrap=True))

def _title(cells) -> tuple[str, str]:
    for c in cells:
        if c["cell_type"] == "markdown" and (m := re.match(r"\s*#\s+(.+?)\s*(?:\n+>\s*(.+?)\s*)?(?:\n|$)", src(c))):
            return m.group(1), m.group(2) or ""
    return "", ""

def _entry_html(e: Entry, syms: Symbols, here: str, ids: set) -> str:
    ids.add(e.anchor)
    src_link = f'<a class="ck-src" href="{html.escape(e.source)}">source</a>' if e.source else ""
    doc = render_markdown(linkify(e.doc, syms, here), set())[0] if e.doc else ""
    level = "h4" if e.kind == "method" else "h3"
    return (f'<section class="ck-ref ck-{e.kind}" id="{html.escape(e.anchor)}" data-sym="{html.escape(e.full)}">{src_link}'
            f'<{level} class="ck-ref-name"><a href="#{html.escape(e.anchor)}"><code>{html.escape(e.name)}</code></a></{level}>'
            f'<pre class="ck-sig"><code>{_highlight(e.sig)}</code></pre><div class="ck-doc">{doc}</div></section>')

def _entry_md(e: Entry) -> str:
    return f"### {e.name}\n\n```python\n{e.sig}\n```\n\n" + (f"*{e.doc}*\n" if e.doc else "")

def _text(h: str) -> str: return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", h))).strip()

def build_page(nb_path: Path, syms: Symbols, warn, lib="curatekit") -> Page:
    "Render one notebook from its stored outputs: prose, shown code, outputs, a reference entry per exported public name."
    errs = validate_notebook(nb_path)
    if errs: raise DocsError("\n".join(errs))
    nb = json.loads(nb_path.read_text())
    cells, here = nb["cells"], page_name(nb_path)
    title, desc = _title(cells)
    if not title: warn(f"{_rel(nb_path)}: no title cell ('# Title' then '> one line')")
    page = Page(nb_path, here, title or nb_path.stem, desc, section(nb_path))
    default_exp = next((d["default_exp"] for c in cells if c["cell_type"] == "code"
                        for d in [directives(src(c))[0]] if "default_exp" in d), None)
    ids, body, md, sec = set(), [], [f"# {page.title}\n\n> {desc}\n" if desc else f"# {page.title}\n"], [page.title, here, []]
    def flush():
        if sec[2]: page.search.append({"p": page.title, "t": sec[0], "u": sec[1], "k": "section", "x": " ".join(sec[2])[:4000]})
    first_title = True
    for i, c in enumerate(cells):
        where = f"{_rel(nb_path)} cell {i}"
        s = src(c)
        if c["cell_type"] == "markdown":
            if first_title and s.lstrip().startswith("# "):
                first_title = False
                body.append(f'<header class="ck-title"><h1>{html.escape(page.title)}</h1>'
                            + (f'<p class="ck-lead">{render_markdown(linkify(desc, syms, here), set())[0][3:-5]}</p>' if desc else "")
                            + "</header>")
                rest = re.sub(r"\s*#\s+.+?\n+(>.*\n?)?", "", s, count=1).strip()
                if not rest: continue
                s = rest
            if "attachment:" in s: warn(f"{where}: markdown attachments are not supported; save the image beside the notebook")
            h, heads = render_markdown(linkify(rewrite_links_md(s, nb_path, syms, warn), syms, here), ids)
            for lvl, a, t in heads:
                if lvl in (2, 3): flush(); sec[:] = [f"{page.title} › {t}", f"{here}#{a}", []]; page.toc.append((lvl, a, t))
            sec[2].append(_text(h)); body.append(f'<div class="ck-prose">{h}</div>'); md.append(s); continue
        if c["cell_type"] != "code": continue
        d, code = directives(s)
        if "hide" in d or "default_exp" in d or d.get("include") == "false" or "exporti" in d: continue
        exported = next((k for k in ("export", "exports", "exp", "e") if k in d), None)
        if exported:
            modname = d[exported].split()[0] if d[exported].split() else default_exp
            try: mod = importlib.import_module(f"{lib}.{modname}")
            except Exception as e: warn(f"{where}: cannot import {lib}.{modname} to document it ({e})"); mod = None
            entries, warns = cell_entries(code, mod, syms) if mod else ([], [])
            for w in warns: warn(f"{where}: {w}")
        start = len(body)
        if code.strip() and (not exported or exported == "exports") and d.get("echo") != "false":
            body.append(f'<div class="ck-cell"><pre class="ck-code"><code>{_highlight(code)}</code></pre></div>')
            md.append(f"```python\n{code}\n```"); sec[2].append(code)
        if exported:
            for e in entries:
                body.append(_entry_html(e, syms, here, ids)); md.append(_entry_md(e)); page.entries.append(e)
                page.search.append({"p": page.title, "t": e.name, "u": f"{here}#{e.anchor}", "k": e.kind, "x": f"{e.sig} {e.doc}"})
        outs = "" if d.get("output") == "false" else "".join(render_output(o, where, warn) for o in c.get("outputs", []))
        if outs:
            body.append(f'<div class="ck-outputs">{outs}</div>')
            md.extend(f"```\n{t}\n```" for o in c.get("outputs", []) if (t := _plain(o)))
        if d.get("code-fold") in ("true", "show") and len(body) > start:  # Quarto's option: an exercise's solution, folded
            summary = html.escape(d.get("code-summary", "Code").strip("\"'"))
            body[start:] = [f'<details class="ck-fold"{" open" if d["code-fold"] == "show" else ""}><summary>{summary}</summary>'
                            + "".join(body[start:]) + "</details>"]
    flush()
    page.body, page.md = "\n".join(body), "\n\n".join(md) + "\n"
    return page

def _plain(o) -> str:
    if o.get("output_type") == "stream" and o.get("name") != "stderr": return "".join(o["text"]).strip()
    d = o.get("data", {})
    return "".join(d.get("text/markdown") or d.get("text/plain") or []).strip()

def build_markdown_page(path: Path, name: str, title: str, syms: Symbols) -> Page:
    "A markdown file of the repository (the benchmarks' README) as a page of the site."
    s = path.read_text()
    page = Page(path, name, title, "", "About")
    h, heads = render_markdown(linkify(rewrite_links_md(s, path, syms), syms, name), set())
    page.toc = [(l, a, t) for l, a, t in heads if l in (2, 3)]
    page.body, page.md = f'<div class="ck-prose">{h}</div>', s
    page.search.append({"p": title, "t": title, "u": name, "k": "section", "x": _text(h)[:20000]})
    return page

# ------------------------------------------------------------------------------------------------------------------- links
_re_mdlink = re.compile(r"(\]\()([^)\s]+)(\))")

def rewrite_links_md(md: str, at: Path, syms: Symbols, warn=None) -> str:
    "Links between source files become links between pages: `nbs/00_core.ipynb` -> `core.html`, the benchmarks' README ->"
    "`benchmarks.html`, other repository files -> their GitHub page; the site's own absolute URLs become relative."
    base = f"{syms.settings['doc_host']}{syms.settings['doc_baseurl']}/"
    def fix(m):
        url = m.group(2)
        if url.startswith(base): return m.group(1) + (url[len(base):] or "index.html") + m.group(3)
        if re.match(r"^[a-z]+:|^#", url): return m.group(0)
        path, _, frag = url.partition("#")
        target = next((t for t in ((at.parent/path).resolve(), (ROOT/path).resolve()) if t.exists()), None)
        if target is None:  # relative to the file, or to the repository root as README.md (made from index.ipynb) has it
            if warn: warn(f"{_rel(at)}: a link to {url}, which is not a file of the repository")
            return m.group(0)
        if not target.is_relative_to(ROOT): return m.group(0)
        rel = target.relative_to(ROOT).as_posix()
        if rel.startswith("nbs/") and rel.endswith(".ipynb"): new = page_name(Path(rel))
        elif rel == "benchmarks/README.md": new = "benchmarks.html"
        elif rel == "README.md": new = "index.html"
        else:
            kind = "tree" if target.is_dir() else "blob"
            new = f"{syms.settings['git_url']}/{kind}/{syms.settings['branch']}/{rel}".rstrip("/")
        return m.group(1) + new + (f"#{frag}" if frag else "") + m.group(3)
    return _re_mdlink.sub(fix, md)

class _Links(HTMLParser):
    "The ids, links and loaded resources of one HTML page."
    def __init__(self):
        super().__init__(convert_charrefs=True); self.ids, self.links, self.loads = set(), [], []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"): self.ids.add(a["id"])
        if tag == "a" and a.get("name"): self.ids.add(a["name"])
        if tag == "a" and a.get("href"): self.links.append(a["href"])
        if tag in ("script", "img", "iframe", "source", "audio", "video") and a.get("src"): self.loads.append(a["src"])
        if tag == "link" and a.get("href"): self.loads.append(a["href"])

def check_links(site: Path, base: str = "https://curatekit.github.io/curatekit/") -> list[str]:
    "Every internal link resolves to a file of the site and, with `#anchor`, to an id on that page; nothing loads from the network."
    pages = {p.relative_to(site).as_posix(): p for p in site.rglob("*.html")}
    parsed = {}
    for rel, p in pages.items():
        parsed[rel] = _Links(); parsed[rel].feed(p.read_text())
    errs = []
    for rel, doc in parsed.items():
        for url in doc.loads:
            if re.match(r"^(https?:)?//", url): errs.append(f"{rel}: loads {url} from the network (the site must work offline)")
            elif not url.startswith("data:") and not (site/PurePosixPath(rel).parent/url.split("?")[0]).exists():
                errs.append(f"{rel}: loads {url}, which is not in the site")
        for url in doc.links:
            if url.startswith(base): url = url[len(base):] or "index.html"
            elif re.match(r"^[a-z][a-z0-9+.-]*:", url) or url.startswith("//"): continue
            path, _, frag = url.partition("#")
            path = path.split("?")[0]
            target = (PurePosixPath(rel).parent/path).as_posix() if path else rel
            target = re.sub(r"(^|/)\./", r"\1", target)
            while "/../" in f"/{target}": target = re.sub(r"[^/]+/\.\./", "", target, count=1)
            if target not in pages and not (site/target).is_file():
                errs.append(f"{rel}: broken link {url} (no page {target})"); continue
            if frag and target in parsed and frag not in parsed[target].ids:
                errs.append(f"{rel}: broken link {url} (no anchor #{frag} on {target})")
    return errs

def check_reference(site: Path, syms: Symbols) -> list[str]:
    "Every public symbol of every module has a reference entry where `_modidx.py` (and so nbdev and the docstrings) point."
    errs, cache = [], {}
    for full, url in sorted(syms.where.items()):
        page, _, anchor = url.partition("#")
        if page not in cache:
            cache[page] = (site/page).read_text() if (site/page).exists() else ""
        if f'data-sym="{html.escape(full)}"' not in cache[page] or f'id="{html.escape(anchor)}"' not in cache[page]:
            errs.append(f"{full}: no reference entry at {url} (export it from a cell of its chapter with a public name)")
    return errs

def check_quarto(nbs: Path) -> list[str]:
    "`nbs/_quarto.yml` and the files it names are there, parse, and name notebooks that exist (so `nbdev-docs` works;"
    "it rewrites both files itself, as `make docs` does)."
    import yaml
    errs, q = [], yaml.safe_load((nbs/"_quarto.yml").read_text())
    for f in q.get("metadata-files", []):
        if not (nbs/f).exists(): errs.append(f"nbs/_quarto.yml names {f}, which does not exist (run `make docs` and commit it)")
        else: yaml.safe_load((nbs/f).read_text())
    if (nbs/"sidebar.yml").exists():
        listed = re.findall(r"[\w./-]+\.ipynb", (nbs/"sidebar.yml").read_text())
        errs += [f"nbs/sidebar.yml lists {f}, which does not exist (run `make docs` and commit it)" for f in listed if not (nbs/f).exists()]
    return errs

# --------------------------------------------------------------------------------------------------------------- the site
def doc_notebooks(nbs: Path) -> list[Path]:
    "The notebooks that are pages: all of `nbs/` but names starting with `_` or `.` (nbdev's rule)."
    return sorted(p for p in nbs.glob("*.ipynb") if not p.name.startswith(("_", ".")))

_HERE = ' class="ck-here"'

def _nav(pages: list[Page], here: str) -> str:
    out = []
    for s in NAV_ORDER:
        items = [p for p in pages if p.section == s]
        if not items: continue
        out.append(f'<div class="ck-nav-sec"><p>{html.escape(s)}</p><ul>' + "".join(
            f'<li><a href="{p.name}"{_HERE if p.name == here else ""}>{html.escape(p.title)}</a></li>'
            for p in items) + "</ul></div>")
    return "".join(out)

def _toc(page: Page) -> str:
    if not page.toc: return ""
    return '<p>On this page</p><ul>' + "".join(f'<li class="ck-toc{l}"><a href="#{a}">{html.escape(re.sub(r"[`*]", "", t))}</a></li>'
                                              for l, a, t in page.toc) + "</ul>"

def render_site_page(page: Page, pages: list[Page], syms: Symbols) -> str:
    git, branch = syms.settings["git_url"], syms.settings["branch"]
    rel = page.source.relative_to(ROOT).as_posix() if page.source.is_relative_to(ROOT) else page.source.name
    title = page.title if page.name == "index.html" else f"{page.title} – curatekit"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><meta name="description" content="{html.escape(page.desc)}">
<link rel="stylesheet" href="site.css"></head>
<body><header class="ck-top"><a class="ck-brand" href="index.html">curatekit</a>
<div class="ck-search"><input id="ck-q" type="search" placeholder="Search (press /)" autocomplete="off" aria-label="Search the docs">
<ol id="ck-results" hidden></ol></div></header>
<div class="ck-layout"><nav class="ck-nav">{_nav(pages, page.name)}</nav>
<main class="ck-page">{page.body}
<footer class="ck-foot">Rendered from <a href="{git}/blob/{branch}/{rel}">{html.escape(rel)}</a> with its stored outputs ·
<a href="{page.name}.md">this page as markdown</a></footer></main>
<aside class="ck-side">{_toc(page)}</aside></div>
<script src="search_index.js"></script><script src="site.js"></script></body></html>
"""

def build(out: Path, nbs: Path = ROOT/"nbs", strict: bool = False, lib: str = "curatekit", only: list[str]|None = None) -> dict:
    "Render every notebook of `nbs` (and the benchmarks' README) into the site `out`; returns counts and warnings."
    t0, warnings = time.time(), []
    syms = Symbols.load(lib)
    nbps = [p for p in doc_notebooks(nbs) if not only or p.stem in only or p.name in only]
    names = {}
    for p in nbps:
        if page_name(p) in names: warnings.append(f"{_rel(p)} and {_rel(names[page_name(p)])} both become {page_name(p)}")
        names[page_name(p)] = p
    pages = []
    for p in nbps:
        try: pages.append(build_page(p, syms, warnings.append, lib))
        except DocsError as e: warnings.append(str(e))
    if (ROOT/"benchmarks"/"README.md").exists() and not only:
        pages.append(build_markdown_page(ROOT/"benchmarks"/"README.md", "benchmarks.html", "Benchmarks", syms))
    if strict and warnings: raise DocsError("the docs build has warnings (errors here):\n  " + "\n  ".join(warnings))
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    for f in ASSETS.iterdir(): shutil.copy(f, out/f.name)
    from pygments.formatters import HtmlFormatter
    (out/"site.css").write_text((ASSETS/"site.css").read_text() + "\n" + HtmlFormatter(style="friendly").get_style_defs([".ck-code", ".ck-sig"]))
    for pg in pages:
        (out/pg.name).write_text(render_site_page(pg, pages, syms))
        (out/f"{pg.name}.md").write_text(pg.md)
    index = [e for pg in pages for e in pg.search]
    (out/"search_index.js").write_text("window.CK_INDEX = " + json.dumps(index, ensure_ascii=False, separators=(",", ":")) + ";\n")
    (out/".nojekyll").write_text("")
    return {"pages": len(pages), "entries": sum(len(p.entries) for p in pages), "seconds": round(time.time() - t0, 1),
            "warnings": warnings, "syms": syms}

def refresh_quarto_files():
    "Write nbs/nbdev.yml and nbs/sidebar.yml with nbdev's own functions, so `_quarto.yml` names files that exist."
    from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
    refresh_quarto_yml(); nbdev_sidebar(force=True)

def check(out: Path, root: Path = ROOT, syms: Symbols|None = None) -> list[str]:
    errs = [e for p in notebooks_to_validate(root) for e in validate_notebook(p)]
    errs += check_quarto(root/"nbs")
    if not (out/"index.html").exists(): return errs + [f"{out}: no site here (run `make docs`)"]
    errs += check_links(out)
    errs += check_reference(out, syms or Symbols.load())
    return errs

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["build", "check", "all"])
    ap.add_argument("--out", default=str(ROOT/"_docs"), help="the site's folder (default _docs/)")
    ap.add_argument("--strict", action="store_true", help="fail on any build warning")
    a = ap.parse_args(argv)
    out, syms = Path(a.out), None
    if a.command in ("build", "all"):
        if a.command == "build": refresh_quarto_files()
        try: r = build(out, strict=a.strict or a.command == "all")
        except DocsError as e: sys.exit(str(e))
        for w in r["warnings"]: print("warning:", w, file=sys.stderr)
        syms = r["syms"]
        print(f"built {r['pages']} pages with {r['entries']} reference entries into {out} in {r['seconds']} s")
    if a.command in ("check", "all"):
        errs = check(out, syms=syms)
        if errs: sys.exit("docs check failed:\n  " + "\n  ".join(errs))
        print("docs check: notebooks valid, every link and anchor resolves, every public symbol has a reference entry")

if __name__ == "__main__": main()
