"""Give a copy of a model a current lock for some platforms: the model's own lock when it fits, else a fresh one.

Used where a model travels (a Docker build context, a bundle): the copy must carry a lock that holds the
target platforms and matches the model's env files, so the far side installs without solving. A fresh lock is
written into the copy only; the user's model directory is never changed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import EnvreproError
from ..lockfile import DEFAULT_LOCK_NAME, KIND_KEY, PYTHON_KEY, Lockfile, read_lockfile
from .check import check_lock
from .create import lock_model
from .locate import find_lock, record_lock

LockKind = Literal["conda", "pip"]


@dataclass(frozen=True)
class EnsuredLock:
    path: Path  # inside the copy
    note: str | None  # why the model's own lock was not used, when it was not


def ensure_lock(model_dir: str | os.PathLike, copy_dir: str | os.PathLike, platforms: Sequence[str], *,
                kind: LockKind | None = None, channel_alias: Mapping[str, str] | None = None, quiet: bool = False,
                into: str = "the build context", for_what: str = "the image") -> EnsuredLock:
    """Make ``copy_dir`` (a copy of ``model_dir``) record a current lock holding ``platforms``.

    ``kind`` asks for a conda or a pip (``--pip-only``) lock; None accepts the model's lock of either kind and
    makes a conda lock when there is none (a pip lock when the model's unusable lock was one). ``into`` and
    ``for_what`` name the destination in the note and in errors.
    """
    model_dir, copy_dir = Path(model_dir), Path(copy_dir)
    target = copy_dir / DEFAULT_LOCK_NAME
    original = find_lock(model_dir)
    reason = _unusable(model_dir, original, platforms, kind) if original is not None else "the model has no lock"
    _drop_copied_lock(model_dir, copy_dir, original)
    note = None
    if reason is None:
        assert original is not None
        target.write_bytes(original.read_bytes())
        record_lock(copy_dir, target)  # the copy's MLmodel, so `env create --from-lock` finds it there
    else:
        fresh = kind or ("pip" if original is not None and lock_kind(read_lockfile(original)) == "pip" else "conda")
        where = ", ".join(platforms)
        note = f"{reason}: locking it for {where} into {into} (the model itself is not changed)"
        try:
            lock_model(copy_dir, platforms, target, channel_alias=channel_alias, quiet=quiet,
                       pip_only=fresh == "pip", record=True)
        except EnvreproError as exc:
            path = exc.path.replace(str(copy_dir), str(model_dir), 1) if exc.path else None  # the user's file
            raise type(exc)(f"cannot lock the model for {where} for {for_what}: {exc.message}",
                            path=path, hint=exc.hint) from None
    status = check_lock(copy_dir, target)
    if not status.ok:  # the copy must be exactly what was locked
        raise EnvreproError(status.describe(), path=target)
    return EnsuredLock(target, note)


def lock_kind(lock: Lockfile) -> str:
    """"conda" or "pip" (a ``--pip-only`` lock); a lock made by conda-lock is a conda lock."""
    return lock.metadata.custom.get(KIND_KEY, "conda")


def locked_python(lock: Lockfile, platform: str) -> str | None:
    """The Python the lock gives ``platform``: recorded in a pip lock, its python package's in a conda lock."""
    if lock_kind(lock) == "pip":
        return lock.metadata.custom.get(PYTHON_KEY)
    python = next((p for p in lock.for_platform(platform, "conda") if p.name == "python"), None)
    return python.version if python is not None else None


def _unusable(model_dir: Path, lock_path: Path, platforms: Sequence[str], kind: LockKind | None) -> str | None:
    lock = read_lockfile(lock_path)
    missing = [p for p in platforms if p not in lock.metadata.platforms]
    if missing:
        return f"the model's lock has no {', '.join(missing)} (it has {', '.join(lock.metadata.platforms) or 'none'})"
    if kind is not None and lock_kind(lock) != kind:
        asked = "--pip-only asks for a pip lock" if kind == "pip" else "a conda lock is needed"
        return f"the model's lock is a {lock_kind(lock)} lock and {asked}"
    status = check_lock(model_dir, lock_path)
    if not status.ok:
        return status.describe()
    return None


def _drop_copied_lock(model_dir: Path, copy_dir: Path, original: Path | None) -> None:
    """A lock stored elsewhere in the model is replaced by ``conda-lock.yml`` in the copy: don't ship both."""
    if original is None:
        return
    try:
        rel = original.resolve().relative_to(model_dir.resolve())
    except ValueError:
        return
    if rel.as_posix() != DEFAULT_LOCK_NAME:
        (copy_dir / rel).unlink(missing_ok=True)
