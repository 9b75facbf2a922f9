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

from .errors import QuickdrawError
from .choices import PIXELS, STRATEGIES
from .models import load_checkpoint
from .sampling import (
    Sampler,
    balanced_labels,
    generate,
    load_sampler,
    sampler_path,
)
from .stage import run_main


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
    s.add_argument("--class-scale", type=float, help="conditional models: the class embedding times this (1: as trained)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", type=Path, required=True, help=".npz with images uint8 (N, 28, 28) [and labels]")
    s.add_argument("--png", type=Path, help="also write a grid of the drawings")
    s.add_argument("--threads", type=int, default=1)

    data_help = ".npz with images uint8 (N, 28, 28) [and labels], a Google-format (N, 784) .npy, or a prepared split folder"
    c = sub.add_parser("score", help="-ELBO, BCE, KLD and the importance-weighted NLL of drawings",
                       description="Print one JSON line of nats per drawing.")
    c.add_argument("--model", type=Path, required=True)
    c.add_argument("--data", type=Path, required=True, help=data_help)
    c.add_argument("--iwae-k", type=int, default=100)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--threads", type=int, default=1)

    r = sub.add_parser("reconstruct", help="encode drawings to their latent means and decode them",
                       description="Write the reconstructions: images uint8 (N, 28, 28) [and the labels].")
    r.add_argument("--model", type=Path, required=True)
    r.add_argument("--data", type=Path, required=True, help=data_help)
    r.add_argument("--out", type=Path, required=True, help=".npz with images [and labels]")
    r.add_argument("--pixels", choices=PIXELS, help="default: the mapping the sample stage used")
    r.add_argument("--threads", type=int, default=1)

    e = sub.add_parser("encode", help="the latent means of drawings",
                       description="Write the latent means: means float32 (N, latent) [and the labels].")
    e.add_argument("--model", type=Path, required=True)
    e.add_argument("--data", type=Path, required=True, help=data_help)
    e.add_argument("--out", type=Path, required=True, help=".npz with means [and labels]")
    e.add_argument("--threads", type=int, default=1)
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
    if args.class_scale is not None and not args.class_scale >= 0:
        raise QuickdrawError(f"--class-scale must be >= 0, got {args.class_scale}")
    model, payload = load_checkpoint(args.model)
    classes = payload["classes"]
    sampler = load_sampler(sampler_path(args.model)) or Sampler("prior", 1.0, "mean", 1.0)
    overrides = {k: v for k, v in (("strategy", args.strategy), ("temperature", args.temperature),
                                   ("pixels", args.pixels), ("class_scale", args.class_scale)) if v is not None}
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
    """A prepared split's folder (data/prepared/validation), an .npz of images (N, 28, 28) [+ labels], or a
    Google-format (N, 784) uint8 .npy; folders and .npy files memory-mapped."""
    if path.is_dir():
        from .data import load_split

        split, _ = load_split(path)
        return split.images, split.labels
    if path.suffix == ".npy":
        from .sources import LocalClassFile

        file = LocalClassFile(path)  # its header and size checked
        return np.memmap(path, np.uint8, "r", file.offset, (file.n_rows, 28, 28)), None
    from .sampling import load_samples

    return load_samples(path)


def cmd_score(args) -> None:
    from .data import Pixels
    from .losses import likelihood

    if args.iwae_k < 1:
        raise QuickdrawError(f"--iwae-k must be >= 1, got {args.iwae_k}")
    model, _ = load_checkpoint(args.model)
    images, labels = load_drawings(args.data)
    y = _labels_for(model, labels, args)
    result = likelihood(model, Pixels(images), y, args.iwae_k, 4096, args.seed)
    print(json.dumps({"n": result["n"], **{k: round(result[k], 4) for k in ("bce", "kld", "neg_elbo", "iwae_nll")},
                      "iwae_k": args.iwae_k}))


def _labels_for(model, labels: np.ndarray | None, args) -> torch.Tensor | None:
    """The class labels a conditional model needs (checked against its classes); None otherwise."""
    if not model.cfg.conditional:
        return None
    if labels is None:
        raise QuickdrawError(f"{args.data}: {args.model} is conditional, so the drawings need `labels`")
    if labels.min() < 0 or labels.max() >= model.cfg.num_classes:
        raise QuickdrawError(f"{args.data}: labels must lie in 0-{model.cfg.num_classes - 1}")
    return torch.from_numpy(labels.astype(np.int64))


def cmd_reconstruct(args) -> None:
    from .files import save_npz
    from .data import Pixels
    from .sampling import reconstruct

    model, _ = load_checkpoint(args.model)
    images, labels = load_drawings(args.data)
    y = _labels_for(model, labels, args)
    sampler = load_sampler(sampler_path(args.model)) or Sampler("prior", 1.0, "mean", 1.0)
    if args.pixels:
        sampler = replace(sampler, pixels=args.pixels)
    out = reconstruct(model, Pixels(images), y, sampler)
    save_npz(args.out, **({"images": out} if labels is None else {"images": out, "labels": labels.astype(np.int64)}))
    print(json.dumps({"n": len(out), "out": str(args.out), "pixels": sampler.pixels}))


def cmd_encode(args) -> None:
    from .files import save_npz
    from .data import Pixels
    from .sampling import encode_means

    model, _ = load_checkpoint(args.model)
    images, labels = load_drawings(args.data)
    y = _labels_for(model, labels, args)
    means = encode_means(model, Pixels(images), y)
    save_npz(args.out, **({"means": means} if labels is None else {"means": means, "labels": labels.astype(np.int64)}))
    print(json.dumps({"n": len(means), "latent": int(means.shape[1]), "out": str(args.out)}))


def _main(argv=None) -> None:
    args = _parser().parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    {"sample": cmd_sample, "score": cmd_score, "reconstruct": cmd_reconstruct, "encode": cmd_encode}[args.command](args)


def main(argv=None) -> int:
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
