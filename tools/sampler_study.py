"""A model's sampler settings compared on validation over several trained seeds: the precision-recall
frontier, and the setting a stated rule picks from it.

    python tools/sampler_study.py --prefix claims-ours-decision-seeds-seed --setting 0.7:1.25:20 --setting 0.9:1.0:20:6 ...
    python tools/sampler_study.py --workspace runs/s0 --workspace runs/s1 ... --frontier plots/frontier.png

Each `--setting` is temperature:class_scale:gmm_components[:sharpen] (sharpen 1 = the mean pixel; left
out, the run's own `sample.pixels`/`sample.sharpen`). The runs are DVC experiments whose names start with
`--prefix` (their models, judge and prepared drawings read with `dvc.api` at their commits), or
workspaces (`--workspace`, folders holding params.yaml, data/prepared and models/ as `dvc repro` leaves
them). Every setting draws `sample.n` samples of `--model` with the run's own `sample.seed`, and is scored
as `quickdraw_vae.frontier` says: precision and recall against the validation drawings, the judge's accuracy
and its weakest class (conditional), the copy share, and the sketch FID against the training drawings.
Per setting: the mean and standard error over the runs; the rule's pick (`frontier.Rule`). Test drawings
are never read. A sampler setting retrains nothing, so the runs' spread here is the models' spread.
`--figure PATH`: the first run's drawings, 12 per class under each setting, from the same seed (the same
latent draws wherever only the class scale or the pixel mapping differs).
`--at-n N`: precision and recall also carried to N real drawings (test's `evaluate.n`): both move with N, so
validation's 320 read above test's 800. Each is read against N training drawings, less what training drawings
add over validation ones at validation's N (`metrics.precision_recall_carried`); the real drawings' floor at
N is training drawings against other training drawings. The rule then reads the carried figures.
`--widest`: the rule's pick is the setting that clears the precision and the recall floor (`--min-recall`)
by the widest margin, not the highest recall; `--in-spread`: over every floor, each gap in its figure's standard
error over the runs (pooled over the settings).
`--shift FIGURE=AMOUNT` (repeat; shares, as the floors: `weakest=-0.002` is 0.2 points): added to every setting's
mean before the rule and the frontier figure read it, e.g. a previous pick's test mean on already reported seeds
less its mean here: the distance between what these runs read and what a test reads, measured once and carried
to every setting.
`--ceiling`: the codes no sampler or prior can beat with the run's decoder, scored the same way: `sample.n`
training drawings' own codes (their posterior means, and one draw of each drawing's posterior: the
aggregate posterior every prior and sampler approximates), decoded at each pixel mapping and class scale
the settings use.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from quickdraw_vae.data import Split, load_split
from quickdraw_vae.frontier import SPREAD_FIGURES, Rule, Setting, frontier_figure, mean_rows, pooled_spread, shifted
from quickdraw_vae.judge import classify_samples, load_judge
from quickdraw_vae.metrics import copy_check, precision_recall, precision_recall_carried, train_reference
from quickdraw_vae.models import VAE, load_checkpoint
from quickdraw_vae.params import ALL_MODELS, Params, parse_params
from quickdraw_vae.sampling import Sampler, balanced_labels, decode, encode_posterior, generate, sampler_from_params


def _fetch(rev: str, folder: Path, model: str) -> None:
    import dvc.api

    splits = [f"data/prepared/{split}/{file}" for split in ("train", "validation")
              for file in ("images.npy", "labels.npy", "classes.json")]
    for path in (f"models/{model}.pt", "models/judge.pt", *splits, "params.yaml"):
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with dvc.api.open(path, rev=rev, mode="rb") as f:
            target.write_bytes(f.read())


@dataclass
class Experiment:
    """What one run left: its params, prepared drawings, the model studied and the judge."""

    params: Params
    train: Split
    validation: Split
    classes: list[str]
    model: VAE
    judge_path: Path


def load_experiment(folder: Path, model: str = "conditional", judge: Path | None = None) -> Experiment:
    """The run in `folder`, scored by its own judge or by the classifier at `judge` (another feature space)."""
    import yaml

    raw = yaml.safe_load((folder / "params.yaml").read_text())
    raw["sample"].setdefault("class_scale", 1.0)  # experiments from before the key: the model as trained
    raw["sample"].setdefault("temperature_by_model", {})  # before the key: one temperature
    raw.setdefault("perceptual", {**raw["judge"], "weight": 0.0, "sharpen": 5.0})  # before the key: no term
    raw["quick_profile"].setdefault("perceptual_weight", 0.0)
    for block in (*raw["models"].values(), raw["quick_profile"]["model"]):  # before the key: the standard prior
        block.setdefault("prior", "standard")
        block.setdefault("prior_components", 0)
    train, classes = load_split(folder / "data/prepared/train")
    validation, _ = load_split(folder / "data/prepared/validation")
    return Experiment(parse_params(raw), train, validation, classes, load_checkpoint(folder / f"models/{model}.pt")[0],
                      judge or folder / "models/judge.pt")


def _labels(exp: Experiment, n: int):
    return balanced_labels(n, len(exp.classes)) if exp.model.cfg.conditional else None


def draw(exp: Experiment, settings: list[Setting], labels) -> list[np.ndarray]:
    """The samples (of `labels` for a conditional model) under each setting, from the run's `sample.seed`;
    each mixture size is fitted once (the rest only changes how it is drawn from and decoded)."""
    fitted = {}
    out = []
    n = exp.params.sample.n if labels is None else len(labels)
    for s in settings:
        if s.components not in fitted:
            sp = replace(exp.params.sample, gmm_components=s.components)
            fitted[s.components] = sampler_from_params(sp, exp.model, exp.train.images, exp.train.labels)
        sampler = replace(fitted[s.components], temperature=s.temperature, class_scale=s.class_scale)
        if s.sharpen is not None:
            sampler = replace(sampler, pixels="mean" if s.sharpen == 1 else "sharpened", sharpen=s.sharpen)
        out.append(generate(exp.model, sampler, n, labels, exp.params.sample.seed))
    return out


@torch.no_grad()
def training_codes(exp: Experiment, n: int, seed: int) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """`n` training drawings' codes (a seeded choice): their posterior means, and one draw of each
    drawing's posterior; with the drawings' labels for a conditional model."""
    from quickdraw_vae.data import Pixels, read_rows

    gen = torch.Generator().manual_seed(seed)
    rows = torch.randperm(len(exp.train.labels), generator=gen)[:n].sort().values.numpy()
    x, y = Pixels(read_rows(exp.train.images, rows)), torch.from_numpy(exp.train.labels[rows])
    labels = y if exp.model.cfg.conditional else None
    mu, logvar = encode_posterior(exp.model, x, labels)
    drawn = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
    return {"posterior means": mu, "posterior draws": drawn}, labels


def decode_codes(exp: Experiment, z: torch.Tensor, labels, sharpen: float, class_scale: float = 1.0) -> np.ndarray:
    pixels = Sampler("prior", 1.0, "mean" if sharpen == 1 else "sharpened", sharpen, class_scale=class_scale)
    return decode(exp.model, z, labels, pixels)


def fidelity_and_variety(exp: Experiment, images: np.ndarray, at_n: int | None) -> dict:
    """Precision and recall against the validation drawings; with `at_n`, also carried to `at_n` drawings (`_at_n`)."""
    seed = exp.params.evaluate.seed
    row = precision_recall(images, exp.validation.images, exp.judge_path, seed)
    if at_n:
        carried = precision_recall_carried(images, row, len(exp.validation.images), np.asarray(exp.train.images),
                                           at_n, exp.judge_path, seed)
        row.update({f"{key}_at_n": value for key, value in carried.items()})
    return row


def real_floor(exp: Experiment, at_n: int | None) -> dict:
    """The real drawings' own figures: training drawings against validation ones; with `at_n`, `at_n` training
    drawings against the others (no validation set is that large)."""
    seed = exp.params.evaluate.seed
    train = np.asarray(exp.train.images)
    floor = precision_recall(train, exp.validation.images, exp.judge_path, seed)
    if at_n:
        rows = np.random.default_rng(seed).permutation(len(train))
        at = precision_recall(train[np.sort(rows[at_n:])], train[np.sort(rows[:at_n])], exp.judge_path, seed)
        floor.update({f"{key}_at_n": value for key, value in at.items()})
    return floor


def score_images(exp: Experiment, judge, images: np.ndarray, labels, model: str, at_n: int | None = None) -> dict:
    validation = exp.validation.images
    row = {"judge": None, "weakest": None}
    if labels is not None:
        judged = classify_samples(judge, {model: (images, labels.numpy())}, exp.classes)[model]
        row.update(judge=judged["accuracy"], weakest=judged["min_class_accuracy"])
    row["copies"] = copy_check({model: images}, exp.train.images, validation)[model]["share_closer"]
    row["fid"] = train_reference({model: images}, exp.train.images, exp.judge_path, exp.params.evaluate)[model]["fid"]
    row.update(fidelity_and_variety(exp, images, at_n))
    return row


def score_experiment(folder: Path, settings: list[Setting], model: str = "conditional",
                     ceiling: bool = False, judge: Path | None = None, at_n: int | None = None) -> tuple[list[dict], dict]:
    """Every setting's figures on one run's validation drawings (then, with `ceiling`, the training codes'
    rows, `setting` None and a `codes` name), and the real drawings' own (training drawings against
    validation ones): the floor."""
    exp = load_experiment(folder, model, judge)
    judge, _ = load_judge(exp.judge_path)
    labels = _labels(exp, exp.params.sample.n)
    out = [{"setting": setting, **score_images(exp, judge, images, labels, model, at_n)}
           for setting, images in zip(settings, draw(exp, settings, labels))]
    if ceiling:
        codes, code_labels = training_codes(exp, exp.params.sample.n, exp.params.sample.seed)
        default = exp.params.sample.sharpen if exp.params.sample.pixels == "sharpened" else 1.0
        scales = sorted({s.class_scale for s in settings}) if labels is not None else [1.0]
        for sharpen in sorted({default if s.sharpen is None else s.sharpen for s in settings}):
            for scale in scales:
                for name, z in codes.items():
                    images = decode_codes(exp, z, code_labels, sharpen, scale)
                    out.append({"setting": None, "codes": f"training drawings' {name}", "sharpen": sharpen,
                                "class_scale": scale, **score_images(exp, judge, images, code_labels, model, at_n)})
    floor = real_floor(exp, at_n)
    return out, floor


def settings_figure(folder: Path, settings: list[Setting], path: Path, per_class: int = 12,
                    model: str = "conditional", before: tuple[Path, Setting] | None = None) -> None:
    """The run's samples under each setting, from one seed; with `before` (another run's folder and setting,
    e.g. the configuration a change replaces), its samples from the same seed and labels come first."""
    from quickdraw_vae.plots import image_rows

    exp = load_experiment(folder, model)
    labels = _labels(exp, per_class * len(exp.classes))
    names = [s.label() for s in settings]
    drawn = draw(exp, settings, labels)
    if before is not None:
        drawn.insert(0, draw(load_experiment(before[0], model), [before[1]], labels)[0])
        names = [f"before: {before[1].label()}", *(f"after: {n}" for n in names)]
    rows, row_names = [], []
    if labels is None:
        rows, row_names = [images[:per_class] for images in drawn], names
    else:
        for c, name in enumerate(exp.classes):
            for label, images in zip(names, drawn):
                rows.append(images[labels.numpy() == c])
                row_names.append(f"{name}, {label}")
    image_rows(path, rows, row_names, f"{model} samples: the same seed under each sampler setting")


def table(rows: list[dict], picked: dict | None, floor: dict, at_n: int | None = None) -> str:
    def cell(r, key, percent=False):
        if r.get(key) is None:
            return "–"
        k = 100 if percent else 1
        digits = 1 if percent else 2 if key == "fid" else 3
        return f"{k * r[key]:.{digits}f} +- {k * r[f'{key}_se']:.{digits}f}"

    carried = f" precision at N {at_n} | recall at N {at_n} |" if at_n else ""
    buf = io.StringIO()
    buf.write(f"| T | class scale | components | pixels | precision | recall |{carried} judge accuracy % | weakest class % | "
              f"copies % | FID vs train |\n|---|---|---|---|---|---|{'---|---|' if at_n else ''}---|---|---|---|\n")

    def pixels(sharpen):
        return "run's" if sharpen is None else "mean" if sharpen == 1 else f"k {sharpen:g}"

    for r in rows:
        s = r["setting"]
        mark = "**" if r is picked else ""
        first = (f"{mark}{s.temperature:g}{mark} | {s.class_scale:g} | {s.components} | {pixels(s.sharpen)}" if s else
                 f"{r['codes']} (no sampler) | {r['class_scale']:g} | | {pixels(r['sharpen'])}")
        at = f" {cell(r, 'precision_at_n')} | {cell(r, 'recall_at_n')} |" if at_n else ""
        buf.write(f"| {first} | {cell(r, 'precision')} | {cell(r, 'recall')} |{at} {cell(r, 'judge', True)} | "
                  f"{cell(r, 'weakest', True)} | {cell(r, 'copies', True)} | {cell(r, 'fid')} |\n")
    at = f" {cell(floor, 'precision_at_n')} | {cell(floor, 'recall_at_n')} |" if at_n else ""
    buf.write(f"| real training drawings | | | | {cell(floor, 'precision')} | {cell(floor, 'recall')} |{at} | | | |\n")
    return buf.getvalue()


def _shift(text: str) -> tuple[str, float]:
    key, _, amount = text.partition("=")
    try:
        if key not in SPREAD_FIGURES:
            raise ValueError
        return key, float(amount)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected FIGURE=AMOUNT, FIGURE one of {', '.join(SPREAD_FIGURES)}"
                                         ) from None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--prefix", help="DVC experiments whose names start with this (one per seed)")
    source.add_argument("--workspace", type=Path, action="append", help="a run's folder (repeat, one per seed)")
    ap.add_argument("--setting", action="append", type=Setting.parse, required=True,
                    help="temperature:class_scale:gmm_components[:sharpen] (repeat)")
    ap.add_argument("--model", choices=ALL_MODELS, default="conditional")
    ap.add_argument("--ceiling", action="store_true", help="also score the training drawings' own codes, decoded")
    ap.add_argument("--judge", type=Path, help="score in this classifier's space instead of each run's own judge")
    ap.add_argument("--all-commits", action="store_true", help="experiments of every commit, not only of HEAD")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--figure", type=Path, help="also draw the first run's samples under each setting")
    ap.add_argument("--figure-before", nargs=2, metavar=("WORKSPACE", "SETTING"),
                    help="the figure's first rows: another run's samples under its setting, from the same seed")
    ap.add_argument("--frontier", type=Path, help="the precision-recall figure, the rule's pick circled")
    ap.add_argument("--relax-weakest-class-to", type=float, default=Rule().min_weakest_class,
                    help="with no setting passing, lower the weakest-class floor a point at a time down to this")
    ap.add_argument("--mark", action="append", type=Setting.parse, default=[],
                    help="a setting to mark on the frontier figure (e.g. the committed default)")
    ap.add_argument("--mark-label", default="as committed", help="the marked settings' legend (default: as committed)")
    ap.add_argument("--at-n", type=int, help="also carry precision and recall to this many real drawings; the rule reads those")
    ap.add_argument("--widest", action="store_true", help="pick the widest margin over the precision and recall floors")
    ap.add_argument("--in-spread", action="store_true", help="with --widest: over every floor, each in its standard error")
    ap.add_argument("--shift", action="append", type=_shift, default=[], metavar="FIGURE=AMOUNT",
                    help="added to every setting's mean before the rule reads it, in the floors' units (repeat)")
    for field, default in vars(Rule()).items():
        ap.add_argument(f"--{field.replace('_', '-')}", type=float, default=default, help=f"the rule (default {default})")
    args = ap.parse_args()
    if args.in_spread and not args.widest:
        ap.error("--in-spread is a way of reading --widest's margin: give both")
    one_run = "--in-spread needs two runs or more: one run has no spread"
    if args.in_spread and args.workspace and len(args.workspace) < 2:
        ap.error(one_run)
    torch.set_num_threads(args.threads)
    rule = Rule(args.min_precision, args.min_judge, args.min_weakest_class, args.max_copies, args.min_recall)

    def studied(folder: Path, first: bool):
        scored = score_experiment(folder, args.setting, args.model, args.ceiling, args.judge, args.at_n)
        if args.figure and first:
            before = (Path(args.figure_before[0]), Setting.parse(args.figure_before[1])) if args.figure_before else None
            settings_figure(folder, args.setting, args.figure, model=args.model, before=before)
        return scored

    results = []
    if args.workspace:
        for i, folder in enumerate(args.workspace):
            results.append(studied(folder, i == 0))
            print(f"scored {folder}", file=sys.stderr)
        names = [str(f) for f in args.workspace]
    else:
        import dvc.api

        rows = sorted((r for r in dvc.api.exp_show(num=-1 if args.all_commits else 1)
                       if r.get("Experiment") and r["Experiment"].startswith(args.prefix)), key=lambda r: r["Experiment"])
        if not rows:
            print(f"no experiment named {args.prefix}*", file=sys.stderr)
            return 1
        if args.in_spread and len(rows) < 2:
            ap.error(one_run)
        for i, row in enumerate(rows):
            with tempfile.TemporaryDirectory() as tmp:
                _fetch(row["rev"], Path(tmp), args.model)
                results.append(studied(Path(tmp), i == 0))
            print(f"scored {row['Experiment']}", file=sys.stderr)
        names = [r["Experiment"] for r in rows]
    rows = mean_rows([scores for scores, _ in results])
    floor = mean_rows([[{"setting": None, **f}] for _, f in results])[0]
    measured_rows, measured_floor = rows, floor  # the table's; with --at-n the rule and the figure read the carried
    if args.at_n:
        rows = [{**r, **{f"{key}{se}": r[f"{key}_at_n{se}"] for key in ("precision", "recall") for se in ("", "_se")}}
                for r in rows]
        floor = {**floor, "precision": floor["precision_at_n"], "recall": floor["recall_at_n"]}
    shift = dict(args.shift)
    rows = [r if r["setting"] is None else s for r, s in zip(rows, shifted(rows, shift))]
    settings_rows = [r for r in rows if r["setting"] is not None]
    spread = pooled_spread(settings_rows) if args.in_spread else None
    picked, used = rule.pick_relaxing(settings_rows, args.relax_weakest_class_to, widest=args.widest, spread=spread)
    print(f"{len(results)} runs ({', '.join(names)}), {args.model}; mean +- standard error over them\n")
    print(table(measured_rows, picked and measured_rows[rows.index(picked)], measured_floor, args.at_n))
    moved = "".join(f", {key} {amount:+g}" for key, amount in shift.items())
    print(f"Rule: {rule.describe(args.widest, args.in_spread)}{f', carried to N {args.at_n}' if args.at_n else ''}"
          f"{f'; the means shifted before the rule reads them ({moved[2:]})' if shift else ''}; with none passing, "
          f"the weakest-class floor lowered a point at a time down to {args.relax_weakest_class_to:.0%}.")
    if spread:
        print("Spread (standard error over the runs, pooled over the settings): "
              + ", ".join(f"{key} {value:.4f}" for key, value in spread.items())
              + (f"; the pick's margin {used.margin(picked, spread):.2f} standard errors." if picked else "."))
    relaxed = f" (the weakest-class floor at {used.min_weakest_class:.0%})" if used != rule else ""
    print(f"Pick: {picked['setting'].label()}{relaxed}." if picked else "Pick: no setting passes the rule.")
    if args.frontier:
        marked = {args.mark_label: r for r in settings_rows if r["setting"] in args.mark}
        carried = f", carried to N {args.at_n}" if args.at_n else ""
        carried += f";\nthe means shifted ({moved[2:]})" if shift else ""
        frontier_figure(args.frontier, settings_rows, picked, floor, used, f"{args.model}: sampler settings on validation, "
                        f"mean of {len(results)} runs{carried}", marked, [r for r in rows if r["setting"] is None],
                        f"real drawings (training vs training, N {args.at_n})" if args.at_n else
                        "real drawings (training vs validation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
