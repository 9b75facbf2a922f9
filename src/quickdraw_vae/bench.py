"""`make bench`: where the time goes, printed as figures (never asserted in tests).

For each model it measures, in one process with the configured thread count:
- the real training epoch (`training.fit`: validation, history, progress bar included),
- a bare loop of forward + backward + step on pre-made batches of the same model,
- evaluation throughput (the -ELBO pass);
`loop_efficiency` is the first divided by the second. It then runs both real training epochs side
by side, as the `train` stage does (`train.threads` split between two processes), and reads the wall
time of every stage of the last pipeline run (written by the stages to `timings/stages/`). The last
line is JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from .data import load_splits
from .losses import bce, kld
from .models import VAE, config_from_params
from .params import load_params
from .runtime import pick_device, run_side_by_side, setup
from .training import evaluate, fit, make_optimizer, to_tensor, validation_split


def _sync(device) -> None:
    # CUDA runs asynchronously: time only what has finished.
    if device.type == "cuda":
        torch.cuda.synchronize()


def _bare_rate(cfg, tp, x, y, device, epochs: int) -> float:
    torch.manual_seed(0)
    model = VAE(cfg).to(device).train()
    opt = make_optimizer(model, tp, device)
    batches = [(x[i : i + tp.batch_size].to(device), None if y is None else y[i : i + tp.batch_size].to(device))
               for i in range(0, len(x), tp.batch_size)]

    def step(xb, yb):
        logits, mu, logvar = model(xb, yb)
        loss = bce(logits, xb).mean() + kld(mu, logvar).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(*batches[0])  # first-call costs (allocator, cuDNN's algorithm search) are not throughput
    _sync(device)
    started = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in batches:
            step(xb, yb)
    _sync(device)
    return epochs * len(x) / (time.perf_counter() - started)


def _fit_seconds(name, cfg, tp, kl_warmup_epochs, x, xv) -> float:
    setup(tp.threads, tp.seed)
    return fit(name, cfg, tp, kl_warmup_epochs, x, None, xv, None, pick_device(tp.device)).seconds


def run(params_path: str, source: str, train_per_class: int, epochs: int) -> dict:
    p = load_params(params_path)
    tp = p.train
    setup(tp.threads, tp.seed)
    device = pick_device(tp.device)
    train, _, _ = load_splits(source, p.data.classes, train_per_class, 1, p.data.seed)
    fit_idx, val_idx = validation_split(train.labels, tp.val_fraction, tp.seed)
    x, y = to_tensor(train.images), torch.from_numpy(train.labels)
    short = replace(tp, epochs=epochs)
    device_name = torch.cuda.get_device_name() if device.type == "cuda" else str(device)
    out = {"device": device_name, "threads": tp.threads, "drawings": len(fit_idx), "epochs": epochs, "models": {}}
    for name in ("rnn_cnn", "cnn_cnn"):
        cfg = config_from_params(name, p.models[name])
        bare = _bare_rate(cfg, short, x[fit_idx], None, device, epochs)
        result = fit(name, cfg, short, tp.kl_warmup_epochs, x[fit_idx], y[fit_idx], x[val_idx], y[val_idx], device)
        started = time.perf_counter()
        evaluate(result.model, x.to(device), None)
        _sync(device)
        eval_rate = len(x) / (time.perf_counter() - started)
        out["models"][name] = {"train_drawings_per_s": round(result.drawings_per_s, 1),
                               "bare_drawings_per_s": round(bare, 1),
                               "loop_efficiency": round(result.drawings_per_s / bare, 3),
                               "eval_drawings_per_s": round(eval_rate, 1)}
    workers = max(1, min(2, tp.threads))
    each = replace(short, threads=max(1, tp.threads // workers))
    cfgs = {name: config_from_params(name, p.models[name]) for name in ("rnn_cnn", "cnn_cnn")}
    seconds = run_side_by_side(_fit_seconds, [(name, cfg, each, tp.kl_warmup_epochs, x[fit_idx], x[val_idx])
                                              for name, cfg in cfgs.items()], workers)
    side = {name: round(epochs * len(fit_idx) / s, 1) for name, s in zip(cfgs, seconds)}
    out["side_by_side"] = {"threads_each": each.threads, "train_drawings_per_s": side}
    stages = {f.stem: json.loads(f.read_text())["seconds"] for f in sorted(Path("timings/stages").glob("*.json"))}
    out["stage_seconds"] = stages
    out["pipeline_seconds"] = round(sum(stages.values()), 1) if stages else None
    # The study's 20,000 training drawings (18,000 after the validation share): training dominates and
    # scales with drawings x epochs. The two models train side by side (the slower sets the pace; a
    # bound, as it speeds up once the other is done), then the conditional model: the winner (here:
    # cnn) fine-tuned for conditional.epochs (or trained for train.epochs with conditional.init: scratch).
    drawings = 20_000 * (1 - tp.val_fraction)
    if workers > 1:
        pair = max(drawings * tp.epochs / rate for rate in side.values())
    else:
        pair = sum(drawings * tp.epochs / out["models"][name]["train_drawings_per_s"] for name in cfgs)
    cond = drawings * p.conditional_train.epochs / out["models"]["cnn_cnn"]["train_drawings_per_s"]
    out["study_training_minutes_estimate"] = round((pair + cond) / 60, 1)
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
    print(f"side by side ({sbs['threads_each']} thread(s) each): " +
          ", ".join(f"{name} {rate} drawings/s" for name, rate in sbs["train_drawings_per_s"].items()))
    for stage, seconds in result["stage_seconds"].items():
        print(f"stage {stage}: {seconds} s")
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    from .errors import run_main

    raise SystemExit(run_main(main))
