"""A tiny HTTP file server on 127.0.0.1 for the URL-source tests: honours Range, or ignores it,
or drops the connection halfway, as a test asks."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    def __init__(self, *args, root: Path, mode: str, log: list, **kw):
        self.root, self.mode, self.log = root, mode, log
        super().__init__(*args, **kw)

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.log.append((self.path, self.headers.get("Range")))
        path = self.root / self.path.lstrip("/").split("/")[-1]
        if not path.is_file():
            self.send_error(404)
            return
        body = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("Range") or "")
        if match and self.mode != "ignore_range":
            first, last = int(match[1]), min(int(match[2]), len(body) - 1)
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(body)}")
            part = body[first : last + 1]
        else:
            self.send_response(200)
            part = body
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if self.mode == "drop":
            self.wfile.write(part[: len(part) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(part)


@contextmanager
def serve(root: Path, mode: str = "range"):
    log: list = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, root=root, mode=mode, log=log))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/quickdraw", log
    finally:
        server.shutdown()
        server.server_close()
