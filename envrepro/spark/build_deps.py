"""What a bundle's source distributions need to build, shipped with it, so executors build them offline.

A lock names an sdist when a package has no wheel for the target (common among 2021-era packages: alembic
1.4.1, databricks-cli, ...). The bundle carries the sdist, but building it needs its PEP 517 build requirements
(setuptools, wheel, flit-core, ...), which an installer fetches from an index: an executor without network
then fails with "setuptools was not found in the cache". So the driver resolves those requirements for the
bundle's Python and platform (with hashes, as a lock), fetches the wheels, and ships them next to the bundle;
on the executor they form a find-links directory (``UV_FIND_LINKS`` / ``PIP_FIND_LINKS``) that the offline
install builds from.

The requirements are read from each sdist's ``pyproject.toml`` (``[build-system] requires``), else PEP 517's
default for a ``setup.py`` project (``setuptools>=40.8.0``); ``wheel`` is added for setuptools-built ones,
which older setuptools ask for while building. Requirements a ``setup.py`` asks for only when it runs
(``setup_requires``) cannot be known without running it: such a build still needs an index.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..home import envrepro_home

if TYPE_CHECKING:
    from ..bundle.unpack import OpenedBundle

SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".zip")
DEFAULT_REQUIRES = ["setuptools>=40.8.0"]
log = logging.getLogger(__name__)


def build_wheels(opened: OpenedBundle) -> list[Path]:
    """Wheels of every build requirement of the bundle's sdists (none when it has none), resolved once."""
    from ..envs.from_lock import CATEGORIES, fetch_verified, local_platform, stored_package
    from ..fsutil import atomic_write_text
    from ..lock.ensure import locked_python
    from ..lock.pip_lock import lock_pip
    from ..lockfile import read_lockfile

    record = envrepro_home() / "spark" / "build-deps" / f"{opened.root.name}.json"
    try:
        paths = [Path(p) for p in json.loads(record.read_text())]
        if all(p.is_file() for p in paths):
            return paths
    except (OSError, ValueError):
        pass
    lock = read_lockfile(opened.lock_path)
    platform = local_platform()
    sdists = [pkg for pkg in lock.for_platform(platform, "pip", CATEGORIES) if pkg.filename.endswith(SDIST_SUFFIXES)]
    requires: set[str] = set()
    for pkg in sdists:
        stored = stored_package(pkg)
        requires.update(build_requires(stored) if stored is not None else [*DEFAULT_REQUIRES, "wheel"])
    paths = []
    python = locked_python(lock, platform)
    if requires and python:
        log.debug("build requirements of %s: %s", ", ".join(p.name for p in sdists), sorted(requires))
        packages = lock_pip(sorted(requires), [], platform=platform, python_version=python, virtual_packages={})
        paths = fetch_verified(packages)
    record.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(record, json.dumps([str(p) for p in paths]))
    return paths


def build_requires(sdist: Path) -> list[str]:
    """The sdist's PEP 517 build requirements (``wheel`` added for setuptools, which older versions ask for)."""
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

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
