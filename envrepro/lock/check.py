"""Is a lock still the lock of the model's environment? Compare each platform's input hash.

The hash is recomputed from the model's current spec with the virtual packages recorded in the lock (so
overrides given at lock time are honoured) and compared with ``metadata.content_hash``. A lock made by
conda-lock carries conda-lock's hashes, computed over conda-lock's own reading of its source files, which
envrepro does not redo: such a lock is *not checkable* (neither current nor stale).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..errors import EnvreproError
from ..lockfile import KIND_KEY, PYTHON_KEY, VPKG_KEY, read_lockfile
from ..model import ModelDir
from . import virtual
from .inputs import read_lock_input
from .locate import find_lock


@dataclass
class LockCheck:
    """Result of :func:`check_lock`; true only when the lock is known to be current for every platform."""

    lock_path: Path
    platforms: list[str]
    stale: list[str] = field(default_factory=list)  # platforms whose input hash no longer matches
    checkable: bool = True  # False for a lock made by conda-lock (its input hash is conda-lock's)
    problem: str | None = None  # what else makes it stale (its recorded Python is not the model's)

    @property
    def status(self) -> Literal["current", "stale", "not checkable"]:
        return "not checkable" if not self.checkable else "stale" if self.stale else "current"

    @property
    def ok(self) -> bool:
        return self.status == "current"

    def __bool__(self) -> bool:
        return self.ok

    def describe(self) -> str:
        if not self.checkable:
            return (f"{self.lock_path}: not checkable: it was made by conda-lock, whose input hash envrepro "
                    f"cannot recompute")
        if self.ok:
            return f"{self.lock_path}: up to date for {', '.join(self.platforms)}"
        why = self.problem or "the model's environment changed since it was locked"
        return f"{self.lock_path}: out of date for {', '.join(self.stale)}: {why}; refresh it with `envrepro lock`"


def check_lock(model_path: str | os.PathLike, lock_path: str | os.PathLike | None = None) -> LockCheck:
    model = ModelDir.open(model_path)
    path = Path(lock_path) if lock_path is not None else find_lock(model.path)
    if path is None:
        raise EnvreproError("the model has no lock file", path=model.path, hint="create one with `envrepro lock`")
    lock = read_lockfile(path)
    kind = lock.metadata.custom.get(KIND_KEY)
    if not lock.made_by_envrepro:
        return LockCheck(path, lock.metadata.platforms, checkable=False)
    if kind not in ("conda", "pip"):
        raise EnvreproError(f"the lock's {KIND_KEY} is {kind!r}, not 'conda' or 'pip'", path=path,
                            hint="regenerate it with `envrepro lock`")
    spec = read_lock_input(model, kind)  # type: ignore[arg-type]
    stale = []
    for platform in lock.metadata.platforms:
        recorded = lock.metadata.custom.get(VPKG_KEY + platform)
        vpkgs = virtual.decode(recorded) if recorded is not None else virtual.virtual_packages_for(platform)
        if lock.metadata.content_hash.get(platform) != spec.content_hash(platform, vpkgs):
            stale.append(platform)
    # A pip lock's venv is created with the Python the lock records, which its input hash does not cover
    # (the hash is of the model's spec): it must be the model's own, or an edited lock builds another Python.
    python = lock.metadata.custom.get(PYTHON_KEY)
    if kind == "pip" and str(python) != spec.python_version:
        return LockCheck(path, lock.metadata.platforms, stale=list(lock.metadata.platforms),
                         problem=f"it records Python {python!r} ({PYTHON_KEY}), the model needs {spec.python_version}")
    return LockCheck(path, lock.metadata.platforms, stale=stale)
