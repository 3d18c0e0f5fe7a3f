"""Bytecode for what a model imports, written once, in the background, after it first ran.

Environments built by uv have no ``.pyc`` files, and the worker runs with ``-B`` (it must never write
``__pycache__`` into the model's ``code/``), so without this every predict would compile scikit-learn, pandas
and numpy from source again (seconds). Compiling the whole environment at build time would cost more than it
saves. Instead, after a predict (or once a server has loaded its model), a detached child compiles the modules
that were imported from the environment's own prefix and have no bytecode yet; from the next run on, Python
finds it where it always looks. Nothing outside the environment's prefix and envrepro's runtime directory is
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


def _uncompiled_imports(roots):
    from importlib.util import cache_from_source

    roots = tuple(os.path.join(os.path.realpath(root), "") for root in roots)
    files = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py"):
            continue
        if not os.path.realpath(path).startswith(roots):
            continue
        try:
            if not os.path.exists(cache_from_source(path)):
                files.append(path)
        except (ValueError, NotImplementedError):  # an odd module path, or no cache tag: nothing to do
            continue
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
