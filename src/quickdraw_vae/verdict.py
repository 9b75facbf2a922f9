"""`make verdict`: the study's findings, rechecked over several seeds with DVC's experiment queue.

1. queue one experiment per seed (`dvc exp run --queue -S <seed params>=<seed> ...`), run them with
   `dvc queue start -j 1` (parallel workers are known to be flaky) and wait;
2. collect their params and metrics with `dvc exp show --json` (DVC reports them; we parse nothing
   DVC can report), and each run's per-epoch history from its experiment commit;
3. write `metrics/verdict.md` (mean +- std, per-seed values, effect size, verdict) and `plots/verdict.png`.

Rule: a paired difference counts when |mean| exceeds two standard errors over seeds; then it
"holds" or "does not hold" by its sign; otherwise it is "within noise".
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .errors import QuickdrawError, run_main
from .params import ALL_MODELS



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


def _find(node, names: set[str], found: dict) -> None:
    """Walk `dvc exp show --json` and keep the revisions whose experiment name we queued."""
    if isinstance(node, dict):
        if node.get("name") in names and isinstance(node.get("data"), dict):
            found[node["name"]] = node
        for value in node.values():
            _find(value, names, found)
    elif isinstance(node, list):
        for value in node:
            _find(value, names, found)


def collect(names: list[str]) -> dict[str, dict]:
    shown = json.loads(_dvc("exp", "show", "--json", "-A"))
    found: dict = {}
    _find(shown, set(names), found)
    missing = [n for n in names if n not in found]
    if missing:
        raise QuickdrawError(f"experiments not found in `dvc exp show` (did they fail? see `dvc queue logs`): {missing}")
    runs = {}
    for name in names:
        node = found[name]
        data = node["data"]
        metrics = {path: entry.get("data", {}) for path, entry in (data.get("metrics") or {}).items()}
        if not metrics.get("metrics/generation.json"):
            raise QuickdrawError(f"experiment {name} has no metrics/generation.json: it failed (`dvc queue logs`)")
        rev = data.get("rev") or node.get("rev")
        histories = {m: _history(rev, m) for m in ALL_MODELS}
        runs[name] = {"metrics": metrics, "histories": histories, "rev": rev}
    return runs


def _history(rev: str, model: str) -> dict[str, list[float]]:
    text = subprocess.run(["git", "show", f"{rev}:plots/train/{model}.tsv"], capture_output=True, text=True).stdout
    rows = [line.split("\t") for line in text.strip().splitlines()]
    return {col: [float(r[i]) for r in rows[1:]] for i, col in enumerate(rows[0])} if rows else {}


def judge_difference(a: list[float], b: list[float], expect_positive: bool) -> dict:
    """Paired a - b over seeds: mean, std, standard error, effect size (mean / std) and verdict."""
    d = np.asarray(a, float) - np.asarray(b, float)
    n = len(d)
    std = float(d.std(ddof=1)) if n > 1 else 0.0
    se = std / math.sqrt(n) if n > 1 else math.inf
    mean = float(d.mean())
    if abs(mean) > 2 * se:
        verdict = "holds" if (mean > 0) == expect_positive else "does not hold"
    else:
        verdict = "within noise"
    return {"mean": mean, "std": std, "se": se, "effect": mean / std if std > 0 else math.inf, "verdict": verdict}


def _ms(values) -> str:
    v = np.asarray(values, float)
    return f"{v.mean():.2f} ± {v.std(ddof=1) if len(v) > 1 else 0:.2f}"


def analyse(runs: dict[str, dict]) -> tuple[str, list[dict]]:
    names = list(runs)
    get = lambda path, *keys: [_dig(runs[n]["metrics"][path], keys) for n in names]  # noqa: E731
    space = "sketch"
    findings = []

    rnn, cnn = get("metrics/train/rnn_cnn.json", "test", "neg_elbo"), get("metrics/train/cnn_cnn.json", "test", "neg_elbo")
    findings.append(("CNN-CNN reaches a lower loss than RNN-CNN (test -ELBO, rnn - cnn)", rnn, cnn, True))
    early = lambda m: [runs[n]["histories"][m]["val_total"][min(4, len(runs[n]["histories"][m]["val_total"]) - 1)] for n in names]  # noqa: E731
    findings.append(("CNN-CNN converges faster (validation -ELBO at epoch 5, rnn - cnn)", early("rnn_cnn"), early("cnn_cnn"), True))
    gen = lambda m, k: get("metrics/generation.json", f"{m}.{space}.{k}")  # noqa: E731
    best_uncond_is = [max(a, b) for a, b in zip(gen("rnn_cnn", "is"), gen("cnn_cnn", "is"))]
    findings.append((f"the conditional VAE has the best Inception Score ({space}; conditional - best other)",
                     gen("conditional", "is"), best_uncond_is, True))
    per_class = [runs[n]["metrics"]["metrics/classifier_eval.json"]["conditional"]["per_class"] for n in names]
    classes = list(per_class[0])
    snow = [pc["snowman"]["accuracy"] for pc in per_class] if "snowman" in classes else None
    if snow is not None:
        others = [max(v["accuracy"] for c, v in pc.items() if c != "snowman") for pc in per_class]
        findings.append(("snowman is the most recognisable class (judge accuracy; snowman - best other)", snow, others, True))
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

    rows, lines = [], ["# Verdict over seeds", "",
                       f"{len(names)} runs: {', '.join(names)}. Rule: a paired difference counts when |mean| > 2 standard errors "
                       "over seeds; it then holds or does not hold by its sign, otherwise it is within noise.", "",
                       "| finding | A (mean ± std) | B (mean ± std) | A - B | effect (mean/std) | per-seed A - B | verdict |",
                       "|---|---|---|---|---|---|---|"]
    for text, a, b, positive in findings:
        r = judge_difference(a, b, positive)
        rows.append({"finding": text, **r})
        per_seed = ", ".join(f"{x - y:+.2f}" for x, y in zip(a, b))
        lines.append(f"| {text} | {_ms(a)} | {_ms(b)} | {r['mean']:+.2f} ± {r['std']:.2f} | {r['effect']:.2f} | {per_seed} | **{r['verdict']}** |")
    lines += ["", "\"Diverse latent sampling\" is read here as sampling from the fitted latent mixture (`sample.*`: "
              "per-class GMM, temperature, sharpened pixels) against the plain prior N(0, I) with mean pixels, "
              "drawn by the same `sample` stage from the same model.", ""]

    lines += ["## Every model x metric (mean ± std over seeds; per-seed values)", "", "| metric | mean ± std | per seed |", "|---|---|---|"]
    for path in ("metrics/train/rnn_cnn.json", "metrics/train/cnn_cnn.json", "metrics/train/conditional.json"):
        for key in ("neg_elbo", "bce", "kld", "iwae_nll"):
            v = get(path, "test", key)
            lines.append(f"| {Path(path).stem} test {key} | {_ms(v)} | {', '.join(f'{x:.2f}' for x in v)} |")
    for key in sorted(runs[names[0]]["metrics"]["metrics/generation.json"]):
        if key == "n":
            continue
        v = get("metrics/generation.json", key)
        lines.append(f"| {key} | {_ms(v)} | {', '.join(f'{x:.4g}' for x in v)} |")
    lines += ["", "## Judge on conditional samples, per class", "", "| class | accuracy | confidence |", "|---|---|---|"]
    for c in classes:
        acc = [pc[c]["accuracy"] for pc in per_class]
        conf = [pc[c]["confidence"] for pc in per_class]
        lines.append(f"| {c} | {_ms(np.array(acc) * 100)} % | {_ms(conf)} |")
    return "\n".join(lines) + "\n", rows


def _dig(d, keys):
    for k in keys:
        d = d[k]
    return float(d)


def plot(runs: dict[str, dict], path: Path) -> None:
    from . import plots

    plots.verdict_figure(path, runs)


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
    text, _ = analyse(runs)
    from .files import write_text

    write_text("metrics/verdict.md", text)
    plot(runs, Path("plots/verdict.png"))
    print(text)


if __name__ == "__main__":
    sys.exit(run_main(main))
