"""Where the interpreter of an environment lives: one rule for conda prefixes and venvs alike."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def prefix_python(prefix: str | os.PathLike) -> Path:
    """The interpreter of a conda prefix or venv (``bin/python``; on Windows ``python.exe`` or
    ``Scripts/python.exe``, whichever the prefix has)."""
    prefix = Path(prefix)
    if sys.platform == "win32":
        for candidate in (prefix / "python.exe", prefix / "Scripts" / "python.exe"):
            if candidate.exists():
                return candidate
        return prefix / "python.exe"
    return prefix / "bin" / "python"
