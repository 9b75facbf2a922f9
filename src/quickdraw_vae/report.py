"""The summary table users paste into the README: every model x metric, with the real-data floor."""

from __future__ import annotations

import json
from pathlib import Path

from . import plots
from .params import ALL_MODELS, SAMPLE_SETS
from .files import write_text



def _read(path: Path) -> dict:
    return json.loads(path.read_text())


def summary(metrics_dir: Path) -> tuple[str, dict[str, dict[str, float]]]:
    training = {m: _read(metrics_dir / "train" / f"{m}.json") for m in ALL_MODELS}
    generation = _read(metrics_dir / "generation.json")
    classified = _read(metrics_dir / "classifier_eval.json")
    judge = _read(metrics_dir / "judge.json")
    best = _read(metrics_dir / "best.json")["best"]
    spaces = sorted({k.split(".")[1] for k in generation if k.count(".") == 2})

    lines = ["## Likelihood (nats/drawing, test split)", "",
             "| model | -ELBO | BCE | KLD | IWAE NLL (k) | validation -ELBO | parameters |", "|---|---|---|---|---|---|---|"]
    for m, r in training.items():
        t = r["test"]
        tag = " (selected)" if m == best else ""
        lines.append(f"| {m}{tag} | {t['neg_elbo']:.2f} | {t['bce']:.2f} | {t['kld']:.2f} | "
                     f"{t['iwae_nll']:.2f} ({t['iwae_k']}) | {r['validation']['neg_elbo']:.2f} | {r['parameters']:,} |")
    lines += ["", f"## Sample quality (N = {generation['n']} per set, against real test drawings)", "",
              "Rows marked prior are the same models sampled the plain way, as a baseline for `sample.*`.", ""]
    header = "| model | " + " | ".join(f"{s} IS | {s} FID | {s} KID" for s in spaces) + " | judge accuracy |"
    lines += [header, "|---" * (1 + 3 * len(spaces) + 1) + "|"]
    table: dict[str, dict[str, float]] = {}
    for m in (*SAMPLE_SETS, "real_floor"):
        cells, table[m] = [], {}
        for s in spaces:
            for metric in ("is", "fid", "kid"):
                value = generation[f"{m}.{s}.{metric}"]
                table[m][f"{s} {metric.upper()}"] = value
                cells.append(f"{value:.4f}" if metric == "kid" else f"{value:.2f}")
        acc = classified.get(m, {}).get("accuracy")
        acc_cell = f"{acc:.1%}" if acc is not None else ("–" if m != "real_floor" else f"{judge['test_accuracy']:.1%} (real test)")
        label = {"real_floor": "real train vs test (floor)"}.get(m, m.replace("_prior", " (prior N(0, I), mean pixels)"))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {acc_cell} |")
    cond = classified["conditional"]["per_class"]
    lines += ["", "## Judge on conditional samples, per class", "",
              "| class | accuracy | confidence | judge on real test |", "|---|---|---|---|"]
    for c, v in cond.items():
        lines.append(f"| {c} | {v['accuracy']:.1%} | {v['confidence']:.2f} | {judge['per_class_accuracy'][c]:.1%} |")
    return "\n".join(lines) + "\n", table


def write_report(metrics_dir: Path, out_md: Path, out_png: Path) -> None:
    text, table = summary(metrics_dir)
    write_text(out_md, text)
    metrics = [k for k in next(iter(table.values())) if k.endswith(("FID", "KID", "IS"))]
    plots.metrics_bars(out_png, table, metrics, "Sample quality per model (floor = real train vs real test)")
