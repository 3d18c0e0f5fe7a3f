"""Find a Python interpreter matching a model's recorded version.

Searched, in order: ``ENVREPRO_PYTHON_SEARCH`` (interpreters or directories, ``os.pathsep``-separated), the
running interpreter, ``PATH`` (pyenv's shims skipped: they only answer for the active version), pyenv's
versions, uv-managed Pythons. An exact version wins; otherwise the same minor version is used with an
:class:`InterpreterVersionWarning`; otherwise :class:`EnvironmentBuildError` lists what was found.

Each candidate is asked its version by running it, once: answers are remembered across runs (``_ProbeCache``),
and an exact request stops at the first exact CPython in search order (the running interpreter needs no asking),
so a machine with many Pythons does not start each of them on every build.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import glob
import json
import os
import platform
import re
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvironmentBuildError

SEARCH_ENV = "ENVREPRO_PYTHON_SEARCH"
_PROBE = ("import sys, platform; sys.stdout.write('%d.%d.%d %s' % "
          "(tuple(sys.version_info[:3]) + (platform.python_implementation(),)))")
_NAME = re.compile(r"^python(\d(\.\d+)?)?(\.exe)?$", re.IGNORECASE)


class InterpreterVersionWarning(UserWarning):
    """The interpreter found has the model's minor version but not its exact version."""


@dataclass(frozen=True)
class Interpreter:
    path: Path
    version: str  # "3.11.7"
    implementation: str = "CPython"
    exact: bool = True  # False when only the minor version matched what was asked

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])

    def __str__(self) -> str:
        return f"{self.implementation} {self.version} ({self.path})"


def find_interpreter(version: str, *, search: Sequence[str | os.PathLike] | None = None) -> Interpreter:
    """The interpreter for ``version`` ("3.11.7" or "3.11"); see the module docstring for the rules.

    ``search`` replaces the default places (used by tests and by callers with their own list).
    """
    wanted = _release(version)
    if wanted is None:
        raise EnvironmentBuildError(f"invalid Python version {version!r}", hint="use a version like 3.11.7 or 3.11")
    candidates = _unique(_candidates(search))
    if len(wanted) >= 3:
        early = _first_exact(candidates, wanted)
        if early is not None:  # nothing searched before it can win: the rest need not be asked
            return early
    found = _describe(candidates)
    cpython_first = sorted(found, key=lambda i: i.implementation != "CPython")
    exact = [i for i in cpython_first if _found_release(i)[: len(wanted)] == wanted]
    if len(wanted) < 3:
        if exact:
            return max(exact, key=lambda i: (i.implementation == "CPython", _found_release(i)))
    elif exact:
        return exact[0]
    same_minor = [i for i in cpython_first if _found_release(i)[:2] == wanted[:2]]
    if same_minor:
        best = max(same_minor, key=lambda i: (i.implementation == "CPython", _found_release(i)))
        warnings.warn(f"Python {version} not found; using {best.version} ({best.path}), the same minor version: "
                      f"results may differ slightly. Install {version} for an exact match "
                      f"({install_hint(version)})",
                      InterpreterVersionWarning, stacklevel=2)
        return Interpreter(best.path, best.version, best.implementation, exact=False)
    listing = ", ".join(f"{i.version} ({i.path})" for i in sorted(found, key=_found_release)) \
        or "none"
    raise EnvironmentBuildError(
        f"no Python {version} found; interpreters found: {listing}",
        hint=f"install it with {install_hint(version)}, or add its directory to PATH or to {SEARCH_ENV}",
    )


def _first_exact(candidates: Sequence[Path], wanted: tuple[int, ...]) -> Interpreter | None:
    """The first CPython of exactly ``wanted`` in search order, when one is known without running anything
    (the running interpreter, or a probe remembered from an earlier run); only what comes before it is asked.
    A PyPy match is not enough: a CPython later in the order would still win."""
    known = [_PROBES.known(path) for path in candidates]
    hit = next((i for i, info in enumerate(known)
                if info is not None and info[1] == "CPython" and _release(info[0] or "") == wanted), None)
    if hit is None:
        return None
    for interpreter in _describe(candidates[: hit + 1]):
        if interpreter.implementation == "CPython" and _found_release(interpreter) == wanted:
            return interpreter
    return None  # pragma: no cover - the hit itself matches


def install_hint(version: str) -> str:
    """A command that can install Python ``version``: uv's when uv offers that build, else pyenv's.

    uv only has downloads for some versions (none for 3.6 or 3.7); ``uv python list`` knows which, offline.
    """
    wanted = _release(version) or ()
    offered = _uv_downloads()
    if any(v[: len(wanted)] == wanted for v in offered):
        return f"`uv python install {version}`"
    if len(wanted) > 2 and any(v[:2] == wanted[:2] for v in offered):
        minor = ".".join(map(str, wanted[:2]))
        return f"`pyenv install {version}` (or `uv python install {minor}`, the same minor version)"
    return f"`pyenv install {version}`"


def _uv_downloads() -> list[tuple[int, ...]]:
    """CPython versions uv can download for this machine (empty without uv)."""
    import json

    from .pip_install import find_uv

    uv = find_uv()
    if uv is None:
        return []
    try:
        proc = subprocess.run([uv, "python", "list", "--all-versions", "--only-downloads", "--offline",
                               "--output-format", "json"], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
        entries = json.loads(proc.stdout) if proc.returncode == 0 else []
    except (OSError, subprocess.SubprocessError, ValueError):
        return []
    return [_release(e["version"]) for e in entries if isinstance(e, dict)  # type: ignore[misc]
            and e.get("implementation") == "cpython" and re.fullmatch(r"\d+\.\d+\.\d+", str(e.get("version")))]


def discover_interpreters(search: Sequence[str | os.PathLike] | None = None) -> list[Interpreter]:
    """Every distinct working interpreter in the search places, in search order."""
    return _describe(_unique(_candidates(search)))


def _unique(candidates: Iterable[Path]) -> list[Path]:
    """Executable files, each real file once (the first path naming it wins)."""
    seen: set[str] = set()
    unique: list[Path] = []
    for path in candidates:
        real = os.path.realpath(path)
        if real in seen or not os.access(path, os.X_OK) or os.path.isdir(path):
            continue
        seen.add(real)
        unique.append(path)
    return unique


def _describe(paths: Sequence[Path]) -> list[Interpreter]:
    """The interpreters among ``paths``, asking (in parallel) only those whose answer is not known."""
    unknown = [path for path in paths if _PROBES.known(path) is None]
    if unknown:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(8, len(unknown))) as pool:
            list(pool.map(_PROBES.probe, unknown))
        _PROBES.save()
    found = []
    for path in paths:
        version, implementation = _PROBES.known(path) or (None, None)
        if version and implementation:
            found.append(Interpreter(path, version, implementation))
    return found


def _candidates(search: Sequence[str | os.PathLike] | None) -> Iterable[Path]:
    if search is not None:
        for entry in search:
            yield from _expand(Path(entry))
        return
    for entry in filter(None, os.environ.get(SEARCH_ENV, "").split(os.pathsep)):
        yield from _expand(Path(entry))
    yield Path(sys.executable)
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    shims = (pyenv_root / "shims").resolve()
    for directory in filter(None, os.environ.get("PATH", "").split(os.pathsep)):
        path = Path(directory)
        if path.resolve() == shims:
            continue
        yield from _expand(path)
    for bin_dir in sorted(glob.glob(str(pyenv_root / "versions" / "*" / "bin"))):
        yield from _expand(Path(bin_dir))
    for root in _uv_python_dirs():
        for bin_dir in sorted(glob.glob(str(root / "*" / "bin"))) + sorted(glob.glob(str(root / "*"))):
            yield from _expand(Path(bin_dir), only_dir=True)


def _uv_python_dirs() -> list[Path]:
    explicit = os.environ.get("UV_PYTHON_INSTALL_DIR")
    if explicit:
        return [Path(explicit)]
    data = os.environ.get("XDG_DATA_HOME")
    base = Path(data) if data else Path.home() / ".local" / "share"
    return [base / "uv" / "python"]


def _expand(path: Path, *, only_dir: bool = False) -> Iterable[Path]:
    """A directory → its python executables; an interpreter → itself."""
    if path.is_dir():
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return
        for name in names:
            if _NAME.match(name):
                yield path / name
    elif not only_dir and path.exists():
        yield path


_Answer = tuple[str | None, str | None]  # (version, implementation); (None, None): not an interpreter


class _ProbeCache:
    """What each interpreter answered to the version probe, remembered across runs.

    Asking an interpreter costs a process start (0.05-0.5 s on a busy machine, for each of the ~10 Pythons a
    developer machine has). The answers are kept in ``$ENVREPRO_HOME/interpreters.json``, keyed by the real
    path and the identity of the file and of its libpython (inode, size, mtime; see ``_identity``):
    reinstalling, upgrading or replacing an interpreter changes one of them and it is asked again. Scripts
    (``#!``) are never remembered: what they run can change while they do not. The running interpreter is known
    without asking.
    """

    FILE = "interpreters.json"
    SCHEMA = 1

    def __init__(self) -> None:
        # real path -> (identity, version, implementation, remembered across runs)
        self._answers: dict[str, tuple[list[int], str | None, str | None, bool]] = {}
        self._loaded_from: Path | None = None
        self._dirty = False
        self._lock = threading.Lock()

    def _file(self) -> Path:
        from ..home import envrepro_home

        return envrepro_home() / self.FILE

    def _load(self) -> None:
        path = self._file()
        if self._loaded_from == path:
            return
        self._answers, self._loaded_from, self._dirty = {}, path, False
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(data, dict) or data.get("schema") != self.SCHEMA:
            return
        for real, entry in (data.get("interpreters") or {}).items():
            if (isinstance(entry, dict) and isinstance(entry.get("stat"), list)
                    and all(isinstance(v, int) for v in entry["stat"])
                    and all(isinstance(entry.get(k), (str, type(None))) for k in ("version", "implementation"))):
                self._answers[real] = (entry["stat"], entry["version"], entry["implementation"], True)

    def known(self, path: Path) -> _Answer | None:
        """Its (version, implementation), ``(None, None)`` when it does not answer, None when it must be asked."""
        real, identity = _identity(path)
        if identity is None:
            return None, None
        if sys.executable and real == os.path.realpath(sys.executable):
            return "%d.%d.%d" % sys.version_info[:3], platform.python_implementation()
        with self._lock:
            self._load()
            entry = self._answers.get(real)
        return (entry[1], entry[2]) if entry is not None and entry[0] == identity else None

    def probe(self, path: Path) -> None:
        """Run the interpreter's version probe and remember the answer."""
        real, identity = _identity(path)
        if identity is None:
            return
        version = implementation = None
        try:
            proc = subprocess.run([os.fspath(path), "-c", _PROBE], capture_output=True, text=True, timeout=20,
                                  stdin=subprocess.DEVNULL)
            parts = proc.stdout.split()
            if proc.returncode == 0 and len(parts) == 2 and _release(parts[0]) is not None:
                version, implementation = parts
        except (OSError, subprocess.SubprocessError):
            pass
        with self._lock:
            self._load()
            self._answers[real] = (identity, version, implementation, not _is_script(real))
            self._dirty = True

    def save(self) -> None:
        """Write the answers worth remembering (of interpreters still there), on top of what another process
        may have written since; best effort: this is a cache."""
        with self._lock:
            if not self._dirty or self._loaded_from is None:
                return
            ours = self._answers
            target, self._loaded_from = self._loaded_from, None
            self._load()  # the file as it is now, under ours
            self._answers.update(ours)
            self._dirty = False
            entries = {real: {"stat": st, "version": v, "implementation": impl}
                       for real, (st, v, impl, keep) in self._answers.items() if keep and os.path.exists(real)}
        with contextlib.suppress(OSError):
            from ..fsutil import atomic_write_text

            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, json.dumps({"schema": self.SCHEMA, "interpreters": entries}, indent=1,
                                                 sort_keys=True) + "\n")


def _identity(path: Path) -> tuple[str, list[int] | None]:
    """The real path and what changes when that interpreter is replaced or rewritten (None: it is not there):
    the file's inode, size, mtime and ctime, and those of the libpython next to it (a shared build's launcher,
    pyenv's for one, is a few kB that stay the same across patch releases: the version is in the library)."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except OSError:
        return real, None
    identity = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    lib_dir = os.path.join(os.path.dirname(os.path.dirname(real)), "lib")
    for lib in sorted({os.path.realpath(p) for p in glob.glob(os.path.join(glob.escape(lib_dir), "libpython*"))}):
        with contextlib.suppress(OSError):
            lib_st = os.stat(lib)
            identity += [lib_st.st_ino, lib_st.st_size, lib_st.st_mtime_ns]
    return real, identity


def _is_script(real: str) -> bool:
    try:
        with open(real, "rb") as fh:
            return fh.read(2) == b"#!"
    except OSError:
        return True


_PROBES = _ProbeCache()


def _found_release(interpreter: Interpreter) -> tuple[int, ...]:
    """The release of an interpreter found by probing (it reported a well-formed version)."""
    return _release(interpreter.version) or ()


def _release(version: str) -> tuple[int, ...] | None:
    from ..pyversion import python_release  # the one pattern: the whole text must be a version

    return python_release(version)
