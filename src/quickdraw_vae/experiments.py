"""Runs over seeds with DVC's experiment queue, and what they left, read back through `dvc.api`.

1. queue one experiment per name with its `-S` settings (`dvc exp run --queue`), run them with
   `dvc queue start -j 1` (parallel workers are known to be flaky) and wait;
2. read each one's params and headline metrics with `dvc.api.exp_show`, its metrics files with
   `dvc.api.read` at the experiment's commit (DVC reads them; we parse nothing DVC can read), and its
   per-epoch history (its DVCLive curves) from that commit.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from .errors import QuickdrawError
from .params import ALL_MODELS


def _dvc(*args: str, check: bool = True) -> str:
    result = subprocess.run(["dvc", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise QuickdrawError(f"dvc {' '.join(args)} failed: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return result.stdout


def absolute_source(settings: list[str]) -> list[str]:
    # Queued experiments run in a temporary copy of the repo, where a relative folder means nothing.
    out = []
    for s in settings:
        key, _, value = s.partition("=")
        if key == "data.source" and "://" not in value:
            value = str(Path(value).resolve())
        out.append(f"{key}={value}")
    return out


def experiment_rows() -> dict[str, dict]:
    """Every experiment of this commit and its first-parent ancestors, by name, as `dvc.api.exp_show`
    gives it (the newest commit's where a name recurs): a run made before a later commit is still found."""
    import dvc.api

    rows = {}
    for row in dvc.api.exp_show(num=-1):  # newest commits first
        name = row.get("Experiment")
        if name and name not in rows:
            rows[name] = row
    return rows


def queue_and_run(runs: dict[str, list[str]], rerun: bool = False) -> None:
    """Queue experiment `name` with `-S` settings `runs[name]` for each name (one run, or queued, at this
    commit or an ancestor is kept unless `rerun`), run the queue one experiment at a time and wait for
    it to empty."""
    present = set() if rerun else {n for n, r in experiment_rows().items() if r.get("State") != "Failed"}
    queued = 0
    for name, settings in runs.items():
        if name in present:
            continue
        _dvc("exp", "remove", name, check=False)
        _dvc("exp", "run", "--queue", "--name", name, *[a for s in absolute_source(settings) for a in ("-S", s)])
        queued += 1
    if not queued:
        return
    _dvc("queue", "start", "-j", "1")
    while True:
        status = _dvc("queue", "status")
        if not any(word in status for word in ("Queued", "Running")):
            break
        time.sleep(10)


# The detailed metrics files: outside dvc.yaml's `metrics:` (which holds the headline figures, so that
# `dvc metrics show` and `dvc exp show` fit a terminal), read per experiment at its commit.
DETAIL_FILES = ("metrics/likelihood.json", "metrics/generation.json", "metrics/classifier_eval.json",
                "metrics/validation.json", "metrics/data.json", *(f"metrics/train/{m}.json" for m in ALL_MODELS))


def metric(row: dict, path: str, key: str):
    """One value of an `exp_show` row, or of `experiment_metrics`. DVC names a column `path:key` only
    where another file has the same key, and plain `key` otherwise."""
    return row.get(f"{path}:{key}", row.get(key))


def flatten(tree: dict, prefix: str = "") -> dict:
    """Nested dicts as one level of dotted keys (`copies.conditional.share_closer`)."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def experiment_metrics(rev: str, paths=DETAIL_FILES, repo: str | None = None) -> dict:
    """Every figure of the named metrics files at an experiment's commit, keyed `path:dotted.key`.
    (`dvc.api.read` at the commit: `dvc.api.metrics_show` also reads the workspace, and fails where
    the workspace has no run.)"""
    import dvc.api
    from dvc.exceptions import PathMissingError

    out = {}
    for path in paths:
        try:
            tree = json.loads(dvc.api.read(path, rev=rev, repo=repo))
        except (FileNotFoundError, PathMissingError):
            continue  # a file this experiment's stages did not write (a target before `evaluate`; a running one)
        out.update({f"{path}:{key}": value for key, value in flatten(tree).items()})
    return out


def collect(names: list[str], rows: dict[str, dict] | None = None) -> dict[str, dict]:
    """Each experiment's params and headline metrics from `dvc.api.exp_show` (`rows`: `experiment_rows()`
    read once), its detailed metrics files from `dvc.api.read` at its commit, and its per-epoch histories."""
    rows = experiment_rows() if rows is None else rows
    missing = [n for n in names if n not in rows]
    if missing:
        raise QuickdrawError(f"experiments not found by `dvc exp show` (did they fail? see `dvc queue logs`): {missing}")
    runs = {}
    for name in names:
        row = {**rows[name], **experiment_metrics(rows[name]["rev"])}
        if not isinstance(metric(row, "metrics/generation.json", "n"), (int, float)):
            raise QuickdrawError(f"experiment {name} has no metrics/generation.json: it failed (`dvc queue logs {name}`)")
        runs[name] = {"metrics": row, "histories": {m: _history(row["rev"], m) for m in ALL_MODELS},
                      "baseline": _git("rev-parse", "--short", f"{row['rev']}^")}
    return runs


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()


def _history(rev: str, model: str) -> dict[str, list[float]]:
    import dvc.api

    from .tracking import epoch_log_dir, read_history

    def at_rev(path: Path) -> str:
        from dvc.exceptions import PathMissingError

        try:
            return dvc.api.read(path.as_posix(), rev=rev)  # a cached output: DVC finds it by the commit's dvc.lock
        except PathMissingError:
            raise FileNotFoundError(path) from None

    return {k: v.tolist() for k, v in read_history(epoch_log_dir("", model), at_rev).items()}
