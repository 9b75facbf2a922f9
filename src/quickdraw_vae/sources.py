"""Where the drawings come from, and how they are checked: the `prepare` stage's sources.

Three kinds of `data.source`:
- a URL prefix holding Google's numpy-bitmap files (`<prefix>/<class>.npy`, 100-300 MB each):
  only the rows we need are fetched, with HTTP Range requests, and cached under `data/raw/`
  (`download`);
- a local folder of `<class>.npy` files in the same format;
- a local folder laid out like the study's `quickdraw_subset_np/` (train/test images and labels).

URL and local class files go through the same row selection, so a folder and a server holding
the same files give byte-identical splits.
"""

from __future__ import annotations

import hashlib
import urllib.request
import zlib
from pathlib import Path

import numpy as np

from .choices import check_class_name
from .data import Split
from .errors import QuickdrawError
from .npy import HEADER_BYTES, ROW_BYTES, check_bitmap_header, parse_npy_header

STUDY_CLASSES = ("rabbit", "yoga", "hand", "snowman", "motorbike")
STUDY_FILES = ("train_images.npy", "train_labels.npy", "test_images.npy", "test_labels.npy")
BLOCKS_PER_CLASS = 16  # a few large ranges per file rather than thousands of tiny ones


def class_rng(seed: int, name: str) -> np.random.Generator:
    # Seeded per class so adding a class does not change the drawings picked for the others.
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def block_rows(n_available: int, n_needed: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Pick `n_needed` rows as a few contiguous blocks spread across the whole file.

    The file is cut into equal segments and one block is placed at a random offset inside each,
    so the sample spans the file (which is ordered by time of drawing) at the cost of few requests.
    Returns (start, count) pairs.
    """
    blocks = min(BLOCKS_PER_CLASS, n_needed)
    segment_edges = [len(a) for a in np.array_split(np.arange(n_available), blocks)]
    counts = [len(a) for a in np.array_split(np.arange(n_needed), blocks)]
    ranges, segment_start = [], 0
    for segment_len, count in zip(segment_edges, counts):
        start = segment_start + int(rng.integers(0, segment_len - count + 1))
        ranges.append((start, count))
        segment_start += segment_len
    return ranges


class LocalClassFile:
    """One `<class>.npy` on disk."""

    def __init__(self, path: Path):
        self.where = str(path)
        if not path.is_file():
            raise QuickdrawError(f"{path}: no such file (is the class in data.source?)")
        self.path = path
        with open(path, "rb") as f:
            head = f.read(HEADER_BYTES)
        shape, dtype, self.offset = parse_npy_header(head, self.where)
        self.n_rows = check_bitmap_header(shape, dtype, self.where)
        expected = self.offset + self.n_rows * ROW_BYTES
        actual = path.stat().st_size
        if actual != expected:
            raise QuickdrawError(f"{path}: truncated or padded .npy ({actual} bytes, header implies {expected})")

    def read(self, start: int, count: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * ROW_BYTES)
            return f.read(count * ROW_BYTES)


def _cache_dir_for(url_prefix: str, raw_dir: Path, name: str) -> Path:
    # Keyed by the source too, so switching mirrors never mixes their rows.
    return raw_dir / hashlib.sha1(url_prefix.encode()).hexdigest()[:10] / name


def open_class_file(source: str, name: str, raw_dir: Path):
    if source.startswith(("http://", "https://")):
        from .download import HttpClassFile

        url = f"{source.rstrip('/')}/{urllib.request.quote(name)}.npy"
        return HttpClassFile(url, _cache_dir_for(source, raw_dir, name))
    return LocalClassFile(Path(source) / f"{name}.npy")


def _check_source(source: str) -> str:
    if "://" in source:
        if not source.startswith(("http://", "https://")):
            raise QuickdrawError(f"params.yaml: data.source {source!r}: only https://, http:// and local folders are accepted")
        return "url"
    folder = Path(source)
    if not folder.is_dir():
        raise QuickdrawError(f"{source}: data source folder not found (params.yaml: data.source)")
    return "study" if (folder / "train_images.npy").exists() else "class_files"


def class_drawings(source: str, classes: list[str], train_per_class: int, test_per_class: int, seed: int,
                   raw_dir: Path = Path("data/raw"), provenance: dict | None = None):
    """Each class's (training, test) drawings, `train_per_class` + `test_per_class` disjoint ones, one
    class at a time (uint8 (n, 28, 28) each), so no more than one class is ever in memory.

    `provenance` (a dict, filled as the classes go) gets the source's kind, a sha256 per class of the
    bytes read, and `restarted` (class: why) for any class whose file changed upstream while the
    cache held it.
    """
    from .download import FileChanged

    provenance = {} if provenance is None else provenance
    kind = _check_source(source)
    provenance.update(kind=kind, sha256={})
    if kind == "study":
        yield from _study_layout(Path(source), classes, train_per_class, test_per_class, seed, provenance)
        return
    need = train_per_class + test_per_class
    for name in classes:
        check_class_name(name)
        for attempt in range(2):
            try:
                file = open_class_file(source, name, raw_dir)
                if file.n_rows < need:
                    raise QuickdrawError(
                        f"{file.where}: has {file.n_rows} drawings of {name!r}, need {need} "
                        "(data.train_per_class + data.test_per_class)"
                    )
                rng = class_rng(seed, name)
                raw = b"".join(file.read(start, count) for start, count in block_rows(file.n_rows, need, rng))
                break
            except FileChanged as e:  # rows already read came from the old version: read the class again
                if attempt:
                    raise QuickdrawError(f"{e} twice while it was read; try again later") from None
                provenance.setdefault("restarted", {})[name] = "changed upstream; its download cache started afresh"
        provenance["sha256"][name] = hashlib.sha256(raw).hexdigest()
        images = np.frombuffer(raw, dtype=np.uint8).reshape(need, 28, 28)[rng.permutation(need)]
        del raw
        yield images[:train_per_class], images[train_per_class:]


def load_splits(source: str, classes: list[str], train_per_class: int, test_per_class: int, seed: int,
                raw_dir: Path = Path("data/raw")) -> tuple[Split, Split, dict]:
    """`class_drawings` gathered into (train, test, provenance), in memory: for small sets."""
    provenance: dict = {}
    per_class = list(class_drawings(source, classes, train_per_class, test_per_class, seed, raw_dir, provenance))
    return (_stack([train for train, _ in per_class]), _stack([test for _, test in per_class]), provenance)


def _stack(per_class: list[np.ndarray]) -> Split:
    labels = np.concatenate([np.full(len(a), i, dtype=np.int64) for i, a in enumerate(per_class)])
    return Split(np.ascontiguousarray(np.concatenate(per_class)), labels)


def _study_layout(folder: Path, classes, train_per_class, test_per_class, seed, provenance):
    # Both splits' rows are picked before any class is handed out; the files are memory-mapped.
    picked = {}
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        images = _load_plain_npy(folder / f"{split}_images.npy")
        labels = np.asarray(_load_plain_npy(folder / f"{split}_labels.npy"))
        if images.dtype != np.uint8 or images.reshape(len(images), -1).shape[1] != ROW_BYTES:
            raise QuickdrawError(f"{folder / f'{split}_images.npy'}: expected uint8 (N, 28, 28), got {images.dtype} {images.shape}")
        if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
            raise QuickdrawError(f"{folder / f'{split}_labels.npy'}: expected integer labels of shape ({len(images)},)")
        images = images.reshape(-1, 28, 28)
        digest = hashlib.sha256()  # fed in pieces: the same digest as of all the bytes at once
        for start in range(0, len(images), 65536):
            digest.update(np.ascontiguousarray(images[start : start + 65536]).tobytes())
        digest.update(labels.astype(np.int64).tobytes())
        provenance["sha256"][split] = digest.hexdigest()
        rows = []
        for name in classes:
            if name not in STUDY_CLASSES:
                raise QuickdrawError(f"{folder}: class {name!r} is not in the study layout ({', '.join(STUDY_CLASSES)})")
            of_class = np.flatnonzero(labels == STUDY_CLASSES.index(name))
            if len(of_class) < per_class:
                raise QuickdrawError(
                    f"{folder / f'{split}_images.npy'}: has {len(of_class)} drawings of {name!r}, need {per_class} "
                    f"(data.{split}_per_class)"
                )
            rows.append(np.sort(class_rng(seed, name).permutation(of_class)[:per_class]))
        picked[split] = (images, rows)
    for c in range(len(classes)):
        yield tuple(np.asarray(images[rows[c]]) for images, rows in (picked["train"], picked["test"]))


def _load_plain_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise QuickdrawError(f"{path}: no such file (study layout needs {', '.join(STUDY_FILES)})")
    with open(path, "rb") as f:
        parse_npy_header(f.read(HEADER_BYTES), str(path))
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise QuickdrawError(f"{path}: unreadable .npy ({e})") from None
