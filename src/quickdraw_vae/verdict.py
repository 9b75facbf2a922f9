"""`make verdict`: the study's findings, rechecked over several seeds with DVC's experiment queue.

1. queue one experiment per seed (`dvc exp run --queue -S <seed params>=<seed> ...`), run them with
   `dvc queue start -j 1` (parallel workers are known to be flaky) and wait;
2. collect their params with `dvc.api.exp_show` and their metrics files with `dvc.api.read` at each
   experiment's commit (DVC reads them; we parse nothing DVC can read), and each run's
   per-epoch history (its DVCLive curves) from that commit;
3. write `metrics/verdict.md` and `plots/verdict.png`.

Statistics: each finding is a paired difference over seeds (the same seed gives both sides). A
two-sided paired t-test (`scipy.stats.ttest_rel`) gives its p-value; Holm's step-down correction
keeps the chance of any false "holds" or "does not hold" across all findings at ALPHA; the 95%
interval of the mean difference and Cohen's d_z (mean / std) give its size. Outcomes: "holds"
(corrected p < ALPHA, in the claimed direction), "does not hold" (corrected p < ALPHA, against it),
"inconclusive" (otherwise, with fewer than MIN_RUNS runs, and whenever the runs show no
seed-to-seed spread to test against).
Wilcoxon's signed-rank test is not used: with five runs or fewer its smallest two-sided p-value is
1/16, so it could never decide.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .errors import QuickdrawError
from .params import ALL_MODELS, MODEL_NAMES, SAMPLE_SETS
from .stage import run_main

ALPHA = 0.05
# Fewer runs than this decide nothing: two runs give one degree of freedom, a spread estimated from
# a single difference, which a near-deterministic figure (say, one only the evaluation seed moves)
# turns into a tiny p-value.
MIN_RUNS = 3


def _dvc(*args: str, check: bool = True) -> str:
    result = subprocess.run(["dvc", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise QuickdrawError(f"dvc {' '.join(args)} failed: {(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    return result.stdout


def _absolute_source(settings: list[str]) -> list[str]:
    # Queued experiments run in a temporary copy of the repo, where a relative folder means nothing.
    out = []
    for s in settings:
        key, _, value = s.partition("=")
        if key == "data.source" and "://" not in value:
            value = str(Path(value).resolve())
        out.append(f"{key}={value}")
    return out


def queue_and_run(tag: str, seeds: list[int], seed_params: list[str], settings: list[str], source: str) -> list[str]:
    names = []
    settings = _absolute_source([f"data.source={source}", *settings])
    for seed in seeds:
        name = f"{tag}-seed{seed}"
        sets = [a for s in [*settings, *(f"{p}={seed}" for p in seed_params)] for a in ("-S", s)]
        _dvc("exp", "remove", name, check=False)
        _dvc("exp", "run", "--queue", "--name", name, *sets)
        names.append(name)
    _dvc("queue", "start", "-j", "1")
    while True:
        status = _dvc("queue", "status")
        if not any(word in status for word in ("Queued", "Running")):
            break
        time.sleep(5)
    return names


# The detailed metrics files: outside dvc.yaml's `metrics:` (which holds the headline figures, so that
# `dvc metrics show` and `dvc exp show` fit a terminal), read per experiment at its commit.
DETAIL_FILES = ("metrics/likelihood.json", "metrics/generation.json", "metrics/classifier_eval.json",
                "metrics/validation.json")


def metric(row: dict, path: str, key: str):
    """One value of an `exp_show` row, or of `experiment_metrics`. DVC names a column `path:key` only
    where another file has the same key, and plain `key` otherwise."""
    return row.get(f"{path}:{key}", row.get(key))


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def experiment_metrics(rev: str, paths=DETAIL_FILES, repo: str | None = None) -> dict:
    """Every figure of the named metrics files at an experiment's commit, keyed `path:dotted.key`.
    (`dvc.api.read` at the commit: `dvc.api.metrics_show` also reads the workspace, and fails where
    the workspace has no run.)"""
    import json

    import dvc.api
    from dvc.exceptions import PathMissingError

    out = {}
    for path in paths:
        try:
            tree = json.loads(dvc.api.read(path, rev=rev, repo=repo))
        except (FileNotFoundError, PathMissingError):
            continue  # a file this experiment's stages did not write (a target before `evaluate`; a running one)
        out.update({f"{path}:{key}": value for key, value in _flatten(tree).items()})
    return out


def collect(names: list[str]) -> dict[str, dict]:
    """Each experiment's params and headline metrics from `dvc.api.exp_show`, its detailed metrics
    files from `dvc.api.read` at its commit, and its per-epoch histories."""
    import dvc.api

    rows = {r.get("Experiment"): r for r in dvc.api.exp_show()}
    missing = [n for n in names if n not in rows]
    if missing:
        raise QuickdrawError(f"experiments not found by `dvc exp show` (did they fail? see `dvc queue logs`): {missing}")
    runs = {}
    for name in names:
        row = {**rows[name], **experiment_metrics(rows[name]["rev"])}
        if not isinstance(metric(row, "metrics/generation.json", "n"), (int, float)):
            raise QuickdrawError(f"experiment {name} has no metrics/generation.json: it failed (`dvc queue logs {name}`)")
        runs[name] = {"metrics": row, "histories": {m: _history(row["rev"], m) for m in ALL_MODELS}}
    return runs


def _history(rev: str, model: str) -> dict[str, list[float]]:
    from .tracking import epoch_log_dir, read_history

    def at_rev(path: Path) -> str:
        shown = subprocess.run(["git", "show", f"{rev}:{path.as_posix()}"], capture_output=True, text=True)
        if shown.returncode != 0:
            raise FileNotFoundError(path)
        return shown.stdout

    return {k: v.tolist() for k, v in read_history(epoch_log_dir("", model), at_rev).items()}


def judge_difference(a: list[float], b: list[float], expect_positive: bool) -> dict:
    """Paired a - b over seeds: mean, std, 95% interval, d_z, and the uncorrected two-sided p-value."""
    from scipy import stats

    d = np.asarray(a, float) - np.asarray(b, float)
    n, mean = len(d), float(d.mean())
    std = float(d.std(ddof=1)) if n > 1 else 0.0
    if n < 2 or std == 0.0:  # nothing varied between the runs: no spread to test a difference against
        return {"n": n, "mean": mean, "std": std, "low": math.nan, "high": math.nan, "d_z": math.nan,
                "p": math.nan, "expect_positive": expect_positive}
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    p = float(stats.ttest_rel(np.asarray(a, float), np.asarray(b, float)).pvalue)
    return {"n": n, "mean": mean, "std": std, "low": mean - half, "high": mean + half, "d_z": mean / std, "p": p,
            "expect_positive": expect_positive}


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (NaN stays NaN and is not counted as a test)."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    adjusted, running = [math.nan] * len(pvalues), 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


def outcome(result: dict, p_holm: float) -> str:
    if result["n"] < MIN_RUNS or math.isnan(p_holm) or p_holm >= ALPHA:
        return "inconclusive"
    return "holds" if (result["mean"] > 0) == result["expect_positive"] else "does not hold"


def _ms(values) -> str:
    v = np.asarray(values, float)
    return f"{v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0:.2f}"


def analyse(runs: dict[str, dict], classes: list[str]) -> tuple[str, list[dict]]:
    names = list(runs)
    get = lambda path, key: [float(metric(runs[n]["metrics"], path, key)) for n in names]  # noqa: E731
    space = "sketch"
    findings = []

    test = lambda m: get("metrics/likelihood.json", f"{m}.neg_elbo")  # noqa: E731
    findings.append(("CNN-CNN reaches a lower loss than RNN-CNN (test -ELBO, rnn - cnn)", test("rnn_cnn"),
                     test("cnn_cnn"), True))
    early = lambda m: [runs[n]["histories"][m]["val_total"][min(4, len(runs[n]["histories"][m]["val_total"]) - 1)] for n in names]  # noqa: E731
    findings.append(("CNN-CNN converges faster (validation -ELBO at epoch 5, rnn - cnn)", early("rnn_cnn"), early("cnn_cnn"), True))
    gen = lambda m, k: get("metrics/generation.json", f"{m}.{space}.{k}")  # noqa: E731
    best_uncond_is = [max(a, b) for a, b in zip(gen("rnn_cnn", "is"), gen("cnn_cnn", "is"))]
    findings.append((f"the conditional VAE has the best Inception Score ({space}; conditional - best other)",
                     gen("conditional", "is"), best_uncond_is, True))
    judged = "metrics/classifier_eval.json"
    accuracy = {c: get(judged, f"samples.conditional.per_class.{c}.accuracy") for c in classes}
    if "snowman" in classes:
        others = [max(accuracy[c][i] for c in classes if c != "snowman") for i in range(len(names))]
        findings.append(("snowman is the most recognisable class (judge accuracy; snowman - best other)",
                         accuracy["snowman"], others, True))
    for m in ("conditional", "cnn_cnn"):
        findings.append((f"diverse latent sampling improves IS ({m}: `sample.*` sampler - plain prior)",
                         gen(m, "is"), gen(f"{m}_prior", "is"), True))
        findings.append((f"diverse latent sampling improves FID ({m}: plain prior - `sample.*` sampler)",
                         gen(f"{m}_prior", "fid"), gen(m, "fid"), True))
    for m in ("rnn_cnn", "cnn_cnn"):
        h = [runs[n]["histories"][m] for n in names]
        findings.append((f"KLD rises during training ({m}; last - first epoch, validation)",
                         [x["val_kld"][-1] for x in h], [x["val_kld"][0] for x in h], True))
        findings.append((f"BCE falls during training ({m}; first - last epoch, validation)",
                         [x["val_bce"][0] for x in h], [x["val_bce"][-1] for x in h], True))

    results = [judge_difference(a, b, positive) for _, a, b, positive in findings]
    adjusted = holm([r["p"] for r in results])
    rows, lines = [], ["# Verdict over seeds", "",
                       f"{len(names)} runs: {', '.join(names)}. Each finding is a paired difference A - B over seeds: "
                       f"two-sided paired t-test, Holm-corrected across the {len(findings)} findings at {ALPHA}; "
                       "95% interval of the mean difference; d_z = mean / std. Holds / does not hold: corrected "
                       f"p below the level, in / against the claimed direction; otherwise inconclusive (always "
                       f"with fewer than {MIN_RUNS} runs).", "",
                       "| finding | A (mean ± std) | B (mean ± std) | A - B [95% interval] | d_z | p | p (Holm) | per-seed A - B | outcome |",
                       "|---|---|---|---|---|---|---|---|---|"]
    for (text, a, b, _), r, p_holm in zip(findings, results, adjusted):
        verdict = outcome(r, p_holm)
        rows.append({"finding": text, **r, "p_holm": p_holm, "outcome": verdict})
        per_seed = ", ".join(f"{x - y:+.2f}" for x, y in zip(a, b))
        interval = "no spread" if math.isnan(r["low"]) else f"[{r['low']:+.2f}, {r['high']:+.2f}]"
        lines.append(f"| {text} | {_ms(a)} | {_ms(b)} | {r['mean']:+.2f} {interval} | {_num(r['d_z'], '.2f')} | "
                     f"{_num(r['p'], '.3g')} | {_num(p_holm, '.3g')} | {per_seed} | **{verdict}** |")
    lines += ["", "\"Diverse latent sampling\" is read here as sampling from the fitted latent mixture (`sample.*`: "
              "per-class GMM, temperature, sharpened pixels) against the plain prior N(0, I) with mean pixels, "
              "drawn by the same `sample` stage from the same model.", ""]

    lines += ["## Every model x metric (mean ± std over seeds; per-seed values)", "", "| metric | mean ± std | per seed |", "|---|---|---|"]
    keys = [("metrics/likelihood.json", f"{m}.{k}") for m in ALL_MODELS for k in ("neg_elbo", "bce", "kld", "iwae_nll")]
    keys += [("metrics/generation.json", f"{m}.{space}.{k}") for m in (*SAMPLE_SETS, "real_floor") for k in ("is", "fid", "kid")]
    keys += [("metrics/generation.json", f"train_reference.{m}.fid") for m in ALL_MODELS]
    keys += [("metrics/generation.json", f"copies.{m}.share_closer") for m in ALL_MODELS]
    keys += [(judged, f"reconstructions.{m}.accuracy") for m in ALL_MODELS]
    keys += [(judged, f"samples.conditional.{k}") for k in ("accuracy", "min_class_accuracy")]
    for path, key in keys:
        v = get(path, key)
        lines.append(f"| {key} | {_ms(v)} | {', '.join(f'{x:.4g}' for x in v)} |")
    lines += ["", "## Judge on conditional samples, per class", "", "| class | accuracy | confidence |", "|---|---|---|"]
    for c in classes:
        conf = get(judged, f"samples.conditional.per_class.{c}.confidence")
        lines.append(f"| {c} | {_ms(np.array(accuracy[c]) * 100)} % | {_ms(conf)} |")
    return "\n".join(lines) + "\n", rows


def _num(value: float, fmt: str) -> str:
    return "–" if math.isnan(value) else format(value, fmt)


def plot(runs: dict[str, dict], path: Path) -> None:
    from . import plots

    names = list(runs)
    value = lambda path_, key: [float(metric(runs[n]["metrics"], path_, key)) for n in names]  # noqa: E731
    curves = {m: [runs[n]["histories"][m]["val_total"] for n in names] for m in MODEL_NAMES}
    test_loss = {m: value("metrics/likelihood.json", f"{m}.neg_elbo") for m in ALL_MODELS}
    sets = [s for s in (*ALL_MODELS, "cnn_cnn_prior", "conditional_prior", "real_floor")
            if metric(runs[names[0]]["metrics"], "metrics/generation.json", f"{s}.sketch.fid") is not None]
    plots.verdict_figure(path, curves, test_loss, {s: value("metrics/generation.json", f"{s}.sketch.fid") for s in sets})


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--runs", type=int, help="number of seeds (default: verdict.runs)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra -S for every run")
    ap.add_argument("--tag", default="verdict")
    ap.add_argument("--collect-only", action="store_true", help="skip queueing; read experiments already run")
    args = ap.parse_args(argv)

    from .params import load_params

    params = load_params(args.params)
    config = params.verdict
    runs_n = args.runs or config.runs
    if runs_n < 2:
        raise QuickdrawError("verdict needs at least 2 runs to measure noise (verdict.runs / --runs)")
    seeds = [config.first_seed + i for i in range(runs_n)]
    names = [f"{args.tag}-seed{s}" for s in seeds]
    if not args.collect_only:
        names = queue_and_run(args.tag, seeds, config.seed_params, [*config.set, *args.set],
                             params.data.source)
    runs = collect(names)
    text, _ = analyse(runs, params.data.classes)
    from .files import write_text

    write_text("metrics/verdict.md", text)
    plot(runs, Path("plots/verdict.png"))
    print(text)


if __name__ == "__main__":
    sys.exit(run_main(main))
