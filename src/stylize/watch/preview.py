"""``--preview``: a local web page that shows a run as it paints, with a stop button.

The optimization feeds a :class:`Preview` through its progress callback (main thread);
a stdlib HTTP server in a background thread answers the page's requests from what was
last handed over. The hand-over is cheap on purpose: the current image is taken at most
every ``IMAGE_EVERY`` seconds (a copy off the device), and PNG encoding happens in the
server's thread, once per new image, only when a page asks for it.

Security: the server binds to 127.0.0.1 unless told otherwise, and every request must
carry the random token of the printed URL (``?token=``, an ``X-Stylize-Token`` header, or
the cookie the page gets), or it is answered 403 and changes nothing. No CORS headers are
sent, so another site's script cannot read the answers, and it cannot guess the token.
"""

from __future__ import annotations

import errno
import hmac
import io
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from typing import Optional
from urllib.parse import parse_qs, urlsplit

from ..errors import BadInputError, StopRun, opt
from .curves import LossCurves

IMAGE_EVERY = 0.5  # s between two images taken from the run (the page asks every second)
TOKEN_HEADER = "X-Stylize-Token"
COOKIE = "stylize_token"
# The page loads nothing from elsewhere and may send nothing elsewhere: a CDN or a font
# would break offline use, and a page that can only talk to its own server leaks nothing.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline';"
                               " img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none';"
                               " frame-ancestors 'none'",
}


@dataclass
class Item:
    """Batch mode: the item in progress."""

    name: str  # 'photo.jpg -> out/photo__style.jpg'
    index: int  # 1-based
    count: Optional[int]  # items in the batch (this shard), frames in the clip; None: not known yet
    done: int  # items finished (done, skipped or failed) before this one


class Preview:
    """What the page shows, handed over by the run; ``update`` is an ``on_progress`` callback.

    ``update`` raises StopRun once the page asked to stop, so the run ends at its next report.
    """

    def __init__(self, label: str = ""):
        self.label = label
        self.token = secrets.token_urlsafe(18)
        self.stop_requested = threading.Event()
        self._lock = threading.Lock()
        self.curves = LossCurves()
        self.state = "starting"  # starting | running | stopping | done | stopped | interrupted | failed
        self.progress = None  # the last iteration's report
        self.item: Optional[Item] = None
        self.started = time.monotonic()
        self._image = None  # PIL image, the latest taken
        self._image_version = 0
        self._image_taken = 0.0
        self._png: tuple[int, bytes] = (0, b"")  # (version, encoded) cache, filled by the server

    # ---------------------------------------------------------------- the run's side (main thread)

    def update(self, progress) -> None:
        self.curves.record(progress)
        if progress.tile is None:
            with self._lock:
                self.progress = progress
                if self.state == "starting":
                    self.state = "running"
            now = time.monotonic()
            if progress.current is not None and (now - self._image_taken >= IMAGE_EVERY or self._new_scale(progress)):
                self.set_image(progress.current())
                self._image_taken = now
        # Not inside the first iteration (a tiled one reports its tiles): as for Ctrl-C, the
        # unchanged photo is no result, so a stop takes effect once a step is done.
        if self.stop_requested.is_set() and not progress.done and progress.step > 0:
            raise StopRun

    def _new_scale(self, progress) -> bool:
        starts = self.curves.scales
        return bool(starts) and starts[-1].step == progress.step  # a scale's first image, at once

    def set_image(self, image) -> None:
        with self._lock:
            self._image = image
            self._image_version += 1

    def start_item(self, item: Item) -> None:
        """Batch mode: a new item begins; its curve starts afresh."""
        with self._lock:
            self.item, self.progress, self.curves = item, None, LossCurves()
            self._image_taken = 0.0

    def finish(self, state: str, image=None) -> None:
        """The run ended (done, stopped, interrupted, failed); ``image``: the output as saved."""
        if image is not None:
            self.set_image(image)
        with self._lock:
            self.state = state

    # ---------------------------------------------------------------- the server's side

    def request_stop(self) -> None:
        with self._lock:
            if self.state in ("starting", "running"):
                self.state = "stopping"
        self.stop_requested.set()

    def png(self) -> Optional[bytes]:
        """The latest image as PNG, encoded once per new image (fast zlib: it is a preview)."""
        with self._lock:
            image, version = self._image, self._image_version
        if image is None:
            return None
        cached_version, data = self._png
        if cached_version != version:
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", compress_level=1)
            data = buffer.getvalue()
            self._png = (version, data)
        return data

    def status(self, since: int = 0) -> dict:
        """status.json: where the run is, and the loss points after iteration ``since``."""
        with self._lock:
            p, curves, item, state = self.progress, self.curves, self.item, self.state
            version = self._image_version
        return {
            "label": self.label, "state": state,
            "step": p.step if p else 0, "total": p.total if p else None,
            "scale": list(p.scale) if p else None, "size": p.size if p else None,
            "eta": round(p.eta, 1) if p and p.eta is not None and state == "running" else None,
            "elapsed": round(time.monotonic() - self.started, 1),
            "losses": curves.final or (p.losses if p else None),
            "history": curves.since(since), "scales": curves.scale_starts(),
            "item": vars(item).copy() if item else None, "image": version,
        }


class PreviewServer:
    """The HTTP server of a Preview, in a daemon thread; a context manager that stops it."""

    def __init__(self, preview: Preview, host: str = "127.0.0.1", port: int = 0):
        self.preview = preview
        handler = type("Handler", (_Handler,), {"preview": preview, "page": _page()})
        server_class = _V6Server if ":" in host else ThreadingHTTPServer
        try:
            self.server = server_class((host, port), handler)
        except OSError as e:
            raise BadInputError(_bind_failure(host, port, e), "preview_port" if port else "preview_host") from None
        self.server.daemon_threads = True  # a page left open never keeps the process alive
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       name="stylize-preview", daemon=True)
        self.host = host

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):  # every interface: name this machine
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/?token={self.preview.token}"

    def __enter__(self) -> "PreviewServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()


class _V6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _bind_failure(host: str, port: int, e: OSError) -> str:
    if e.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use; give another {opt('preview_port')}, or none for a free port"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"port {port} on {host} needs privileges; give a {opt('preview_port')} above 1023"
    return f"cannot listen on {host} port {port} ({e.strerror or e})"


def _page() -> bytes:
    return files(__package__).joinpath("preview.html").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    preview: Preview
    page: bytes
    server_version = "stylize-preview"
    protocol_version = "HTTP/1.1"  # keep-alive: the page's polls reuse one connection

    def do_GET(self) -> None:
        path, query = self._authorized()
        if path is None:
            return
        if path in ("/", "/index.html"):
            cookie = f"{COOKIE}={self.preview.token}; Path=/; HttpOnly; SameSite=Strict"
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", self.page, {"Set-Cookie": cookie})
        elif path == "/image.png":
            data = self.preview.png()
            if data is None:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", b"no image yet\n")
            else:
                self._send(HTTPStatus.OK, "image/png", data)
        elif path == "/status.json":
            try:
                since = int(query.get("since", ["0"])[0])
            except ValueError:
                return self._send(HTTPStatus.BAD_REQUEST, "text/plain", b"since: not a number\n")
            self._send(HTTPStatus.OK, "application/json", json.dumps(self.preview.status(since)).encode())
        elif path == "/stop":
            self._send(HTTPStatus.METHOD_NOT_ALLOWED, "text/plain", b"POST to stop\n", {"Allow": "POST"})
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 16))  # a body is not used; read it so the connection stays sane
        path, _ = self._authorized()
        if path is None:
            return
        if path == "/stop":
            self.preview.request_stop()
            self._send(HTTPStatus.ACCEPTED, "application/json", b'{"state": "stopping"}')
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def _authorized(self):
        """(path, query) when the request carries the token; otherwise answers 403 and gives (None, None)."""
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        given = query.get("token", [None])[0] or self.headers.get(TOKEN_HEADER)
        if given is None:
            cookie = SimpleCookie(self.headers.get("Cookie", ""))
            given = cookie[COOKIE].value if COOKIE in cookie else None
        if given is None or not hmac.compare_digest(given.encode(), self.preview.token.encode()):
            self._send(HTTPStatus.FORBIDDEN, "text/plain", b"forbidden: this page needs the token of its URL\n")
            return None, None
        return url.path, query

    def _send(self, status: HTTPStatus, kind: str, body: bytes, headers: Optional[dict] = None) -> None:
        self.send_response(status)
        for key, value in {**SECURITY_HEADERS, "Content-Type": kind, "Content-Length": str(len(body)),
                           **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args) -> None:
        pass  # the run's own lines are what the terminal is for
