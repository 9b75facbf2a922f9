"""The conditional model's sampler settings, compared on validation over several trained seeds.

    python tools/sampler_study.py --prefix claims-ours-decision-seeds-seed --setting 0.7:1.0:20 --setting 0.7:1.25:20 ...

Each `--setting` is temperature:class_scale:gmm_components. For every DVC experiment whose name starts
with `--prefix` (e.g. the runs `make claims` leaves on the decision seeds), the experiment's own conditional model,
judge and prepared drawings are read with `dvc.api` at its commit, and each setting draws `sample.n`
class-conditional samples with that experiment's `sample.*` params otherwise. Per setting, the mean
and standard error over the experiments of: the judge's accuracy and its weakest class, the copy
share (closer to a training drawing than 95% of the validation drawings are) and the sketch FID
against the training drawings, each as the `validate` stage defines it. Test drawings are not read.
A sampler setting does not retrain anything, so the seeds' spread here is the models' spread.
`--figure PATH`: the first experiment's drawings, 12 per class under each setting, drawn from the same
seed (the same latent codes wherever only the class scale differs).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from quickdraw_vae.data import Split, load_split
from quickdraw_vae.judge import classify_samples, load_judge
from quickdraw_vae.metrics import copy_check, train_reference
from quickdraw_vae.models import VAE, load_checkpoint
from quickdraw_vae.params import Params, parse_params
from quickdraw_vae.sampling import balanced_labels, generate, sampler_from_params


def _setting(text: str) -> tuple[float, float, int]:
    try:
        temperature, scale, components = text.split(":")
        return float(temperature), float(scale), int(components)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected temperature:class_scale:components") from None


def _fetch(rev: str, folder: Path) -> None:
    import dvc.api

    splits = [f"data/prepared/{split}/{file}" for split in ("train", "validation")
              for file in ("images.npy", "labels.npy", "classes.json")]
    for path in ("models/conditional.pt", "models/judge.pt", *splits, "params.yaml"):
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with dvc.api.open(path, rev=rev, mode="rb") as f:
            target.write_bytes(f.read())


@dataclass
class Experiment:
    """What one experiment left: its params, prepared drawings, conditional model and judge."""

    params: Params
    train: Split
    validation: Split
    classes: list[str]
    model: VAE
    judge_path: Path


def load_experiment(folder: Path) -> Experiment:
    import yaml

    raw = yaml.safe_load((folder / "params.yaml").read_text())
    raw["sample"].setdefault("class_scale", 1.0)  # experiments from before the key: the model as trained
    train, classes = load_split(folder / "data/prepared/train")
    validation, _ = load_split(folder / "data/prepared/validation")
    return Experiment(parse_params(raw), train, validation, classes, load_checkpoint(folder / "models/conditional.pt")[0],
                      folder / "models/judge.pt")


def draw(exp: Experiment, settings: list[tuple[float, float, int]], labels) -> list[np.ndarray]:
    """The conditional samples of `labels` under each setting, from the experiment's `sample.seed`; each
    mixture size is fitted once (temperature and class scale only change how it is drawn from)."""
    fitted = {}
    out = []
    for temperature, scale, components in settings:
        if components not in fitted:
            sp = replace(exp.params.sample, gmm_components=components)
            fitted[components] = sampler_from_params(sp, exp.model, exp.train.images, exp.train.labels)
        sampler = replace(fitted[components], temperature=temperature, class_scale=scale)
        out.append(generate(exp.model, sampler, len(labels), labels, exp.params.sample.seed))
    return out


def score_experiment(folder: Path, settings: list[tuple[float, float, int]]) -> list[dict]:
    exp = load_experiment(folder)
    judge, _ = load_judge(exp.judge_path)
    labels = balanced_labels(exp.params.sample.n, len(exp.classes))
    out = []
    for images in draw(exp, settings, labels):
        judged = classify_samples(judge, {"conditional": (images, labels.numpy())}, exp.classes)["conditional"]
        copies = copy_check({"conditional": images}, exp.train.images, exp.validation.images)["conditional"]
        fid = train_reference({"conditional": images}, exp.train.images, exp.judge_path, exp.params.evaluate)
        out.append({"judge": judged["accuracy"], "weakest": judged["min_class_accuracy"],
                    "copies": copies["share_closer"], "fid": fid["conditional"]["fid"]})
    return out


def settings_figure(folder: Path, settings: list[tuple[float, float, int]], path: Path, per_class: int = 12) -> None:
    from quickdraw_vae.plots import image_rows

    exp = load_experiment(folder)
    labels = balanced_labels(per_class * len(exp.classes), len(exp.classes))
    drawn = draw(exp, settings, labels)
    rows, names = [], []
    for c, name in enumerate(exp.classes):
        for (temperature, scale, _), images in zip(settings, drawn):
            rows.append(images[labels.numpy() == c])
            names.append(f"{name}, T {temperature}, x{scale}")
    image_rows(path, rows, names, "conditional samples: the same seed under each sampler setting")


def main() -> int:
    import dvc.api

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prefix", required=True, help="experiment names starting with this (one per seed)")
    ap.add_argument("--setting", action="append", type=_setting, required=True,
                    help="temperature:class_scale:gmm_components (repeat)")
    ap.add_argument("--all-commits", action="store_true", help="experiments of every commit, not only of HEAD")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--figure", type=Path, help="also draw the first experiment's samples under each setting")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [r for r in dvc.api.exp_show(num=-1 if args.all_commits else 1)
            if r.get("Experiment") and r["Experiment"].startswith(args.prefix)]
    if not rows:
        print(f"no experiment named {args.prefix}*", file=sys.stderr)
        return 1
    scores = []
    for i, row in enumerate(sorted(rows, key=lambda r: r["Experiment"])):
        with tempfile.TemporaryDirectory() as tmp:
            _fetch(row["rev"], Path(tmp))
            scores.append(score_experiment(Path(tmp), args.setting))
            if args.figure and i == 0:
                settings_figure(Path(tmp), args.setting, args.figure)
        print(f"scored {row['Experiment']}", file=sys.stderr)

    def cell(values: list[float], percent: bool) -> str:
        k = 100 if percent else 1
        se = statistics.stdev(values) / len(values) ** 0.5 if len(values) > 1 else float("nan")
        return f"{k * statistics.mean(values):.1f} +- {k * se:.1f}" if percent else f"{statistics.mean(values):.2f} +- {se:.2f}"

    buf = io.StringIO()
    buf.write(f"| T | class scale | k | judge accuracy % | weakest class % | copies % | FID vs train |\n|---|---|---|---|---|---|---|\n")
    for i, (temperature, scale, components) in enumerate(args.setting):
        column = lambda key: [s[i][key] for s in scores]  # noqa: E731
        buf.write(f"| {temperature} | {scale} | {components} | {cell(column('judge'), True)} | "
                  f"{cell(column('weakest'), True)} | {cell(column('copies'), True)} | {cell(column('fid'), False)} |\n")
    print(f"{len(scores)} experiments ({args.prefix}*), mean +- standard error over them\n")
    print(buf.getvalue(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
