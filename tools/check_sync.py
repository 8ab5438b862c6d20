"""Fail if the generated files are out of sync: `nbdev-export` must change nothing under curatekit/ (and leave no untracked
file there), `nbdev-clean` must change no notebook, README.md must be what nbs/index.ipynb gives, and
curatekit/assets/steps.json must be the step table the code registers."""
import hashlib, subprocess, sys
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent

def snapshot(root, pattern):
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((ROOT/root).rglob(pattern))
            if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts}

def changed(before, after): return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))

def regenerate(cmd, root, pattern, what):
    before = snapshot(root, pattern)
    subprocess.run([str(BIN/cmd)], cwd=ROOT, check=True)
    diff = changed(before, snapshot(root, pattern))
    return [f"{what} changed {Path(p).relative_to(ROOT)}" for p in diff]

def main():
    errors = regenerate("nbdev-clean", "nbs", "*.ipynb", "nbdev-clean")
    errors += regenerate("nbdev-export", "curatekit", "*", "nbdev-export")
    if (ROOT/".git").exists():
        out = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "curatekit"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
        errors += [f"untracked file under curatekit/: {p} (commit it or remove the notebook that exports it)" for p in out]
    for cmd in (["tools/nb2readme.py", "nbs/index.ipynb", "README.md", "--check"], ["tools/steps_table.py", "--check"]):
        r = subprocess.run([sys.executable, *cmd], cwd=ROOT, capture_output=True, text=True)
        if r.returncode: errors.append(r.stderr.strip())
    if errors:
        print("Out of sync (notebooks are the source; commit what the regeneration wrote):", *errors, sep="\n  ", file=sys.stderr)
        sys.exit(1)
    print("notebooks, package and README are in sync")

if __name__ == "__main__": main()
