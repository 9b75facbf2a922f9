import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import run_stage, write_params
from httpserver import serve
from quickdraw_vae.data import (
    Pixels,
    bounded,
    carve_validation,
    load_split,
    read_rows,
    subset_rows,
    to_tensor,
    write_prepared,
)
from quickdraw_vae.sources import block_rows, class_drawings, load_splits
from quickdraw_vae.errors import QuickdrawError

CLASSES = ["rabbit", "yoga", "hand", "snowman", "motorbike"]


def test_block_rows_are_disjoint_spread_and_exact():
    rng = np.random.default_rng(0)
    blocks = block_rows(150_000, 5_000, rng)
    rows = np.concatenate([np.arange(s, s + c) for s, c in blocks])
    assert len(rows) == 5_000 == len(np.unique(rows))
    assert rows.min() >= 0 and rows.max() < 150_000
    assert len(blocks) <= 16
    assert rows.min() < 15_000 and rows.max() > 135_000, "spread across the whole file"


def test_block_rows_take_everything_when_asked_for_everything():
    rows = np.concatenate([np.arange(s, s + c) for s, c in block_rows(800, 800, np.random.default_rng(1))])
    assert sorted(rows) == list(range(800))


def test_local_split_is_stratified_disjoint_and_reproducible(shared_quickdraw, tmp_path):
    train, test, info = load_splits(str(shared_quickdraw), CLASSES, 64, 16, seed=3, raw_dir=tmp_path)
    assert train.images.shape == (320, 28, 28) and train.images.dtype == np.uint8
    assert test.images.shape == (80, 28, 28) and test.labels.dtype == np.int64
    assert np.bincount(train.labels).tolist() == [64] * 5 and np.bincount(test.labels).tolist() == [16] * 5
    train_rows = {r.tobytes() for r in train.images}
    assert not train_rows & {r.tobytes() for r in test.images}
    again, _, _ = load_splits(str(shared_quickdraw), CLASSES, 64, 16, seed=3, raw_dir=tmp_path)
    assert np.array_equal(again.images, train.images)
    other, _, _ = load_splits(str(shared_quickdraw), CLASSES, 64, 16, seed=4, raw_dir=tmp_path)
    assert not np.array_equal(other.images, train.images)
    assert set(info["sha256"]) == set(CLASSES)


def test_url_source_matches_local_folder_and_caches(shared_quickdraw, tmp_path):
    local = load_splits(str(shared_quickdraw), CLASSES[:2], 100, 20, seed=0, raw_dir=tmp_path)
    with serve(shared_quickdraw) as (url, log):
        remote = load_splits(url, CLASSES[:2], 100, 20, seed=0, raw_dir=tmp_path / "raw")
        assert all(r is not None for _, r in log), "every request is a Range request"
        assert len(log) <= 2 * 17, "a few large ranges per class, not one per drawing"
        fetched = len(log)
        load_splits(url, CLASSES[:2], 100, 20, seed=0, raw_dir=tmp_path / "raw")
        assert log[fetched:] == [("/quickdraw/rabbit.npy", "bytes=0-4095"), ("/quickdraw/yoga.npy", "bytes=0-4095")], \
            "a rerun only asks whether each file is still the cached version"
    assert np.array_equal(local[0].images, remote[0].images)
    assert np.array_equal(local[1].images, remote[1].images)
    assert local[2]["sha256"] == remote[2]["sha256"]


def test_url_source_works_when_server_ignores_range(shared_quickdraw, tmp_path):
    local = load_splits(str(shared_quickdraw), CLASSES[:2], 50, 10, seed=0, raw_dir=tmp_path)
    with serve(shared_quickdraw, mode="ignore_range") as (url, log):
        remote = load_splits(url, CLASSES[:2], 50, 10, seed=0, raw_dir=tmp_path / "raw")
        assert len(log) == 2, "the whole file is fetched once per class, then sliced"
    assert np.array_equal(local[0].images, remote[0].images)


def test_dropped_connection_is_retried_then_reported(shared_quickdraw, tmp_path):
    with serve(shared_quickdraw, mode="drop") as (url, log):
        with pytest.raises(QuickdrawError, match=r"cannot download .*rabbit\.npy.*gave up after 4 tries"):
            load_splits(url, CLASSES[:2], 50, 10, seed=0, raw_dir=tmp_path)
        assert len(log) == 4
    assert not list(tmp_path.rglob("rows_*")), "nothing half-downloaded is cached"


def test_unreachable_server_says_what_to_do(tmp_path):
    with pytest.raises(QuickdrawError, match=r"cannot reach http://127\.0\.0\.1:9/.*set data\.source to a local folder"):
        load_splits("http://127.0.0.1:9/x", CLASSES, 10, 10, seed=0, raw_dir=tmp_path)


def test_only_http_and_local_sources(tmp_path):
    with pytest.raises(QuickdrawError, match="only https://, http:// and local folders"):
        load_splits("ftp://example.org/x", CLASSES, 10, 10, seed=0, raw_dir=tmp_path)


def test_study_layout_folder(shared_quickdraw, tmp_path):
    images = np.concatenate([np.load(shared_quickdraw / f"{c}.npy")[:100].reshape(-1, 28, 28) for c in CLASSES])
    labels = np.repeat(np.arange(5), 100)
    for split in ("train", "test"):
        np.save(tmp_path / f"{split}_images.npy", images)
        np.save(tmp_path / f"{split}_labels.npy", labels)
    train, test, info = load_splits(str(tmp_path), ["snowman", "hand"], 30, 10, seed=0)
    assert info["kind"] == "study"
    assert np.bincount(train.labels).tolist() == [30, 30]
    snowman_rows = {r.tobytes() for r in images[300:400]}
    assert all(r.tobytes() in snowman_rows for r in train.images[train.labels == 0])
    # the digest, read in pieces, is the one of all the bytes at once
    assert info["sha256"]["train"] == hashlib.sha256(images.tobytes() + labels.astype(np.int64).tobytes()).hexdigest()


# --- the prepared splits: memory-mapped, converted a batch at a time, bounded subsets ------------------


def _write_small(folder, shared_quickdraw, train_per_class=20, test_per_class=4):
    return write_prepared(folder, class_drawings(str(shared_quickdraw), CLASSES, train_per_class, test_per_class,
                                                 seed=0, raw_dir=folder / "raw"),
                          CLASSES, train_per_class, test_per_class, 0.25, 0)


def test_pixels_convert_only_the_rows_asked_for(shared_quickdraw, tmp_path):
    _write_small(tmp_path, shared_quickdraw)
    split, _ = load_split(tmp_path / "train")
    pixels, whole = Pixels(split.images), to_tensor(np.asarray(split.images))
    assert len(pixels) == len(whole) == 75
    assert torch.equal(pixels[10:42], whole[10:42]) and pixels[10:42].dtype == torch.float32
    rows = torch.tensor([70, 3, 3, 41])
    assert torch.equal(pixels[rows], whole[rows]) and torch.equal(pixels[rows.numpy()], whole[rows])


def test_bounded_keeps_a_small_split_whole_and_takes_a_seeded_ordered_subset_of_a_large_one(shared_quickdraw, tmp_path):
    _write_small(tmp_path, shared_quickdraw)
    split, _ = load_split(tmp_path / "train")
    assert bounded(split, 75, seed=0) is split, "at or below the bound: every drawing, as it is"
    a, b, c = bounded(split, 30, seed=0), bounded(split, 30, seed=0), bounded(split, 30, seed=1)
    assert len(a.labels) == 30 and np.array_equal(a.images, b.images) and not np.array_equal(a.images, c.images)
    rows = subset_rows(75, 30, seed=0)
    assert np.all(np.diff(rows) > 0) and np.array_equal(a.images, split.images[rows])
    assert not isinstance(a.images, np.memmap), "a subset is read into memory"


@pytest.mark.parametrize("fault, message", [
    ("missing", "no such prepared split (run `dvc repro prepare`)"),
    ("text", "not a prepared split"),
    ("labels", "labels outside the 5 classes of classes.json"),
    ("shape", "not a prepared split (images uint8 (75, 784)"),
])
def test_a_broken_prepared_split_is_one_line_naming_its_folder(fault, message, shared_quickdraw, tmp_path):
    _write_small(tmp_path, shared_quickdraw)
    folder = tmp_path / "train"
    if fault == "missing":
        folder = tmp_path / "nowhere"
    elif fault == "text":
        (folder / "images.npy").write_text("<html>not an array</html>")
    elif fault == "labels":
        np.save(folder / "labels.npy", np.full(75, 7))
    else:
        np.save(folder / "images.npy", np.zeros((75, 784), np.uint8))
    with pytest.raises(QuickdrawError) as e:
        load_split(folder)
    assert str(folder) in str(e.value) and message in str(e.value) and "\n" not in str(e.value)


def test_a_class_of_the_wrong_size_leaves_no_split_behind(tmp_path):
    blocks = [(np.zeros((20, 28, 28), np.uint8), np.zeros((4, 28, 28), np.uint8)),
              (np.zeros((19, 28, 28), np.uint8), np.zeros((4, 28, 28), np.uint8))]
    with pytest.raises(QuickdrawError, match=r"class 'yoga': got 19 \+ 4 drawings, expected 20 \+ 4"):
        write_prepared(tmp_path / "prepared", iter(blocks), ["rabbit", "yoga"], 20, 4, 0.25, 0)
    assert not (tmp_path / "prepared").exists() or not any((tmp_path / "prepared").iterdir())


# --- the prepare stage: bad input exits non-zero with one line naming the file or key -----------------


def _bad_source(tmp_path, shared_quickdraw, broken: bytes | np.ndarray) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    for c in CLASSES:
        (src / f"{c}.npy").symlink_to(shared_quickdraw / f"{c}.npy")
    (src / "hand.npy").unlink()
    if isinstance(broken, bytes):
        (src / "hand.npy").write_bytes(broken)
    else:
        np.save(src / "hand.npy", broken)
    return src


def _prepare(tmp_path, params):
    out = tmp_path / "out"
    result = run_stage("prepare", "--params", write_params(tmp_path / "params.yaml", params),
                       "--out", out / "prepared", "--raw", out / "raw", "--metrics", out / "data.json",
                       "--preview", out / "preview.png", cwd=tmp_path)
    return result, out


def _offline(base_params, source, train=64, test=16):
    base_params["data"].update(source=str(source), train_per_class=train, test_per_class=test)
    base_params["evaluate"].update(n=5 * test, kid_subset_size=min(200, 5 * test))  # within the test split
    return base_params


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing_folder", "data source folder not found"),
        ("html", "hand.npy: not a .npy file"),
        ("wrong_dtype", "hand.npy: dtype is float32, expected uint8"),
        ("wrong_row_length", "hand.npy: shape is (800, 783), expected (N, 784)"),
        ("truncated", "hand.npy: truncated"),
        ("too_few", "hand.npy: has 50 drawings of 'hand', need 80"),
        ("unknown_class", "data.classes has unknown category 'unicron'; closest: crown, crayon"),
        ("class_not_in_folder", "cat.npy: no such file"),
        ("zero_count", "data.train_per_class must be >= 1"),
        ("wrong_type", "data.train_per_class must be an integer, got 'many'"),
        ("bad_class_name", "invalid class name '../x'"),
    ],
)
def test_prepare_rejects_bad_input_cleanly(case, expected, shared_quickdraw, base_params, tmp_path):
    real = np.load(shared_quickdraw / "hand.npy")
    source = {
        "missing_folder": tmp_path / "nowhere",
        "html": lambda: _bad_source(tmp_path, shared_quickdraw, b"<!DOCTYPE html><html><body>Not found</body></html>"),
        "wrong_dtype": lambda: _bad_source(tmp_path, shared_quickdraw, real.astype(np.float32)),
        "wrong_row_length": lambda: _bad_source(tmp_path, shared_quickdraw, real[:, :783]),
        "truncated": lambda: _bad_source(tmp_path, shared_quickdraw, (shared_quickdraw / "hand.npy").read_bytes()[:5000]),
        "too_few": lambda: _bad_source(tmp_path, shared_quickdraw, real[:50]),
    }.get(case, shared_quickdraw)
    params = _offline(base_params, source() if callable(source) else source)
    if case in ("unknown_class", "class_not_in_folder"):
        params["data"]["classes"] = ["rabbit", "unicron" if case == "unknown_class" else "cat"]
        params["evaluate"].update(n=32, kid_subset_size=32)
    if case == "zero_count":
        params["data"]["train_per_class"] = 0
    if case == "wrong_type":
        params["data"]["train_per_class"] = "many"
    if case == "bad_class_name":
        params["data"]["classes"] = ["rabbit", "../x"]
    result, out = _prepare(tmp_path, params)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert not [p for p in out.rglob("*") if p.is_file() and "raw" not in p.parts]


def test_prepare_stage_writes_splits_metrics_and_preview(shared_quickdraw, base_params, tmp_path):
    result, out = _prepare(tmp_path, _offline(base_params, shared_quickdraw, 64, 16))
    assert result.returncode == 0, result.stderr
    # 64 training drawings per class: 6 of each (validation_fraction 0.1) carved off for validation
    fit, classes = load_split(out / "prepared" / "train")
    validation, _ = load_split(out / "prepared" / "validation")
    assert isinstance(fit.images, np.memmap), "read as a memory map, never whole"
    assert fit.images.shape == (290, 28, 28) and fit.labels.dtype == np.int64
    assert np.bincount(validation.labels).tolist() == [6] * 5 and classes == CLASSES
    fit_rows, val_rows = {r.tobytes() for r in fit.images}, {r.tobytes() for r in validation.images}
    assert not fit_rows & val_rows
    assert load_split(out / "prepared" / "test")[0].images.shape == (80, 28, 28)
    # Written a class at a time, the splits are the ones carving all the training drawings at once gives.
    train, test, _ = load_splits(str(shared_quickdraw), CLASSES, 64, 16, seed=0, raw_dir=tmp_path / "raw2")
    expected_fit, expected_validation = carve_validation(train, 0.1, 0)
    assert np.array_equal(fit.images, expected_fit.images) and np.array_equal(fit.labels, expected_fit.labels)
    assert np.array_equal(validation.images, expected_validation.images)
    assert np.array_equal(load_split(out / "prepared" / "test")[0].images, test.images)
    first = {f.name: f.read_bytes() for f in (out / "prepared" / "train").iterdir()}
    assert _prepare(tmp_path, _offline(base_params, shared_quickdraw, 64, 16))[0].returncode == 0
    assert {f.name: f.read_bytes() for f in (out / "prepared" / "train").iterdir()} == first, "byte-identical on a rerun"
    assert not [p for p in (out / "prepared").iterdir() if p.name.startswith(".")], "no temporary folder left"
    assert (out / "preview.png").stat().st_size > 1000


def test_rows_of_a_split_are_read_from_its_file_and_leave_no_mapped_pages_behind(shared_quickdraw, tmp_path):
    import mmap

    _write_small(tmp_path, shared_quickdraw)
    split, _ = load_split(tmp_path / "train")
    assert isinstance(split.images.base, mmap.mmap), "np.load's own map: a file and an offset to read from"
    mapped = np.asarray(split.images)
    for rows in (slice(5, 40), slice(None), slice(70, 90), np.array([74, 0, 0, 12]), [3, 1]):
        got = read_rows(split.images, rows)
        assert type(got) is np.ndarray and np.array_equal(got, mapped[rows])
    assert np.array_equal(read_rows(split.images[10:], [0, 2]), mapped[[10, 12]]), "a view: indexed as it is"
    with pytest.raises(IndexError):
        read_rows(split.images, [75])


def test_a_split_sent_to_another_process_travels_as_its_folder_not_its_drawings(shared_quickdraw, tmp_path):
    import pickle

    _write_small(tmp_path, shared_quickdraw)
    split, _ = load_split(tmp_path / "train")
    sent = pickle.dumps(split)
    assert len(sent) < 1000 < split.images.nbytes, "the folder's name, not 75 drawings"
    back = pickle.loads(sent)
    assert isinstance(back.images, np.memmap) and np.array_equal(back.images, split.images)
    assert np.array_equal(back.labels, split.labels)
    subset = bounded(split, 30, seed=0)  # in memory: travels as it is
    assert np.array_equal(pickle.loads(pickle.dumps(subset)).images, subset.images)


def test_a_write_clears_the_temporaries_a_killed_writer_of_the_same_path_left(tmp_path):
    from quickdraw_vae.files import atomic_dir, write_json

    (tmp_path / ".metrics.json.k1ll3d.json").write_text("{half")  # SIGKILL between write and rename
    (tmp_path / ".other.json.k1ll3d.json").write_text("{}")  # another path's: not ours to remove
    write_json(tmp_path / "metrics.json", {"epoch": 4})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.k1ll3d.json", "metrics.json"]
    (tmp_path / ".train.x1y2").mkdir()
    (tmp_path / ".train.x1y2" / "images.npy").write_bytes(b"half")
    with atomic_dir(tmp_path / "train") as folder:
        (folder / "labels.npy").write_bytes(b"ok")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.json.k1ll3d.json", "metrics.json", "train"]
