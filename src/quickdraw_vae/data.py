"""The prepared splits: train, validation (carved from the training drawings: every choice is made
on it) and test, as `prepare` writes them and every other stage reads them.

Each split is a folder of plain `.npy` files (uint8 images, int64 labels) and `classes.json`, so the
images are memory-mapped, never read whole: a stage's memory follows its batch, not the data set
(`Pixels` turns the rows a batch needs into floats), and anything that would compare with every
drawing works on a seeded subset of at most a stated size (`bounded`).
"""

from __future__ import annotations

import json
import mmap
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .errors import QuickdrawError

SPLIT_NAMES = ("train", "validation", "test")


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 (N, 28, 28), white strokes on black; memory-mapped when read from disk
    labels: np.ndarray  # int64 (N,)

    def __reduce__(self):
        # Handed to another process (the side-by-side trainings) as its folder, not its bytes: a memory map
        # pickles as a copy of all its drawings, one per receiving process.
        if _mapped_file(self.images):
            return _reopen_split, (str(Path(self.images.filename).parent),)
        return Split, (self.images, self.labels)


def _reopen_split(folder: str) -> Split:
    return load_split(folder)[0]


def to_tensor(images: np.ndarray):
    """uint8 (N, 28, 28) -> float torch tensor (N, 1, 28, 28) in [0, 1], the pixels every model reads."""
    import torch

    # A copy: the rows may be a read-only memory map, which torch will not wrap.
    return torch.from_numpy(np.array(images, dtype=np.uint8)).float().div_(255).unsqueeze(1)


def _mapped_file(images: np.ndarray) -> bool:
    """Is `images` a whole split's memory map (np.load's, not a view of it): a file and an offset to read from?"""
    return isinstance(images, np.memmap) and isinstance(images.base, mmap.mmap) and bool(images.filename)


def read_rows(images: np.ndarray, rows) -> np.ndarray:
    """`images[rows]` (a slice, or an array of row numbers) as a uint8 array in memory.

    From a prepared split's memory map the rows are read from its file (pread), not through the map: the
    kernel's cache still holds them, but a pass over millions of drawings leaves no mapped pages in the
    process's resident memory, which then follows the batch. Anything else is indexed as it is."""
    if not _mapped_file(images):
        return np.asarray(images[rows])
    row_bytes = images[0].nbytes if len(images) else 0
    with open(images.filename, "rb", buffering=0) as f:
        fd = f.fileno()
        if isinstance(rows, slice) and rows.step in (None, 1):
            start, stop, _ = rows.indices(len(images))
            count = max(0, stop - start)
            raw = os.pread(fd, count * row_bytes, images.offset + start * row_bytes)
            return np.frombuffer(raw, np.uint8).reshape(count, *images.shape[1:]).copy()
        rows = np.arange(len(images))[rows] if isinstance(rows, slice) else np.asarray(rows)
        if rows.ndim != 1 or rows.dtype.kind not in "iu" or (len(rows) and (rows.min() < 0 or rows.max() >= len(images))):
            return np.asarray(images[rows])  # masks, negative or bad indices: numpy's own rules and errors
        out = np.empty((len(rows), *images.shape[1:]), np.uint8)
        into = memoryview(out).cast("B")
        for i, r in enumerate(rows.tolist()):
            os.preadv(fd, [into[i * row_bytes : (i + 1) * row_bytes]], images.offset + r * row_bytes)
        return out


class Pixels:
    """uint8 drawings seen as the float pixels a model reads, converted one batch at a time:
    `pixels[a:b]` or `pixels[index]` (an index tensor or array) is a float tensor (B, 1, 28, 28)."""

    def __init__(self, images: np.ndarray):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def rows(self, rows) -> np.ndarray:
        """The uint8 drawings at `rows` (`read_rows`)."""
        if hasattr(rows, "cpu"):
            rows = rows.cpu().numpy()
        return read_rows(self.images, rows)

    def __getitem__(self, rows):
        return to_tensor(self.rows(rows))


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


def subset_rows(n: int, most: int, seed: int) -> np.ndarray | None:
    """None when `n` drawings are at most `most` (all of them are used, as they are), else the sorted
    rows of a seeded subset of `most`."""
    if n <= most:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, most, replace=False))


def bounded(split: Split, most: int, seed: int) -> Split:
    """`split` itself when it holds at most `most` drawings, else a seeded subset of `most` (in the
    split's order, read into memory): what a figure that compares with every drawing works on."""
    rows = subset_rows(len(split.labels), most, seed)
    return split if rows is None else Split(read_rows(split.images, rows), split.labels[rows])


def _write_npy_header(f, shape: tuple[int, ...], dtype: str) -> None:
    np.lib.format.write_array_header_1_0(f, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})


def write_prepared(out: Path, per_class: Iterable[tuple[np.ndarray, np.ndarray]], classes: list[str],
                   train_per_class: int, test_per_class: int, fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Write the three splits under `out` from each class's (training, test) drawings, one class at a
    time: the validation drawings are carved from the training ones as `carve_validation` would from
    all of them, but only one class is ever in memory. Returns each split's labels."""
    from .files import atomic_dir

    n_classes = len(classes)
    train_labels = np.repeat(np.arange(n_classes, dtype=np.int64), train_per_class)
    fit_idx, val_idx = validation_split(train_labels, fraction, seed)
    labels = {"train": train_labels[fit_idx], "validation": train_labels[val_idx],
              "test": np.repeat(np.arange(n_classes, dtype=np.int64), test_per_class)}
    with ExitStack() as stack:
        folders = {name: stack.enter_context(atomic_dir(out / name)) for name in SPLIT_NAMES}
        files = {name: stack.enter_context(open(folders[name] / "images.npy", "wb")) for name in SPLIT_NAMES}
        for name, f in files.items():
            _write_npy_header(f, (len(labels[name]), 28, 28), "u1")
        seen = 0
        for c, (train, test) in enumerate(per_class):
            if train.shape != (train_per_class, 28, 28) or test.shape != (test_per_class, 28, 28):
                raise QuickdrawError(f"class {classes[c]!r}: got {train.shape[0]} + {test.shape[0]} drawings, "
                                     f"expected {train_per_class} + {test_per_class}")
            first = c * train_per_class
            for name, idx in (("train", fit_idx), ("validation", val_idx)):
                lo, hi = np.searchsorted(idx, [first, first + train_per_class])
                files[name].write(np.ascontiguousarray(train[idx[lo:hi] - first]).tobytes())
            files["test"].write(np.ascontiguousarray(test).tobytes())
            seen += 1
        if seen != n_classes:
            raise QuickdrawError(f"got drawings of {seen} classes, expected {n_classes}")
        for name, folder in folders.items():
            files[name].close()
            np.save(folder / "labels.npy", labels[name])
            (folder / "classes.json").write_text(json.dumps(classes) + "\n")
    return labels


def load_split(folder: str | Path) -> tuple[Split, list[str]]:
    """Read a prepared split written by the `prepare` stage; its images memory-mapped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise QuickdrawError(f"{folder}: no such prepared split (run `dvc repro prepare`)")
    try:
        images = np.load(folder / "images.npy", mmap_mode="r", allow_pickle=False)
        labels = np.load(folder / "labels.npy", allow_pickle=False)
        classes = json.loads((folder / "classes.json").read_text())
    except (ValueError, OSError, EOFError) as e:
        raise QuickdrawError(f"{folder}: not a prepared split ({e})") from None
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28) or labels.shape != (len(images),) \
            or labels.dtype.kind not in "iu" or not isinstance(classes, list):
        raise QuickdrawError(f"{folder}: not a prepared split (images {images.dtype} {images.shape}, "
                             f"labels {labels.dtype} {labels.shape})")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise QuickdrawError(f"{folder}: labels outside the {len(classes)} classes of classes.json")
    return Split(images, labels.astype(np.int64, copy=False)), [str(c) for c in classes]
