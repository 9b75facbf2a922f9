"""A tiny HTTP file server on 127.0.0.1 for the URL-source tests, with the faults a real network
brings, switched on by a test between requests.

`serve(root, mode)` yields (url, log); `serve_faults(root)` also yields the `faults` dict it reads on
every request:
- mode: "range" (honours Range), "ignore_range" (always the whole file), "drop" (half the body, then
  the connection closes), "reset" (half the body, then a TCP reset), "html" (200 and a sign-in page),
  "wrong_range" (206 for the bytes one drawing further on, said so in Content-Range);
- times: how many requests the mode applies to before the server behaves ("range"); None: all;
- fail: HTTP statuses to answer the next requests with, one each (e.g. [503, 503] or [429]);
- retry_after: the Retry-After header sent with those;
- etag: sent as ETag; a request whose If-Range differs gets the whole file (RFC 9110);
- root: the folder served (a test swaps it to change a file upstream).
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROW = 28 * 28


class Handler(BaseHTTPRequestHandler):
    def __init__(self, *args, faults: dict, log: list, **kw):
        self.faults, self.log = faults, log
        super().__init__(*args, **kw)

    def log_message(self, *args):
        pass

    def _mode(self) -> str:
        f = self.faults
        if f.get("times") is None:
            return f["mode"]
        if f["times"] <= 0:
            return "range"
        f["times"] -= 1
        return f["mode"]

    def do_GET(self):
        f = self.faults
        self.log.append((self.path, self.headers.get("Range")))
        if f.get("fail"):
            self.send_response(f["fail"].pop(0))
            if f.get("retry_after") is not None:
                self.send_header("Retry-After", f["retry_after"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        mode = self._mode()
        path = Path(f["root"]) / self.path.lstrip("/").split("/")[-1]
        if not path.is_file():
            self.send_error(404)
            return
        if mode == "html":
            page = b"<!DOCTYPE html><html><body>Sign in to use the Wi-Fi</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        body = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range") or "")
        if_range = self.headers.get("If-Range")
        stale = if_range is not None and if_range != f.get("etag")
        if match and mode != "ignore_range" and not stale:
            first, last = int(match[1]), min(int(match[2]), len(body) - 1)
            if mode == "wrong_range":
                first, last = first + ROW, min(last + ROW, len(body) - 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(body)}")
            part = body[first : last + 1]
        else:
            self.send_response(200)
            part = body
        self.send_header("Content-Type", "application/octet-stream")
        if f.get("etag"):
            self.send_header("ETag", f["etag"])
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if mode in ("drop", "reset"):
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            if mode == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.wfile.write(part)


@contextmanager
def serve_faults(root: Path, **faults):
    log: list = []
    state = {"mode": "range", "times": None, "fail": [], "retry_after": None, "etag": None, "root": root, **faults}
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, faults=state, log=log))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/quickdraw", log, state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve(root: Path, mode: str = "range"):
    with serve_faults(root, mode=mode) as (url, log, _):
        yield url, log
