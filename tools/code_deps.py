"""The project code each dvc.yaml stage imports, derived from the code itself.

    python tools/code_deps.py          # list what each stage's deps miss or list in excess
    python tools/code_deps.py --fix    # rewrite those deps lines in dvc.yaml (other lines untouched)

A stage whose deps miss a module it imports is reported up to date after that module changed: a
stale result. tests/test_code_deps.py fails whenever dvc.yaml and this derivation disagree.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "quickdraw_vae"
SRC = REPO / "src" / PACKAGE
CODE_PREFIXES = ("src/", "stages/")


def _module_file(name: str) -> Path | None:
    """`quickdraw_vae.models` -> src/quickdraw_vae/models.py; None outside the package."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    path = SRC.joinpath(*parts[1:])
    if path.with_suffix(".py").is_file():
        return path.with_suffix(".py")
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return None


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-local imports included)."""
    here = [PACKAGE] if path.is_relative_to(SRC) else []
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # the package is flat: a relative import names a sibling
                base = ".".join([*here, *([base] if base else [])])
            found.add(base)
            # `from . import plots` imports a submodule; for a function or class the name finds no file
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def code_deps(script: Path) -> set[str]:
    """The script plus every package file it reaches, as repo-relative paths."""
    seen, todo = {script}, [script]
    while todo:
        for name in imported_modules(todo.pop()):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b runs a/__init__.py first
                f = _module_file(".".join(parts[:i]))
                if f is not None and f not in seen:
                    seen.add(f)
                    todo.append(f)
    return {p.relative_to(REPO).as_posix() for p in seen}


def stage_scripts(dvc_yaml: Path = REPO / "dvc.yaml") -> dict[str, Path]:
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    return {name: REPO / next(w for w in stage["cmd"].split() if w.endswith(".py")) for name, stage in stages.items()}


def drift(dvc_yaml: Path = REPO / "dvc.yaml") -> dict[str, tuple[list[str], list[str]]]:
    """Per stage: (missing, excess) code deps."""
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    out = {}
    for name, script in stage_scripts(dvc_yaml).items():
        declared = {d for d in stages[name].get("deps", []) if d.startswith(CODE_PREFIXES)}
        needed = code_deps(script)
        if needed != declared:
            out[name] = (sorted(needed - declared), sorted(declared - needed))
    return out


def fix(dvc_yaml: Path = REPO / "dvc.yaml") -> None:
    """Replace each stage's code-dep lines with the derived list, leaving every other line as it is."""
    scripts = stage_scripts(dvc_yaml)
    lines, out, stage, in_deps = dvc_yaml.read_text().splitlines(), [], None, False
    for line in lines:
        stripped = line.strip()
        if line.startswith("  ") and not line.startswith("   ") and stripped.endswith(":"):
            stage, in_deps = stripped[:-1], False
        elif stripped == "deps:" and stage in scripts:
            in_deps = True
            out.append(line)
            indent = line[: len(line) - len(line.lstrip())] + "  "
            out += [f"{indent}- {d}" for d in sorted(code_deps(scripts[stage]), key=lambda d: (d.startswith("src/"), d))]
            continue
        elif in_deps and not stripped.startswith("- "):
            in_deps = False
        if in_deps and stripped.startswith("- ") and stripped[2:].split()[0].startswith(CODE_PREFIXES):
            continue
        out.append(line)
    dvc_yaml.write_text("\n".join(out) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fix", action="store_true", help="rewrite the code deps in dvc.yaml")
    args = ap.parse_args()
    if args.fix:
        fix()
    problems = drift()
    for name, (missing, excess) in problems.items():
        print(f"{name}: missing {missing or '-'}; not imported {excess or '-'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
