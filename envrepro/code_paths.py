"""Copy ``code_paths`` under ``code/`` keeping each entry's own name, and put ``code/`` on sys.path on load."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import EnvreproError

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", ".mypy_cache", ".pytest_cache")


def copy_code_paths(code_paths: Sequence[str | os.PathLike], code_dir: Path) -> list[str]:
    """Copy each entry to ``code_dir/<basename>`` (``../src`` → ``code/src``). Returns the names copied."""
    if isinstance(code_paths, (str, os.PathLike)):
        raise EnvreproError("code_paths must be a list of paths, not a single path",
                            hint=f"use code_paths=[{os.fspath(code_paths)!r}]")
    targets: dict[str, Path] = {}
    for entry in code_paths:
        source = Path(entry)
        if not source.exists():
            raise EnvreproError("code_paths entry not found", path=source,
                                hint="paths are relative to the current directory")
        name = Path(os.path.realpath(source)).name
        if not name:
            raise EnvreproError("code_paths entry is the root directory", path=source,
                                hint="name the package or module directory to copy")
        if source.is_dir():
            _check_tree(source)
        if name in targets or (code_dir / name).exists():
            raise EnvreproError(
                f"code_paths entries {os.fspath(targets.get(name, code_dir / name))!r} and {os.fspath(source)!r} "
                f"would both be copied "
                f"to code/{name}", path=source, hint="rename one of them or put them in one package directory",
            )
        targets[name] = source
    code_dir.mkdir(parents=True, exist_ok=True)
    for name, source in targets.items():
        try:
            if source.is_dir():
                shutil.copytree(source, code_dir / name, ignore=_IGNORE, symlinks=False)
            else:
                shutil.copy2(source, code_dir / name)
        except (shutil.Error, OSError) as exc:
            detail = exc.args[0][0][2] if isinstance(exc, shutil.Error) and exc.args and exc.args[0] else exc
            raise EnvreproError(f"cannot copy code_paths entry: {detail}", path=source) from None
    return sorted(targets)


def _check_tree(source: Path) -> None:
    """Refuse a directory that cannot be copied whole: a broken symlink or symlink loop in it, or a link back
    to a directory that contains it (copying would never end)."""
    stack = [(source, frozenset({os.path.realpath(source)}))]
    while stack:
        directory, ancestors = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            raise EnvreproError(f"cannot read code_paths entry: {exc.strerror or exc}", path=directory) from None
        ignored = _IGNORE(os.fspath(directory), [e.name for e in entries])
        for entry in entries:
            if entry.name in ignored:
                continue
            if entry.is_symlink() and not os.path.exists(entry.path):
                raise EnvreproError("code_paths entry holds a broken symlink or a symlink loop", path=entry.path,
                                    hint="remove the link or point it at a file")
            if entry.is_dir():  # through symlinks, as the copy goes
                real = os.path.realpath(entry.path)
                if real in ancestors:
                    raise EnvreproError("code_paths entry holds a symlink to a directory that contains it",
                                        path=entry.path, hint="remove the link: copying it would never end")
                stack.append((Path(entry.path), ancestors | {real}))


def add_code_dir_to_path(code_dir: Path | None) -> None:
    """``code/`` goes first on sys.path so the model's own modules shadow same-named installed ones."""
    if code_dir is None:
        return
    entry = str(code_dir.resolve())
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
