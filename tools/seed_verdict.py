"""Before and after over seeds: the same runs' test figures under two configurations, seed by seed.

    python tools/seed_verdict.py --before runs/before/s200 ... --after runs/after/s200 ... --out metrics/variety.md

Each `--before`/`--after` folder holds one run's `metrics/` (generation.json, classifier_eval.json,
likelihood.json) as `dvc repro` leaves them; the two lists name the same seeds in the same order, so
every difference is paired (a two-sided paired t-test over seeds, `quickdraw_vae.stats`). The targets are
the variety issue's, each met or not on the mean over seeds: conditional samples with recall >= 0.80 at
precision >= 0.85, the judge >= 95% with every class >= 92%, a copy share <= 7.5%; the better
unconditional model's recall >= 0.75.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from quickdraw_vae.experiments import flatten
from quickdraw_vae.stats import judge_difference

# (label, file, key or a function of the three files, target as (">=" | "<=", value) or None)
FIGURES = [
    ("conditional precision", "generation", "conditional.sketch.precision", (">=", 0.85)),
    ("conditional recall", "generation", "conditional.sketch.recall", (">=", 0.80)),
    ("judge on conditional samples", "classifier_eval", "samples.conditional.accuracy", (">=", 0.95)),
    ("its weakest class", "classifier_eval", "samples.conditional.min_class_accuracy", (">=", 0.92)),
    ("copy share conditional", "generation", "copies.conditional.share_closer", ("<=", 0.075)),
    ("better unconditional recall", "generation",
     lambda m: max(m["generation"]["rnn_cnn.sketch.recall"], m["generation"]["cnn_cnn.sketch.recall"]), (">=", 0.75)),
    ("cnn_cnn precision / recall", "generation", ("cnn_cnn.sketch.precision", "cnn_cnn.sketch.recall"), None),
    ("rnn_cnn precision / recall", "generation", ("rnn_cnn.sketch.precision", "rnn_cnn.sketch.recall"), None),
    ("real drawings precision / recall (floor)", "generation", ("real_floor.sketch.precision", "real_floor.sketch.recall"), None),
    ("sketch FID conditional / cnn_cnn", "generation", ("conditional.sketch.fid", "cnn_cnn.sketch.fid"), None),
    ("copy share cnn_cnn / rnn_cnn", "generation", ("copies.cnn_cnn.share_closer", "copies.rnn_cnn.share_closer"), None),
    ("test -ELBO / IWAE cnn_cnn", "likelihood", ("cnn_cnn.neg_elbo", "cnn_cnn.iwae_nll"), None),
    ("test -ELBO / IWAE conditional", "likelihood", ("conditional.neg_elbo", "conditional.iwae_nll"), None),
]


def read_run(folder: Path) -> dict:
    """Each metrics file of one run as dotted keys (`copies.conditional.share_closer`)."""
    out = {}
    for name in ("generation", "classifier_eval", "likelihood"):
        path = folder / "metrics" / f"{name}.json"
        try:
            out[name] = flatten(json.loads(path.read_text()))
        except (OSError, ValueError) as e:
            print(f"{path}: cannot read it ({type(e).__name__})", file=sys.stderr)
            raise SystemExit(1)
    return out


def values(runs: list[dict], file: str, key) -> list[list[float]]:
    """One list per figure part (a tuple key has two), one value per run."""
    if callable(key):
        return [[float(key(r)) for r in runs]]
    keys = key if isinstance(key, tuple) else (key,)
    return [[float(r[file][k]) for r in runs] for k in keys]


def _fmt(v: float) -> str:
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.2f}"


def page(before: list[dict], after: list[dict], names: tuple[str, str], seeds: list[str]) -> str:
    lines = [f"Seeds: {', '.join(seeds)}; every figure on the test drawings, N as `evaluate.*` sets; mean ± std "
             "over seeds, and after - before paired seed by seed (two-sided paired t-test).", "",
             f"| figure | {names[0]} | {names[1]} | after - before [95% interval], p | target | met ({names[1]}) |",
             "|---|---|---|---|---|---|"]
    for label, file, key, target in FIGURES:
        b_parts, a_parts = values(before, file, key), values(after, file, key)
        cells_b = " / ".join(f"{_fmt(np.mean(b))} ± {_fmt(np.std(b, ddof=1))}" for b in b_parts)
        cells_a = " / ".join(f"{_fmt(np.mean(a))} ± {_fmt(np.std(a, ddof=1))}" for a in a_parts)
        diffs = []
        for b, a in zip(b_parts, a_parts):
            r = judge_difference(a, b, True)
            interval = "" if np.isnan(r["low"]) else f" [{r['low']:+.3g}, {r['high']:+.3g}]"
            diffs.append(f"{r['mean']:+.3g}{interval}, p {r['p']:.2g}" if not np.isnan(r["p"]) else f"{r['mean']:+.3g}")
        target_cell, met = "", ""
        if target:
            op, bound = target
            mean = float(np.mean(a_parts[0]))
            target_cell = f"{op} {bound:g}"
            met = "yes" if (mean >= bound if op == ">=" else mean <= bound) else "**no**"
        lines.append(f"| {label} | {cells_b} | {cells_a} | {' / '.join(diffs)} | {target_cell} | {met} |")
    classes = [k.split(".")[1] for k in after[0]["generation"]
               if k.startswith("conditional_per_class.") and k.endswith(".recall")]
    if classes:
        lines += ["", "Per class, conditional samples against the class's test drawings (mean over seeds):", "",
                  f"| class | recall {names[0]} | recall {names[1]} | precision {names[0]} | precision {names[1]} | "
                  f"judge {names[0]} | judge {names[1]} |", "|---|---|---|---|---|---|---|"]
        def mean(runs, file, key):
            return np.mean([r[file][key] for r in runs])

        for c in classes:
            pc = f"conditional_per_class.{c}"
            judged = f"samples.conditional.per_class.{c}.accuracy"
            lines.append(f"| {c} | {mean(before, 'generation', pc + '.recall'):.3f} | {mean(after, 'generation', pc + '.recall'):.3f} | "
                         f"{mean(before, 'generation', pc + '.precision'):.3f} | {mean(after, 'generation', pc + '.precision'):.3f} | "
                         f"{mean(before, 'classifier_eval', judged):.1%} | {mean(after, 'classifier_eval', judged):.1%} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, nargs="+", required=True)
    ap.add_argument("--after", type=Path, nargs="+", required=True)
    ap.add_argument("--names", nargs=2, default=("before", "after"))
    ap.add_argument("--seeds", nargs="+", help="the seeds' names, in order (default: the after folders' names)")
    ap.add_argument("--out", type=Path, help="write the table here too")
    ap.add_argument("--figure", help="a figure of the same draws before and after, linked from the page (docs/-relative)")
    args = ap.parse_args()
    if len(args.before) != len(args.after) or len(args.after) < 2:
        print("--before and --after: the same seeds, at least 2", file=sys.stderr)
        return 1
    text = page([read_run(f) for f in args.before], [read_run(f) for f in args.after], tuple(args.names),
                args.seeds or [f.name for f in args.after])
    if args.figure:
        text += f"\n![The same latent draws before and after]({args.figure})\n"
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
