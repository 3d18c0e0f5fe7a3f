"""The lock an image installs: the model's own when it is current and holds the platform, else a fresh one.

A fresh lock is written into the build context's copy of the model (never into the user's model), so the
image build itself never solves: it only installs what the lock lists, hash-checked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import EnvreproError
from ..lock import DEFAULT_LOCK_NAME, check_lock, find_lock, lock_model, read_lockfile, record_lock
from ..lock.check import KIND_KEY, PYTHON_KEY
from ..lock.lockfile import Lockfile

PLATFORMS = ("linux-64", "linux-aarch64")


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
    if platform not in PLATFORMS:
        raise EnvreproError(f"unsupported image platform {platform!r}", hint=f"use one of {', '.join(PLATFORMS)}")
    target = copy_dir / DEFAULT_LOCK_NAME
    original = find_lock(model_dir)
    reason = _unusable(model_dir, original, platform, pip_only) if original is not None else "the model has no lock"
    _drop_copied_lock(model_dir, copy_dir, original)
    note = None
    if reason is None:
        assert original is not None
        target.write_bytes(original.read_bytes())
        record_lock(copy_dir, target)  # the copy's MLmodel, so `env create --from-lock` finds it in the image
    else:
        kind_pip = pip_only or (original is not None and _kind(read_lockfile(original)) == "pip")
        note = f"{reason}: locking it for {platform} into the build context (the model itself is not changed)"
        try:
            lock_model(copy_dir, [platform], target, channel_alias=channel_alias, quiet=quiet, pip_only=kind_pip,
                       record=True)
        except EnvreproError as exc:
            path = exc.path.replace(str(copy_dir), str(model_dir), 1) if exc.path else None  # the user's file
            raise type(exc)(f"cannot lock the model for {platform} for the image: {exc.message}",
                            path=path, hint=exc.hint) from None
    status = check_lock(copy_dir, target)
    if not status.ok:  # the copy must be exactly what was locked
        raise EnvreproError(status.describe(), path=target)
    lock = read_lockfile(target)
    data = target.read_bytes()
    return ChosenLock(target, lock, _kind(lock), platform, _python_version(lock, platform),
                      lock.metadata.content_hash.get(platform, ""), hashlib.sha256(data).hexdigest(), note)


def _unusable(model_dir: Path, lock_path: Path, platform: str, pip_only: bool) -> str | None:
    lock = read_lockfile(lock_path)
    if platform not in lock.metadata.platforms:
        return f"the model's lock has no {platform} (it has {', '.join(lock.metadata.platforms) or 'none'})"
    if pip_only and _kind(lock) != "pip":
        return "the model's lock is a conda lock and --pip-only asks for a pip lock"
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


def _kind(lock: Lockfile) -> str:
    return lock.metadata.custom.get(KIND_KEY, "conda")


def _python_version(lock: Lockfile, platform: str) -> str | None:
    if _kind(lock) == "pip":
        return lock.metadata.custom.get(PYTHON_KEY)
    python = next((p for p in lock.for_platform(platform, "conda") if p.name == "python"), None)
    return python.version if python is not None else None
