"""The lock an image installs: the model's own when it is current and holds the platform, else a fresh one.

A fresh lock is written into the build context's copy of the model (never into the user's model), so the
image build itself never solves: it only installs what the lock lists, hash-checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvreproError
from ..lock import read_lockfile
from ..lock.ensure import ensure_lock, lock_kind, locked_python
from ..lockfile import Lockfile
from .platforms import DOCKER_PLATFORMS


@dataclass(frozen=True)
class ChosenLock:
    path: Path  # inside the context's model copy
    lock: Lockfile
    kind: str  # "conda" or "pip"
    platform: str
    python_version: str | None  # of the locked environment
    content_hash: str  # the lock's input hash for ``platform``
    sha256: str  # of the lock file
    note: str | None  # why the model's own lock was not used, when it was not


def choose_lock(model_dir: Path, copy_dir: Path, platform: str, *, pip_only: bool = False,
                channel_alias: Mapping[str, str] | None = None, quiet: bool = False) -> ChosenLock:
    """Give ``copy_dir`` (the context's copy of ``model_dir``) a current lock for ``platform``."""
    if platform not in DOCKER_PLATFORMS:
        raise EnvreproError(f"unsupported image platform {platform!r}",
                            hint=f"use one of {', '.join(DOCKER_PLATFORMS)}")
    ensured = ensure_lock(model_dir, copy_dir, [platform], kind="pip" if pip_only else None,
                          channel_alias=channel_alias, quiet=quiet)
    target = ensured.path
    lock = read_lockfile(target)
    data = target.read_bytes()
    return ChosenLock(target, lock, lock_kind(lock), platform, locked_python(lock, platform),
                      lock.metadata.content_hash.get(platform, ""), hashlib.sha256(data).hexdigest(), ensured.note)
