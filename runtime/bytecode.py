"""Bytecode for what a model imports, written once, in the background, after it first ran.

Environments built by uv have no ``.pyc`` files, and the worker runs with ``-B`` (it must never write
``__pycache__`` into the model's ``code/``), so without this every predict would compile scikit-learn, pandas
and numpy from source again (seconds). Compiling the whole environment at build time would cost more than it
saves. Instead, after a predict (or once a server has loaded its model), a detached child compiles the modules
from the environment's own prefix that the import system had to compile from source in this run (no bytecode,
or bytecode older than its source; :func:`record_compiles` notes them as it happens); from the next run on,
Python finds it where it always looks. Nothing outside the environment's prefix and envrepro's runtime directory is
touched, so the model directory stays byte-for-byte as it was. Works the same on every Python 3.6+ (no
``sys.pycache_prefix``, which 3.6/3.7 lack and which would hide the bytecode conda and pip environments already
have).

envrepro's own runtime directory (``$ENVREPRO_HOME/runtime/<hash>/``, this package and the flavors' loaders) is
compiled the same way, per Python version. One compiler at a time per environment: the child holds an exclusive
lock on ``<prefix>/.envrepro-bytecode.lock`` while it works, and another run that finds it held leaves the work to it
(``--workers N`` servers, concurrent predicts).
"""

import os
import sys

RUNTIME_PACKAGE = "envrepro_runtime"
LOCK_NAME = ".envrepro-bytecode.lock"


def _runtime_root():
    """The runtime directory this package runs from (its parent holds envrepro_runtime/ and the flavors' loaders)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_compiled_from_source = []  # source paths the import system compiled in this process (see record_compiles)
_imported_before = []  # module files imported before record_compiles: checked one by one


def record_compiles():
    """From now on, note each module the import system compiles from source (no bytecode, or stale bytecode).

    Cheaper and more exact than looking at every imported module afterwards: a warm run that finds all its
    bytecode records nothing and costs nothing (a scan of a thousand modules took ~30 ms), and a ``.pyc``
    that exists but no longer matches its source (a conda install rewrote the file) is caught too.
    """
    from importlib.machinery import SourceFileLoader

    _imported_before[:] = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
    original = SourceFileLoader.source_to_code

    def source_to_code(self, data, path, *args, **kwargs):
        _compiled_from_source.append(path)
        return original(self, data, path, *args, **kwargs)

    SourceFileLoader.source_to_code = source_to_code


def _has_current_bytecode(path):
    """Whether ``path``'s cached bytecode exists and matches its source (as the import system checks it)."""
    from importlib.util import MAGIC_NUMBER, cache_from_source

    try:
        with open(cache_from_source(path), "rb") as fh:
            head = fh.read(16)
        source = os.stat(path)
    except (OSError, ValueError, NotImplementedError):
        return False
    if head[:4] != MAGIC_NUMBER:
        return False
    stamp = head[4:12] if sys.version_info < (3, 7) else head[8:16]  # 3.7+ (PEP 552): flags first
    if sys.version_info >= (3, 7) and int.from_bytes(head[4:8], "little"):
        return True  # hash-based: the import system checks it, or trusts it, itself
    return stamp == ((int(source.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
                     + (source.st_size & 0xFFFFFFFF).to_bytes(4, "little"))


def _uncompiled_imports(roots):
    """The ``.py`` files under ``roots`` that this process had to compile from source."""
    roots = tuple(os.path.join(os.path.realpath(root), "") for root in roots)
    seen, files = set(), []
    candidates = [(p, False) for p in _compiled_from_source] + [(p, True) for p in _imported_before]
    for path, check in candidates:
        if not isinstance(path, str) or not path.endswith(".py") or path in seen:
            continue
        seen.add(path)
        if os.path.realpath(path).startswith(roots) and not (check and _has_current_bytecode(path)):
            files.append(path)
    return files


def _take_lock(prefix):
    """An open descriptor holding the environment's compile lock, or None when another process holds it."""
    import fcntl

    try:
        fd = os.open(os.path.join(prefix, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def compile_imported_later(prefix=None):
    """Fork a detached child that compiles what was imported from ``prefix`` (the environment) and from the runtime
    directory and lacks bytecode.

    Returns at once. Best effort: a read-only environment (a container's), or a platform without fork, gets nothing.
    """
    prefix = prefix or sys.prefix
    if not hasattr(os, "fork") or os.environ.get("ENVREPRO_NO_BYTECODE") or not os.access(prefix, os.W_OK):
        return
    roots = [prefix]
    if os.access(os.path.join(_runtime_root(), RUNTIME_PACKAGE), os.W_OK):
        roots.append(_runtime_root())
    files = _uncompiled_imports(roots)
    del _compiled_from_source[:], _imported_before[:]  # handed over once: a resident's forks start afresh
    if not files:
        return
    lock = _take_lock(prefix)
    if lock is None:  # another run is compiling this environment now
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:
        os.close(lock)
        return
    if pid:
        os.close(lock)  # the child's copy keeps the lock until it is done
        return
    try:  # the child: off the caller's pipes (the host waits for them to close), then compile and vanish
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        # nor any other pipe of the caller's (``stream`` keeps its protocol on one); the lock stays held
        os.closerange(3, lock)
        os.closerange(lock + 1, 4096)
        os.setsid()
        import py_compile
        from importlib.util import cache_from_source

        for path in files:
            try:
                py_compile.compile(path, cfile=cache_from_source(path), doraise=True)
            except Exception:
                pass
    finally:
        os._exit(0)


def wait_for_compiler(prefix, timeout=300.0):
    """Wait until no compiler holds ``prefix``'s compile lock.

    The host does this before it starts a worker (envrepro/launch.py, bounded): a run that starts while the
    previous run's compiler is still writing bytecode finishes sooner by waiting for it than by compiling the
    same modules from source next to it on the same cores (a second predict right after the first took 2.8 s
    instead of 1.0 s).

    True once it is free (or was never taken), False after ``timeout`` seconds.
    """
    import time

    try:
        import fcntl
    except ImportError:  # no flock here, and no compiler either (compile_imported_later needs fork)
        return True
    try:
        fd = os.open(os.path.join(prefix, LOCK_NAME), os.O_RDWR)
    except OSError:
        return True
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.2)
    finally:
        os.close(fd)
