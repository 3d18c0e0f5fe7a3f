"""Reproduce a model's environment: pick the engine, build (or reuse) the environment, hand back its python."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .envfiles import read_model_env
from .errors import EnvreproError
from .model import ModelDir
from .requirements import coerce_requirements

if TYPE_CHECKING:
    from .envs.cache import CachedEnv
    from .envs.local_engine import Mismatch

log = logging.getLogger(__name__)
ENV_MANAGERS = ("uv", "virtualenv", "conda", "local")


@dataclass
class Environment:
    prefix: Path
    python: Path
    manager: str
    mismatches: list[Mismatch] = field(default_factory=list)  # only for the local manager
    cache_key: str | None = None  # None for the local manager


def existing_env(prefix: str | os.PathLike[str]) -> Environment:
    """An environment built earlier at ``prefix`` (``--env-prefix``), e.g. baked into a container image."""
    from .envs.prefix import prefix_python

    prefix = Path(prefix)
    python = prefix_python(prefix)
    if not python.exists():
        raise EnvreproError("no bin/python in the given environment prefix", path=prefix,
                            hint="build one with `envrepro env create -m MODEL --prefix PATH`")
    return Environment(prefix, python, "prefix")


def create_env(model_uri: str | Path, *, env_manager: str | None = None,
               pip_requirements_override: Sequence[str] | None = None, quiet: bool = False,
               env_prefix: str | os.PathLike[str] | None = None, in_use: contextlib.ExitStack | None = None,
               **engine_options: object) -> Environment:
    """Build (or reuse from the cache) the environment a model recorded, and return it.

    ``env_manager``: "uv", "virtualenv", "conda" or "local"; by default uv when installed, else virtualenv (for a
    model unpacked from a bundle, the bundle's manager: see envrepro.bundle.origin).

    ``prefix=PATH`` (an engine option) builds at PATH instead of the cache; ``env_prefix=PATH`` uses an
    environment built there earlier and builds nothing. ``resolve_as_of=DATE|"now"`` (an engine option)
    overrides the date what the model leaves unpinned resolves as of (default: its save time, for models
    older than a week; see :mod:`envrepro.asof`).

    ``in_use``: a cached environment is found with its in-use lock held, until this stack closes, so
    `env rm`/`env prune` cannot remove it before the caller has run in it.
    """
    if env_prefix is not None:
        ModelDir.open(model_uri)  # still fail clearly on a bad model path
        return existing_env(env_prefix)
    # A model unpacked from a bundle (`-m bundle.tar`) builds with the bundle's manager, from its packages.
    from .bundle.origin import bundled_env_manager

    env_manager = bundled_env_manager(model_uri, env_manager)
    if env_manager is None:  # uv when it is installed, virtualenv (or venv) otherwise
        from .envs.venv_engine import default_venv_tool

        env_manager = default_venv_tool()
    if env_manager not in ENV_MANAGERS:
        raise EnvreproError(f"unknown env manager {env_manager!r}", hint=f"use one of {', '.join(ENV_MANAGERS)}")
    model = ModelDir.open(model_uri)
    env = read_model_env(model)
    override = coerce_requirements(list(pip_requirements_override or []),
                                   argument="--pip-requirements-override").requirements
    if env_manager == "local":
        from .envs.local_engine import check_environment

        mismatches = check_environment(env.requirements + override, env.constraints,
                                       python_version=env.python_version)
        for mismatch in mismatches:
            log.warning("local environment: %s", mismatch)
        return Environment(Path(sys.prefix), Path(sys.executable), "local", mismatches)
    from .env_build import build_model_env

    built = build_model_env(model, env, env_manager, override, quiet=quiet, in_use=in_use,
                            **engine_options)  # type: ignore[arg-type]
    in_cache = engine_options.get("prefix") is None  # --prefix builds live outside the cache
    return Environment(built.prefix, built.python, env_manager, cache_key=built.key if in_cache else None)


def list_envs() -> list[CachedEnv]:
    """The cached environments, most recently used first (``envrepro env list``)."""
    from .envs.cache import EnvCache

    return EnvCache().list()


def remove_env(key_or_prefix: str, *, force: bool = False) -> Path:
    """Remove one cached environment, by key or prefix (``envrepro env rm``); refused while in use unless ``force``."""
    from .envs.cache import EnvCache

    return EnvCache().remove(key_or_prefix, force=force)


def prune_envs(days: float) -> list[CachedEnv]:
    """Remove environments unused for ``days`` days, and half-built leftovers (``envrepro env prune``)."""
    from .envs.cache import EnvCache

    return EnvCache().prune(days)


def parse_channel_aliases(items: Sequence[str]) -> dict[str, str]:
    """``['conda-forge=/srv/mirror/cf', '*=https://mirror/conda']`` → the channel-alias map engines take."""
    from .envs.conda_spec import parse_channel_alias

    return parse_channel_alias(list(items))
