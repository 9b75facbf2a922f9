"""The pipeline over seeds, one clone of the repository per seed, for `tools/seed_verdict.py` and
`tools/sampler_study.py --workspace`.

    python tools/seed_runs.py --out runs/after --seeds 200 201 202 203 204 --set data.source=../shared/quickdraw ...
    python tools/seed_runs.py --out runs/before --seeds 200 ... --set sample.temperature=0.7 ... --targets evaluate

Each seed gets a clone of this repository's HEAD (`<out>/s<seed>`), its params.yaml with the `--set`
dotted keys and the seed in every one of `claims.seed_params` (the judge stays fixed: it is the ruler),
and a `dvc repro` of `--targets` (all by default). Every clone shares one DVC cache (`--cache`, by default
`<out>/../dvc-cache`), so a second configuration that changes only the sampler takes the trained models
from DVC's run cache instead of training them again. A seed whose folder already holds metrics is kept
unless `--rerun`. Relative `data.source` folders are made absolute (the clones sit elsewhere).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _value(text: str):
    return yaml.safe_load(text)


def apply(params: dict, dotted: str, value) -> None:
    *path, last = dotted.split(".")
    node = params
    for key in path:
        if not isinstance(node.get(key), dict):
            raise SystemExit(f"--set {dotted}: params.yaml has no section {key!r}")
        node = node[key]
    if last not in node:
        raise SystemExit(f"--set {dotted}: params.yaml has no key {dotted}")
    node[last] = value


def prepare(folder: Path, cache: Path, settings: list[tuple[str, object]], seed: int) -> None:
    subprocess.run(["git", "clone", "-q", str(REPO), str(folder)], check=True)
    subprocess.run([sys.executable, "-m", "dvc", "cache", "dir", "--local", str(cache)], cwd=folder, check=True, capture_output=True)
    params = yaml.safe_load((folder / "params.yaml").read_text())
    for key, value in settings:
        if key == "data.source" and "://" not in str(value):
            value = str((REPO / str(value)).resolve())
        apply(params, key, value)
    for key in params["claims"]["seed_params"]:
        apply(params, key, seed)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seeds", type=int, nargs="+", required=True)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--targets", nargs="*", default=[], help="dvc repro targets (default: every stage)")
    ap.add_argument("--cache", type=Path)
    ap.add_argument("--rerun", action="store_true")
    args = ap.parse_args()
    settings = []
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE")
        settings.append((key, _value(value)))
    cache = (args.cache or args.out.parent / "dvc-cache").resolve()
    cache.mkdir(parents=True, exist_ok=True)
    # The stages run `python`: this interpreter's, with the packages it has.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for seed in args.seeds:
        folder = (args.out / f"s{seed}").resolve()
        if (folder / "metrics" / "generation.json").exists() and not args.rerun:
            print(f"{folder}: kept", file=sys.stderr)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        prepare(folder, cache, settings, seed)
        started = time.perf_counter()
        with open(folder.parent / f"s{seed}.log", "w") as log:
            run = subprocess.run([sys.executable, "-m", "dvc", "repro", *args.targets], cwd=folder, stdout=log,
                                 stderr=subprocess.STDOUT, env=env)
        if run.returncode != 0:
            print(f"{folder}: dvc repro failed (its log: {folder.parent / f's{seed}.log'})", file=sys.stderr)
            return 1
        print(f"{folder}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
