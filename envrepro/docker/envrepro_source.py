"""How the image gets envrepro itself: the version that writes the Dockerfile, the way it was installed here.

- ``ENVREPRO_WHEEL=/path/to/envrepro-*.whl``: that wheel goes into the build context (builds with no index);
- running from a source tree (an editable install, a checkout): a wheel built from it, since that code may be
  in no release;
- installed from a wheel file that is still there (``pip install ./envrepro-*.whl``): that wheel;
- otherwise (installed from a package index): the image installs ``envrepro==VERSION`` from the package index,
  as it installs its other tooling (``--bundle`` resolves that wheel now instead, so the build needs no index).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from .. import __version__
from ..errors import EnvreproError
from ..fsutil import file_digest

log = logging.getLogger(__name__)

WHEEL_ENV = "ENVREPRO_WHEEL"
# What a wheel build of the source tree needs (see pyproject.toml's package-dir): nothing else is copied.
_SOURCE_FILES = ("pyproject.toml", "README.md")
_SOURCE_DIRS = ("envrepro", "flavors", "runtime")
# Runs the source tree's PEP 517 backend in this Python, as `pip wheel --no-build-isolation` would, without pip.
_BUILD_HOOK = """\
import importlib, sys
module, _, attrs = sys.argv[1].partition(":")
backend = importlib.import_module(module)
for attr in filter(None, attrs.split(".")):
    backend = getattr(backend, attr)
backend.build_wheel(sys.argv[2])
"""
# Lines of a builder's output that only point elsewhere ("see above") or say that it failed, not why (pip's
# closing summary): never the error to show.
_NOISE = re.compile(r"see above|subprocess-exited-with-error|end of output|originates from a subprocess|"
                    r"failed building wheel for|could not build wheels for|^failed to build\b|"
                    r"^\W*(note|hint):|^[×│╰├]", re.IGNORECASE)
_ERROR = re.compile(r"^(error|caused by)\b|\w+(error|exception)\b:", re.IGNORECASE)


@dataclass(frozen=True)
class EnvreproSource:
    """``wheel``: envrepro's wheel in the context (None: the image installs ``envrepro==VERSION`` from the
    package index); ``origin``: how it was chosen, for the context's record; ``notes``: lines for the user."""

    wheel: Path | None
    origin: str
    notes: list[str] = field(default_factory=list)


def envrepro_for_image(dest: Path) -> EnvreproSource:
    """Choose how the image gets envrepro (see the module docstring); a wheel is put into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    explicit = os.environ.get(WHEEL_ENV)
    if explicit:
        wheel = Path(explicit)
        if not (wheel.is_file() and wheel.name.startswith("envrepro-") and wheel.suffix == ".whl"):
            raise EnvreproError(f"{WHEEL_ENV} does not name an envrepro wheel", path=wheel,
                                hint="build one with `pip wheel --no-deps PATH_TO_ENVREPRO_SOURCE`")
        return EnvreproSource(_copy(wheel, dest), WHEEL_ENV)
    root = source_tree()
    if root is not None:
        wheel, notes = build_wheel(root, dest)
        return EnvreproSource(wheel, f"built from {root}", notes)
    installed = installed_wheel()
    if installed is not None:
        return EnvreproSource(_copy(installed, dest), f"the wheel it was installed from: {installed}")
    note = (f"the image installs envrepro {__version__} from the package index, as it was installed here "
            f"(for a build with no index: --bundle, or {WHEEL_ENV}=/path/to/envrepro-{__version__}-py3-none-any.whl)")
    return EnvreproSource(None, "package index", [note])


def source_tree() -> Path | None:
    """The source checkout envrepro runs from (editable or in-place), or None for an installed one."""
    import envrepro

    root = Path(envrepro.__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "envrepro"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def installed_wheel() -> Path | None:
    """The local wheel file envrepro was installed from (pip's direct_url.json), if it is still there, unchanged."""
    try:
        record = json.loads(metadata.distribution("envrepro").read_text("direct_url.json") or "null")
    except (metadata.PackageNotFoundError, ValueError):
        return None
    if not isinstance(record, dict) or "archive_info" not in record:
        return None
    url = urllib.parse.urlsplit(str(record.get("url", "")))
    path = Path(urllib.request.url2pathname(url.path))
    if url.scheme != "file" or path.suffix != ".whl" or not path.is_file():
        return None
    info = record["archive_info"] if isinstance(record["archive_info"], dict) else {}
    recorded = (info.get("hashes") or {}).get("sha256") or str(info.get("hash", "")).removeprefix("sha256=")
    if recorded and file_digest(path) != recorded:
        log.debug("%s changed since envrepro was installed from it: not used", path)
        return None
    return path


def build_wheel(root: Path, dest: Path) -> tuple[Path, list[str]]:
    """A wheel of the source tree ``root`` in ``dest``, and notes. Built with this Python's build backend when
    it has what pyproject.toml's build-system requires (no network), else in isolation by uv or pip, which fetch
    it. A failure shows the builder's own error."""
    build_system = _build_system(root)
    missing = unmet(build_system.get("requires", []))
    with tempfile.TemporaryDirectory(prefix="envrepro-wheel-") as tmp:
        # Build from a clean copy: setuptools writes build/ and *.egg-info into the tree it builds.
        src = Path(tmp) / "src"
        src.mkdir()
        for name in _SOURCE_FILES:
            shutil.copy2(root / name, src / name)
        for name in _SOURCE_DIRS:
            shutil.copytree(root / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        out = Path(tmp) / "dist"
        notes = []
        command: list[str] | None
        if not missing:
            backend = str(build_system.get("build-backend", "setuptools.build_meta:__legacy__"))
            command = [sys.executable, "-c", _BUILD_HOOK, backend, str(out)]
        else:
            command = _isolated_build(src, out)
            lacking = "; ".join(missing)
            if command is None:
                raise EnvreproError(f"building a wheel of envrepro from {root} needs build requirements this "
                                    f"Python lacks ({lacking}), and neither uv nor pip is here to fetch them",
                                    hint=f"install them (pip install {_quoted(build_system)}), or build a wheel "
                                         f"elsewhere and set {WHEEL_ENV}=/path/to/it")
            notes.append(f"this Python lacks envrepro's build requirements ({lacking}): building its wheel in "
                         "isolation, with them from the package index")
        out.mkdir()
        proc = subprocess.run(command, cwd=src, capture_output=True, text=True, errors="replace",
                              stdin=subprocess.DEVNULL)
        output = (proc.stdout or "") + (proc.stderr or "")
        log.debug("building a wheel of envrepro: %s\n%s", " ".join(command), output)
        wheels = sorted(out.glob("envrepro-*.whl"))
        if proc.returncode != 0 or not wheels:
            why = f" (this Python lacks its build requirements: {'; '.join(missing)})" if missing else ""
            raise EnvreproError(f"building a wheel of envrepro from {root} failed: {builder_error(output)}",
                                hint=f"fix that{why}, or build a wheel elsewhere and set {WHEEL_ENV}=/path/to/it")
        return Path(shutil.copy2(wheels[-1], dest / wheels[-1].name)), notes


def builder_error(output: str) -> str:
    """The line of a build tool's output that says what went wrong (its last error line), not "see above"."""
    lines = [line.strip() for line in output.splitlines() if line.strip() and not _NOISE.search(line.strip())]
    errors = [line for line in lines if _ERROR.search(line)]
    return (errors or lines or ["no output"])[-1]


def unmet(requires: list[str]) -> list[str]:
    """The build requirements this Python does not satisfy, each with what it has instead."""
    missing = []
    for line in requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            missing.append(f"{line}: unreadable")
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            missing.append(f"{req}: not installed")
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            missing.append(f"{req}: has {version}")
    return missing


def _build_system(root: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10: tomli is a dependency there
        import tomli as tomllib
    try:
        with open(root / "pyproject.toml", "rb") as fh:
            table = tomllib.load(fh).get("build-system", {})
    except (OSError, ValueError) as exc:  # TOMLDecodeError is a ValueError
        raise EnvreproError(f"cannot read the build system: {exc}", path=root / "pyproject.toml") from None
    return table if isinstance(table, dict) else {}


def _isolated_build(src: Path, out: Path) -> list[str] | None:
    """uv or pip building ``src`` with its build requirements fetched into an isolated environment."""
    from ..envs.pip_install import find_uv

    uv = find_uv()
    if uv is not None:
        return [uv, "build", "--wheel", "--python", sys.executable, "--out-dir", str(out), str(src)]
    if _has_pip():
        return [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w", str(out),
                str(src)]
    return None


def _has_pip() -> bool:
    try:
        metadata.version("pip")
    except metadata.PackageNotFoundError:
        return False
    return True


def _quoted(build_system: dict[str, Any]) -> str:
    return " ".join(f"'{r}'" for r in build_system.get("requires", []))


def _copy(wheel: Path, dest: Path) -> Path:
    return Path(shutil.copy2(wheel, dest / wheel.name))
