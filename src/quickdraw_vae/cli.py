"""`quickdraw-vae`: sample from and score with the pipeline's checkpoints, outside DVC.

Built on the same package functions as the stages, so a CLI sample is a stage sample.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .errors import QuickdrawError, run_main
from .models import load_checkpoint
from .sampling import PIXELS, STRATEGIES, Sampler, balanced_labels, generate, load_sampler, sampler_path


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="quickdraw-vae", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sample", help="draw new drawings from a trained model",
                       description="Draw new drawings. Defaults: the strategy and pixel mapping the sample stage used.")
    s.add_argument("--model", type=Path, required=True, help="checkpoint, e.g. models/conditional.pt")
    s.add_argument("--n", type=int, default=64, help="how many drawings (per class with --all-classes: n in all)")
    s.add_argument("--label", help="class name or index (conditional models only)")
    s.add_argument("--all-classes", action="store_true", help="equal numbers of every class (conditional models)")
    s.add_argument("--strategy", choices=STRATEGIES)
    s.add_argument("--temperature", type=float)
    s.add_argument("--pixels", choices=PIXELS)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", type=Path, required=True, help=".npz with images uint8 (N, 28, 28) [and labels]")
    s.add_argument("--png", type=Path, help="also write a grid of the drawings")
    s.add_argument("--threads", type=int, default=1)

    c = sub.add_parser("score", help="-ELBO, BCE, KLD and the importance-weighted NLL of drawings",
                       description="Print one JSON line of nats per drawing.")
    c.add_argument("--model", type=Path, required=True)
    c.add_argument("--data", type=Path, required=True,
                   help=".npz with images uint8 (N, 28, 28) [and labels], or a Google-format (N, 784) .npy")
    c.add_argument("--iwae-k", type=int, default=100)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--threads", type=int, default=1)
    return ap


def _resolve_label(label: str, classes: list[str]) -> int:
    if label.isdigit() and int(label) < len(classes):
        return int(label)
    if label in classes:
        return classes.index(label)
    raise QuickdrawError(f"--label {label!r}: unknown class (one of {', '.join(classes)} or 0-{len(classes) - 1})")


def cmd_sample(args) -> None:
    if args.n < 1:
        raise QuickdrawError(f"--n must be >= 1, got {args.n}")
    model, payload = load_checkpoint(args.model)
    classes = payload["classes"]
    sampler = load_sampler(sampler_path(args.model)) or Sampler("prior", 1.0, "mean", 1.0)
    overrides = {k: v for k, v in (("strategy", args.strategy), ("temperature", args.temperature),
                                   ("pixels", args.pixels)) if v is not None}
    if overrides.get("strategy") == "gmm" and not sampler.gmm:
        raise QuickdrawError(f"{sampler_path(args.model)}: no fitted mixture beside the model; run the sample stage")
    sampler = replace(sampler, **overrides)
    labels = None
    if model.cfg.conditional:
        if args.all_classes:
            labels = balanced_labels(args.n, len(classes))
        elif args.label is not None:
            labels = torch.full((args.n,), _resolve_label(args.label, classes))
        else:
            raise QuickdrawError(f"{args.model} is conditional: give --label or --all-classes")
    elif args.label is not None or args.all_classes:
        raise QuickdrawError(f"{args.model} is unconditional: --label and --all-classes do not apply")
    images = generate(model, sampler, args.n if labels is None else len(labels), labels, args.seed)
    from .files import save_npz

    arrays = {"images": images} if labels is None else {"images": images, "labels": labels.numpy().astype(np.int64)}
    save_npz(args.out, **arrays)
    if args.png:
        from .plots import image_rows

        rows = [images[i : i + 12] for i in range(0, min(len(images), 96), 12)]
        image_rows(args.png, rows, [""] * len(rows), f"{args.model.name}: {sampler.strategy}, {sampler.pixels} pixels")
    print(json.dumps({"n": len(images), "out": str(args.out), "strategy": sampler.strategy, "pixels": sampler.pixels}))


def load_drawings(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """An .npz of images (N, 28, 28) [+ labels], or a Google-format (N, 784) uint8 .npy."""
    if path.suffix == ".npy":
        from .data import LocalClassFile

        file = LocalClassFile(path)
        return np.frombuffer(file.read(0, file.n_rows), dtype=np.uint8).reshape(-1, 28, 28).copy(), None
    from .sampling import load_samples

    return load_samples(path)


def cmd_score(args) -> None:
    from .losses import iwae_nll
    from .training import evaluate, to_tensor

    if args.iwae_k < 1:
        raise QuickdrawError(f"--iwae-k must be >= 1, got {args.iwae_k}")
    model, payload = load_checkpoint(args.model)
    images, labels = load_drawings(args.data)
    y = None
    if model.cfg.conditional:
        if labels is None:
            raise QuickdrawError(f"{args.data}: {args.model} is conditional, so the drawings need `labels`")
        if labels.min() < 0 or labels.max() >= model.cfg.num_classes:
            raise QuickdrawError(f"{args.data}: labels must lie in 0-{model.cfg.num_classes - 1}")
        y = torch.from_numpy(labels.astype(np.int64))
    x = to_tensor(images)
    torch.manual_seed(args.seed)
    result = evaluate(model, x, y)
    torch.manual_seed(args.seed)
    nll = iwae_nll(model, x, y, args.iwae_k).mean().item()
    print(json.dumps({"n": len(x), **{k: round(v, 4) for k, v in result.items()}, "iwae_nll": round(nll, 4),
                      "iwae_k": args.iwae_k}))


def _main(argv=None) -> None:
    args = _parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    {"sample": cmd_sample, "score": cmd_score}[args.command](args)


def main(argv=None) -> int:
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
