"""Did a model directory come from a bundle? Cheap to ask: ``env create`` asks on every call.

A model unpacked from a bundle lives at ``$ENVREPRO_HOME/bundles/<id>/model`` next to the bundle's manifest
(see ``unpack``); only a path of that shape costs more than a few string operations.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..home import envrepro_home

if TYPE_CHECKING:
    from .unpack import OpenedBundle

BUNDLES_DIR = "bundles"  # under ENVREPRO_HOME
MODEL_DIR = "model"  # in a bundle, and in its unpacked copy
MANIFEST_NAME = "envrepro-bundle.json"  # the first member of a bundle, and in its unpacked copy
log = logging.getLogger(__name__)


def unpacked_bundle(model_dir: str | os.PathLike) -> OpenedBundle | None:
    """The bundle a model directory was unpacked from (it is ``bundles/<id>/model``), else None."""
    model = Path(model_dir).absolute()
    root = model.parent
    if model.name != MODEL_DIR or root.parent.name != BUNDLES_DIR:  # most calls end here
        return None
    manifest_path = root / MANIFEST_NAME
    try:
        if not manifest_path.is_file() or root.parent.resolve() != (envrepro_home() / BUNDLES_DIR).resolve():
            return None
        data = manifest_path.read_bytes()
    except OSError:
        return None
    from .manifest import Manifest
    from .unpack import OpenedBundle

    return OpenedBundle(manifest_path, root, Manifest.from_json(data, manifest_path))


def bundled_env_manager(model_dir: str | os.PathLike, requested: str | None) -> str | None:
    """The env manager for a model unpacked from a bundle: the bundle's unless one is asked for.

    A manager whose kind differs from the bundle's (conda for a pip bundle, uv/virtualenv for a conda bundle)
    builds from the model's env files, not from the bundle's packages: that needs a package index, so it is
    said once. Returns ``requested`` for models that do not come from a bundle.
    """
    opened = unpacked_bundle(model_dir)
    if opened is None:
        return requested
    bundled = opened.manifest.env_manager
    if requested is None:
        return bundled
    if requested != "local" and (requested == "conda") != (bundled == "conda"):
        log.warning("the bundle holds a %s environment; --env-manager %s builds from the model's env files "
                    "instead, which needs a package index (omit --env-manager to install from the bundle)",
                    bundled, requested)
    return requested
