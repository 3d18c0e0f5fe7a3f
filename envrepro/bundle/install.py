"""``env create --from-bundle``: build a model's environment from a bundle's packages only, never the network.

The bundled lock is installed exactly as ``env create --from-lock`` installs a lock (no solve, every hash
checked before anything is linked), with every package taken from the local package store that unpacking the
bundle filled: conda archives by ``file://`` path, pip files with ``uv --offline`` / ``pip --no-index``.
"""

from __future__ import annotations

import os

from ..environments import Environment, create_env
from ..envs.from_lock import local_platform
from ..errors import EnvironmentBuildError
from .archive import BundleError
from .unpack import open_bundle


def create_env_from_bundle(bundle: str | os.PathLike, *, env_manager: str | None = None,
                           prefix: str | os.PathLike | None = None, quiet: bool = False) -> Environment:
    """The environment of the bundle's model, installed from the bundle (cached by content, or at ``prefix``)."""
    opened = open_bundle(bundle, quiet=quiet)
    manifest = opened.manifest
    manager = env_manager or manifest.env_manager
    if manager == "local" or (manager == "conda") != (manifest.lock_kind == "conda"):
        fits = "conda" if manifest.lock_kind == "conda" else "uv or virtualenv"
        raise BundleError(f"the bundle holds a {manifest.env_manager} environment, which --env-manager {manager} "
                          "cannot install", path=bundle, hint=f"omit --env-manager, or use {fits}")
    platform = local_platform()
    if platform not in manifest.platforms:
        raise BundleError(f"the bundle has packages for {', '.join(manifest.platforms)}, not for this machine "
                          f"({platform})", path=bundle,
                          hint=f"make one for it: envrepro bundle -m MODEL -p {platform} -o FILE")
    if manifest.lock_kind == "pip" and manifest.python_version:
        _require_python(manifest.python_version, bundle)
    if prefix is not None:
        return create_env(opened.model_dir, env_manager=manager, from_lock=True, quiet=quiet, prefix=prefix)
    return create_env(opened.model_dir, env_manager=manager, from_lock=True, quiet=quiet)


def _require_python(version: str, bundle: str | os.PathLike) -> None:
    """A pip bundle makes a venv: its Python must already be on this machine (a conda bundle carries one)."""
    from ..envs.interpreters import find_interpreter

    minor = ".".join(version.split(".")[:2])
    try:
        find_interpreter(minor)
    except EnvironmentBuildError as exc:
        found = exc.message.split("; ", 1)[-1]
        raise BundleError(f"the bundle installs a virtual environment on Python {version}, and this machine has "
                          f"no Python {minor} ({found})", path=bundle,
                          hint=f"install Python {minor} (OS packages or an installer: no package index needed), "
                               "or bundle with --env-manager conda, which carries its own Python") from None
