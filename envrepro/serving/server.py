"""The scoring server: ``POST /invocations``, ``GET /ping``, ``/health``, ``/version``.

Standard library only (it runs inside the model's environment, which must stay what the model
recorded). ``--workers N`` pre-forks N processes that share one listening socket; each loads the model
once and answers with keep-alive HTTP/1.1.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from .payload import PayloadError, Schema, error_json, parse_request, predictions_json

log = logging.getLogger("envrepro.serving")
DEFAULT_MAX_REQUEST_BYTES = 50 * 1024 * 1024


class ScoringState:
    """The loaded model, filled in once loading finishes (``/ping`` says 503 until then)."""

    def __init__(self) -> None:
        self.model: Any = None
        self.schema: Schema | None = None
        self.load_error: str | None = None
        self.ready = threading.Event()


def make_handler(state: ScoringState, *, max_request_bytes: int, version: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"envrepro/{version}"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and the
            # client's delayed ACK add ~40 ms to every keep-alive request.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet by default; -v shows access logs
            log.debug("%s - %s", self.address_string(), fmt % args)

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, code: str, message: str) -> None:
            self._send(status, error_json(code, message))

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?")[0]
            if path in ("/ping", "/health"):
                if state.ready.is_set() and state.model is not None:
                    self._send(200, b"\n", "text/plain")
                else:
                    self._error(503, "NOT_READY", state.load_error or "the model is still loading")
            elif path == "/version":
                self._send(200, version.encode(), "text/plain")
            else:
                self._error(404, "NOT_FOUND", f"no route {path}; use POST /invocations, GET /ping, /health, /version")

        def do_POST(self) -> None:  # noqa: N802
            if self.path.split("?")[0] != "/invocations":
                self._error(404, "NOT_FOUND", f"no route {self.path}; use POST /invocations")
                return
            length_header = self.headers.get("Content-Length")
            if length_header is None:
                self._error(411, "LENGTH_REQUIRED", "send a Content-Length header")
                return
            try:
                length = int(length_header)
            except ValueError:
                self._error(400, "BAD_REQUEST", "invalid Content-Length")
                return
            if length > max_request_bytes:
                self.close_connection = True  # the unread body would otherwise be parsed as the next request
                self._error(413, "REQUEST_TOO_LARGE",
                            f"request body of {length} bytes is over the limit of {max_request_bytes} bytes")
                return
            body = self.rfile.read(length)
            if not state.ready.is_set() or state.model is None:
                self._error(503, "NOT_READY", state.load_error or "the model is still loading")
                return
            try:
                data, params = parse_request(body, self.headers.get("Content-Type"))
                if state.schema is not None:
                    data = state.schema.conform(data)
            except PayloadError as exc:
                self._error(exc.status, exc.error_code, exc.message)
                return
            try:
                predictions = state.model.predict(data, params=params) if params else state.model.predict(data)
                body = predictions_json(predictions)
            except Exception as exc:  # the model raised: tell the client, keep serving
                log.error("predict failed: %s", traceback.format_exc())
                self._error(500, "MODEL_ERROR", f"{type(exc).__name__}: {exc}")
                return
            self._send(200, body)

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def _load(state: ScoringState, loader: Callable[[], tuple[Any, Any]]) -> None:
    try:
        state.model, example = loader()
        state.schema = Schema.from_example(example)
    except Exception as exc:
        state.load_error = f"the model failed to load: {type(exc).__name__}: {exc}"
        log.error(state.load_error)
    finally:
        state.ready.set()


def serve(loader: Callable[[], tuple[Any, Any]], *, host: str = "127.0.0.1", port: int = 5000, workers: int = 1,
          max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, version: str = "0",
          on_ready: Callable[[str, int], None] | None = None) -> None:
    """Bind, then load the model (once per worker) and serve until SIGTERM/SIGINT."""
    state = ScoringState()
    handler = make_handler(state, max_request_bytes=max_request_bytes, version=version)
    server = _Server((host, port), handler)
    bound_host, bound_port = server.server_address[:2]
    children: list[int] = []
    if workers > 1:
        for _ in range(workers - 1):
            pid = os.fork()
            if pid == 0:
                children.clear()
                break
            children.append(pid)

    def _stop(signum: int, frame: Any) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    _load(state, loader)
    if on_ready is not None and (workers == 1 or children):
        on_ready(str(bound_host), int(bound_port))
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
