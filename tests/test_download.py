"""The URL source against the faults a real network brings (tests/httpserver.py): each fault either
heals by itself (retries) to the drawings the local folder gives, or fails with one line naming the
URL and caches nothing; the run after the fault clears succeeds with no clean-up."""

import time
import urllib.request

import numpy as np
import pytest

from httpserver import serve_faults
from quickdraw_vae import download
from quickdraw_vae.sources import load_splits
from quickdraw_vae.download import NetworkPolicy
from quickdraw_vae.errors import QuickdrawError

CLASSES = ["rabbit", "yoga"]


@pytest.fixture(autouse=True)
def fast_network(monkeypatch):
    monkeypatch.setattr(download, "DEFAULT_POLICY", NetworkPolicy(tries=4, backoff_s=0.01, max_retry_after_s=0.05))


def drawings(source, raw):
    return load_splits(str(source), CLASSES, 50, 10, seed=0, raw_dir=raw)


def assert_same(a, b):
    assert np.array_equal(a[0].images, b[0].images) and np.array_equal(a[1].images, b[1].images)
    assert a[2]["sha256"] == b[2]["sha256"]


def cached_files(raw):
    return sorted(p.name for p in raw.rglob("*") if p.is_file())


@pytest.mark.parametrize("fault", [
    dict(mode="drop", times=2), dict(mode="reset", times=2), dict(mode="wrong_range", times=2),
    dict(fail=[503, 503, 503]), dict(fail=[429, 429], retry_after="0"), dict(fail=[429], retry_after="30"),
    dict(mode="ignore_range"),
], ids=["truncated", "reset", "wrong-content-range", "503-burst", "429-burst", "429-long-retry-after", "no-range"])
def test_transient_faults_are_retried_to_the_local_drawings(shared_quickdraw, tmp_path, fault):
    started = time.monotonic()
    with serve_faults(shared_quickdraw, **fault) as (url, log, _):
        remote = drawings(url, tmp_path / "raw")
    assert_same(remote, drawings(shared_quickdraw, tmp_path))
    assert time.monotonic() - started < 20, "Retry-After is capped (NetworkPolicy.max_retry_after_s)"


@pytest.mark.parametrize("fault, message", [
    (dict(mode="html"), "the network returned a web page instead of the file"),
    (dict(mode="drop"), "gave up after 4 tries"),
    (dict(mode="reset"), "gave up after 4 tries"),
    (dict(mode="wrong_range"), "does not answer bytes=0-4095"),
    (dict(fail=[503] * 8), "HTTP 503"),
    (dict(fail=[403]), "HTTP 403"),
], ids=["html-200", "truncated", "reset", "wrong-content-range", "503", "403"])
def test_lasting_faults_fail_in_one_line_cache_nothing_and_the_next_run_heals(shared_quickdraw, tmp_path, fault,
                                                                               message):
    raw = tmp_path / "raw"
    with serve_faults(shared_quickdraw, **fault) as (url, log, state):
        with pytest.raises(QuickdrawError) as failure:
            drawings(url, raw)
        text = str(failure.value)
        assert message in text and f"{url}/rabbit.npy" in text and "\n" not in text
        assert cached_files(raw) == [], "nothing unproven reaches data/raw/"
        if fault.get("fail") == [403]:
            assert len(log) == 1, "a 4xx other than 429 is not retried"
        state.update(mode="range", fail=[])
        assert_same(drawings(url, raw), drawings(shared_quickdraw, tmp_path))


def test_a_file_changed_upstream_restarts_its_class_and_says_so(shared_quickdraw, tmp_path):
    versions = {}
    for v, rows in (("v1", slice(0, 300)), ("v2", slice(300, 600))):
        versions[v] = tmp_path / v
        versions[v].mkdir()
        for c in CLASSES:
            np.save(versions[v] / f"{c}.npy", np.load(shared_quickdraw / f"{c}.npy")[rows])
    raw = tmp_path / "raw"
    with serve_faults(versions["v1"], etag='"v1"') as (url, log, state):
        first = drawings(url, raw)
        assert_same(first, drawings(versions["v1"], tmp_path / "l1"))
        state.update(root=versions["v2"], etag='"v2"')  # same size, new content: only the validator tells
        second = drawings(url, raw)
    assert_same(second, drawings(versions["v2"], tmp_path / "l2"))
    assert second[2]["restarted"] == {c: "changed upstream; its download cache started afresh" for c in CLASSES}
    assert "restarted" not in first[2]


def test_a_damaged_cached_piece_is_fetched_again(shared_quickdraw, tmp_path, capsys):
    raw = tmp_path / "raw"
    with serve_faults(shared_quickdraw) as (url, log, _):
        drawings(url, raw)
        piece = next(p for p in raw.rglob("rows_*"))
        piece.write_bytes(piece.read_bytes()[:-5])
        assert_same(drawings(url, raw), drawings(shared_quickdraw, tmp_path))
    assert f"{piece}: cached piece failed its check; fetching it again" in capsys.readouterr().err


def test_an_unreachable_server_leaves_a_complete_cache_usable(shared_quickdraw, tmp_path, capsys):
    raw = tmp_path / "raw"
    with serve_faults(shared_quickdraw) as (url, log, _):
        first = drawings(url, raw)
    assert_same(drawings(url, raw), first)  # the server is gone: the cached version serves
    assert "could not check for a newer version" in capsys.readouterr().err


def test_the_deadline_bounds_a_file_however_often_the_server_asks_to_wait(shared_quickdraw, tmp_path, monkeypatch):
    monkeypatch.setattr(download, "DEFAULT_POLICY", NetworkPolicy(tries=50, backoff_s=0.2, deadline_s=0.5))
    with serve_faults(shared_quickdraw, fail=[503] * 50) as (url, _, _), pytest.raises(QuickdrawError) as failure:
        drawings(url, tmp_path / "raw")
    assert "deadline of 0.5 s per file reached" in str(failure.value)


def test_a_redirect_from_https_to_http_is_refused():
    handler = download._NoDowngrade()
    request = urllib.request.Request("https://example.org/rabbit.npy")
    with pytest.raises(QuickdrawError, match="from https to plain http; refused"):
        handler.redirect_request(request, None, 302, "Found", {}, "http://example.org/rabbit.npy")
    assert handler.redirect_request(request, None, 302, "Found", {}, "https://mirror.example.org/rabbit.npy")
