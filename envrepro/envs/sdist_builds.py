"""What a locked source distribution builds with, kept in the local package store for offline installs.

A lock names an sdist when a package has no wheel for the target (common among 2021-era packages: alembic
1.4.1, databricks-cli, ...). Installing it builds it, and the build needs its PEP 517 build requirements
(setuptools, wheel, flit-core, ...), which uv and pip fetch from an index: with no network the install fails
("setuptools was not found in the cache"), however complete the lock's own files are.

So whoever fills the store for an offline install (a bundle, see ``envrepro.bundle``) also stores those
wheels and records them next to the sdist, ``locked-pkgs/<sha256>/<sdist>.build-wheels`` (JSON: the store keys
``<sha256>/<file>`` of the wheels). :func:`offline_build_flags` turns the records of the sdists being installed
into a find-links directory, so ``uv --offline`` / ``pip --no-index`` build them from there.

The requirements are read from each sdist's ``pyproject.toml`` (``[build-system] requires``), else PEP 517's
default for a ``setup.py`` project (``setuptools>=40.8.0``); ``wheel`` is added for setuptools-built ones,
which older setuptools ask for while building. Requirements a ``setup.py`` asks for only when it runs
(``setup_requires``) cannot be known without running it: such a build still needs an index.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..fsutil import atomic_write_text
from .store import is_intact

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".zip")
DEFAULT_REQUIRES = ["setuptools>=40.8.0"]
RECORD_SUFFIX = ".build-wheels"
log = logging.getLogger(__name__)


def is_sdist(filename: str) -> bool:
    return filename.endswith(SDIST_SUFFIXES)


def build_requires(sdist: Path) -> list[str]:
    """The sdist's PEP 517 build requirements (``wheel`` added for setuptools, which older versions ask for)."""
    text = _pyproject(sdist)
    requires = None
    if text is not None:
        try:
            requires = tomllib.loads(text).get("build-system", {}).get("requires")
        except (tomllib.TOMLDecodeError, AttributeError):
            requires = None
    if not isinstance(requires, list):
        requires = list(DEFAULT_REQUIRES)
    if any(str(r).lower().startswith("setuptools") for r in requires):
        requires = [*requires, "wheel"]
    return [str(r) for r in requires]


def record_build_wheels(sdist: Path, wheel_keys: Sequence[str]) -> None:
    """Record, next to the stored ``sdist``, the store keys (``<sha256>/<file>``) of the wheels it builds with."""
    atomic_write_text(_record_path(sdist), json.dumps(sorted(wheel_keys)))


def has_build_record(sdist: Path) -> bool:
    return _record_path(sdist).is_file()


@contextlib.contextmanager
def offline_build_flags(sdists: Sequence[Path], store: Path) -> Iterator[list[str]]:
    """``["--find-links", DIR]`` for the build wheels recorded for ``sdists`` (none recorded: ``[]``).

    DIR holds links to the store's files, each checked against the sha256 that names it: uv and pip install
    build requirements without hash checks, so the store's key is what vouches for them."""
    keys = sorted({key for sdist in sdists for key in _recorded(sdist)})
    wheels = [store / key for key in keys if is_intact(store / key)]
    if not wheels:
        yield []
        return
    with tempfile.TemporaryDirectory(prefix="envrepro-build-wheels-") as tmp:
        for wheel in wheels:
            link = Path(tmp) / wheel.name
            if not link.exists():
                os.symlink(wheel, link)
        log.debug("building %d sdist(s) offline with %s", len(sdists), ", ".join(w.name for w in wheels))
        yield ["--find-links", tmp]


def _record_path(sdist: Path) -> Path:
    return sdist.with_name(sdist.name + RECORD_SUFFIX)


def _recorded(sdist: Path) -> list[str]:
    try:
        keys = json.loads(_record_path(sdist).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [k for k in keys if isinstance(k, str) and k.count("/") == 1 and ".." not in k] \
        if isinstance(keys, list) else []


def _pyproject(sdist: Path) -> str | None:
    """The top-level pyproject.toml of an sdist (``name-version/pyproject.toml``), or None."""
    try:
        if sdist.name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as archive:
                names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith("/pyproject.toml")]
                return archive.read(names[0]).decode("utf-8") if names else None
        with tarfile.open(sdist) as archive:
            for member in archive:
                if member.isfile() and member.name.count("/") == 1 and member.name.endswith("/pyproject.toml"):
                    fh = archive.extractfile(member)
                    return io.TextIOWrapper(fh, encoding="utf-8").read() if fh is not None else None
    except (OSError, tarfile.TarError, zipfile.BadZipFile, UnicodeDecodeError, KeyError):
        return None
    return None
