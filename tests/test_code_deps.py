"""dvc.yaml's code deps match the code: a stage whose deps miss a module it imports would be
reported up to date after that module changed (a stale result)."""

import sys
from pathlib import Path

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
from code_deps import code_deps, drift  # noqa: E402


def test_each_stage_depends_on_exactly_the_project_code_it_imports():
    problems = drift()
    assert not problems, "dvc.yaml code deps drifted (`python tools/code_deps.py --fix`):\n" + "\n".join(
        f"{name}: missing {missing}, not imported {excess}" for name, (missing, excess) in problems.items())


def test_the_derivation_follows_function_local_relative_and_package_imports():
    deps = code_deps(REPO / "stages" / "select_best.py")
    assert {"stages/select_best.py", "src/quickdraw_vae/selection.py", "src/quickdraw_vae/__init__.py"} <= deps
    assert "src/quickdraw_vae/files.py" in deps  # stage.run_main imports it inside a function
    assert not any("torch" in d or "yaml" in d for d in deps)


def test_a_missing_dep_is_caught(tmp_path):
    text = (REPO / "dvc.yaml").read_text().replace("      - src/quickdraw_vae/models.py\n", "", 1)
    (tmp_path / "dvc.yaml").write_text(text)
    problems = drift(tmp_path / "dvc.yaml")
    assert any("src/quickdraw_vae/models.py" in missing for missing, _ in problems.values())


def test_only_the_reporting_stage_reads_the_test_drawings():
    import yaml

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    outs = [o if isinstance(o, str) else next(iter(o)) for o in stages["prepare"]["outs"]]
    assert "data/prepared/test" in outs and "data/prepared" not in outs, "test drawings are their own output"
    readers = {name for name, s in stages.items() if any(d.startswith("data/prepared") and d != "data/prepared/train"
                                                         and d != "data/prepared/validation" for d in s.get("deps", []))}
    assert readers == {"evaluate"}
    # ...and nothing but the report depends on what evaluate writes.
    written = {o if isinstance(o, str) else next(iter(o)) for o in stages["evaluate"]["outs"]}
    dependants = {name for name, s in stages.items() if set(s.get("deps", [])) & written}
    assert dependants == {"report"}
    for script in (REPO / "stages").glob("*.py"):  # evaluate alone loads it
        assert ('/ "test"' in script.read_text()) == (script.stem == "evaluate"), script
    for module in (REPO / "src").rglob("*.py"):
        assert '/ "test"' not in module.read_text() and "prepared/test" not in module.read_text(), module


def test_no_import_circle_in_the_package():
    from code_deps import SRC, imported_modules

    graph = {f.stem: {m.split(".")[1] for m in imported_modules(f)
                      if m.startswith("quickdraw_vae.") and (SRC / f"{m.split('.')[1]}.py").is_file()}
             for f in SRC.glob("*.py")}
    state: dict[str, str] = {}

    def visit(module, path):
        state[module] = "open"
        for dep in sorted(graph[module]):
            assert state.get(dep) != "open", "import circle: " + " -> ".join([*path, module, dep])
            if dep not in state:
                visit(dep, [*path, module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_every_stage_imports_the_package_of_the_checkout_it_runs_in(tmp_path):
    """`dvc exp run --queue` runs stages in a temporary copy of the repository; the editable install
    points at the workspace's src/, so without the stage's own src/ first a queued experiment would run
    the workspace's code and record the copy's hashes."""
    import os
    import subprocess
    import sys

    import yaml

    from conftest import copy_repo

    copy = copy_repo(tmp_path)
    (copy / "src" / "quickdraw_vae" / "__init__.py").write_text("raise SystemExit('the copy imported its own package')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `python` = this venv's, as under dvc
    stages = yaml.safe_load((copy / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        run = subprocess.run(stage["cmd"], shell=True, cwd=copy, capture_output=True, text=True, env=env)
        assert "the copy imported its own package" in run.stderr, f"{name}: {run.stderr[-300:]}"


def test_each_idea_reaches_only_the_stages_that_use_it():
    """DVC reruns a stage when any module it imports changes: an incidental import (the downloader behind a
    name check, evaluation code in the training module) would make unrelated stages rerun, or retrain."""
    from code_deps import stage_scripts

    scripts = stage_scripts()

    def stages_importing(module: str) -> set[str]:
        return {name for name, script in scripts.items() if f"src/quickdraw_vae/{module}.py" in code_deps(script)}

    assert stages_importing("download") == stages_importing("sources") == {"prepare"}
    assert stages_importing("training") == {"train", "train_conditional"}
    assert stages_importing("losses") == {"train", "train_conditional", "evaluate"}
    assert stages_importing("tracking") == {"train", "train_conditional", "report"}
    assert stages_importing("judge") == {"train_judge", "train_perceptual", "train", "train_conditional", "validate",
                                         "evaluate"}
    assert stages_importing("models") == {"train", "train_conditional", "sample", "validate", "evaluate"}
    assert stages_importing("metrics") == stages_importing("inception") == {"validate", "evaluate"}
