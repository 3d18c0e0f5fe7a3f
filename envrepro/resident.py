"""Warm predicts: ask the model's resident predictor instead of starting a new interpreter.

A one-shot predict spends most of its second in the model's own imports (scikit-learn and SciPy). The first
predict of a model therefore starts a *resident predictor* in the model's environment
(``envrepro_runtime.resident``): it loads the model once and answers later predicts over a unix socket, forking
a child per request, until it has been idle for ``ENVREPRO_WARM_SECONDS`` (default 600; 0 turns it off).

What makes a resident safe to reuse is its key: the environment (python, the distributions it holds), the
model's files (path, size, mtime and inode of each), the runtime directory, the load spec, the working directory
and every environment variable (but the shell's ``$_``). Anything that could make a one-shot worker behave
differently makes another key, so a re-saved model or an `export` in the shell starts a fresh resident; the stale
one idles out. A module file the model imported that changes in place (an edited editable install) makes the
resident answer "stale" and exit, and a fresh one answers instead. Sockets live in a
per-user directory (``$XDG_RUNTIME_DIR/envrepro``, else ``<tmp>/envrepro-<uid>``, mode 0700; a unix socket path
must stay under ~100 bytes, which ENVREPRO_HOME may not). At most :data:`MAX_RESIDENTS` run at once: starting
one more stops the least recently used.

Everything here is an optimisation: when a resident cannot be used (no fork, an unsafe socket directory, a
child that died mid-request), :func:`predict` returns None and the caller runs the one-shot worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import EnvreproError
from .fsutil import process_alive

WARM_SECONDS_VAR = "ENVREPRO_WARM_SECONDS"
DEFAULT_WARM_SECONDS = 600.0
MAX_RESIDENTS = 4
_HEADER = struct.Struct(">I")  # as envrepro_runtime.resident reads it
# Set by the shell to the command it runs: `envrepro predict` and `python -m envrepro.cli predict` would never
# share a resident. Nothing a model does depends on it.
_SHELL_NOISE = frozenset({"_"})
_DISTRIBUTION_ENTRIES = (".dist-info", ".egg-info", ".egg-link", ".pth")
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


def warm_seconds() -> float:
    """How long a resident predictor waits for the next predict (0: no residents)."""
    raw = os.environ.get(WARM_SECONDS_VAR, "").strip()
    if not raw:
        return DEFAULT_WARM_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise EnvreproError(f"{WARM_SECONDS_VAR}={raw!r} is not a number of seconds",
                            hint=f"set it to 0 (no resident predictors) or to seconds, e.g. {WARM_SECONDS_VAR}=600")
    return value


def socket_dir(*, create: bool = True) -> Path | None:
    """This user's directory of resident sockets, or None when it is missing or not safely ours."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    path = Path(runtime) / "envrepro" if runtime else Path(tempfile.gettempdir()) / f"envrepro-{os.getuid()}"
    try:
        if create:
            path.mkdir(mode=0o700, parents=bool(runtime), exist_ok=True)
        info = os.lstat(path)
    except OSError:
        return None
    # Another user could have made it first in a shared /tmp: then it is not ours to listen in.
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return path


def _stamp(path: str | os.PathLike) -> str:
    try:
        return _stat_text(os.stat(path))
    except OSError:
        return "-"


def _stat_text(info: os.stat_result) -> str:
    return f"{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"


def _tree_stamps(root: str, digest: Any) -> None:
    """Feed every entry under ``root`` (path, inode, size, mtime) to ``digest``: a re-saved model changes it."""
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            digest.update(f"?{directory}\0".encode())
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            digest.update(f"{entry.path}\0{_stat_text(info)}\0".encode())
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)


def _env_stamps(python: Path) -> list[str]:
    """The environment's python, which distributions its site-packages holds, and conda's record of it.

    Names, not the directory's mtime: the bytecode written after a first predict creates ``__pycache__`` there.
    An install, upgrade or removal changes a ``.dist-info`` name; a file rewritten in place (an editable install
    edited, a forced reinstall) is the resident's own staleness check (envrepro_runtime.resident)."""
    prefix = python.parent.parent
    stamps = [f"{python}={_stamp(python)}", f"conda-meta={_stamp(prefix / 'conda-meta')}"]
    for site in [*prefix.glob("lib/python*/site-packages"), prefix / "Lib" / "site-packages"]:
        try:
            names = sorted(e.name for e in os.scandir(site) if e.name.endswith(_DISTRIBUTION_ENTRIES))
        except OSError:
            continue
        stamps.append(f"{site}={','.join(names)}")
    return stamps


def resident_key(python: Path, spec: dict[str, Any], runtime: Path) -> str:
    """The key of the resident that may answer this predict: see the module's docstring for what it covers."""
    from .home import envrepro_home

    digest = hashlib.sha256()
    parts = [str(envrepro_home()), str(python), os.path.realpath(python), str(runtime), *_env_stamps(python),
             json.dumps(spec, sort_keys=True), os.getcwd(),
             json.dumps(sorted(item for item in os.environ.items() if item[0] not in _SHELL_NOISE))]
    for part in parts:
        digest.update(part.encode(errors="surrogateescape") + b"\0")
    _tree_stamps(spec["model_dir"], digest)
    return digest.hexdigest()[:24]


def _connect(path: Path) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        return None
    return conn


_STALE = "stale"


def _exchange(conn: socket.socket, argv: Sequence[str], body: bytes) -> subprocess.CompletedProcess | str | None:
    """Send one predict to a resident and collect what a one-shot worker would have given; :data:`_STALE` when the
    resident found a module it loaded changed on disk (it has exited); None if its child ended without an exit
    code (it crashed: the caller runs the one-shot worker instead)."""
    with conn, tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        stdin.write(body)
        stdin.flush()
        stdin.seek(0)
        header = json.dumps({"argv": list(argv)}).encode()
        try:
            socket.send_fds(conn, [_HEADER.pack(len(header)) + header],
                            [stdin.fileno(), out.fileno(), err.fileno()])
            reply = b""
            while chunk := conn.recv(64):
                reply += chunk
        except OSError:
            return None
        text = reply.decode(errors="replace").strip()
        if text == _STALE:
            return _STALE
        if not text.lstrip("-").isdigit():
            return None
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(list(argv), int(text), out.read(), err.read())


@contextlib.contextmanager
def _start_lock(sock: Path) -> Iterator[None]:
    """One starter per key: a second predict waits here, then finds the first one's resident."""
    import fcntl

    fd = os.open(f"{sock}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def running(directory: Path | None = None) -> list[Path]:
    """The names of this user's running residents (each a link to its socket), least recently used first."""
    directory = directory or socket_dir(create=False)
    if directory is None:
        return []
    stamped = []
    for path in directory.glob("*.sock"):
        with contextlib.suppress(OSError):
            stamped.append((path.stat().st_mtime_ns, path))
    return [path for _, path in sorted(stamped)]


def stop(sockets: Sequence[Path]) -> int:
    """Stop residents: a resident exits (within a second) once its name is gone. Returns how many."""
    stopped = 0
    for path in sockets:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            stopped += 1
    return stopped


def _sweep(directory: Path, max_age: float = 3600.0) -> None:
    """Remove what residents that are gone left: names pointing at no socket, sockets of dead processes (a
    SIGKILL), and old start locks and logs (a lock swept under a starter is harmless: of two residents started
    for one key, the one whose name was replaced exits)."""
    import time

    cutoff = time.time() - max_age
    # Sockets before names: a dead resident's name dangles once its socket is gone.
    for path in sorted(directory.iterdir(), key=lambda p: p.name.endswith(".sock")):
        name = path.name
        with contextlib.suppress(OSError):
            if ".sock." in name and (pid := name.rsplit(".", 1)[1]).isdigit() and not process_alive(int(pid)):
                path.unlink()
            elif name.endswith(".sock") and path.is_symlink() and not path.exists():
                path.unlink()
            elif name.endswith((".sock.lock", ".sock.log")) and not path.with_suffix("").exists() \
                    and path.stat().st_mtime < cutoff:
                path.unlink()


def _start(python: Path, spec: dict[str, Any], sock: Path, idle: float,
           runtime: Path) -> subprocess.CompletedProcess | bool:
    """Start the resident for ``sock`` and wait until its model is loaded: True once it answers; the worker's output
    when the model failed to load (the model's fault: a one-shot worker would fail the same way); False when the
    resident itself failed (the caller runs the one-shot worker, which shows such a failure if it is real)."""
    from envrepro_runtime.errors import parse_report

    from .launch import spec_file, worker_command

    others = [p for p in running(sock.parent) if p != sock]
    stop(others[:max(0, len(others) - MAX_RESIDENTS + 1)])
    _sweep(sock.parent)
    watch = [str(python), str(spec_file(spec)), spec["model_dir"], str(runtime)]
    command = worker_command(python, "resident", spec, "--socket", str(sock), "--idle", str(idle),
                             *(arg for path in watch for arg in ("--watch", path)))
    with open(f"{sock}.log", "w+b") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        assert proc.stdout is not None
        with proc.stdout:
            line = proc.stdout.readline()  # "ready", or end of file when the resident died loading the model
        proc.wait()  # the resident detached itself: this reaps only its launcher
        if line == b"ready\n":
            return True
        log.seek(0)
        stderr = log.read()
    report = parse_report(stderr.decode(errors="replace"))
    if report is None or report.get("kind") == "runtime":
        return False
    return subprocess.CompletedProcess(command, proc.returncode or 1, b"", stderr)


def predict(python: Path, spec: dict[str, Any], argv: Sequence[str],
            body: bytes) -> subprocess.CompletedProcess | None:
    """Run one predict (``argv``: the worker's arguments) in the model's resident predictor, starting it when
    there is none. None when no resident can be used: the caller runs the one-shot worker."""
    idle = warm_seconds()
    if idle <= 0 or not hasattr(os, "fork") or not hasattr(socket, "send_fds") or sys.platform == "win32":
        return None
    directory = socket_dir()
    if directory is None:
        return None
    from .launch import runtime_dir

    runtime = runtime_dir()
    try:
        sock = directory / f"{resident_key(python, spec, runtime)}.sock"
    except OSError:  # the working directory was removed: a one-shot worker meets that as it always did
        return None
    if len(os.fsencode(sock)) > _MAX_SOCKET_PATH:
        return None
    for _ in range(2):  # a stale resident exits as it says so: then once more, with a fresh one
        conn = _connect(sock)
        if conn is None:
            with _start_lock(sock):
                conn = _connect(sock)  # another predict may have started it while this one waited
                if conn is None:
                    started = _start(python, spec, sock, idle, runtime)
                    if started is not True:
                        return started or None
                    conn = _connect(sock)
        result = None if conn is None else _exchange(conn, argv, body)
        if result != _STALE:
            return result if isinstance(result, subprocess.CompletedProcess) else None
    return None
