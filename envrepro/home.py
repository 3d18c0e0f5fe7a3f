"""Where envrepro keeps its state: ``$ENVREPRO_HOME``, else ``$XDG_CACHE_HOME/envrepro``, else ``~/.cache/envrepro``."""

from __future__ import annotations

import os
from pathlib import Path


def envrepro_home() -> Path:
    explicit = os.environ.get("ENVREPRO_HOME")
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "envrepro"
