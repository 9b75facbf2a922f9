"""`make bench`: where the time goes, printed as figures (never asserted in tests).

For each model it measures, in one process with the configured thread count:
- the real training epoch (`training.fit`: validation, history, progress bar included),
- a bare loop of forward + backward + step on pre-made batches of the same model,
- scoring throughput: the -ELBO pass and the importance-weighted bound;
`loop_efficiency` is the first divided by the second (timed in alternating epochs); both carry the
perceptual term when `perceptual.weight` asks for one. It then times the judge's training (and the
perceptual classifier's), runs both real training epochs side by side, as the `train` stage does
(`runtime.threads` split between two processes), and reads the wall time and start-up of every
stage of the last pipeline run (written by the stages to `timings/stages/`). From these it
extrapolates a full run on the study's 20,000 drawings, stage by stage. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from quickdraw_vae.data import to_tensor, validation_split
from quickdraw_vae.judge import train_judge
from quickdraw_vae.losses import bce, iwae_nll
from quickdraw_vae.models import VAE, config_from_params
from quickdraw_vae.params import load_params
from quickdraw_vae.runtime import pick_device, run_side_by_side, setup
from quickdraw_vae.sources import load_splits
from quickdraw_vae.training import Perceptual, elbo_terms, fit, make_optimizer, perceptual_from_params

STUDY_TRAIN, STUDY_TEST = 20_000, 5_000  # the study's 4,000 + 1,000 drawings of each of 5 classes
IWAE_DRAWINGS = 64  # k decodes each: enough for a rate


def _sync(device) -> None:
    # CUDA runs asynchronously: time only what has finished.
    if device.type == "cuda":
        torch.cuda.synchronize()


def _bare_epoch_seconds(cfg, tp, x, device, perceptual: Perceptual | None = None) -> float:
    """One epoch of forward + backward + step on pre-made batches: the loop's arithmetic alone."""
    torch.manual_seed(0)
    model = VAE(cfg).to(device).train()
    opt = make_optimizer(model, tp, device)
    batches = [x[i : i + tp.batch_size].to(device) for i in range(0, len(x), tp.batch_size)]
    extra_loss = perceptual.loss_on(device) if perceptual is not None else (lambda logits, xb: 0.0)

    def step(xb):
        logits, _, _, kl = model(xb)
        loss = bce(logits, xb).mean() + kl.mean() + extra_loss(logits, xb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(batches[0])  # first-call costs (allocator, cuDNN's algorithm search) are not throughput
    _sync(device)
    started = time.perf_counter()
    for xb in batches:
        step(xb)
    _sync(device)
    return time.perf_counter() - started


def _loop_rates(name, cfg, tp, x, y, xv, yv, rounds, device, perceptual=None):
    """Drawings/s of the bare loop and of the real epoch, timed in alternating rounds of one epoch
    each, so that the machine's slow and fast minutes fall on both alike."""
    one = replace(tp, epochs=1)
    bare = real = 0.0
    for _ in range(rounds):
        bare += _bare_epoch_seconds(cfg, one, x, device, perceptual)
        result = fit(name, cfg, one, x, y, xv, yv, device, perceptual=perceptual)
        real += result.seconds
    return rounds * len(x) / bare, rounds * len(x) / real, result.model


def _rate(fn, drawings: int, device) -> float:
    """Drawings per second of `fn()`, which handles `drawings` drawings."""
    _sync(device)
    started = time.perf_counter()
    fn()
    _sync(device)
    return drawings / (time.perf_counter() - started)


def _scoring_rates(model, x, ev, device) -> tuple[float, float]:
    """Drawings/s of the -ELBO pass and of the importance-weighted bound (k=`evaluate.iwae_k`)."""
    x = x.to(device)
    few = x[:IWAE_DRAWINGS]
    elbo = _rate(lambda: elbo_terms(model, x, None), len(x), device)
    iwae = _rate(lambda: iwae_nll(model, few, None, ev.iwae_k, ev.iwae_chunk), len(few), device)
    return elbo, iwae


def _side_by_side_costs(name, cfg, tp, runtime, ev, x, xv, perceptual=None) -> dict:
    """One worker of the side-by-side run: training, then scoring, as the `train` and `evaluate` stages do them."""
    setup(runtime.threads, tp.seed)
    device = pick_device(runtime.device)
    result = fit(name, cfg, tp, x, None, xv, None, device, perceptual=perceptual)
    elbo, iwae = _scoring_rates(result.model, x, ev, device)
    return {"train_drawings_per_s": result.drawings_per_s, "eval_drawings_per_s": elbo, "iwae_drawings_per_s": iwae}


def _judge_rate(jp, classes: int, x, y, epochs, device) -> float:
    return _rate(lambda: train_judge(x, y, classes, epochs, jp.batch_size, jp.lr, jp.seed, jp.width, device),
                 epochs * len(x), device)


def study_estimate(p, models: dict, side: dict, judge_rate: float, stages: dict,
                   perceptual_rate: float | None = None) -> dict:
    """Minutes of a full run on the study's data (20,000 training + 5,000 test drawings), stage by stage.

    The stages whose cost grows with the data are scaled from measured drawings/s: `train` (both
    models side by side, then each scores train, validation and test and bounds test with IWAE:
    the slower worker sets the pace), `train_conditional` (the winner, assumed CNN-CNN, at all
    threads), `train_judge` and `train_perceptual` (with a perceptual term). The others (sample.n
    samples, evaluate.n drawings compared) and every stage's process start-up are taken as they were
    in the last pipeline run; None without one.
    """
    tp, cp = p.train, p.training("conditional")
    fit_n = STUDY_TRAIN * (1 - p.data.validation_fraction)
    scored = STUDY_TRAIN + STUDY_TEST

    def model_seconds(rates, epochs):
        return (fit_n * epochs / rates["train_drawings_per_s"] + scored / rates["eval_drawings_per_s"]
                + STUDY_TEST / rates["iwae_drawings_per_s"])

    together = side if side else models  # one worker: the models train one after the other
    pair = [model_seconds(rates, tp.epochs) for rates in together.values()]
    minutes = {"train": (max(pair) if side else sum(pair)) / 60,
               "train_conditional": model_seconds(models["cnn_cnn"], cp.epochs) / 60,
               "train_judge": STUDY_TRAIN * p.judge.epochs / judge_rate / 60}
    if perceptual_rate:
        minutes["train_perceptual"] = STUDY_TRAIN * p.perceptual.epochs / perceptual_rate / 60
    others = [s["seconds"] for name, s in stages.items() if name not in minutes]
    startup = [s.get("startup_seconds") for s in stages.values()]
    minutes["other_stages"] = sum(others) / 60 if stages else None
    minutes["startup"] = sum(startup) / 60 if stages and None not in startup else None
    minutes["total"] = sum(v for v in minutes.values() if v is not None)
    return {k: None if v is None else round(v, 2) for k, v in minutes.items()}


def _perceptual_term(p, x, y, epochs, device, folder: Path) -> tuple[Perceptual | None, float | None]:
    """The term `perceptual.*` asks for, its classifier trained for `epochs` here, and that training's rate."""
    if p.perceptual.weight == 0:
        return None, None
    from quickdraw_vae.judge import save_judge

    pp, classes = p.perceptual, len(p.data.classes)
    started = time.perf_counter()
    net = train_judge(x, y, classes, epochs, pp.batch_size, pp.lr, pp.seed, pp.width, device)
    rate = epochs * len(x) / (time.perf_counter() - started)
    save_judge(folder / "perceptual.pt", net, p.data.classes, kind="perceptual")
    return perceptual_from_params(pp, folder / "perceptual.pt"), rate


def run(params_path: str, source: str, train_per_class: int, epochs: int) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return _run(params_path, source, train_per_class, epochs, Path(folder))


def _run(params_path: str, source: str, train_per_class: int, epochs: int, folder: Path) -> dict:
    p = load_params(params_path)
    tp, rt = p.train, p.runtime
    setup(rt.threads, tp.seed)
    device = pick_device(rt.device)
    train, _, _ = load_splits(source, p.data.classes, train_per_class, 1, p.data.seed)
    fit_idx, val_idx = validation_split(train.labels, p.data.validation_fraction, p.data.seed)
    x, y = to_tensor(train.images), torch.from_numpy(train.labels)
    device_name = torch.cuda.get_device_name() if device.type == "cuda" else str(device)
    out = {"device": device_name, "threads": rt.threads, "drawings": len(fit_idx), "epochs": epochs, "models": {}}
    perceptual, perceptual_rate = _perceptual_term(p, x, y, epochs, device, folder)
    out["perceptual_weight"] = p.perceptual.weight
    for name in ("rnn_cnn", "cnn_cnn"):
        cfg = config_from_params(name, p.models[name])
        bare, real, model = _loop_rates(name, cfg, p.training(name), x[fit_idx], y[fit_idx], x[val_idx], y[val_idx],
                                        epochs, device, perceptual)
        elbo, iwae = _scoring_rates(model, x, p.evaluate, device)
        out["models"][name] = {"train_drawings_per_s": round(real, 1), "bare_drawings_per_s": round(bare, 1),
                               "loop_efficiency": round(real / bare, 3),
                               "eval_drawings_per_s": round(elbo, 1), "iwae_drawings_per_s": round(iwae, 1)}
    out["judge_train_drawings_per_s"] = round(_judge_rate(p.judge, len(p.data.classes), x, y, epochs, device), 1)
    out["perceptual_train_drawings_per_s"] = round(perceptual_rate, 1) if perceptual_rate else None
    workers = max(1, min(2, rt.threads))
    each = replace(rt, threads=max(1, rt.threads // workers))
    cfgs = {name: config_from_params(name, p.models[name]) for name in ("rnn_cnn", "cnn_cnn")}
    side = {}
    if workers > 1:
        costs = run_side_by_side(_side_by_side_costs, [(name, cfg, replace(p.training(name), epochs=epochs), each,
                                                        p.evaluate, x[fit_idx], x[val_idx], perceptual)
                                                       for name, cfg in cfgs.items()], workers)
        side = {name: {k: round(v, 1) for k, v in c.items()} for name, c in zip(cfgs, costs)}
    out["side_by_side"] = {"threads_each": each.threads, "models": side}
    stages = {f.stem: json.loads(f.read_text()) for f in sorted(Path("timings/stages").glob("*.json"))}
    out["stage_seconds"] = {name: s["seconds"] for name, s in stages.items()}
    out["stage_startup_seconds"] = {name: s.get("startup_seconds") for name, s in stages.items()}
    out["pipeline_seconds"] = round(sum(out["stage_seconds"].values()), 1) if stages else None
    out["study_minutes_estimate"] = study_estimate(p, out["models"], side, out["judge_train_drawings_per_s"], stages,
                                                   perceptual_rate)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--source", default="../shared/quickdraw")
    ap.add_argument("--train-per-class", type=int, default=640)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args(argv)
    result = run(args.params, args.source, args.train_per_class, args.epochs)
    for name, m in result["models"].items():
        print(f"{name}: train {m['train_drawings_per_s']} drawings/s, bare loop {m['bare_drawings_per_s']}, "
              f"efficiency {m['loop_efficiency']}, eval {m['eval_drawings_per_s']} drawings/s")
    sbs = result["side_by_side"]
    for name, m in sbs["models"].items():
        print(f"{name} side by side ({sbs['threads_each']} thread(s) each): train {m['train_drawings_per_s']} "
              f"drawings/s, eval {m['eval_drawings_per_s']}, IWAE {m['iwae_drawings_per_s']}")
    print(f"judge: train {result['judge_train_drawings_per_s']} drawings/s; perceptual term weight "
          f"{result['perceptual_weight']}, its classifier {result['perceptual_train_drawings_per_s']} drawings/s")
    for stage, seconds in result["stage_seconds"].items():
        print(f"stage {stage}: {seconds} s (+ {result['stage_startup_seconds'][stage]} s start-up)")
    estimate = result["study_minutes_estimate"]
    print("study's 20,000 drawings, minutes: " + ", ".join(f"{k} {v}" for k, v in estimate.items()) +
          ("" if result["stage_seconds"] else " (no pipeline run here: the other stages and start-up not counted)"))
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    from quickdraw_vae.stage import run_main

    raise SystemExit(run_main(main))
