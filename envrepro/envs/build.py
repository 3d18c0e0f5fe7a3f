"""Glue between a model's recorded environment and the engines: pick the engine, key the cache, build."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..envfiles import ModelEnv
from ..model import ModelDir
from ..requirements import normalized, requirement_name
from .cache import EnvCache
from .venv_engine import create_venv, venv_cache_fields, venv_python


@dataclass(frozen=True)
class BuiltEnv:
    prefix: Path
    python: Path
    key: str


def _model_relative(lines: Sequence[str]) -> bool:
    """Requirements naming local paths resolve against the model directory: the key must then include it."""
    return any(requirement_name(line) is None for line in lines)


def build_model_env(model: ModelDir, env: ModelEnv, manager: str, override: Sequence[str], *, quiet: bool = False,
                    conda_exe: str | os.PathLike | None = None, channel_alias: Mapping[str, str] | None = None,
                    from_lock: bool | None = None, cache: EnvCache | None = None) -> BuiltEnv:
    """Build (or find in the cache) the environment ``env`` of ``model`` with ``manager``."""
    cache = cache or EnvCache()
    meta: dict[str, Any] = {"model": str(model.path.resolve()), "manager": manager,
                            "pip_override": list(override)}
    if manager == "conda":
        lock = _lock_to_use(model, from_lock)
        if lock is not None:
            return _build_from_lock(model, lock, override, cache, meta, quiet=quiet)
        from .conda_spec import parse_conda_env
        from .external_conda import resolve_conda_exe
        from .rattler_engine import prefix_python

        conda_path = env.sources.get("conda")
        spec = parse_conda_env(conda_path) if conda_path else parse_conda_env(env.conda, base_dir=model.path)
        exe = resolve_conda_exe(conda_exe)
        fields = spec.cache_fields(channel_alias)
        fields["pip_override"] = normalized(override)
        fields["conda_exe"] = str(exe) if exe else None
        if _model_relative(spec.pip_requirements):
            fields["model"] = meta["model"]
        key = cache.key_for(fields)

        def build(prefix: Path) -> None:
            from . import create_conda_env

            create_conda_env(spec, prefix, channel_alias=channel_alias, conda_exe=exe, pip_override=override,
                             quiet=quiet)

        prefix = cache.get_or_build(key, build, meta)
        return BuiltEnv(prefix, prefix_python(prefix), key)

    fields = venv_cache_fields(python_version=env.python_version, build_dependencies=env.build_dependencies,
                               requirements=env.requirements, constraints=env.constraints, tool=manager,
                               pip_override=override)
    if _model_relative(env.requirements):
        fields["model"] = meta["model"]
    key = cache.key_for(fields)

    def build_venv(prefix: Path) -> None:
        create_venv(prefix, python_version=env.python_version, build_dependencies=env.build_dependencies,
                    requirements=env.requirements, constraints=env.constraints, tool=manager,  # type: ignore[arg-type]
                    quiet=quiet, pip_override=override, cwd=model.path)

    prefix = cache.get_or_build(key, build_venv, meta)
    return BuiltEnv(prefix, venv_python(prefix), key)


def _lock_to_use(model: ModelDir, from_lock: bool | None) -> Path | None:
    """The model's lock file when asked (--from-lock) or, by default, when one is present."""
    if from_lock is False:
        return None
    try:
        from ..lock import find_lock
    except ImportError:  # locking not available in this build
        find_lock = None
    lock = find_lock(model.path) if find_lock is not None else None
    if from_lock and lock is None:
        from ..errors import EnvironmentBuildError

        raise EnvironmentBuildError("--from-lock given but the model has no lock file", path=model.path,
                                    hint="create one with `envrepro lock -m MODEL`")
    return lock


def _build_from_lock(model: ModelDir, lock: Path, override: Sequence[str], cache: EnvCache,
                     meta: dict[str, Any], *, quiet: bool) -> BuiltEnv:
    import hashlib

    from ..lock.install import install_from_lock
    from .pip_install import install_requirements
    from .rattler_engine import prefix_python

    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    key = cache.key_for({"engine": "conda-lock", "lock_sha256": digest, "pip_override": normalized(override)})
    meta = {**meta, "lock": str(lock)}

    def build(prefix: Path) -> None:
        install_from_lock(lock, prefix, quiet=quiet)
        if override:
            install_requirements(prefix_python(prefix), list(override), quiet=quiet)

    prefix = cache.get_or_build(key, build, meta)
    return BuiltEnv(prefix, prefix_python(prefix), key)
