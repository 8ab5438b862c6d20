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
    if config.getoption("--runslow"): return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords: item.add_marker(skip)

@pytest.fixture
def cli():
    "Run the installed `curatekit` command; returns the CompletedProcess."
    def run(*args, cwd=None, **kw):
        return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True, cwd=cwd, **kw)
    return run
