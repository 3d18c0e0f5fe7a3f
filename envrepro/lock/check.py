"""Is a lock still the lock of the model's environment? Compare each platform's input hash.

The hash is recomputed from the model's current spec with the virtual packages recorded in the lock (so
overrides given at lock time are honoured) and compared with ``metadata.content_hash``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EnvreproError
from ..model import ModelDir
from . import virtual
from .inputs import read_lock_input
from .locate import find_lock
from .lockfile import read_lockfile

KIND_KEY = "envrepro.kind"
PYTHON_KEY = "envrepro.python"
VPKG_KEY = "envrepro.virtual_packages."


@dataclass
class LockCheck:
    """Result of :func:`check_lock`; true when the lock is current for every platform it holds."""

    lock_path: Path
    platforms: list[str]
    stale: list[str] = field(default_factory=list)  # platforms whose input hash no longer matches
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return not self.stale

    def __bool__(self) -> bool:
        return self.ok

    def describe(self) -> str:
        if self.ok:
            return f"{self.lock_path}: up to date for {', '.join(self.platforms)}"
        why = f" ({self.reason})" if self.reason else ""
        return (f"{self.lock_path}: out of date for {', '.join(self.stale)}{why}: the model's environment "
                f"changed since it was locked; refresh it with `envrepro lock`")


def check_lock(model_path: str | os.PathLike, lock_path: str | os.PathLike | None = None) -> LockCheck:
    model = ModelDir.open(model_path)
    path = Path(lock_path) if lock_path is not None else find_lock(model.path)
    if path is None:
        raise EnvreproError("the model has no lock file", path=model.path, hint="create one with `envrepro lock`")
    lock = read_lockfile(path)
    kind = lock.metadata.custom.get(KIND_KEY)
    if kind not in ("conda", "pip"):
        # Made by conda-lock itself: its hash covers its own view of the spec, which envrepro does not redo.
        return LockCheck(path, lock.metadata.platforms, stale=list(lock.metadata.platforms),
                         reason="the lock was not made by envrepro, so its input hash cannot be checked")
    spec = read_lock_input(model, kind)  # type: ignore[arg-type]
    stale = []
    for platform in lock.metadata.platforms:
        recorded = lock.metadata.custom.get(VPKG_KEY + platform)
        vpkgs = virtual.decode(recorded) if recorded is not None else virtual.virtual_packages_for(platform)
        if lock.metadata.content_hash.get(platform) != spec.content_hash(platform, vpkgs):
            stale.append(platform)
    return LockCheck(path, lock.metadata.platforms, stale=stale)
