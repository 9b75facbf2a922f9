"""Rows of a `<class>.npy` behind a URL: HTTP Range requests and a cache under `data/raw/` that only
ever holds bytes proven to be what was asked for.

- Validate, then cache: the `.npy` header parsed, a 206 answer's `Content-Range` start, end and total
  matching the request, the body length exact, a web page recognised as one; every cache file is
  written atomically. A cached piece that fails its check later is deleted and fetched again.
- One version of the file: the server's validator (`ETag`, else `Last-Modified`) is kept with the
  cache and sent back as `If-Range`. If the file changed upstream, the class's cache starts afresh
  and `FileChanged` tells the reader to start the class again, so rows of two versions never mix.
- Transient faults (5xx, 429 with its `Retry-After` honoured up to a cap, resets, short reads, a
  `Content-Range` for other bytes) are retried with backoff; other 4xx fail at once; each file has an
  overall deadline; a redirect from https to http is refused.
"""

from __future__ import annotations

import errno
import http.client
import json
import re
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import QuickdrawError
from .files import atomic_path
from .npy import HEADER_BYTES, ROW_BYTES, check_bitmap_header, parse_npy_header


@dataclass(frozen=True)
class NetworkPolicy:
    tries: int = 4
    backoff_s: float = 0.5  # doubled after every failed try
    timeout_s: float = 30.0  # per socket operation
    deadline_s: float = 900.0  # per file: every request, read and wait together
    max_retry_after_s: float = 60.0


DEFAULT_POLICY = NetworkPolicy()


class FileChanged(Exception):
    """The file behind the URL is not the version the cache held; the cache has started afresh."""


class _Transient(Exception):
    def __init__(self, detail: str, wait_s: float | None = None):
        super().__init__(detail)
        self.wait_s = wait_s


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if req.full_url.startswith("https://") and not newurl.startswith("https://"):
            raise QuickdrawError(f"{req.full_url}: redirected to {newurl}, from https to plain http; refused")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _say(line: str) -> None:
    print(line, file=sys.stderr)


def _looks_like_a_page(content_type: str, body: bytes) -> bool:
    return content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml") or \
        body.lstrip()[:1] == b"<"


class HttpClassFile:
    """`read(start, count)` gives rows `start .. start + count - 1` of the file, from the cache or the network."""

    def __init__(self, url: str, cache_dir: Path, policy: NetworkPolicy | None = None):
        policy = policy or DEFAULT_POLICY
        self.url, self.where, self.cache_dir, self.policy = url, url, cache_dir, policy
        self.deadline = time.monotonic() + policy.deadline_s
        self._opener = urllib.request.build_opener(_NoDowngrade())
        self.meta = self._load_meta()
        if self.meta:
            self._revalidate()

        def header_ok(body: bytes) -> bool:
            try:
                self._parse(body)
            except QuickdrawError:
                return False
            return True

        head = self._cached("header", 0, HEADER_BYTES - 1, header_ok, short_ok=True)
        self.offset, self.n_rows = self._parse(head)
        expected = self.offset + self.n_rows * ROW_BYTES
        if self.meta.get("size") is not None and self.meta["size"] != expected:
            raise QuickdrawError(f"{url}: truncated or padded .npy ({self.meta['size']} bytes, header implies {expected})")

    def _parse(self, head: bytes) -> tuple[int, int]:
        shape, dtype, offset = parse_npy_header(head, self.url)
        return offset, check_bitmap_header(shape, dtype, self.url)

    def _revalidate(self) -> None:
        """One small request per run: is the cached version still the one the server has? A 206 to
        `If-Range` says yes; a 200 sends the new version (FileChanged). Unreachable: the cache serves."""
        cached = self.cache_dir / "header"
        try:
            head = self._fetch(0, HEADER_BYTES - 1, short_ok=True, tries=1)
        except QuickdrawError as e:
            _say(f"{self.url}: could not check for a newer version ({e}); using the cached copy")
            return
        if cached.exists() and cached.read_bytes() != head:
            self._restart("the file changed upstream (its header differs)")
            raise FileChanged(f"{self.url} changed upstream")

    # -- the cache ---------------------------------------------------------------------------

    def _load_meta(self) -> dict:
        path = self.cache_dir / "meta.json"
        if not path.exists():
            return {}
        try:
            meta = json.loads(path.read_text())
            if isinstance(meta, dict) and isinstance(meta.get("size"), int):
                return meta
        except ValueError:
            pass
        self._restart("its record (meta.json) is unreadable")
        return {}

    def _save_meta(self, size: int, validator: str | None) -> None:
        self.meta = {"size": size, "validator": validator}
        with atomic_path(self.cache_dir / "meta.json") as tmp:
            tmp.write_text(json.dumps(self.meta))

    def _restart(self, why: str) -> None:
        if self.cache_dir.exists():
            _say(f"{self.cache_dir}: {why}; starting this class's download cache afresh")
            shutil.rmtree(self.cache_dir)
        self.meta = {}

    def _store(self, name: str, body: bytes) -> None:
        with atomic_path(self.cache_dir / name) as tmp:
            tmp.write_bytes(body)

    def read(self, start: int, count: int) -> bytes:
        first = self.offset + start * ROW_BYTES
        size = count * ROW_BYTES
        return self._cached(f"rows_{start}_{count}", first, first + size - 1, lambda body: len(body) == size)

    def _cached(self, name: str, first: int, last: int, valid, short_ok: bool = False) -> bytes:
        path = self.cache_dir / name
        if path.exists():
            body = path.read_bytes()
            if valid(body):
                return body
            _say(f"{path}: cached piece failed its check; fetching it again")
            path.unlink()
        whole = self.cache_dir / "whole.npy"
        if whole.exists():
            with open(whole, "rb") as f:
                f.seek(first)
                body = f.read(last - first + 1)
            if valid(body):
                return body
            self._restart("whole.npy does not hold the bytes asked for")
        body = self._fetch(first, last, short_ok)
        if not valid(body):
            raise QuickdrawError(f"{self.url}: bytes {first}-{last} are not what the header promised")
        self._store(name, body)
        return body

    # -- the network -------------------------------------------------------------------------

    def _fetch(self, first: int, last: int, short_ok: bool, tries: int | None = None) -> bytes:
        error, unreachable, tries = "", False, tries or self.policy.tries
        for attempt in range(tries):
            try:
                return self._fetch_once(first, last, short_ok)
            except _Transient as e:
                error, unreachable, wait = str(e), False, e.wait_s
            except urllib.error.HTTPError as e:
                if e.code == 404:
                    raise QuickdrawError(f"{self.url}: HTTP 404 not found (is the class in data.source?)") from None
                if e.code == 429 or e.code >= 500:
                    error, unreachable, wait = f"HTTP {e.code}", False, _retry_after(e.headers.get("Retry-After"))
                else:
                    raise QuickdrawError(f"{self.url}: HTTP {e.code} {e.reason}") from None
            except urllib.error.URLError as e:
                if isinstance(e.reason, QuickdrawError):
                    raise e.reason from None
                error, wait = str(e.reason), None
                unreachable = isinstance(e.reason, (ConnectionRefusedError, socket.gaierror)) or getattr(
                    e.reason, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH)
            except (http.client.HTTPException, OSError) as e:
                error, unreachable, wait = f"{type(e).__name__}: {e}".rstrip(": "), False, None
            if attempt + 1 < tries:
                backoff = self.policy.backoff_s * 2 ** attempt
                pause = backoff if wait is None else min(max(wait, backoff), self.policy.max_retry_after_s)
                if time.monotonic() + pause >= self.deadline:
                    raise QuickdrawError(f"cannot download {self.url}: {error} (deadline of "
                                         f"{self.policy.deadline_s:g} s per file reached)")
                time.sleep(pause)
        if unreachable:
            raise QuickdrawError(f"cannot reach {self.url} ({error}); set data.source to a local folder, see README")
        raise QuickdrawError(f"cannot download {self.url}: {error} (gave up after {tries} tries)")

    def _fetch_once(self, first: int, last: int, short_ok: bool) -> bytes:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise QuickdrawError(f"cannot download {self.url}: deadline of {self.policy.deadline_s:g} s per file reached")
        headers = {"Range": f"bytes={first}-{last}"}
        if self.meta.get("validator"):
            headers["If-Range"] = self.meta["validator"]
        request = urllib.request.Request(self.url, headers=headers)
        with self._opener.open(request, timeout=min(self.policy.timeout_s, remaining)) as response:
            validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
            content_type = response.headers.get("Content-Type", "")
            length = response.headers.get("Content-Length")
            body = self._read_all(response, int(length) if length and length.isdigit() else None)
        # A row piece may well start with byte 60 ('<'): only a header or a whole file is sniffed.
        if _looks_like_a_page(content_type, body[:64] if first == 0 or response.status == 200 else b""):
            raise QuickdrawError(f"{self.url}: the network returned a web page instead of the file (a sign-in "
                                 "page or a proxy?); nothing was cached, rerun once the network lets the file through")
        if length and length.isdigit() and len(body) != int(length):
            raise _Transient(f"short read: got {len(body)} of {length} bytes")
        if response.status == 206:
            return self._partial(response.headers.get("Content-Range", ""), body, first, last, short_ok, validator)
        return self._whole(body, first, last, validator)

    def _partial(self, content_range: str, body: bytes, first: int, last: int, short_ok: bool,
                 validator: str | None) -> bytes:
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", content_range.strip())
        if not match:
            raise _Transient(f"206 answer without a usable Content-Range ({content_range!r})")
        start, end, total = map(int, match.groups())
        if self.meta and (total != self.meta["size"] or (validator and self.meta.get("validator")
                                                          and validator != self.meta["validator"])):
            self._restart("the file changed upstream (its size or validator differs)")
            raise FileChanged(f"{self.url} changed upstream")
        wanted_end = min(last, total - 1) if short_ok else last
        if start != first or end != wanted_end or len(body) != end - start + 1:
            raise _Transient(f"Content-Range {content_range!r} with {len(body)} bytes does not answer bytes={first}-{last}")
        if not self.meta:
            self._save_meta(total, validator)
        return body

    def _whole(self, body: bytes, first: int, last: int, validator: str | None) -> bytes:
        """A 200: the server sent the whole file (it ignores Range, or If-Range said the file changed)."""
        offset, rows = self._parse(body[:HEADER_BYTES])
        if len(body) != offset + rows * ROW_BYTES:
            raise _Transient(f"whole file of {len(body)} bytes, header implies {offset + rows * ROW_BYTES}")
        changed = bool(self.meta) and (len(body) != self.meta["size"] or validator != self.meta.get("validator"))
        if changed:
            self._restart("the file changed upstream (the server sent a new version)")
        self._store("whole.npy", body)
        self._save_meta(len(body), validator)
        if changed:
            raise FileChanged(f"{self.url} changed upstream")
        return body[first : last + 1]

    def _read_all(self, response, expected: int | None) -> bytes:
        from tqdm import tqdm

        chunks = []
        with tqdm(total=expected, unit="B", unit_scale=True, desc=self.url.rsplit("/", 1)[-1], leave=False,
                  disable=None) as bar:
            while chunk := response.read(1 << 20):
                chunks.append(chunk)
                bar.update(len(chunk))
                if time.monotonic() > self.deadline:
                    raise QuickdrawError(f"cannot download {self.url}: deadline of {self.policy.deadline_s:g} s "
                                         "per file reached")
        return b"".join(chunks)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number; an HTTP date counts as unknown)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
