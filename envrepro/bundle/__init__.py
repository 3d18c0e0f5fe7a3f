"""Air-gapped bundles: one file with a model, its lock and every package, installed with no network.

See docs/bundles.md. Public API: :func:`create_bundle` (write one), :func:`open_bundle` (unpack and verify
one; its ``model_dir`` works wherever a model directory does), :func:`create_env_from_bundle` (the model's
environment from the bundle's packages only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

# Imported on first use: `env create` asks whether a model came from a bundle on every call.
_LAZY = {
    "BundleError": ".archive",
    "BundleSummary": ".create", "create_bundle": ".create",
    "create_env_from_bundle": ".install",
    "Manifest": ".manifest",
    "OpenedBundle": ".unpack", "is_bundle": ".unpack", "open_bundle": ".unpack",
}
__getattr__ = lazy_attributes(__name__, _LAZY, globals())

if TYPE_CHECKING:
    from .archive import BundleError
    from .create import BundleSummary, create_bundle
    from .install import create_env_from_bundle
    from .manifest import Manifest
    from .unpack import OpenedBundle, is_bundle, open_bundle

__all__ = ["BundleError", "BundleSummary", "Manifest", "OpenedBundle", "create_bundle", "create_env_from_bundle",
           "is_bundle", "open_bundle"]
