"""The prepared splits: train, validation (carved from the training drawings: every choice is made
on it) and test, as `prepare` writes them and every other stage reads them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import QuickdrawError


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 (N, 28, 28), white strokes on black
    labels: np.ndarray  # int64 (N,)


def to_tensor(images: np.ndarray):
    """uint8 (N, 28, 28) -> float torch tensor (N, 1, 28, 28) in [0, 1], the pixels every model reads."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).float().div_(255).unsqueeze(1)


def validation_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, validation) indices carved from the training split."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        n_val = max(1, round(len(rows) * fraction))
        val_idx.append(rows[:n_val])
        train_idx.append(rows[n_val:])
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def carve_validation(train: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """(fit, validation): `fraction` of each class's training drawings held out for every choice."""
    fit_idx, val_idx = validation_split(train.labels, fraction, seed)
    return (Split(train.images[fit_idx], train.labels[fit_idx]),
            Split(train.images[val_idx], train.labels[val_idx]))


def save_split(path: Path, split: Split, classes: list[str]) -> None:
    from .files import save_npz

    save_npz(path, images=split.images, labels=split.labels, classes=np.array(classes))


def load_split(path: str | Path) -> tuple[Split, list[str]]:
    """Read a prepared split written by the `prepare` stage."""
    path = Path(path)
    if not path.is_file():
        raise QuickdrawError(f"{path}: no such file (run `dvc repro prepare`)")
    try:
        with np.load(path, allow_pickle=False) as z:
            split = Split(z["images"], z["labels"])
            classes = [str(c) for c in z["classes"]]
    except (ValueError, OSError, KeyError, zlib.error) as e:
        raise QuickdrawError(f"{path}: not a prepared split ({e})") from None
    return split, classes
