"""Copy ``code_paths`` under ``code/`` keeping each entry's own name, and put ``code/`` on sys.path on load."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

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
        name = source.resolve().name
        if name in targets or (code_dir / name).exists():
            raise EnvreproError(
                f"code_paths entries {os.fspath(targets.get(name, code_dir / name))!r} and {os.fspath(source)!r} would both be copied "
                f"to code/{name}", path=source, hint="rename one of them or put them in one package directory",
            )
        targets[name] = source
    code_dir.mkdir(parents=True, exist_ok=True)
    for name, source in targets.items():
        if source.is_dir():
            shutil.copytree(source, code_dir / name, ignore=_IGNORE, symlinks=False)
        else:
            shutil.copy2(source, code_dir / name)
    return sorted(targets)


def add_code_dir_to_path(code_dir: Path | None) -> None:
    """``code/`` goes first on sys.path so the model's own modules shadow same-named installed ones."""
    if code_dir is None:
        return
    entry = str(code_dir.resolve())
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)
