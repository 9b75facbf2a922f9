"""The summary of a run (metrics_summary.md: every model x metric, with the real-data floor) and its
headline figures, from the metrics the earlier stages wrote."""

from __future__ import annotations

import json
from pathlib import Path

from . import plots
from .errors import QuickdrawError
from .params import ALL_MODELS, SAMPLE_SETS

# What the report reads: metrics/<name>.json, and metrics/train/<model>.json as "train/<model>".
SOURCES = ("likelihood", "generation", "classifier_eval", "judge", "best", *(f"train/{m}" for m in ALL_MODELS))


def read_metrics(folder: Path) -> dict[str, dict]:
    """Every file of SOURCES under `folder` (metrics/), by name; a missing or corrupt one in one line."""
    out = {}
    for name in SOURCES:
        path = folder / f"{name}.json"
        try:
            out[name] = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise QuickdrawError(f"{path}: cannot read it ({type(e).__name__}); rerun the stage that writes it") from None
    return out


def summary(metrics: dict[str, dict]) -> tuple[str, dict[str, dict[str, float]]]:
    """metrics_summary.md's text, and the sample-quality table the bar figure draws; `metrics` holds SOURCES."""
    training = {m: metrics[f"train/{m}"] for m in ALL_MODELS}
    scored = metrics["likelihood"]
    generation = metrics["generation"]
    classified = metrics["classifier_eval"]
    judge = metrics["judge"]
    best = metrics["best"]["best"]
    spaces = sorted({k.split(".")[1] for k in generation if k.count(".") == 2})
    real = classified["real_test"]

    lines = ["## Likelihood (nats/drawing)", "",
             "Validation decides (the selection, every choice); the test columns only report. The final training "
             "loss is the study's \"final loss\": the last epoch's -ELBO (BCE + KLD) on the training drawings, "
             "averaged as the batches went, in train mode.", "",
             "| model | final training loss (BCE + KLD) | validation -ELBO | test -ELBO | test BCE | test KLD | "
             "test IWAE NLL (k) | parameters |",
             "|---|---|---|---|---|---|---|---|"]
    for m, r in training.items():
        t = scored[m]
        tag = " (selected)" if m == best else ""
        final = r.get("final_train")
        final_cell = f"{final['neg_elbo']:.2f} ({final['bce']:.2f} + {final['kld']:.2f})" if final else "–"
        lines.append(f"| {m}{tag} | {final_cell} | {r['validation']['neg_elbo']:.2f} | {t['neg_elbo']:.2f} | "
                     f"{t['bce']:.2f} | {t['kld']:.2f} | {t['iwae_nll']:.2f} ({t['iwae_k']}) | {r['parameters']:,} |")
    recon = classified["reconstructions"]
    lines += ["", "## Reconstructions the judge recognises (test drawings)", "",
              "The judge's accuracy on each model's reconstructions of the test drawings, beside its accuracy on "
              "the drawings themselves: an encoder that passes the drawing through keeps it recognisable.", "",
              "| drawings | judge accuracy | lowest class |", "|---|---|---|",
              f"| real test drawings | {real['accuracy']:.1%} | {_lowest(real)} |"]
    lines += [f"| {m} reconstructions | {r['accuracy']:.1%} | {_lowest(r)} |" for m, r in recon.items()]
    lines += ["", f"## Sample quality (N = {generation['n']} per set, against real test drawings)", "",
              "Rows marked prior are the same models sampled the plain way, as a baseline for `sample.*`. "
              "Precision and recall (k = 3): the share of samples that fall among real drawings (fidelity), and of "
              "real drawings that fall among the samples (diversity). The last column scores the same samples "
              "against the training drawings at a larger N (steadier; read it beside the copy check).", ""]
    reference = generation.get("train_reference", {})
    measured = [k for k in ("is", "fid", "kid", "precision", "recall") if f"real_floor.{spaces[0]}.{k}" in generation]
    header = ("| model | " + " | ".join(f"{s} {_metric_name(k)}" for s in spaces for k in measured) +
              f" | judge accuracy | sketch FID / KID vs train (N = {reference.get('n', '–')}) |")
    lines += [header, "|---" * (1 + len(measured) * len(spaces) + 2) + "|"]
    table: dict[str, dict[str, float]] = {}
    for m in (*SAMPLE_SETS, "real_floor"):
        cells, table[m] = [], {}
        for s in spaces:
            for metric in measured:
                value = generation[f"{m}.{s}.{metric}"]
                table[m][f"{s} {_metric_name(metric)}"] = value
                cells.append(f"{value:.4f}" if metric == "kid" else f"{value:.2f}")
        acc = classified["samples"].get(m, {}).get("accuracy")
        acc_cell = f"{acc:.1%}" if acc is not None else ("–" if m != "real_floor" else f"{real['accuracy']:.1%} (real test)")
        label = {"real_floor": "real train vs test (floor)"}.get(m, m.replace("_prior", " (its prior, mean pixels)"))
        ref = reference.get(m)
        ref_cell = f"{ref['fid']:.2f} / {ref['kid']:.4f}" if ref else "–"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {acc_cell} | {ref_cell} |")
    if f"real_floor.{spaces[0]}.study_is" in generation:
        lines += ["", "## The study's own definitions", "",
                  "Its \"Inception Score\" is a softmax over a network's pooled features, not over its class "
                  "logits: how peaked the features are, which their scale sets, not which class a drawing shows. Its "
                  "FID compared 500 samples with 500 test drawings (FID is biased upward at small N). Both beside "
                  "ours, in every feature space run here.", "",
                  "| drawings | " + " | ".join(f"{s} IS (ours) | {s} IS (study's) | {s} FID (N = {generation['n']}) | "
                                                f"{s} FID (study's N)" for s in spaces) + " |",
                  "|---" * (1 + 4 * len(spaces)) + "|"]
        for m in (*SAMPLE_SETS, "real_floor"):
            cells = [f"{generation[f'{m}.{s}.is']:.3f} | {generation[f'{m}.{s}.study_is']:.4f} | "
                     f"{generation[f'{m}.{s}.fid']:.2f} | {generation[f'{m}.{s}.fid_500']:.2f} "
                     f"({generation[f'{m}.{s}.fid_500_n']:.0f})" for s in spaces]
            label = {"real_floor": "real training drawings"}.get(m, m)
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    cas = classified.get("accuracy_score")
    if cas:
        lines += ["", "## Classification accuracy score", "",
                  f"The judge's recipe trained on the conditional model's {cas['n_train']} samples alone (labelled by "
                  "the class they were drawn for), and on as many real training drawings of each class; both tested "
                  "on the real test drawings.", "",
                  "| trained on | test accuracy | lowest class |", "|---|---|---|",
                  f"| conditional samples | {cas['samples']['accuracy']:.1%} | {_lowest(cas['samples'])} |",
                  f"| real drawings | {cas['real']['accuracy']:.1%} | {_lowest(cas['real'])} |",
                  "", f"Ratio (samples / real): {cas['ratio']:.3f}."]
    copies = generation.get("copies")
    if copies:
        lines += ["", "## No copies", "",
                  f"Share of samples closer (pixel distance) to a training drawing than {1 - copies['quantile']:.0%} of the "
                  f"real test drawings are (threshold {copies['threshold']:.2f}; test drawings' median {copies['held_out_median']:.2f}). "
                  f"A model that draws new drawings shows about {copies['quantile']:.0%}; one that copies, far more.", "",
                  "| model | share closer | median distance |", "|---|---|---|"]
        lines += [f"| {m} | {copies[m]['share_closer']:.1%} | {copies[m]['median']:.2f} |" for m in ALL_MODELS if m in copies]
    cond = classified["samples"]["conditional"]["per_class"]
    quality = generation.get("conditional_per_class", {})
    lines += ["", "## Conditional samples, per class", "",
              "Judge accuracy and confidence on the samples of each class; sketch FID, KID, precision and recall "
              "of those samples against the real test drawings of the class (N per class in brackets): a class "
              "whose samples repeat a few poses shows a low recall however recognisable they are.", "",
              "| class | accuracy | confidence | sketch FID (N) | sketch KID | sketch precision | sketch recall | "
              "judge on real test | judge on real validation |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c, v in cond.items():
        q = quality.get(c, {})
        fid = f"{q['fid']:.2f} ({q['n']})" if q else "–"
        scored = [f"{q[k]:.4f}" if k == "kid" else f"{q[k]:.2f}" if k in q else "–" for k in ("kid", "precision", "recall")]
        lines.append(f"| {c} | {v['accuracy']:.1%} | {v['confidence']:.2f} | {fid} | {' | '.join(scored)} | "
                     f"{real['per_class_accuracy'][c]:.1%} | {judge['validation']['per_class_accuracy'][c]:.1%} |")
    return "\n".join(lines) + "\n", table


def _metric_name(key: str) -> str:
    return key.upper() if key in ("is", "fid", "kid") else key


def _lowest(report: dict) -> str:
    c, v = min(report["per_class_accuracy"].items(), key=lambda kv: kv[1])
    return f"{c} {v:.1%}"


def headline(metrics: dict[str, dict]) -> dict:
    """The figures compared across experiments (dvc.yaml's `metrics:`; `dvc metrics show` and
    `dvc exp show` print these), every one a test figure that only reports. The files they come from
    hold the rest."""
    scored, generation, classified = metrics["likelihood"], metrics["generation"], metrics["classifier_eval"]
    conditional = classified["samples"]["conditional"]
    return {
        "test_neg_elbo": {m: scored[m]["neg_elbo"] for m in ALL_MODELS},
        "sketch_fid": {m: generation[f"{m}.sketch.fid"] for m in ALL_MODELS},
        # Variety and fidelity apart, which FID mixes: recall, the share of real drawings the samples cover.
        "sketch_recall": {m: generation[f"{m}.sketch.recall"] for m in ALL_MODELS},
        "conditional": {"sketch_precision": generation["conditional.sketch.precision"],
                        "judge_accuracy": conditional["accuracy"],
                        "judge_weakest_class": conditional["min_class_accuracy"]},
    }


def quality_figure(path: Path, table: dict[str, dict[str, float]]) -> None:
    metrics = [k for k in next(iter(table.values())) if k.endswith(("FID", "KID", "IS"))]
    plots.metrics_bars(path, table, metrics, "Sample quality per model (floor = real train vs real test)")
