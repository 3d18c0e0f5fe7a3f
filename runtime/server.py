"""The scoring server: ``POST /invocations``, ``GET /ping``, ``/health``, ``/version``. Standard library only.

Shape: ``--workers N`` pre-forks N processes that share one listening socket; each loads the model once and
answers keep-alive HTTP/1.1 from a bounded set of threads. Limits (see docs/security.md):

- at most ``max_connections`` connections are served at once per worker; more wait in the listen backlog;
- a connection idle for ``keepalive_timeout`` seconds between requests, or one that takes longer than
  ``request_timeout`` seconds to send a request (headers and body, however slowly it trickles in), is closed
  by a reaper thread (slowloris); a model's own predict time is not limited;
- request bodies are framed strictly: one non-negative decimal ``Content-Length`` or ``Transfer-Encoding:
  chunked``, never both (request smuggling), at most ``max_request_bytes``.

``/ping`` answers 503 while the model loads (the socket is bound first), then 200. With ``--workers N`` the
forked workers accept connections only once their model is loaded, so none is routed to a loading worker.
"""

import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

from .limits import DEFAULT_MAX_REQUEST_BYTES
from .payload import JSON, error_json
from .scoring import invocation

log = logging.getLogger("envrepro.runtime")
_DIGITS = re.compile(r"[0-9]{1,18}\Z")


class ServerConfig(object):
    def __init__(self, host="127.0.0.1", port=5000, workers=1, max_request_bytes=DEFAULT_MAX_REQUEST_BYTES,
                 max_connections=64, request_timeout=60.0, keepalive_timeout=5.0, access_log=False, version="0"):
        self.host = host
        self.port = port
        self.workers = workers
        self.max_request_bytes = max_request_bytes
        self.max_connections = max_connections
        self.request_timeout = request_timeout
        self.keepalive_timeout = keepalive_timeout
        self.access_log = access_log
        self.version = version


class ScoringState(object):
    """The loaded model, filled in once loading finishes."""

    def __init__(self):
        self.model = None
        self.load_error = None
        self.ready = threading.Event()


class FramingError(Exception):
    def __init__(self, status, message):
        super(FramingError, self).__init__(message)
        self.status = status
        self.message = message


def _content_length(headers):
    values = headers.get_all("Content-Length") or []
    if not values:
        return None
    if len(set(v.strip() for v in values)) != 1:
        raise FramingError(400, "conflicting Content-Length headers")
    text = values[0].strip()
    if not _DIGITS.match(text):  # not str.isdigit(): it accepts "²" and other non-ASCII digits
        raise FramingError(400, "invalid Content-Length {!r}".format(text))
    return int(text)


def _read_chunked(rfile, limit):
    body = bytearray()
    while True:
        line = rfile.readline(1026)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise FramingError(400, "malformed chunk size") from None
        if size < 0 or len(body) + size > limit:
            raise FramingError(413, "request body is over the limit of {} bytes".format(limit))
        if size == 0:
            while rfile.readline(65537) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return bytes(body)
        chunk = rfile.read(size)
        if len(chunk) != size:
            raise FramingError(400, "truncated chunk")
        body += chunk
        if rfile.readline(3) not in (b"\r\n", b"\n"):
            raise FramingError(400, "malformed chunk terminator")


def make_handler(state, config):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "envrepro/{}".format(config.version)
        timeout = config.keepalive_timeout  # applied to the socket by StreamRequestHandler.setup

        def setup(self):
            BaseHTTPRequestHandler.setup(self)
            # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and the
            # client's delayed ACK add ~40 ms to every keep-alive request.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def parse_request(self):
            # The request line has arrived: the rest of this request gets the (longer) request timeout.
            self.connection.settimeout(config.request_timeout)
            self.server.set_deadline(self.connection, config.request_timeout)
            self._started = time.time()
            return BaseHTTPRequestHandler.parse_request(self)

        def handle_one_request(self):
            self.connection.settimeout(config.keepalive_timeout)
            self.server.set_deadline(self.connection, config.keepalive_timeout)
            BaseHTTPRequestHandler.handle_one_request(self)

        def log_request(self, code="-", size="-"):
            pass  # logged once per response, with its size and duration, by _send

        def log_message(self, fmt, *args):
            log.debug("%s - %s", self.address_string(), fmt % args)

        def _send(self, status, body, content_type=JSON):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            if config.access_log:
                took = time.time() - getattr(self, "_started", time.time())
                # Common Log Format (its date form, as gunicorn and Apache write it), then the seconds taken.
                sys.stderr.write('%s - - [%s] "%s" %d %d %.4f\n' % (
                    self.address_string(), time.strftime("%d/%b/%Y:%H:%M:%S %z"), self.requestline, status,
                    len(body), took))
                sys.stderr.flush()  # before 3.9, a non-interactive stderr is block-buffered

        def _error(self, status, code, message):
            self._send(status, error_json(code, message))

        def do_GET(self):  # noqa: N802 (http.server's naming)
            self.server.set_deadline(self.connection, None)  # the request is read
            path = self.path.split("?")[0]
            if path in ("/ping", "/health"):
                if state.ready.is_set() and state.model is not None:
                    self._send(200, b'{"status": "ok"}\n')
                else:
                    self._error(503, "NOT_READY", state.load_error or "the model is still loading")
            elif path == "/version":
                self._send(200, config.version.encode("utf-8"))
            else:
                self._error(404, "NOT_FOUND", "no route {}; use POST /invocations, GET /ping, /health, /version"
                            .format(path))

        def _body(self):
            if self.headers.get("Transfer-Encoding") is not None:
                if self.headers.get_all("Content-Length"):
                    raise FramingError(400, "both Transfer-Encoding and Content-Length given")
                if self.headers.get("Transfer-Encoding", "").strip().lower() != "chunked":
                    raise FramingError(501, "only Transfer-Encoding: chunked is supported")
                return _read_chunked(self.rfile, config.max_request_bytes)
            length = _content_length(self.headers)
            if length is None:
                raise FramingError(411, "send a Content-Length header")
            if length > config.max_request_bytes:
                raise FramingError(413, "request body of {} bytes is over the limit of {} bytes".format(
                    length, config.max_request_bytes))
            body = self.rfile.read(length)
            if len(body) != length:
                raise FramingError(400, "the body ended after {} of {} bytes".format(len(body), length))
            return body

        def do_POST(self):  # noqa: N802
            try:
                body = self._body()
                self.server.set_deadline(self.connection, None)  # read in time: predict takes what it takes
            except FramingError as exc:
                self.close_connection = True  # the unread body would otherwise be parsed as the next request
                codes = {411: "LENGTH_REQUIRED", 413: "REQUEST_TOO_LARGE", 501: "NOT_IMPLEMENTED"}
                self._error(exc.status, codes.get(exc.status, "BAD_REQUEST"), exc.message)
                return
            if self.path.split("?")[0] != "/invocations":
                self._error(404, "NOT_FOUND", "no route {}; use POST /invocations".format(self.path))
                return
            if not state.ready.is_set() or state.model is None:
                self._error(503, "NOT_READY", state.load_error or "the model is still loading")
                return
            response = invocation(state.model, body, self.headers.get("Content-Type"))
            self._send(response.status, response.body, response.content_type)

    return Handler


class BoundedHTTPServer(HTTPServer):
    """An HTTP server with one thread per connection, at most ``max_connections`` at once."""

    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, handler, max_connections):
        self._slots = threading.BoundedSemaphore(max_connections)
        self._deadlines = {}  # connection -> monotonic time by which its current request must be read
        self._deadlines_lock = threading.Lock()
        self.stopping = False
        HTTPServer.__init__(self, address, handler)
        # Pre-forked workers share this socket: select() wakes all of them, one wins accept(). Non-blocking,
        # the others get EAGAIN and go back to select() instead of hanging in accept() (and missing SIGTERM).
        self.socket.setblocking(False)

    def process_request(self, request, client_address):
        while not self._slots.acquire(timeout=0.5):
            if self.stopping:
                self.shutdown_request(request)
                return
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address))
        thread.daemon = True
        thread.start()

    def _serve_connection(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.set_deadline(request, None)
            self.shutdown_request(request)
            self._slots.release()

    def set_deadline(self, connection, seconds):
        """Close ``connection`` unless its current request is read within ``seconds`` (None: no deadline)."""
        with self._deadlines_lock:
            if seconds is None:
                self._deadlines.pop(connection, None)
            else:
                self._deadlines[connection] = time.monotonic() + seconds

    def reap_overdue(self, interval=0.5):
        """Shut down connections past their deadline (a per-recv timeout cannot stop a byte-a-second sender)."""
        while not self.stopping:
            time.sleep(interval)
            now = time.monotonic()
            with self._deadlines_lock:
                overdue = [c for c, deadline in self._deadlines.items() if deadline < now]
                for connection in overdue:
                    del self._deadlines[connection]
            for connection in overdue:
                try:
                    connection.shutdown(socket.SHUT_RDWR)  # the handler's blocked read returns: it cleans up
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


def _die_with_parent():
    """A forked worker must not outlive the server process (even when that one is SIGKILLed)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:
            pass


def _load(state, loader):
    try:
        state.model = loader()
    except BaseException as exc:
        state.load_error = "the model failed to load: {}: {}".format(type(exc).__name__, exc)
        raise
    finally:
        state.ready.set()


def serve(loader, config, on_ready=None):
    """Bind, start answering (503 until loaded), load the model once per worker, serve until SIGTERM/SIGINT.

    A model that fails to load stops the server: the exception propagates (after the socket is closed).
    """
    state = ScoringState()
    server = BoundedHTTPServer((config.host, config.port), make_handler(state, config), config.max_connections)
    bound_host, bound_port = server.server_address[:2]
    children = []
    is_worker = False
    for _ in range(max(0, config.workers - 1)):
        pid = os.fork()
        if pid == 0:
            children, is_worker = [], True
            _die_with_parent()
            break
        children.append(pid)
    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    serving = []

    def start(target, **kwargs):
        thread = threading.Thread(target=target, kwargs=kwargs)
        thread.daemon = True
        thread.start()
        return thread

    start(server.reap_overdue)
    if not is_worker:  # the first process answers at once (/ping: 503 while loading) ...
        serving.append(start(server.serve_forever, poll_interval=0.2))
    try:
        _load(state, loader)
        if is_worker:  # ... forked workers accept only once loaded, so no request waits on a loading worker
            serving.append(start(server.serve_forever, poll_interval=0.2))
        if on_ready is not None and not is_worker:
            on_ready(str(bound_host), int(bound_port))
        while not stop.is_set():
            stop.wait(1.0)
    finally:
        server.stopping = True
        if serving:  # shutdown() waits for serve_forever: only if it ever started
            server.shutdown()
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
        server.server_close()
