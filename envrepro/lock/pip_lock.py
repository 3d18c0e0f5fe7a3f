"""Resolve the pip part of an environment for one target platform, with hashes, using uv's resolver.

``uv pip compile --python-platform T --python-version V --format pylock.toml --generate-hashes`` picks, for
each package, the one distribution that installs on the target (the best wheel, else the sdist) and gives its
URL and sha256: exactly what a conda-lock pip entry records. The target comes from the conda platform and
its virtual packages (``__glibc 2.28`` → ``manylinux_2_28``, ``__osx 11.0`` → ``MACOSX_DEPLOYMENT_TARGET``),
so the conda and pip halves of a lock agree on what the machine offers.

Packages the conda part already provides (same canonical name) are pinned to the conda version and left out
of the pip list, as conda-lock does.

uv also wants an interpreter of the target version (it builds sdists with it); envrepro names the one its own
discovery finds (remembered across runs), because uv's search runs the first ``python3.X`` on ``PATH``, and a
pyenv shim there costs most of a second per resolution, more than the resolution itself.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from ..envs.interpreters import find_interpreter
from ..envs.pip_install import find_uv, run_tool, uv_cutoff_args
from ..envs.progress import Progress
from ..errors import EnvironmentBuildError
from ..lockfile import LockedPackage

_MANYLINUX = (17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40)  # uv's --python-platform manylinux targets
_UV_ARCH = {"64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def uv_target(platform: str, virtual_packages: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """conda subdir (+ its virtual packages) → uv's ``--python-platform`` value and extra environment."""
    family, _, arch = platform.partition("-")
    cpu = _UV_ARCH.get(arch)
    if cpu is None or family not in ("linux", "osx", "win"):
        raise EnvironmentBuildError(f"cannot resolve pip packages for platform {platform!r}",
                                    hint="lock for linux-64, linux-aarch64, osx-64, osx-arm64 or win-64")
    if family == "linux":
        glibc = virtual_packages.get("__glibc", "2.17")
        try:
            minor = int(glibc.split(".")[1])
        except (IndexError, ValueError):
            minor = 17
        best = max((m for m in _MANYLINUX if m <= minor), default=17)
        return f"{cpu}-manylinux_2_{best}", {}
    if family == "osx":
        extra = {"MACOSX_DEPLOYMENT_TARGET": virtual_packages["__osx"]} if "__osx" in virtual_packages else {}
        return f"{cpu}-apple-darwin", extra
    return f"{cpu}-pc-windows-msvc", {}


def lock_pip(requirements: Sequence[str], constraints: Sequence[str], *, platform: str, python_version: str,
             virtual_packages: Mapping[str, str], conda_packages: Mapping[str, str] | None = None,
             cwd: str | os.PathLike | None = None, quiet: bool = True,
             exclude_newer: datetime | None = None) -> list[LockedPackage]:
    """Pinned, hashed pip packages for ``platform``; ``conda_packages`` is name → version of the conda part.

    ``exclude_newer`` (UTC): what is not pinned with ``==`` resolves as of then (see :mod:`envrepro.asof`).
    """
    if not requirements:
        return []
    conda = {canonicalize_name(k): v for k, v in (conda_packages or {}).items()}
    cutoff = uv_cutoff_args(exclude_newer, [*requirements, *constraints])
    resolved = _compile(requirements, constraints, platform, python_version, virtual_packages, cwd, quiet,
                        cutoff=cutoff)
    overlap = {name: conda[name] for name in (canonicalize_name(p["name"]) for p in resolved) if name in conda}
    if overlap:
        # Let the conda part win: pin those to the conda versions and drop them from the pip list.
        pins = [f"{name}=={version}" for name, version in sorted(overlap.items())]
        resolved = _compile(requirements, [*constraints, *pins], platform, python_version, virtual_packages, cwd,
                            quiet, what=f" (with {', '.join(pins)} from the conda part)",
                            cutoff=uv_cutoff_args(exclude_newer, [*requirements, *constraints, *pins]))
    return [_to_locked(p, platform) for p in resolved if canonicalize_name(p["name"]) not in overlap]


def _compile(requirements: Sequence[str], constraints: Sequence[str], platform: str, python_version: str,
             virtual_packages: Mapping[str, str], cwd: str | os.PathLike | None, quiet: bool,
             what: str = "", cutoff: Sequence[str] = ()) -> list[dict[str, Any]]:
    uv = find_uv()
    if uv is None:
        raise EnvironmentBuildError("locking pip requirements needs uv, which is not installed", hint="pip install uv")
    target, extra_env = uv_target(platform, virtual_packages)
    progress = Progress(quiet=quiet)
    with tempfile.TemporaryDirectory(prefix="envrepro-pip-lock-") as tmp:
        req_file = Path(tmp) / "requirements.in"
        req_file.write_text("".join(f"{line}\n" for line in requirements), encoding="utf-8")
        out = Path(tmp) / "pylock.toml"
        cmd = [uv, "pip", "compile", os.fspath(req_file), "--python-platform", target, "--python-version",
               python_version, "--format", "pylock.toml", "--generate-hashes", "--no-header", "-o", os.fspath(out),
               *_build_python(python_version), *cutoff]
        if constraints:
            cons_file = Path(tmp) / "constraints.txt"
            cons_file.write_text("".join(f"{line}\n" for line in constraints), encoding="utf-8")
            cmd += ["-c", os.fspath(cons_file)]
        if not progress.enabled:
            cmd.append("-q")
        progress.step(f"resolving {len(requirements)} pip requirements for {platform} ({target}, Python "
                      f"{python_version}){what}")
        run_tool(cmd, progress, cwd=cwd, env={**os.environ, **extra_env},
                 failure=f"the pip requirements cannot be resolved for {platform}{what}",
                 hint="check the pins exist for that platform and Python (wheels or sdists) on your index")
        packages = _load_toml(out).get("packages")
        packages = list(packages) if isinstance(packages, list) else []
        for package in packages:  # local files are given relative to the pylock file: make them URLs now
            for dist in [*(package.get("wheels") or []), package.get("sdist"), package.get("archive")]:
                if isinstance(dist, dict) and dist.get("path") and not dist.get("url"):
                    dist["url"] = (Path(tmp) / dist["path"]).resolve().as_uri()
    return packages


_FINDING = threading.Lock()  # the platforms resolve in threads; warning filters are process-wide


@functools.cache
def _build_python(python_version: str) -> tuple[str, ...]:
    """``--python PATH`` for an interpreter of ``python_version`` (its minor version at least), or nothing:
    uv then searches itself, and picks another version when none matches."""
    with _FINDING, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a same-minor interpreter is fine for building an sdist's metadata
        try:
            return ("--python", os.fspath(find_interpreter(python_version).path))
        except EnvironmentBuildError:
            return ()


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ImportError:
            raise EnvironmentBuildError("locking pip requirements on Python 3.10 needs tomli",
                                        hint="pip install tomli") from None
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def _to_locked(package: dict[str, Any], platform: str) -> LockedPackage:
    name = str(package["name"])
    dist = (package.get("wheels") or [None])[0] or package.get("sdist") or package.get("archive")
    if not isinstance(dist, dict):
        raise EnvironmentBuildError(
            f"pip requirement {name} comes from a VCS checkout or a local directory, which cannot be locked "
            "with a hash", hint="require a released version, or a wheel/sdist file or URL")
    url = dist.get("url")
    sha256 = (dist.get("hashes") or {}).get("sha256")
    if not url or not sha256:
        raise EnvironmentBuildError(f"uv gave no URL and sha256 for pip package {name}",
                                    hint="lock against an index that serves hashes (PyPI does)")
    return LockedPackage(name=name, version=str(package.get("version") or ""), manager="pip", platform=platform,
                         url=str(url), sha256=str(sha256))
