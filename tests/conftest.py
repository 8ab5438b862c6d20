import os, shutil, subprocess, sys
from pathlib import Path
import pytest

os.environ.setdefault("CURATEKIT_PROGRESS", "0")

@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    "Each test session caches under its own CURATEKIT_HOME, so step caches never leak between runs."
    monkeypatch.setenv("CURATEKIT_HOME", str(tmp_path_factory.getbasetemp()/"curatekit-home"))
ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent/"curatekit"

def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")

def pytest_collection_modifyitems(config, items):
    _xdist_groups(config, items)
    if config.getoption("--runslow"): return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords: item.add_marker(skip)

def _xdist_groups(config, items):
    """`--dist loadgroup` sends tests marked `xdist_group(NAME)` to one worker by tagging their node ids `...@NAME`; pytest-xdist
    3.8 writes the tag to `item._nodeid`, which pytest 9.2 no longer reads (a node's id lives in `item._id`), so the groups were
    silently ignored. Tag them the way this pytest reads them (a no-op where xdist's own tag took)."""
    if not getattr(config.option, "loadgroup", False): return
    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")})
        if not names or item.nodeid.endswith("@" + "_".join(names)): continue
        nid = f"{item.nodeid}@{'_'.join(names)}"
        if hasattr(item, "_id"):
            from _pytest.nodes import coerce_node_id
            item._id = coerce_node_id(nid)
        else: item._nodeid = nid

@pytest.fixture
def cli():
    "Run the installed `curatekit` command; returns the CompletedProcess."
    def run(*args, cwd=None, **kw):
        return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, cwd=cwd, **kw)
    return run
