"""Glue between a model's recorded environment and the engines: pick the engine, key the cache, build."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .asof import ResolveAsOf, resolve_as_of
from .conda_to_pip import UNTRANSLATABLE_HINT, describe_untranslatable
from .envfiles import ModelEnv
from .envs.cache import EnvCache
from .envs.prefix import prefix_python
from .envs.venv_engine import create_venv, venv_cache_fields
from .model import ModelDir
from .requirements import installable, normalized, requirement_name


@dataclass(frozen=True)
class BuiltEnv:
    prefix: Path
    python: Path
    key: str


def _model_relative(lines: Sequence[str]) -> bool:
    """Requirements naming local paths resolve against the model directory: the key must then include it."""
    return any(requirement_name(line) is None for line in lines)


class _FixedPrefix:
    """Stands in for the cache when the user names the prefix (``env create --prefix``): build there, once."""

    def __init__(self, prefix: Path):
        self.prefix = prefix

    @staticmethod
    def key_for(fields: Mapping[str, Any]) -> str:
        return EnvCache.key_for(fields)

    def get_or_build(self, key: str, builder: Any, meta: Mapping[str, Any], *, in_use: Any = None) -> Path:
        import shutil

        from .errors import EnvironmentBuildError

        if self.prefix.exists() and any(self.prefix.iterdir()):
            raise EnvironmentBuildError("the target prefix already exists and is not empty", path=self.prefix,
                                        hint="choose a new directory or remove it first")
        if self.prefix.exists():
            self.prefix.rmdir()
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        try:
            builder(self.prefix)
        except BaseException:
            shutil.rmtree(self.prefix, ignore_errors=True)  # never leave a half-built prefix behind
            raise
        return self.prefix


def build_model_env(model: ModelDir, env: ModelEnv, manager: str, override: Sequence[str], *, quiet: bool = False,
                    conda_exe: str | os.PathLike | None = None, channel_alias: Mapping[str, str] | None = None,
                    from_lock: bool | None = None, cache: EnvCache | None = None,
                    prefix: str | os.PathLike | None = None,
                    resolve_as_of: str | date | datetime | None = None,
                    in_use: contextlib.ExitStack | None = None) -> BuiltEnv:
    """Build (or find in the cache) the environment ``env`` of ``model`` with ``manager``.

    With ``prefix`` the environment is built at that path instead of the cache (e.g. in a Dockerfile).
    What the model leaves unpinned resolves as of its save time (``resolve_as_of``: a date, or "now" for
    today; see :mod:`envrepro.asof`). A lock is exact: it needs no cutoff. With ``in_use``, a cached
    environment is held in use until that stack closes (see :meth:`EnvCache.get_or_build`).
    """
    store: EnvCache | _FixedPrefix = _FixedPrefix(Path(prefix)) if prefix is not None else (cache or EnvCache())
    meta: dict[str, Any] = {"model": str(model.path.resolve()), "manager": manager,
                            "pip_override": list(override)}
    as_of = model_resolve_as_of(model, resolve_as_of)  # a bad --resolve-as-of fails before anything is built
    if manager != "conda" and env.untranslatable:
        _warn_untranslatable(model, env, manager)
    lock = _lock_to_use(model, manager, from_lock)
    if lock is not None:
        return _build_from_lock(model, lock, override, store, meta, quiet=quiet, in_use=in_use)
    meta["resolve_as_of"] = as_of.to_dict()
    cutoff = as_of.cutoff
    if manager == "conda":
        from .envs.conda_spec import parse_conda_env
        from .envs.external_conda import resolve_conda_exe

        conda_path = env.sources.get("conda")
        spec = (parse_conda_env(conda_path, root=model.path) if conda_path
                else parse_conda_env(env.conda, base_dir=model.path, root=model.path))
        spec = replace(spec, pip_requirements=tuple(installable(spec.pip_requirements)))
        exe = resolve_conda_exe(conda_exe)
        fields = spec.cache_fields(channel_alias)
        fields["pip_override"] = normalized(override)
        fields["conda_exe"] = str(exe) if exe else None
        if _model_relative(spec.pip_requirements):
            fields["model"] = meta["model"]
        key = store.key_for(_with_cutoff(fields, as_of))

        def build(prefix: Path) -> None:
            from .envs import create_conda_env

            _announce(as_of, quiet)
            create_conda_env(spec, prefix, channel_alias=channel_alias, conda_exe=exe, pip_override=override,
                             quiet=quiet, exclude_newer=cutoff)

        prefix = store.get_or_build(key, build, meta, in_use=in_use)
        return BuiltEnv(prefix, prefix_python(prefix), key)

    requirements = installable(env.requirements)
    fields = venv_cache_fields(python_version=env.python_version, build_dependencies=env.build_dependencies,
                               requirements=requirements, constraints=env.constraints, tool=manager,
                               pip_override=override)
    if _model_relative(env.requirements):
        fields["model"] = meta["model"]
    key = store.key_for(_with_cutoff(fields, as_of))

    def build_venv(prefix: Path) -> None:
        _announce(as_of, quiet)
        create_venv(prefix, python_version=env.python_version, build_dependencies=env.build_dependencies,
                    requirements=requirements, constraints=env.constraints, tool=manager,  # type: ignore[arg-type]
                    quiet=quiet, pip_override=override, cwd=model.path, exclude_newer=cutoff)

    prefix = store.get_or_build(key, build_venv, meta, in_use=in_use)
    return BuiltEnv(prefix, prefix_python(prefix), key)


def _warn_untranslatable(model: ModelDir, env: ModelEnv, manager: str) -> None:
    """One line naming every conda package of conda.yaml that a venv cannot have, and what to do about it."""
    import logging

    logging.getLogger(__name__).warning(
        "%s: conda packages with no pip equivalent are not installed in this %s environment: %s (%s)",
        env.sources.get("conda", model.path), manager, describe_untranslatable(env.untranslatable),
        UNTRANSLATABLE_HINT.format(model=model.path))


def model_resolve_as_of(model: ModelDir, requested: str | date | datetime | None = None) -> ResolveAsOf:
    """The cutoff for ``model``: ``requested`` (or ENVREPRO_RESOLVE_AS_OF), else its save time if old enough."""
    return resolve_as_of(model.mlmodel.utc_time_created, requested)


def _with_cutoff(fields: dict[str, Any], as_of: ResolveAsOf) -> dict[str, Any]:
    """Envs with and without a cutoff must not share a key; without one the key is what it always was."""
    return {**fields, "resolve_as_of": as_of.stamp} if as_of.cutoff is not None else fields


def _announce(as_of: ResolveAsOf, quiet: bool) -> None:
    from .envs.progress import Progress

    if as_of.cutoff is not None:
        Progress(quiet=quiet).step(f"resolving what the model leaves unpinned as of {as_of.describe()}")
    elif as_of.problem:
        import logging

        logging.getLogger(__name__).warning("%s: resolving as of today", as_of.problem)


def _lock_to_use(model: ModelDir, manager: str, from_lock: bool | None) -> Path | None:
    """The model's lock file: always with --from-lock; by default when it is current and fits the manager.

    A conda lock fits the conda manager, a pip-only lock (``envrepro lock --pip-only``) fits uv/virtualenv.
    A lock that no longer matches the env files is an error with --from-lock and ignored (with a warning)
    otherwise, so a model edited after locking never silently gets its old environment. A lock made by
    conda-lock cannot be checked (its input hash is conda-lock's): it is used, with a warning that says so.
    """
    import logging

    from .errors import EnvironmentBuildError
    from .lock.locate import find_lock  # the rest of envrepro.lock only once a lock exists (start-up time)

    if from_lock is False:
        return None
    lock = find_lock(model.path)
    if lock is None:
        if from_lock:
            raise EnvironmentBuildError("--from-lock given but the model has no lock file", path=model.path,
                                        hint="create one with `envrepro lock -m MODEL`")
        return None
    from .lock import check_lock, read_lockfile
    from .lockfile import KIND_KEY

    if not from_lock:
        kind = read_lockfile(lock).metadata.custom.get(KIND_KEY, "conda")
        if (kind == "conda") != (manager == "conda"):
            return None
    status = check_lock(model.path, lock)
    if status.status == "not checkable":  # conda-lock's own lock: used as locked, said once
        logging.getLogger(__name__).warning("%s; installing it as locked (re-lock it after changing the model's "
                                            "environment)", status.describe())
        return lock
    if not status.ok:
        if from_lock:
            raise EnvironmentBuildError(status.describe(), hint="re-lock with `envrepro lock -m MODEL`")
        logging.getLogger(__name__).warning("ignoring the lock: %s", status.describe())
        return None
    return lock


def _build_from_lock(model: ModelDir, lock: Path, override: Sequence[str], cache: EnvCache | _FixedPrefix,
                     meta: dict[str, Any], *, quiet: bool, in_use: contextlib.ExitStack | None) -> BuiltEnv:
    import hashlib
    import platform
    import sys

    from .envs.from_lock import install_from_lock
    from .envs.pip_install import install_requirements

    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    key = cache.key_for({"engine": "lock", "lock_sha256": digest, "platform": f"{sys.platform}-{platform.machine()}",
                         "pip_override": normalized(override)})
    meta = {**meta, "lock": str(lock)}

    def build(prefix: Path) -> None:
        install_from_lock(lock, prefix, quiet=quiet)
        if override:
            install_requirements(prefix_python(prefix), list(override), quiet=quiet)

    prefix = cache.get_or_build(key, build, meta, in_use=in_use)
    return BuiltEnv(prefix, prefix_python(prefix), key)
