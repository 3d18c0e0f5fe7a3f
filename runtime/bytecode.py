"""Bytecode for what a model imports, written once, in the background, after it first ran.

Environments built by uv have no ``.pyc`` files, and the worker runs with ``-B`` (it must never write
``__pycache__`` into the model's ``code/``), so without this every predict would compile scikit-learn, pandas
and numpy from source again (seconds). Compiling the whole environment at build time would cost more than it
saves. Instead, after a predict (or once a server has loaded its model), a detached child compiles the modules
that were imported from the environment's own prefix and have no bytecode yet; from the next run on, Python
finds it where it always looks. Nothing outside the environment's prefix is touched, so the model directory stays
byte-for-byte as it was. Works the same on every Python 3.6+ (no ``sys.pycache_prefix``, which 3.6/3.7 lack and
which would hide the bytecode conda and pip environments already have).
"""

import os
import sys


def _uncompiled_imports(prefix):
    from importlib.util import cache_from_source

    root = os.path.realpath(prefix) + os.sep
    files = []
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or not path.endswith(".py"):
            continue
        real = os.path.realpath(path)
        if not real.startswith(root):
            continue
        try:
            if not os.path.exists(cache_from_source(path)):
                files.append(path)
        except (ValueError, NotImplementedError):  # an odd module path, or no cache tag: nothing to do
            continue
    return files


def compile_imported_later(prefix=None):
    """Fork a detached child that compiles what was imported from ``prefix`` (the environment) and lacks bytecode.

    Returns at once. Best effort: a read-only environment (a container's), or a platform without fork, gets nothing.
    """
    prefix = prefix or sys.prefix
    if not hasattr(os, "fork") or os.environ.get("ENVREPRO_NO_BYTECODE") or not os.access(prefix, os.W_OK):
        return
    files = _uncompiled_imports(prefix)
    if not files:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:
        return
    if pid:
        return
    try:  # the child: off the caller's pipes (the host waits for them to close), then compile and vanish
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 4096)  # nor any other pipe of the caller's (``stream`` keeps its protocol on one)
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
