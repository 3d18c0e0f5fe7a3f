"""Lock a model's environment for several platforms in conda-lock's format, check it, rebuild from it.

See docs/locking.md. Public API: :func:`lock_model`, :func:`check_lock`, :func:`find_lock`,
:func:`install_from_lock`, :func:`render_lock`, :func:`read_lockfile`.
"""

from __future__ import annotations

from .check import LockCheck, check_lock
from .create import DEFAULT_PLATFORMS, lock_model
from .install import install_from_lock
from .locate import MLMODEL_KEY, find_lock, record_lock
from .lockfile import DEFAULT_LOCK_NAME, LockedPackage, Lockfile, LockMetadata, read_lockfile, write_lockfile
from .render import render_lock
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
    "write_lockfile",
]
