"""A resident predictor: one model, loaded once, answering predicts over a unix socket until it idles out.

Most of a warm ``envrepro predict`` is the model's own imports (scikit-learn and SciPy: ~1 s of a 1.2 s predict).
So the first predict starts this process in the model's environment, and later ones ask it instead of starting
a new interpreter (the host side is ``envrepro/resident.py``). For each request it forks a child from the loaded
model, so every predict still runs in a process of its own, as a one-shot worker would: nothing a predict does
to the model, to ``sys.modules`` or to the process reaches the next one, and a crash costs one request.

Protocol (one request per connection): the host sends a 4-byte big-endian length, then that many bytes of JSON
``{"argv": [...]}`` (the worker's command line, as for a one-shot ``predict``), with its stdin, stdout and
stderr as three descriptors (SCM_RIGHTS). The child runs the worker on them and writes its exit code as one
line ("0\\n"); the host reads stdout and stderr as it would a one-shot worker's.

The resident is only ever the same predict as a one-shot one: the host's key for it covers the environment, the
model's files, the runtime, the load spec, the working directory and every environment variable, so a change to
any of them starts another resident. It exits when idle for ``--idle`` seconds, when its socket is removed or
replaced (``envrepro env stop``, or a newer resident evicting it), or when a file it was started from goes away
(the environment's python, the model directory, the runtime directory: ``env rm``, a test's temp directory).
"""

import array
import json
import os
import select
import signal
import socket
import struct
import sys
import time

HEADER = struct.Struct(">I")
MAX_HEADER_BYTES = 1 << 20
TICK_SECONDS = 1.0


def _recv_request(conn):
    """(argv, [stdin, stdout, stderr] descriptors) from one connection; ValueError on anything else."""
    fds = array.array("i")
    data, ancdata, _, _ = conn.recvmsg(65536, socket.CMSG_LEN(3 * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - (len(payload) % fds.itemsize)])
    received = list(fds)
    try:
        if len(received) != 3 or len(data) < HEADER.size:
            raise ValueError("a request carries a header and three descriptors")
        (size,) = HEADER.unpack(data[:HEADER.size])
        if size > MAX_HEADER_BYTES:
            raise ValueError("request header too large")
        body = data[HEADER.size:]
        while len(body) < size:
            chunk = conn.recv(size - len(body))
            if not chunk:
                raise ValueError("connection closed inside the request header")
            body += chunk
        argv = json.loads(body.decode("utf-8"))["argv"]
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise ValueError("argv must be a list of strings")
        return argv, received
    except BaseException:
        for fd in received:
            os.close(fd)
        raise


def _same_user(conn):
    """Whether the peer runs as our user (Linux's SO_PEERCRED; elsewhere the socket directory's 0700 decides)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return True
    creds = conn.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1] == os.getuid()


def _end_with_caller(conn):
    """End this request's child when the caller goes (a Ctrl-C, a killed host) before the answer: it is not in the
    caller's process group, so nothing else would stop a long predict nobody waits for any more. The caller sends
    nothing after its request, so a read returns only at its end."""
    import threading

    def watch():
        try:
            while conn.recv(1):
                pass
        except OSError:
            pass
        os._exit(1)

    thread = threading.Thread(target=watch)
    thread.daemon = True
    thread.start()


def _answer(conn, run_request):
    """In a forked child: take over the request's descriptors, run it, report the exit code, exit."""
    code = 1
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        argv, fds = _recv_request(conn)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        _end_with_caller(conn)
        code = run_request(argv)
    except BaseException:
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        try:
            conn.sendall("{}\n".format(code).encode())
        except BaseException:
            pass
        os._exit(code if isinstance(code, int) else 1)


def _ours(path, real):
    """Whether the resident's name still points at this resident's socket (a stop or a newer one replaces it)."""
    try:
        return os.readlink(path) == os.path.basename(real)
    except OSError:
        return False


def _release(path, real):
    if _ours(path, real):
        try:
            os.unlink(path)
        except OSError:
            pass
    try:
        os.unlink(real)
    except OSError:
        pass


def _reap(children):
    """Reap every ended child: request children, and the bytecode compiler the load may have forked."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except OSError:  # no children at all
            return
        if not pid:
            return
        children.discard(pid)


def _bind(path):
    """Listen on a socket of this process's own (``<path>.<pid>``), then point ``path`` at it with a symlink
    replaced in one rename: connects follow it, and a resident knows it is still the one named by reading it
    (an inode number would not do: the next socket may reuse a freed one)."""
    real = "{}.{}".format(path, os.getpid())
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        for stale in (real, real + ".tmp"):
            if os.path.lexists(stale):
                os.unlink(stale)
        listener.bind(real)
        listener.listen(16)
        os.symlink(os.path.basename(real), real + ".tmp")
        os.rename(real + ".tmp", path)
    except BaseException:
        listener.close()
        raise
    return listener, real


def serve_resident(socket_path, run_request, idle_seconds, watch, on_ready=None, is_stale=None):
    """Answer requests on ``socket_path`` (each in a forked child running ``run_request(argv)``) until idle for
    ``idle_seconds``, until the socket at ``socket_path`` is no longer this one, or until a path in ``watch`` is
    gone. The model must already be loaded: children share it copy-on-write.

    ``is_stale()`` is asked before each request: when true (a module the model imported changed on disk), the
    resident answers "stale" and exits, and the host starts a fresh one."""
    listener, real = _bind(socket_path)
    stop = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.append(signum))
    if on_ready is not None:
        on_ready()
    children = set()
    last_used = time.monotonic()
    try:
        while not stop:
            try:
                readable, _, _ = select.select([listener], [], [], TICK_SECONDS)
            except (OSError, select.error):  # EINTR on 3.4 and older select; a signal on any
                readable = []
            _reap(children)
            if readable:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                last_used = time.monotonic()
                try:
                    os.utime(socket_path, None)  # the host evicts the least recently used resident first
                except OSError:
                    pass
                if not _same_user(conn):
                    conn.close()
                    continue
                if is_stale is not None and is_stale():
                    _release(socket_path, real)  # first: the host's next connect must not reach this one
                    try:  # read the request before answering: unread data makes the close a reset
                        for fd in _recv_request(conn)[1]:
                            os.close(fd)
                        conn.sendall(b"stale\n")
                    except (OSError, ValueError):
                        pass
                    conn.close()
                    break
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    _answer(conn, run_request)
                conn.close()
                children.add(pid)
                continue
            if not _ours(socket_path, real) or not all(os.path.exists(p) for p in watch):
                break
            if not children and time.monotonic() - last_used > idle_seconds:
                break
    finally:
        _release(socket_path, real)
        listener.close()
    return 0


def _file_stamp(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def module_files_stamp():
    """A function telling whether any module file loaded so far has changed on disk since this call (an edited
    editable install, a package upgraded in place): a few milliseconds for a thousand modules."""
    paths = set(getattr(module, "__file__", None) for module in list(sys.modules.values()))
    before = dict((path, _file_stamp(path)) for path in paths if isinstance(path, str))
    return lambda: any(_file_stamp(path) != stamp for path, stamp in before.items())


def detach():
    """Leave the caller: fork, let the parent exit at once (the host waits for it), and start a new session, so
    the resident is nobody's child (no zombie in a long-lived caller) and a Ctrl-C in the caller's terminal
    does not reach it."""
    if os.fork():
        os._exit(0)
    os.setsid()
