"""Atomic writes: nothing on disk is ever left half-written."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory, then rename."""
    atomic_write_files({path: text})


def atomic_write_files(files: dict[str | os.PathLike, str]) -> None:
    """Write several files so that either all new versions land or none do (best effort).

    Every file is first written to a temporary sibling; only when all writes succeeded are they renamed
    into place, so a failure while writing (bad disk, permission) leaves the old set untouched.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for target, text in files.items():
            target = Path(target)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            staged.append((tmp, target))
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            if target.exists():
                shutil.copymode(target, tmp)
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    for tmp, target in staged:
        os.replace(tmp, target)


@contextlib.contextmanager
def staging_dir(final: str | os.PathLike, *, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary directory next to ``final``; rename it to ``final`` when the block succeeds.

    On any error the temporary directory is removed, so ``final`` either does not exist or is complete.
    With ``replace=False`` an existing ``final`` (e.g. built meanwhile by another process) is kept and
    the new copy discarded.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        yield tmp
        if not final.exists():
            try:
                os.rename(tmp, final)
            except OSError:
                if replace or not final.exists():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
        elif replace:
            _replace_dir(tmp, final)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_dir(tmp: Path, final: Path) -> None:
    # os.replace cannot overwrite a non-empty directory: move the old one aside first.
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)
