"""`make claims`: every claim the study makes, checked over seeds under its protocol and under ours.

Four blocks of DVC experiments, `claims.runs` seeds each from `claims.first_seed` (seeds no choice of
docs/decisions.md was made on): the `study` profile and ours, each in full and in quick mode; and a
fifth, ours on `claims.decision_seeds` (where the choices were made), for the before/after of the
figures chosen there. Each claim is one row: the study's words and figure, how the claim is made
measurable, and its outcome under each profile (`stats`: paired t-test over seeds, or Fisher's exact
test over drawings for a claim about the drawings themselves; Holm-corrected within each profile).

Dynamics claims are read from the training curves (each epoch's training loss as the batches went, as
the study plotted them): under the study's protocol from the first epoch; under ours from the first
epoch after the KL warm-up, whose weight near zero would otherwise decide them.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import QuickdrawError
from .experiments import collect, experiment_rows, metric, queue_and_run
from .params import ALL_MODELS, MODEL_NAMES, SAMPLE_SETS
from .stage import run_main
from .stats import ALPHA, MIN_RUNS, compare_proportions, holm, judge_difference, outcome, welch

# block -> the settings that make it (every block names both switches: the workspace's own don't leak in),
# in the order they are queued: the quick blocks first, minutes each.
BLOCKS = {"study-quick": ["profile=study", "quick=true"], "ours-quick": ["profile=ours", "quick=true"],
          "study": ["profile=study", "quick=false"], "ours": ["profile=ours", "quick=false"]}
DECISION_BLOCK = "ours-decision-seeds"
PROFILE_OF = {"study": "study", "ours": "ours", "study-quick": "study", "ours-quick": "ours"}
LIKELIHOOD, GENERATION, JUDGED, DATA = ("metrics/likelihood.json", "metrics/generation.json",
                                        "metrics/classifier_eval.json", "metrics/data.json")


def experiment_name(block: str, seed: int) -> str:
    return f"claims-{block}-seed{seed}"


# ---- reading one run -------------------------------------------------------------------------------

def value(run: dict, path: str, key: str) -> float:
    found = metric(run["metrics"], path, key)
    if found is None:
        raise QuickdrawError(f"{path}: no {key} in experiment {run['metrics'].get('Experiment')} (rerun it)")
    return float(found)


def trained(run: dict, model: str, key: str) -> float:
    return value(run, f"metrics/train/{model}.json", key)


def early_epoch(run: dict, model: str) -> int:
    """0-based index of the first epoch the dynamics claims read: the first, or the first after the
    KL warm-up (our profile)."""
    return int(trained(run, model, "protocol.kl_warmup_epochs"))


def at(run: dict, model: str, column: str, index: int) -> float:
    return float(run["histories"][model][column][index])


def tenth_epoch(run: dict, model: str) -> int:
    """0-based index a tenth of the way through the epochs after the warm-up (the study: epoch 5 of 50)."""
    start = early_epoch(run, model)
    return start + max(1, (len(run["histories"][model]["train_total"]) - start) // 10) - 1


def bce_share(run: dict, model: str) -> float:
    i = early_epoch(run, model)
    return at(run, model, "train_bce", i) / at(run, model, "train_total", i)


def judged_samples(profile: str) -> Callable[[str], str]:
    """The sample set a claim about "the samples" reads: the study judged its grids, drawn from N(0, I)
    with mean pixels (`<m>_prior`); ours, what `sample.*` draws."""
    return (lambda m: f"{m}_prior") if profile == "study" else (lambda m: m)


def classes_of(run: dict) -> list[str]:
    return [k.split(".")[-1] for k in run["metrics"] if k.startswith(f"{DATA}:count.test.")]


def class_hits(run: dict, report: str, c: str) -> tuple[int, int]:
    """Correct and all test drawings of class `c` in a judge report of real drawings."""
    n = int(value(run, DATA, f"count.test.{c}"))
    return round(value(run, JUDGED, f"{report}.per_class_accuracy.{c}") * n), n


def chance(run: dict) -> float:
    return 1 / len(classes_of(run))


# ---- the claims ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    words: str  # the study's claim (its report, abridged)
    figure: str  # the study's own figure
    measured: str  # how it is made measurable here, A - B > 0 when it holds
    mode: str  # "full" or "quick": the blocks it is read from
    sides: Callable[[dict, str], tuple[float, float]] | None = None  # (run, profile) -> (A, B)
    drawings: Callable[[dict], tuple[int, int, int, int]] | None = None  # run -> hits A, n A, hits B, n B


def _final(m, key):
    return lambda r, p: trained(r, m, f"final_train.{key}")


def _both(fn):
    """The mean of a per-model figure over the two unconditional models."""
    return lambda r: float(np.mean([fn(r, m) for m in MODEL_NAMES]))


def _best_other_hits(run: dict, report: str, target: str) -> tuple[int, int]:
    return max((class_hits(run, report, c) for c in classes_of(run) if c != target), key=lambda h: h[0] / h[1])


def _snowman_real(run):
    return (*class_hits(run, "real_test", "snowman"), *_best_other_hits(run, "real_test", "snowman"))


def _overlap_real(run):
    clear = min((class_hits(run, "real_test", c) for c in ("hand", "snowman", "motorbike")), key=lambda h: h[0] / h[1])
    overlapping = max((class_hits(run, "real_test", c) for c in ("rabbit", "yoga")), key=lambda h: h[0] / h[1])
    return (*clear, *overlapping)


def _sample_accuracy(run, c):
    return value(run, JUDGED, f"samples.conditional.per_class.{c}.accuracy")


def _sketch(run, sample_set, key):
    return value(run, GENERATION, f"{sample_set}.sketch.{key}")


WARMUP_NOTE = "; ours from the first epoch after the KL warm-up"

CLAIMS = [
    Claim("CNN-CNN reaches a lower final loss than RNN-CNN", "184.16 vs 188.94",
          "last epoch's training loss (the study's \"final loss\"), RNN-CNN - CNN-CNN", "full",
          lambda r, p: (trained(r, "rnn_cnn", "final_train.neg_elbo"), trained(r, "cnn_cnn", "final_train.neg_elbo"))),
    Claim("the CNN encoder outperforms the RNN encoder (key finding 1)", "– (training loss only)",
          "test -ELBO, RNN-CNN - CNN-CNN", "full",
          lambda r, p: (value(r, LIKELIHOOD, "rnn_cnn.neg_elbo"), value(r, LIKELIHOOD, "cnn_cnn.neg_elbo"))),
    Claim("CNN-CNN converges faster", "– (read off its loss curves)",
          "training loss a tenth of the way through (the study: epoch 5 of 50), RNN-CNN - CNN-CNN" + WARMUP_NOTE,
          "full", lambda r, p: (at(r, "rnn_cnn", "train_total", tenth_epoch(r, "rnn_cnn")),
                                at(r, "cnn_cnn", "train_total", tenth_epoch(r, "cnn_cnn")))),
    Claim("CNN-CNN has the lower reconstruction error (BCE)", "141.93 vs 148.16",
          "last epoch's training BCE, RNN-CNN - CNN-CNN", "full",
          lambda r, p: (trained(r, "rnn_cnn", "final_train.bce"), trained(r, "cnn_cnn", "final_train.bce"))),
    Claim("CNN-CNN has a slightly higher KLD", "42.23 vs 40.78",
          "last epoch's training KLD, CNN-CNN - RNN-CNN", "full",
          lambda r, p: (trained(r, "cnn_cnn", "final_train.kld"), trained(r, "rnn_cnn", "final_train.kld"))),
    *[Claim(f"BCE dominates the total loss early ({m})", "– (curves)",
            "BCE's share of the first epoch's training loss - 1/2" + WARMUP_NOTE, "full",
            lambda r, p, m=m: (bce_share(r, m), 0.5)) for m in MODEL_NAMES],
    *[Claim(f"BCE decreases as training progresses ({m})", "– (curves)",
            "training BCE, first epoch - last" + WARMUP_NOTE, "full",
            lambda r, p, m=m: (at(r, m, "train_bce", early_epoch(r, m)), at(r, m, "train_bce", -1))) for m in MODEL_NAMES],
    *[Claim(f"KLD gradually increases during training ({m})", "– (curves)",
            "training KLD, last epoch - first" + WARMUP_NOTE, "full",
            lambda r, p, m=m: (at(r, m, "train_kld", -1), at(r, m, "train_kld", early_epoch(r, m)))) for m in MODEL_NAMES],
    Claim("CNN-CNN produces clearer samples", "– (looked at)",
          "the judge's mean confidence on its samples, CNN-CNN - RNN-CNN (the study's profile: its N(0, I) grids)",
          "full", lambda r, p: (value(r, JUDGED, f"samples.{judged_samples(p)('cnn_cnn')}.mean_confidence"),
                                value(r, JUDGED, f"samples.{judged_samples(p)('rnn_cnn')}.mean_confidence"))),
    Claim("CNN-CNN has a higher Inception Score than RNN-CNN", "1.0946 vs 1.0847 (± 0.020)",
          "IS in the sketch judge's space (class logits), CNN-CNN - RNN-CNN", "full",
          lambda r, p: (_sketch(r, "cnn_cnn", "is"), _sketch(r, "rnn_cnn", "is"))),
    Claim("the conditional model has the highest Inception Score", "1.1020 (± 0.022)",
          "sketch IS, conditional - the better unconditional model", "full",
          lambda r, p: (_sketch(r, "conditional", "is"), max(_sketch(r, m, "is") for m in MODEL_NAMES))),
    Claim("CNN-CNN has the lowest FID", "122.31 vs 126.94 (RNN-CNN)",
          "sketch FID against the test drawings, RNN-CNN - CNN-CNN", "full",
          lambda r, p: (_sketch(r, "rnn_cnn", "fid"), _sketch(r, "cnn_cnn", "fid"))),
    Claim("the conditional model is slightly worse than CNN-CNN in FID", "123.46 vs 122.31",
          "sketch FID, conditional - CNN-CNN", "full",
          lambda r, p: (_sketch(r, "conditional", "fid"), _sketch(r, "cnn_cnn", "fid"))),
    Claim("diverse latent sampling improves the Inception Score", "– (\"compared to our initial runs\")",
          "sketch IS, the profile's sampler - N(0, I) with mean pixels, mean of the three models (the study's "
          "profile: its five hand-mixed latent patterns)", "full",
          lambda r, p: (float(np.mean([_sketch(r, m, "is") for m in ALL_MODELS])),
                        float(np.mean([_sketch(r, f"{m}_prior", "is") for m in ALL_MODELS])))),
    Claim("diverse latent sampling improves FID", "– (\"significant improvement\")",
          "sketch FID, N(0, I) with mean pixels - the profile's sampler, mean of the three models", "full",
          lambda r, p: (float(np.mean([_sketch(r, f"{m}_prior", "fid") for m in ALL_MODELS])),
                        float(np.mean([_sketch(r, m, "fid") for m in ALL_MODELS])))),
    Claim("conditioning makes class-specific samples", "– (looked at)",
          "the judge's accuracy on the conditional samples (the class asked for) - chance", "full",
          lambda r, p: (value(r, JUDGED, "samples.conditional.accuracy"), chance(r))),
    Claim("conditioning makes class-specific samples (classification accuracy score)", "–",
          "a judge trained on the conditional samples alone, its accuracy on real test drawings - chance", "full",
          lambda r, p: (value(r, JUDGED, "accuracy_score.samples.accuracy"), chance(r))),
    Claim("snowman is the most recognisable class, on real drawings", "100% (5 of 5) vs 80% rabbit, 80% yoga",
          "the judge's accuracy on the real test drawings, snowman - the best other class (over drawings; one "
          "judge, so the same in both profiles)", "full", drawings=_snowman_real),
    Claim("snowman is the most recognisable class, on conditional samples", "– (looked at)",
          "the judge's accuracy on each class's conditional samples, snowman - the best other class", "full",
          lambda r, p: (_sample_accuracy(r, "snowman"),
                        max(_sample_accuracy(r, c) for c in classes_of(r) if c != "snowman"))),
    Claim("rabbit and yoga overlap more with other classes", "80% and 80% (5 drawings each)",
          "the judge on real test drawings, the weakest of hand, snowman, motorbike - the better of rabbit and "
          "yoga (over drawings)", "full", drawings=_overlap_real),
    Claim("quick mode: the loss decreases consistently", "– (described)",
          "training loss, first epoch - last, mean of the two models" + WARMUP_NOTE, "quick",
          lambda r, p: (_both(lambda r_, m: at(r_, m, "train_total", early_epoch(r_, m)))(r),
                        _both(lambda r_, m: at(r_, m, "train_total", -1))(r))),
    Claim("quick mode: BCE dominates the total loss", "– (described)",
          "BCE's share of the first epoch's training loss - 1/2, mean of the two models" + WARMUP_NOTE, "quick",
          lambda r, p: (_both(bce_share)(r), 0.5)),
    Claim("quick mode: KLD gradually increases", "– (described)",
          "training KLD, last epoch - first, mean of the two models" + WARMUP_NOTE, "quick",
          lambda r, p: (_both(lambda r_, m: at(r_, m, "train_kld", -1))(r),
                        _both(lambda r_, m: at(r_, m, "train_kld", early_epoch(r_, m)))(r))),
    Claim("quick mode: the same pattern, CNN-CNN below RNN-CNN", "– (\"similar patterns\")",
          "last epoch's training loss, RNN-CNN - CNN-CNN", "quick",
          lambda r, p: (trained(r, "rnn_cnn", "final_train.neg_elbo"), trained(r, "cnn_cnn", "final_train.neg_elbo"))),
    Claim("quick mode: conditional samples show class-specific features", "– (described)",
          "the judge's accuracy on the conditional samples - chance", "quick",
          lambda r, p: (value(r, JUDGED, "samples.conditional.accuracy"), chance(r))),
    Claim("quick mode: meaningful latent representations", "– (described)",
          "the judge's accuracy on the two models' reconstructions of test drawings (mean) - chance", "quick",
          lambda r, p: (_both(lambda r_, m: value(r_, JUDGED, f"reconstructions.{m}.accuracy"))(r), chance(r))),
]


def decide(claims: list[Claim], blocks: dict[str, list[dict]], profile: str) -> list[dict]:
    """Every claim's figures and outcome under one profile; Holm's correction over all of them."""
    results = []
    for claim in claims:
        runs = blocks[f"{profile}{'-quick' if claim.mode == 'quick' else ''}"]
        if claim.drawings:
            ha, na, hb, nb = claim.drawings(runs[0])
            r = compare_proportions(ha, na, hb, nb, True)
            r.update(a=[ha / na], b=[hb / nb])
        else:
            a, b = zip(*(claim.sides(run, profile) for run in runs))
            r = judge_difference(list(a), list(b), True)
            r.update(a=list(a), b=list(b))
        results.append(r)
    for r, p in zip(results, holm([r["p"] for r in results])):
        r.update(p_holm=p, outcome=outcome(r, p))
    return results


# ---- the page --------------------------------------------------------------------------------------

DEVIATIONS = [
    ("data", "quickdraw_subset_np: 4,000 + 1,000 per class", "the same classes and sizes (`data.*`); 10% of the "
     "training drawings held out for validation (selection and the curves), so 3,600 per class train"),
    ("architectures", "RNN-CNN 1,728,065, CNN-CNN 865,345, conditional 865,505 parameters", "the same layers and "
     "counts (`architecture: study`, tested); fc_mu and fc_logvar as one layer; the sigmoid in the loss "
     "(`binary_cross_entropy_with_logits`), not the model"),
    ("CNN-CNN's decoder", "started from the decoder the RNN-CNN run had trained (the same object)",
     "from scratch: each model trains from its own random weights (the study's reuse is a confound)"),
    ("optimiser", "Adam, lr 1e-2 (RNN-CNN) and 1e-3 (CNN-CNN, conditional), constant; batch 128; 50 epochs",
     "the same (AdamW with weight decay 0 is Adam)"),
    ("loss", "BCE summed per drawing + KLD, beta 1, summed over the batch", "the same, averaged over the batch: "
     "Adam's steps do not depend on the loss's scale (up to its epsilon)"),
    ("weights kept", "the last epoch's", "the same (`train.keep: last`)"),
    ("selection", "the lower last-epoch training loss", "the lower validation -ELBO (held-out, as for ours)"),
    ("conditional model", "the selected model's trained encoder and decoder, a new N(0, 1) class embedding "
     "added to z, 50 more epochs at 1e-3", "the same (`conditional.init: best`, `embedding_init: random`)"),
    ("seeds", "one run, seed 42", f"every claim over `claims.runs` seeds from `claims.first_seed`"),
    ("IS / FID models", "a separate 20-epoch run with beta 2", "the 50-epoch, beta-1 models of the rows above"),
    ("IS / FID samples", "hand-mixed latent patterns, a different mix per model", "one mix for all three "
     "models (its CNN-CNN's five patterns: `sample.strategy: mixed`); its grids: N(0, I), mean pixels"),
    ("IS / FID features", "ImageNet InceptionV3 (torchvision), the pooled 2048 features; IS as a softmax over "
     "them; FID on 500 samples vs 500 test drawings", "the sketch judge's space here (InceptionV3 weights "
     "cannot be fetched offline; `evaluate.feature_extractors` adds torch-fidelity's FID InceptionV3); the "
     "study's IS definition (softmax over the pooled features) and FID at N = 500 beside ours"),
    ("classifier", "an MLP (its assignment 1) on 5 real test drawings of 3 classes", "the sketch judge on every "
     "test drawing of every class, and on every model's samples"),
    ("quick mode", "described, not coded: 5,000 drawings, a smaller model, 10 epochs", "5,000 drawings at most "
     "(`quick_profile`), the study's layers at half width (convolutions 16-32-64, GRU 64, latent 16), 10 "
     "epochs, the conditional model 10 more"),
]


def _mean_sd(values) -> str:
    v = np.asarray(values, float)
    return f"{v.mean():.4g} ± {v.std(ddof=1):.2g}" if len(v) > 1 else f"{v.mean():.4g}"


def _cell(r: dict) -> str:
    a, b = np.mean(r["a"]), np.mean(r["b"])
    interval = "" if math.isnan(r["low"]) else f" [{r['low']:+.3g}, {r['high']:+.3g}]"
    p = "–" if math.isnan(r["p_holm"]) else f"{r['p_holm']:.2g}"
    unit = " over drawings" if r.get("drawings") else ""
    return f"**{r['outcome']}**: {a:.4g} vs {b:.4g}, {r['mean']:+.3g}{interval}, p (Holm) {p}{unit}"


def ledger(claims: list[Claim], decided: dict[str, list[dict]], names: dict[str, list[str]],
           blocks: dict[str, list[dict]]) -> str:
    one = blocks["study"][0]
    drawings = int(value(one, DATA, "total.train"))
    steps = math.ceil(drawings / trained(one, "cnn_cnn", "protocol.batch_size")) * int(trained(one, "cnn_cnn", "epochs"))
    made_at = sorted({run.get("baseline", "?") for runs in blocks.values() for run in runs})
    lines = ["# The study's claims, checked", "",
             f"The runs were made at code revision {', '.join(made_at)} (the stamp above names the revision that "
             "read them).", "",
             f"Every run trains on {drawings:,} drawings ({drawings // len(classes_of(one)):,} per class) and tests on "
             f"{int(value(one, DATA, 'total.test')):,}; the study trained on 20,000 and tested on 5,000. Under its "
             f"protocol that is {steps:,} optimizer steps where the study took 7,850: read its loss figures beside "
             "these, not against them.", "",
             f"Runs: {', '.join(f'`{b}` {len(n)} ({n[0]} ...)' for b, n in names.items() if n)}. Each claim is a "
             "difference A - B that is positive when the claim holds: over seeds, a two-sided paired t-test; over "
             "drawings (a claim about the drawings themselves), Fisher's exact test. Holm's correction across all "
             f"claims of one profile, at {ALPHA}: **holds** / **does not hold** when the corrected p is below it, "
             f"with / against the claim; otherwise **inconclusive** (always with fewer than {MIN_RUNS} runs). "
             "Cells: mean A vs mean B, the mean difference [95% interval], the corrected p.", "",
             "| # | the study's claim | its figure | measured as (A - B) | under the study's protocol | under ours |",
             "|---|---|---|---|---|---|"]
    for i, claim in enumerate(claims, 1):
        lines.append(f"| {i} | {claim.words} | {claim.figure} | {claim.measured} | "
                     f"{_cell(decided['study'][i - 1])} | {_cell(decided['ours'][i - 1])} |")
    counts = {p: {o: sum(r["outcome"] == o for r in rows) for o in ("holds", "does not hold", "inconclusive")}
              for p, rows in decided.items()}
    protocol = {"study": "the study's protocol", "ours": "ours"}
    lines += ["", "Outcomes: " + "; ".join(f"{protocol[p]}: " + ", ".join(f"{n} {o}" for o, n in c.items())
                                           for p, c in counts.items()) + ".", ""]
    lines += ["![The training curves the dynamics claims read](figures/claims_curves.png)", "",
              "## The study's protocol, and where the `study` profile departs from its code", "",
              "| what | the study's code | the `study` profile |", "|---|---|---|"]
    lines += [f"| {what} | {theirs} | {mine} |" for what, theirs, mine in DEVIATIONS]
    return "\n".join(lines) + "\n"


def figures_section(blocks: dict[str, list[dict]]) -> str:
    """The study's figures beside both profiles': losses, its IS and FID definitions beside ours,
    precision and recall, the classification accuracy score."""
    full = {p: blocks[p] for p in ("study", "ours")}
    col = lambda fn: " | ".join(_mean_sd([fn(r) for r in runs]) for runs in full.values())  # noqa: E731
    lines = ["## The study's figures beside both profiles' (mean ± std over seeds)", "",
             "| figure | the study's | the `study` profile | ours |", "|---|---|---|---|"]
    study_reported = {"rnn_cnn": ("188.94", "148.16", "40.78"), "cnn_cnn": ("184.16", "141.93", "42.23")}
    for m in MODEL_NAMES:
        for key, reported in zip(("neg_elbo", "bce", "kld"), study_reported[m]):
            lines.append(f"| {m} final training {key.replace('neg_elbo', 'loss')} | {reported} | "
                         f"{col(lambda r: trained(r, m, f'final_train.{key}'))} |")
    per_seed = {p: {m: ", ".join(f"{trained(r, m, 'final_train.neg_elbo'):.1f}" for r in runs) for m in MODEL_NAMES}
                for p, runs in full.items()}
    for m in ALL_MODELS:
        cells = [f"{_mean_sd([value(r, LIKELIHOOD, f'{m}.neg_elbo') for r in runs])} / "
                 f"{_mean_sd([value(r, LIKELIHOOD, f'{m}.iwae_nll') for r in runs])}" for runs in full.values()]
        lines.append(f"| {m} test -ELBO / IWAE bound | – | " + " | ".join(cells) + " |")
    lines += ["", "The final training loss seed by seed (a spread the study's single run could not show): "
              + "; ".join(f"{m} under {'the study' if p == 'study' else 'ours'}: {v}" for p, by_model in per_seed.items()
                          for m, v in by_model.items()) + "."]
    reported_is = {"rnn_cnn": "1.0847", "cnn_cnn": "1.0946", "conditional": "1.1020"}
    reported_fid = {"rnn_cnn": "126.94", "cnn_cnn": "122.31", "conditional": "123.46"}
    lines += ["", "### Its Inception Score and FID, by its definitions and by ours", "",
              "The study's IS is a softmax over InceptionV3's 2048 pooled features, not over class logits: a score "
              "that says how peaked a feature vector is, not which class a drawing shows. Its own spread (± 0.019 "
              "to 0.022 over splits) is twice the gap between its models (0.0099, 0.0074). Here both definitions "
              "in the sketch judge's space (its 128 pooled features; InceptionV3's weights cannot be fetched "
              "offline), and FID at the study's 500 vs 500 beside ours at `evaluate.n`.", "",
              "| sample set | the study's IS / FID (InceptionV3) | profile | IS, its definition (N = 500) | IS, class "
              "logits | FID at 500 | FID at `evaluate.n` | precision | recall |", "|---|---|---|---|---|---|---|---|---|"]
    for s in (*SAMPLE_SETS, "real_floor"):
        for p, runs in full.items():
            cells = [_mean_sd([_sketch(r, s, k) for r in runs]) for k in ("study_is", "is", "fid_500", "fid",
                                                                          "precision", "recall")]
            theirs = f"{reported_is[s]} / {reported_fid[s]}" if s in reported_is and p == "study" else ""
            label = {"real_floor": "real training drawings"}.get(s, s)
            lines.append(f"| {label} | {theirs} | {p} | " + " | ".join(cells) + " |")
    lines += ["", "### Conditioning, measured directly: the classification accuracy score", "",
              "The judge's recipe trained on the conditional model's samples alone, and on as many real training "
              "drawings; both tested on the real test drawings.", "",
              "| | the `study` profile | ours |", "|---|---|---|",
              f"| trained on samples | {col(lambda r: value(r, JUDGED, 'accuracy_score.samples.accuracy'))} |",
              f"| trained on real drawings | {col(lambda r: value(r, JUDGED, 'accuracy_score.real.accuracy'))} |",
              f"| ratio | {col(lambda r: value(r, JUDGED, 'accuracy_score.ratio'))} |",
              f"| the judge on the conditional samples | {col(lambda r: value(r, JUDGED, 'samples.conditional.accuracy'))} |"]
    return "\n".join(lines) + "\n"


# The headline figures a choice of docs/decisions.md was made on (the sampler, the schedule, the class scale,
# the pixel mapping's precision-recall rule).
CHOSEN = [("judge on conditional samples", JUDGED, "samples.conditional.accuracy"),
          ("its weakest class", JUDGED, "samples.conditional.min_class_accuracy"),
          ("sketch FID conditional", GENERATION, "conditional.sketch.fid"),
          ("sketch FID CNN-CNN", GENERATION, "cnn_cnn.sketch.fid"),
          ("sketch FID conditional vs train", GENERATION, "train_reference.conditional.fid"),
          ("copy share conditional", GENERATION, "copies.conditional.share_closer"),
          ("reconstructions recognised RNN-CNN", JUDGED, "reconstructions.rnn_cnn.accuracy"),
          ("precision conditional", GENERATION, "conditional.sketch.precision"),
          ("recall conditional", GENERATION, "conditional.sketch.recall"),
          ("test -ELBO CNN-CNN", LIKELIHOOD, "cnn_cnn.neg_elbo")]


def before_after(decision: list[dict], fresh: list[dict], seeds: tuple[list[int], list[int]]) -> str:
    lines = ["## Figures chosen on seeds, confirmed on fresh ones", "",
             f"Our schedule and sampler (docs/decisions.md H, I) were chosen on seeds {_seeds(seeds[0])}, which the "
             "verdict then reported on: there, these are selection figures. The same code and params, ours, on the "
             f"ledger's fresh seeds {_seeds(seeds[1])} (Welch's t-test, unpaired):", "",
             "| figure | decision seeds | fresh seeds | fresh - decision | p |", "|---|---|---|---|---|"]
    for label, path, key in CHOSEN:
        a = [value(r, path, key) for r in decision]
        b = [value(r, path, key) for r in fresh]
        p = welch(b, a)
        lines.append(f"| {label} | {_mean_sd(a)} | {_mean_sd(b)} | {np.mean(b) - np.mean(a):+.3g} | "
                     f"{'–' if math.isnan(p) else f'{p:.2g}'} |")
    return "\n".join(lines) + "\n"


def _seeds(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ", ".join(map(str, seeds))


def appendix(blocks: dict[str, list[dict]]) -> str:
    keys = [(LIKELIHOOD, f"{m}.{k}") for m in ALL_MODELS for k in ("neg_elbo", "bce", "kld", "iwae_nll")]
    keys += [(f"metrics/train/{m}.json", f"final_train.{k}") for m in ALL_MODELS for k in ("neg_elbo", "bce", "kld")]
    keys += [(GENERATION, f"{s}.sketch.{k}") for s in (*SAMPLE_SETS, "real_floor")
             for k in ("is", "study_is", "fid", "fid_500", "kid", "precision", "recall")]
    keys += [(GENERATION, f"copies.{m}.share_closer") for m in ALL_MODELS]
    keys += [(JUDGED, f"reconstructions.{m}.accuracy") for m in ALL_MODELS]
    keys += [(JUDGED, k) for k in ("samples.conditional.accuracy", "samples.conditional.min_class_accuracy",
                                   "accuracy_score.samples.accuracy", "accuracy_score.real.accuracy")]
    names = list(blocks)
    lines = ["## Every figure, every block (mean ± std over seeds)", "", "| figure | " + " | ".join(names) + " |",
             "|---" * (len(names) + 1) + "|"]
    for path, key in keys:
        cells = []
        for runs in blocks.values():
            found = [metric(r["metrics"], path, key) for r in runs]
            cells.append("–" if any(v is None for v in found) else _mean_sd(found))
        trained_model = path.removeprefix("metrics/train/").removesuffix(".json") if path.startswith("metrics/train/") else ""
        lines.append(f"| {f'{trained_model} {key}' if trained_model else key} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(blocks: dict[str, list[dict]], path: Path) -> None:
    curves = {p: {m: {c: [r["histories"][m][c] for r in blocks[p]] for c in ("train_total", "train_bce", "train_kld")}
                  for m in MODEL_NAMES} for p in ("study", "ours")}
    curves_figure(path, curves)


def curves_figure(path, curves: dict[str, dict[str, dict[str, list[list[float]]]]]) -> None:
    """The training curves the dynamics claims read: one row per profile, one column per term (loss, BCE,
    KLD), each seed a thin line and the mean over seeds a bold one, on a log scale: the study's first
    epochs sit an order of magnitude above its last. `curves[profile][model][column]` holds one curve per
    seed."""
    from .files import save_figure
    from .plots import plt  # matplotlib with the headless backend the plots module sets

    titles = {"train_total": "training loss", "train_bce": "training BCE", "train_kld": "training KLD"}
    fig, axes = plt.subplots(len(curves), 3, figsize=(16, 4 * len(curves)), squeeze=False)
    for row, (profile, models) in zip(axes, curves.items()):
        for ax, column in zip(row, titles):
            for (model, per_column), colour in zip(models.items(), ("tab:blue", "tab:orange", "tab:green")):
                per_seed = per_column[column]
                length = min(len(c) for c in per_seed)
                values = np.array([c[:length] for c in per_seed])
                epochs = np.arange(1, length + 1)
                for curve in values:
                    ax.plot(epochs, curve, color=colour, alpha=0.3, linewidth=0.8)
                ax.plot(epochs, values.mean(0), color=colour, linewidth=2, label=f"{model} (mean of {len(values)})")
            ax.set(xlabel="epoch", ylabel="nats/drawing", title=f"{profile} profile: {titles[column]}", yscale="log")
            ax.grid(alpha=0.3, which="both")
            ax.legend()
    fig.tight_layout()
    save_figure(path, fig)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--runs", type=int, help="seeds per block (default: claims.runs)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra -S for every run")
    ap.add_argument("--collect-only", action="store_true", help="queue nothing; read the experiments already run")
    ap.add_argument("--rerun", action="store_true", help="run every experiment again, even one already there")
    args = ap.parse_args(argv)

    from .files import write_text
    from .params import load_params

    config = load_params(args.params).claims
    runs_n = args.runs or config.runs
    if runs_n < 2:
        raise QuickdrawError("claims need at least 2 runs per block to measure noise (claims.runs / --runs)")
    fresh = [config.first_seed + i for i in range(runs_n)]
    overlap = sorted(set(fresh) & set(config.decision_seeds))
    if overlap:
        raise QuickdrawError(f"params.yaml: claims.first_seed gives seeds {overlap}, which are claims.decision_seeds")
    settings = [*config.set, *args.set]
    plan = {block: {experiment_name(block, s): [*BLOCKS[block], *settings, *(f"{k}={s}" for k in config.seed_params)]
                    for s in fresh} for block in BLOCKS}
    plan[DECISION_BLOCK] = {experiment_name(DECISION_BLOCK, s): [*BLOCKS["ours"], *settings,
                                                                 *(f"{k}={s}" for k in config.seed_params)]
                            for s in config.decision_seeds[:runs_n]}
    if not args.collect_only:
        queue_and_run({name: sets for block in plan.values() for name, sets in block.items()}, args.rerun)
    rows = experiment_rows()
    collected = {block: collect(list(names), rows) for block, names in plan.items()}
    blocks = {block: list(runs.values()) for block, runs in collected.items()}
    decided = {p: decide(CLAIMS, blocks, p) for p in ("study", "ours")}
    text = "\n".join([ledger(CLAIMS, decided, {b: list(n) for b, n in plan.items()}, blocks), figures_section(blocks),
                      before_after(blocks[DECISION_BLOCK], blocks["ours"], (config.decision_seeds[:runs_n], fresh)),
                      appendix(blocks)])
    write_text("metrics/claims.md", text)
    plot(blocks, Path("plots/claims.png"))
    print(text)


if __name__ == "__main__":
    sys.exit(run_main(main))
