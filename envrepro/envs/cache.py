"""Content-keyed environment cache with per-key locks and a completion marker.

Layout under the cache root (``ENVREPRO_HOME``, else ``$XDG_CACHE_HOME/envrepro``, else ``~/.cache/envrepro``)::

    envs/<key>/                      the environment (a conda prefix or a venv)
    envs/<key>/.envrepro-env.json    completion marker + metadata, written last; its mtime = last used
    locks/<key>.lock                 fcntl lock: exclusive while building/removing, shared while in use

Environments are not relocatable (venv scripts and conda prefix placeholders bake the path in), so an
environment is built *at its final path* while holding the exclusive lock, and only a directory holding
the marker is ever treated as ready. A build that dies half-way (even by SIGKILL: the kernel drops the
lock) leaves a directory without the marker, which the next builder wipes before building again.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EnvironmentBuildError, EnvreproError
from ..fsutil import atomic_write_text
from ..home import envrepro_home

MARKER = ".envrepro-env.json"
KEY_SCHEMA = 1  # bump to invalidate every key when the meaning of the hashed fields changes
_DAY = 86400.0


@dataclass(frozen=True)
class CachedEnv:
    key: str
    path: Path
    ready: bool
    meta: dict[str, Any]
    last_used: float | None  # epoch seconds; None for an incomplete build

    @property
    def idle_days(self) -> float | None:
        return None if self.last_used is None else (time.time() - self.last_used) / _DAY


class EnvCache:
    """Environments keyed by a hash of their normalized spec."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else envrepro_home()
        self.envs_dir = self.root / "envs"
        self.locks_dir = self.root / "locks"

    # -- keys -------------------------------------------------------------------------------------------
    @staticmethod
    def key_for(normalized_spec: Mapping[str, Any]) -> str:
        """Stable key of a normalized spec (callers sort order-free lists; channel order is kept)."""
        blob = json.dumps({"schema": KEY_SCHEMA, "spec": normalized_spec}, sort_keys=True,
                          separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:20]

    def path_for(self, key: str) -> Path:
        _check_key(key)
        return self.envs_dir / key

    # -- lookup and build -------------------------------------------------------------------------------
    def lookup(self, key: str) -> Path | None:
        """The ready environment for ``key`` (marking it used), or None."""
        path = self.path_for(key)
        marker = path / MARKER
        if marker.is_file():
            _touch(marker)
            return path
        return None

    def get_or_build(self, key: str, builder: Callable[[Path], None], meta: Mapping[str, Any] | None = None,
                     *, on_wait: Callable[[], None] | None = None,
                     in_use: contextlib.ExitStack | None = None) -> Path:
        """Return the ready environment for ``key``, building it with ``builder(path)`` if needed.

        Concurrent callers (threads or processes) build once: the others wait on the lock and then find
        the marker. ``builder`` receives the final path (absent) and must create the environment there.

        With ``in_use``, the environment is found while holding its shared in-use lock, which stays held
        until that stack closes: an ``env rm`` or ``prune`` between finding it and running in it cannot
        remove it (they wait, or refuse).
        """
        while in_use is not None:
            with contextlib.ExitStack() as attempt:
                attempt.enter_context(self._lock(key, exclusive=False))
                ready = self.lookup(key)
                if ready is not None:
                    in_use.push(attempt.pop_all())  # held until the caller's stack closes
                    return ready
            self.get_or_build(key, builder, meta, on_wait=on_wait)  # then take the shared lock again
        ready = self.lookup(key)
        if ready is not None:
            return ready
        path = self.path_for(key)
        with self._lock(key, exclusive=True, on_wait=on_wait):
            ready = self.lookup(key)
            if ready is not None:
                return ready
            if path.exists() or path.is_symlink():
                _wipe(path)  # an earlier build died half-way: never reuse it
            path.parent.mkdir(parents=True, exist_ok=True)
            started = time.time()
            try:
                builder(path)
                if not path.is_dir():
                    raise EnvironmentBuildError(f"the environment builder did not create {path}")
                record = {"key": key, "created": time.time(), "build_seconds": round(time.time() - started, 3),
                          "python": env_python_version(path), "envrepro_python": sys.version.split()[0],
                          **dict(meta or {})}
                atomic_write_text(path / MARKER, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
            except BaseException:
                _wipe(path)
                raise
        return path

    @contextlib.contextmanager
    def in_use(self, key: str) -> Iterator[Path]:
        """Hold a shared lock while running in the environment, so ``remove``/``prune`` leave it alone."""
        with self._lock(key, exclusive=False):
            path = self.lookup(key)
            if path is None:
                raise EnvreproError(f"environment {key} is not in the cache", path=self.envs_dir,
                                    hint="create it with `envrepro env create`")
            yield path

    def hold_across_exec(self, key: str) -> int:
        """Take the shared in-use lock on an inheritable descriptor, so a process that execs (``serve``)
        keeps the environment marked in use for as long as it runs. Returns the descriptor."""
        fh = open(self._lock_file(key), "a+b")
        _acquire(fh, exclusive=False, blocking=True)
        fd = os.dup(fh.fileno())  # the duplicate shares the lock; closing ``fh`` does not release it
        fh.close()
        os.set_inheritable(fd, True)
        return fd

    # -- listing and removal ----------------------------------------------------------------------------
    def list(self) -> list[CachedEnv]:
        """Every environment directory, ready or not, most recently used first."""
        if not self.envs_dir.is_dir():
            return []
        result = []
        for entry in self.envs_dir.iterdir():
            if not entry.is_dir() or entry.name.startswith("."):
                continue
            marker = entry / MARKER
            meta: dict[str, Any] = {}
            last_used = None
            if marker.is_file():
                with contextlib.suppress(OSError, ValueError):
                    meta = json.loads(marker.read_text(encoding="utf-8"))
                with contextlib.suppress(OSError):
                    last_used = marker.stat().st_mtime
            result.append(CachedEnv(entry.name, entry, marker.is_file(), meta, last_used))
        return sorted(result, key=lambda e: (e.last_used or 0.0), reverse=True)

    def resolve(self, key_or_prefix: str | os.PathLike) -> CachedEnv:
        """An environment named by its key, a unique key prefix, or its path."""
        text = os.fspath(key_or_prefix)
        if not text.strip():  # an empty prefix matches every key: `env rm ""` must not remove anything
            raise EnvreproError("no environment key given", hint="see `envrepro env list` for keys")
        envs = self.list()
        as_path = Path(text).expanduser()
        exact = [e for e in envs if e.key == text or (as_path.is_absolute() and e.path == as_path)]
        matches = exact or [e for e in envs if e.key.startswith(text)]
        if len(matches) != 1:
            problem = "no cached environment" if not matches else f"{len(matches)} cached environments"
            raise EnvreproError(f"{problem} matches {text!r}", path=self.envs_dir,
                                hint="see `envrepro env list` for keys")
        return matches[0]

    def remove(self, key_or_prefix: str | os.PathLike, *, force: bool = False) -> Path:
        """Delete one environment; refuses while it is being built or used unless ``force``."""
        env = self.resolve(key_or_prefix)
        if force:
            _wipe(env.path)
            return env.path
        with self._try_lock(env.key) as locked:
            if not locked:
                raise EnvreproError(f"environment {env.key} is being built or used by another process",
                                    path=env.path, hint="retry later, or pass --force")
            _wipe(env.path)
        return env.path

    def prune(self, older_than_days: float) -> builtins.list[CachedEnv]:  # `list` here is the method above
        """Remove environments unused for ``older_than_days`` days, and unlocked half-built ones."""
        removed = []
        cutoff = time.time() - older_than_days * _DAY
        for env in self.list():
            stale = not env.ready or (env.last_used is not None and env.last_used < cutoff)
            if not stale:
                continue
            with self._try_lock(env.key) as locked:
                if not locked:
                    continue  # being built or in use right now
                fresh = (env.path / MARKER).is_file() and (env.path / MARKER).stat().st_mtime >= cutoff
                if env.path.exists() and not fresh:
                    _wipe(env.path)
                    removed.append(env)
        if self.envs_dir.is_dir():  # leftovers of a removal that was itself interrupted
            for trash in self.envs_dir.glob(".trash-*"):
                shutil.rmtree(trash, ignore_errors=True)
        return removed

    # -- locking ----------------------------------------------------------------------------------------
    def _lock_file(self, key: str) -> Path:
        _check_key(key)
        self.locks_dir.mkdir(parents=True, exist_ok=True)
        return self.locks_dir / f"{key}.lock"

    @contextlib.contextmanager
    def _lock(self, key: str, *, exclusive: bool, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        with open(self._lock_file(key), "a+b") as fh:
            if not _acquire(fh, exclusive=exclusive, blocking=False):
                if on_wait is not None:
                    on_wait()
                _acquire(fh, exclusive=exclusive, blocking=True)
            try:
                yield
            finally:
                _release(fh)

    @contextlib.contextmanager
    def _try_lock(self, key: str) -> Iterator[bool]:
        with open(self._lock_file(key), "a+b") as fh:
            locked = _acquire(fh, exclusive=True, blocking=False)
            try:
                yield locked
            finally:
                if locked:
                    _release(fh)


def env_python_version(prefix: Path) -> str | None:
    """The version of the environment's own python (None when it has none, e.g. a conda env without python).

    A venv's pyvenv.cfg says it (``version`` from venv and virtualenv, ``version_info`` from uv), which saves
    starting the interpreter; otherwise the interpreter is asked."""
    import subprocess

    recorded = _pyvenv_version(prefix / "pyvenv.cfg")
    if recorded is not None:
        return recorded
    for rel in ("bin/python", "python.exe", "Scripts/python.exe"):
        exe = prefix / rel
        if exe.exists():
            try:
                proc = subprocess.run([str(exe), "-c", "import platform; print(platform.python_version())"],
                                      capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
            except (OSError, subprocess.SubprocessError):
                return None
            return (proc.stdout.strip() or None) if proc.returncode == 0 else None
    return None


def _pyvenv_version(cfg: Path) -> str | None:
    try:
        lines = cfg.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    values = {key.strip(): value.strip() for key, _, value in (line.partition("=") for line in lines)}
    for key in ("version", "version_info"):  # a final release only: "3.11.7" (virtualenv's is "3.11.7.final.0")
        match = re.fullmatch(r"(\d+\.\d+\.\d+)(\.final\.0)?", values.get(key, ""))
        if match:
            return match.group(1)
    return None


def _check_key(key: str) -> None:
    if not key or "/" in key or "\\" in key or key.startswith("."):
        raise EnvreproError(f"invalid environment key {key!r}")


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(path)


def _wipe(path: Path) -> None:
    """Remove a directory so that no reader can see it half-deleted: drop the marker, rename, delete."""
    if not (path.exists() or path.is_symlink()):
        return
    with contextlib.suppress(FileNotFoundError):
        (path / MARKER).unlink()
    trash = path.with_name(f".trash-{path.name}-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.replace(path, trash)
    except OSError:
        trash = path
    if trash.is_symlink() or trash.is_file():
        trash.unlink()
    else:
        shutil.rmtree(trash, ignore_errors=True)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _acquire(fh: Any, *, exclusive: bool, blocking: bool) -> bool:
        # msvcrt has no shared locks: every lock is exclusive there.
        mode = msvcrt.LK_LOCK if blocking else msvcrt.LK_NBLCK
        while True:
            try:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), mode, 1)
                return True
            except OSError:
                if not blocking:
                    return False
                time.sleep(0.2)

    def _release(fh: Any) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _acquire(fh: Any, *, exclusive: bool, blocking: bool) -> bool:
        flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if not blocking:
            flags |= fcntl.LOCK_NB
        try:
            fcntl.flock(fh.fileno(), flags)
        except BlockingIOError:
            return False
        return True

    def _release(fh: Any) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
