"""Lock a model's environment for several platforms in conda-lock's format, check it, rebuild from it.

See docs/locking.md. Public API: :func:`lock_model`, :func:`check_lock`, :func:`find_lock`,
:func:`install_from_lock`, :func:`render_lock`, :func:`read_lockfile`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

# Imported on first use: `env create` looks for a lock on every call and must not pay for the lock machinery.
_LAZY = {
    "LockCheck": ".check", "check_lock": ".check",
    "DEFAULT_PLATFORMS": ".create", "lock_model": ".create",
    "install_from_lock": "..envs.from_lock",
    "MLMODEL_KEY": ".locate", "find_lock": ".locate", "record_lock": ".locate",
    "DEFAULT_LOCK_NAME": "..lockfile", "LockedPackage": "..lockfile", "Lockfile": "..lockfile",
    "LockMetadata": "..lockfile", "read_lockfile": "..lockfile", "write_lockfile": "..lockfile",
    "render_lock": ".render", "render_model_lock": ".render",
    "default_virtual_packages": ".virtual",
}
__getattr__ = lazy_attributes(__name__, _LAZY, globals())

if TYPE_CHECKING:
    from ..envs.from_lock import install_from_lock
    from ..lockfile import DEFAULT_LOCK_NAME, LockedPackage, Lockfile, LockMetadata, read_lockfile, write_lockfile
    from .check import LockCheck, check_lock
    from .create import DEFAULT_PLATFORMS, lock_model
    from .locate import MLMODEL_KEY, find_lock, record_lock
    from .render import render_lock, render_model_lock
    from .virtual import default_virtual_packages

__all__ = [
    "DEFAULT_LOCK_NAME",
    "DEFAULT_PLATFORMS",
    "MLMODEL_KEY",
    "LockCheck",
    "LockMetadata",
    "LockedPackage",
    "Lockfile",
    "check_lock",
    "default_virtual_packages",
    "find_lock",
    "install_from_lock",
    "lock_model",
    "read_lockfile",
    "record_lock",
    "render_lock",
    "render_model_lock",
    "write_lockfile",
]
