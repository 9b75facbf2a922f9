"""Quick, Draw! drawings: where they come from, how they are checked, how they are split.

Three kinds of `data.source`:
- a URL prefix holding Google's numpy-bitmap files (`<prefix>/<class>.npy`, 100-300 MB each):
  only the rows we need are fetched, with HTTP Range requests, and cached under `data/raw/`;
- a local folder of `<class>.npy` files in the same format;
- a local folder laid out like the study's `quickdraw_subset_np/` (train/test images and labels).

URL and local class files go through the same row selection, so a folder and a server holding
the same files give byte-identical splits.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import io
import re
import socket
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import QuickdrawError

ROW_BYTES = 28 * 28
STUDY_CLASSES = ("rabbit", "yoga", "hand", "snowman", "motorbike")
STUDY_FILES = ("train_images.npy", "train_labels.npy", "test_images.npy", "test_labels.npy")
HEADER_BYTES = 4096  # Google's headers are 128 bytes; one request covers any realistic header
BLOCKS_PER_CLASS = 16  # a few large ranges per file rather than thousands of tiny ones


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 (N, 28, 28), white strokes on black
    labels: np.ndarray  # int64 (N,)


def check_class_name(name: str) -> None:
    # Class names become file names and URL paths: refuse anything that could escape them.
    if not re.fullmatch(r"[a-z0-9][a-z0-9 _-]*", name):
        raise QuickdrawError(f"params.yaml: data.classes has an invalid class name {name!r}")


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


def parse_npy_header(head: bytes, where: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and data offset of an .npy file from its first bytes."""
    if not head.startswith(b"\x93NUMPY"):
        hint = " (an HTML page: a failed download?)" if head.lstrip()[:1] == b"<" else ""
        raise QuickdrawError(f"{where}: not a .npy file, starts with {head[:15]!r}{hint}")
    fp = io.BytesIO(head)
    try:
        version = np.lib.format.read_magic(fp)
        reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = reader(fp)
    except (ValueError, EOFError) as e:
        raise QuickdrawError(f"{where}: corrupt .npy header ({e})") from None
    if fortran:
        raise QuickdrawError(f"{where}: Fortran-ordered arrays are not supported")
    return shape, dtype, fp.tell()


def check_bitmap_header(shape, dtype, where: str) -> int:
    """The number of drawings in a Google numpy-bitmap file, or a clear error."""
    if dtype != np.uint8:
        raise QuickdrawError(f"{where}: dtype is {dtype}, expected uint8 (Google's numpy-bitmap format)")
    if len(shape) != 2 or shape[1] != ROW_BYTES:
        raise QuickdrawError(f"{where}: shape is {shape}, expected (N, 784) rows of 28x28 drawings")
    return int(shape[0])


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


class HttpClassFile:
    """One `<class>.npy` behind a URL, read with Range requests and cached on disk."""

    def __init__(self, url: str, cache_dir: Path, *, retries: int = 4, backoff_s: float = 0.5, timeout_s: float = 30):
        self.url, self.where = url, url
        self.cache_dir = cache_dir
        self.retries, self.backoff_s, self.timeout_s = retries, backoff_s, timeout_s
        self.whole_file: Path | None = None  # set when the server ignores Range and sends everything
        head = self._cached("header", 0, HEADER_BYTES - 1, allow_short=True)
        shape, dtype, self.offset = parse_npy_header(head, url)
        self.n_rows = check_bitmap_header(shape, dtype, url)
        size_file = cache_dir / "size"
        if size_file.exists():
            expected = self.offset + self.n_rows * ROW_BYTES
            actual = int(size_file.read_text())
            if actual != expected:
                raise QuickdrawError(f"{url}: truncated or padded .npy ({actual} bytes, header implies {expected})")

    def read(self, start: int, count: int) -> bytes:
        first = self.offset + start * ROW_BYTES
        return self._cached(f"rows_{start}_{count}", first, first + count * ROW_BYTES - 1)

    def _cached(self, name: str, first: int, last: int, allow_short: bool = False) -> bytes:
        path = self.cache_dir / name
        if path.exists():
            return path.read_bytes()
        if self.whole_file is not None:
            with open(self.whole_file, "rb") as f:
                f.seek(first)
                return f.read(last - first + 1)
        body = self._fetch(first, last, allow_short)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(body)
        tmp.replace(path)
        return body

    def _fetch(self, first: int, last: int, allow_short: bool) -> bytes:
        error, unreachable = "", False
        for attempt in range(self.retries):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                return self._fetch_once(first, last, allow_short)
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    raise QuickdrawError(f"{self.url}: HTTP 404 not found (is the class in data.source?)") from None
                if e.code < 500:
                    raise QuickdrawError(f"{self.url}: HTTP {e.code} {e.reason}") from None
                error, unreachable = f"HTTP {e.code}", False
            except urllib.error.URLError as e:
                error = str(e.reason)
                unreachable = isinstance(e.reason, (ConnectionRefusedError, socket.gaierror)) or getattr(
                    e.reason, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH)
            except (http.client.HTTPException, OSError) as e:
                error, unreachable = f"{type(e).__name__}: {e}".rstrip(": "), False
        if unreachable:
            raise QuickdrawError(f"cannot reach {self.url} ({error}); set data.source to a local folder, see README")
        raise QuickdrawError(f"cannot download {self.url}: {error} (gave up after {self.retries} tries)")

    def _fetch_once(self, first: int, last: int, allow_short: bool) -> bytes:
        request = urllib.request.Request(self.url, headers={"Range": f"bytes={first}-{last}"})
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            if response.status == 206:
                total = response.headers.get("Content-Range", "").rpartition("/")[2]
                if total.isdigit():
                    self.cache_dir.mkdir(parents=True, exist_ok=True)
                    (self.cache_dir / "size").write_text(total)
                body = _read_all(response, last - first + 1, self.url)
                if len(body) != last - first + 1 and not (allow_short and total.isdigit() and first + len(body) == int(total)):
                    raise ConnectionError(f"got {len(body)} of {last - first + 1} bytes")
                return body
            # 200: the server ignored Range. Keep the whole file once and slice it from then on.
            length = int(response.headers.get("Content-Length") or 0) or None
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            whole = self.cache_dir / "whole.npy"
            body = _read_all(response, length, self.url)
            if length is not None and len(body) != length:
                raise ConnectionError(f"got {len(body)} of {length} bytes")
            whole.write_bytes(body)
            (self.cache_dir / "size").write_text(str(len(body)))
            self.whole_file = whole
            return body[first : last + 1]


def _read_all(response, expected: int | None, url: str) -> bytes:
    from tqdm import tqdm

    chunks = []
    with tqdm(total=expected, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], leave=False,
              disable=None) as bar:
        while chunk := response.read(1 << 20):
            chunks.append(chunk)
            bar.update(len(chunk))
    return b"".join(chunks)


def _cache_dir_for(url_prefix: str, raw_dir: Path, name: str) -> Path:
    # Keyed by the source too, so switching mirrors never mixes their rows.
    return raw_dir / hashlib.sha1(url_prefix.encode()).hexdigest()[:10] / name


def open_class_file(source: str, name: str, raw_dir: Path):
    if source.startswith(("http://", "https://")):
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


def load_splits(source: str, classes: list[str], train_per_class: int, test_per_class: int, seed: int,
                raw_dir: Path = Path("data/raw")) -> tuple[Split, Split, dict]:
    """Draw `train_per_class` + `test_per_class` disjoint drawings of every class.

    Returns (train, test, provenance) where provenance has a sha256 per class of the bytes read.
    """
    kind = _check_source(source)
    if kind == "study":
        return _load_study_layout(Path(source), classes, train_per_class, test_per_class, seed)
    need = train_per_class + test_per_class
    train, test, digests = [], [], {}
    for label, name in enumerate(classes):
        check_class_name(name)
        file = open_class_file(source, name, raw_dir)
        if file.n_rows < need:
            raise QuickdrawError(
                f"{file.where}: has {file.n_rows} drawings of {name!r}, need {need} "
                "(data.train_per_class + data.test_per_class)"
            )
        rng = class_rng(seed, name)
        raw = b"".join(file.read(start, count) for start, count in block_rows(file.n_rows, need, rng))
        digests[name] = hashlib.sha256(raw).hexdigest()
        images = np.frombuffer(raw, dtype=np.uint8).reshape(need, 28, 28)[rng.permutation(need)]
        train.append(images[:train_per_class])
        test.append(images[train_per_class:])
    return _stack(train), _stack(test), {"kind": kind, "sha256": digests}


def _stack(per_class: list[np.ndarray]) -> Split:
    labels = np.concatenate([np.full(len(a), i, dtype=np.int64) for i, a in enumerate(per_class)])
    return Split(np.ascontiguousarray(np.concatenate(per_class)), labels)


def _load_study_layout(folder: Path, classes, train_per_class, test_per_class, seed):
    digests, splits = {}, []
    for split, per_class in (("train", train_per_class), ("test", test_per_class)):
        images = _load_plain_npy(folder / f"{split}_images.npy")
        labels = _load_plain_npy(folder / f"{split}_labels.npy")
        if images.dtype != np.uint8 or images.reshape(len(images), -1).shape[1] != ROW_BYTES:
            raise QuickdrawError(f"{folder / f'{split}_images.npy'}: expected uint8 (N, 28, 28), got {images.dtype} {images.shape}")
        if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
            raise QuickdrawError(f"{folder / f'{split}_labels.npy'}: expected integer labels of shape ({len(images)},)")
        images = images.reshape(-1, 28, 28)
        digests[split] = hashlib.sha256(images.tobytes() + labels.astype(np.int64).tobytes()).hexdigest()
        picked = []
        for name in classes:
            if name not in STUDY_CLASSES:
                raise QuickdrawError(f"{folder}: class {name!r} is not in the study layout ({', '.join(STUDY_CLASSES)})")
            rows = np.flatnonzero(labels == STUDY_CLASSES.index(name))
            if len(rows) < per_class:
                raise QuickdrawError(
                    f"{folder / f'{split}_images.npy'}: has {len(rows)} drawings of {name!r}, need {per_class} "
                    f"(data.{split}_per_class)"
                )
            picked.append(images[np.sort(class_rng(seed, name).permutation(rows)[:per_class])])
        splits.append(_stack(picked))
    return splits[0], splits[1], {"kind": "study", "sha256": digests}


def _load_plain_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise QuickdrawError(f"{path}: no such file (study layout needs {', '.join(STUDY_FILES)})")
    with open(path, "rb") as f:
        parse_npy_header(f.read(HEADER_BYTES), str(path))
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise QuickdrawError(f"{path}: unreadable .npy ({e})") from None


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
