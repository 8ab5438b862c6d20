"""Write curatekit/assets/steps.json, the table of every registered step (module, kind, parameter specs) that lets a recipe be
checked without importing the modules that define its steps. `make export` runs it; tools/check_sync.py checks it is current."""
import json, sys
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent

def table_text() -> str:
    sys.path.insert(0, str(ROOT))
    from curatekit.core import build_step_table
    return json.dumps(build_step_table(), indent=1, sort_keys=True, ensure_ascii=False) + "\n"

if __name__ == "__main__":
    out = ROOT/"curatekit"/"assets"/"steps.json"
    text = table_text()
    if "--check" in sys.argv:
        if not out.exists() or out.read_text() != text:
            sys.exit(f"{out.relative_to(ROOT)} is not what the code registers: run `make export` (python tools/steps_table.py) and commit it")
    else: out.write_text(text)
