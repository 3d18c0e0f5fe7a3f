"""Find a Python interpreter matching a model's recorded version.

Searched, in order: ``ENVREPRO_PYTHON_SEARCH`` (interpreters or directories, ``os.pathsep``-separated), the
running interpreter, ``PATH`` (pyenv's shims skipped: they only answer for the active version), pyenv's
versions, uv-managed Pythons. An exact version wins; otherwise the same minor version is used with an
:class:`InterpreterVersionWarning`; otherwise :class:`EnvironmentBuildError` lists what was found.
"""

from __future__ import annotations

import concurrent.futures
import glob
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvironmentBuildError

SEARCH_ENV = "ENVREPRO_PYTHON_SEARCH"
_PROBE = ("import sys, platform; sys.stdout.write('%d.%d.%d %s' % "
          "(tuple(sys.version_info[:3]) + (platform.python_implementation(),)))")
_NAME = re.compile(r"^python(\d(\.\d+)?)?(\.exe)?$", re.IGNORECASE)
_probe_cache: dict[tuple[str, float], tuple[str, str] | None] = {}


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
    found = discover_interpreters(search)
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
    candidates = list(_candidates(search))
    seen: set[str] = set()
    unique: list[Path] = []
    for path in candidates:
        real = os.path.realpath(path)
        if real in seen or not os.access(path, os.X_OK) or os.path.isdir(path):
            continue
        seen.add(real)
        unique.append(path)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        probes = list(pool.map(_probe, unique))
    return [Interpreter(path, info[0], info[1]) for path, info in zip(unique, probes) if info is not None]


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


def _probe(path: Path) -> tuple[str, str] | None:
    try:
        key = (os.path.realpath(path), os.stat(path).st_mtime)
    except OSError:
        return None
    if key not in _probe_cache:
        try:
            proc = subprocess.run([os.fspath(path), "-c", _PROBE], capture_output=True, text=True, timeout=20,
                                  stdin=subprocess.DEVNULL)
            parts = proc.stdout.split()
            _probe_cache[key] = (parts[0], parts[1]) if proc.returncode == 0 and len(parts) == 2 else None
        except (OSError, subprocess.SubprocessError):
            _probe_cache[key] = None
    return _probe_cache[key]


def _found_release(interpreter: Interpreter) -> tuple[int, ...]:
    """The release of an interpreter found by probing (it reported a well-formed version)."""
    return _release(interpreter.version) or ()


def _release(version: str) -> tuple[int, ...] | None:
    from ..pyversion import python_release  # the one pattern: the whole text must be a version

    return python_release(version)
