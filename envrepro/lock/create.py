"""``lock_model``: solve a model's environment for several platforms and write conda-lock.yml."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ..asof import ResolveAsOf
from ..asof import resolve_as_of as resolve_as_of_for
from ..envs.conda_spec import resolve_channel
from ..envs.external_conda import resolve_conda_exe
from ..envs.progress import Progress
from ..envs.rattler_engine import conda_gateway
from ..errors import EnvironmentBuildError, EnvreproError
from ..lockfile import (
    CHANNEL_ALIAS_KEY,
    DEFAULT_LOCK_NAME,
    KIND_KEY,
    PYTHON_KEY,
    RESOLVE_AS_OF_KEY,
    SOLVER_KEY,
    VERSION_KEY,
    VPKG_KEY,
    LockedPackage,
    Lockfile,
    LockMetadata,
    now_utc,
    write_lockfile,
)
from ..model import ModelDir
from ..version import __version__
from . import virtual
from .inputs import LockInput, LockKind, read_lock_input
from .locate import record_lock
from .pip_lock import lock_pip
from .solve import solve_platform, solve_with_conda_lock

DEFAULT_PLATFORMS = ("linux-64", "osx-arm64", "win-64")


def lock_model(model_path: str | os.PathLike, platforms: Sequence[str] = (), output: str | os.PathLike | None = None,
               *, channel_alias: Mapping[str, str] | None = None, conda_exe: str | os.PathLike | None = None,
               quiet: bool = False, virtual_packages: Iterable[str] = (), pip_only: bool = False,
               record: bool = True, resolve_as_of: str | date | datetime | None = None,
               timings: dict[str, float] | None = None) -> Path:
    """Lock ``model_path``'s environment for ``platforms`` (default linux-64, osx-arm64, win-64).

    Writes ``output`` (default ``<model>/conda-lock.yml``) in conda-lock's v1 format and records it in
    MLmodel. ``virtual_packages`` are ``[PLATFORM:]__NAME=VERSION`` overrides of the assumed defaults.
    ``pip_only`` locks python_env.yaml/requirements.txt (what the uv and virtualenv managers build) instead
    of conda.yaml. ``conda_exe`` makes conda-lock (with that binary) solve instead of the embedded engine.
    What the model leaves unpinned resolves as of its save time, as when building (``resolve_as_of``: a date,
    or "now"; see :mod:`envrepro.asof`). ``timings``, when given, receives each phase's wall time in seconds.
    """
    model = ModelDir.open(model_path)
    as_of = resolve_as_of_for(model.mlmodel.utc_time_created, resolve_as_of)
    platforms = list(dict.fromkeys(platforms or DEFAULT_PLATFORMS))
    kind: LockKind = "pip" if pip_only else "conda"
    spec = read_lock_input(model, kind)
    overrides = virtual.parse_overrides(virtual_packages)
    vpkgs = {p: virtual.virtual_packages_for(p, overrides) for p in platforms}
    out = Path(output) if output is not None else model.path / DEFAULT_LOCK_NAME
    progress = Progress(quiet=quiet)
    timings = timings if timings is not None else {}

    packages: list[LockedPackage] = []
    conda_exe = resolve_conda_exe(conda_exe) if kind == "conda" else None  # also ENVREPRO_CONDA_EXE
    if conda_exe is not None:
        assert spec.conda is not None
        if as_of.cutoff is not None:
            logging.getLogger(__name__).warning("conda-lock cannot resolve as of a date: the lock resolves as of "
                                                "today; drop --conda-exe to use the built-in engine, which can")
            as_of = ResolveAsOf(None, "conda-lock has no cutoff")
        progress.step(f"locking with conda-lock ({conda_exe}) for {', '.join(platforms)}")
        conda_spec = spec.conda  # a conda lock's input has one (kind "conda")
        packages = _timed(timings, "conda-lock", lambda: solve_with_conda_lock(
            conda_spec, platforms, conda_exe, channel_alias=channel_alias, virtual_packages=vpkgs, quiet=quiet))
    else:
        if as_of.cutoff is not None:
            progress.step(f"resolving what the model leaves unpinned as of {as_of.describe()}")
        # The platforms are independent: lock them at the same time (uv's resolutions are subprocesses waiting
        # on the index, rattler solves outside the GIL), with one gateway so each channel subdir is read once.
        gateway = conda_gateway(quiet=not progress.enabled) if spec.conda is not None else None
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(platforms)) as pool:
            locked = list(pool.map(lambda platform: _lock_platform(
                spec, platform, vpkgs[platform], channel_alias, progress, as_of.cutoff, timings, gateway), platforms))
        packages = [package for per_platform in locked for package in per_platform]

    custom = {KIND_KEY: kind, VERSION_KEY: __version__,
              SOLVER_KEY: "conda-lock" if conda_exe is not None else "envrepro"}
    custom.update({VPKG_KEY + p: virtual.encode(v) for p, v in vpkgs.items()})
    if kind == "pip":
        custom[PYTHON_KEY] = spec.python_version
    if as_of.stamp is not None:
        custom[RESOLVE_AS_OF_KEY] = as_of.stamp
    if channel_alias:
        custom[CHANNEL_ALIAS_KEY] = ",".join(f"{k}={v}" for k, v in sorted(channel_alias.items()))
    channels = _channels(spec, channel_alias)
    metadata = LockMetadata(
        content_hash={p: spec.content_hash(p, vpkgs[p]) for p in platforms}, channels=channels,
        platforms=platforms, sources=[_relative(spec.source, out.parent)], created_at=now_utc(), custom=custom)
    started = time.perf_counter()
    write_lockfile(Lockfile(metadata=metadata, packages=packages), out)
    if record and not record_lock(model.path, out):
        logging.getLogger(__name__).warning("%s is outside the model directory: not recorded in MLmodel (use it "
                                            "with --lockfile)", out)
    timings["write"] = time.perf_counter() - started
    progress.step(f"wrote {out} ({len(packages)} packages for {', '.join(platforms)})")
    return out


def _lock_platform(spec: LockInput, platform: str, vpkgs: Mapping[str, str],
                   channel_alias: Mapping[str, str] | None, progress: Progress,
                   exclude_newer: datetime | None, timings: dict[str, float], gateway: Any) -> list[LockedPackage]:
    conda: list[LockedPackage] = []
    python_version = spec.python_version
    conda_spec = spec.conda
    if conda_spec is not None:
        progress.step(f"solving {len(conda_spec.conda_specs)} conda specs for {platform}")
        conda = _timed(timings, f"conda solve {platform}", lambda: solve_platform(
            conda_spec, platform, vpkgs, channel_alias=channel_alias, quiet=not progress.enabled,
            exclude_newer=exclude_newer, gateway=gateway))
        python = next((p for p in conda if p.name == "python"), None)
        if python is None and spec.pip_requirements:
            raise EnvironmentBuildError("conda.yaml has pip requirements but its conda part has no python",
                                        path=spec.source, hint="add 'python=X.Y' to the conda dependencies")
        python_version = python.version if python is not None else python_version
    requirements = [*spec.build_dependencies, *spec.pip_requirements]
    pip = _timed(timings, f"pip resolve {platform}", lambda: lock_pip(
        requirements, spec.pip_constraints, platform=platform, python_version=python_version,
        virtual_packages=vpkgs, conda_packages={p.name: p.version for p in conda}, cwd=spec.model_dir,
        quiet=not progress.enabled, exclude_newer=exclude_newer))
    return conda + pip


def _timed(timings: dict[str, float], phase: str, fn: Callable[[], list[LockedPackage]]) -> list[LockedPackage]:
    started = time.perf_counter()
    try:
        return fn()
    finally:
        timings[phase] = timings.get(phase, 0.0) + time.perf_counter() - started


def _channels(spec: LockInput, channel_alias: Mapping[str, str] | None) -> list[str]:
    if spec.conda is None:
        return []
    try:
        return spec.conda.resolved_channels(channel_alias)
    except EnvreproError:
        return [resolve_channel(c, channel_alias) if c != "defaults" else c for c in spec.conda.channels]


def _relative(path: Path, start: Path) -> str:
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:  # another drive on Windows
        return str(path)
