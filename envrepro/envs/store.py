"""The local package store, ``$ENVREPRO_HOME/locked-pkgs/<key>/<file>``: package files by content.

``<key>`` is the file's sha256 (``md5-<md5>`` for a conda-lock entry that gives only an md5). Downloads of
locked packages land there (``envrepro.envs.from_lock``) and unpacking a bundle puts its packages there
(``envrepro.bundle``), so an install finds them by hash instead of fetching them.
"""

from __future__ import annotations

from pathlib import Path

from ..fsutil import file_digest
from ..home import envrepro_home


def store_root() -> Path:
    return envrepro_home() / "locked-pkgs"


def find_stored(filename: str) -> Path | None:
    """A stored file named ``filename`` whose bytes still match its sha256 key, or None."""
    for path in sorted(store_root().glob(f"*/{filename}")):
        if is_intact(path):
            return path
    return None


def is_intact(path: Path) -> bool:
    """``path`` (``<store>/<sha256>/<file>``) is a file whose sha256 is the name of its directory."""
    try:
        return path.is_file() and file_digest(path) == path.parent.name
    except OSError:
        return False
