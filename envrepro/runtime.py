"""Make envrepro's own code reachable from a model's environment without installing anything into it.

A small directory (``$ENVREPRO_HOME/runtime/<hash>/``) holds envrepro, the built-in flavors, a
dist-info with their entry points, and the pure-Python libraries the loader needs (pluggy, packaging,
PyYAML's pure part, cloudpickle). The model's python starts ``bootstrap.py`` in isolated mode; the
bootstrap *appends* that directory to ``sys.path``, so every package the model pins wins over ours.
"""

from __future__ import annotations

import hashlib
import importlib
import shutil
from importlib import metadata
from pathlib import Path

from .fsutil import staging_dir
from .home import envrepro_home

# Only pure-Python code is copied: the target may be another ABI.
_LIBRARIES = ("envrepro", "envrepro_flavors", "pluggy", "packaging", "yaml", "cloudpickle")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.pyd", "*.dylib")

BOOTSTRAP = """\
import os, sys
# Appended, not prepended: the model's own pins of these libraries win over envrepro's copies.
sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from envrepro.serving.worker import main
sys.exit(main())
"""


def _source_dirs() -> dict[str, Path]:
    return {name: Path(importlib.import_module(name).__file__).parent for name in _LIBRARIES}


def _fingerprint(dirs: dict[str, Path]) -> str:
    digest = hashlib.sha256(BOOTSTRAP.encode())
    for name, root in sorted(dirs.items()):
        for path in sorted(root.rglob("*.py")):
            stat = path.stat()
            digest.update(f"{name}/{path.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _dist_info(target: Path) -> None:
    dist = metadata.distribution("envrepro")
    info = target / f"envrepro-{dist.version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: envrepro\nVersion: {dist.version}\n")
    entry_points = dist.read_text("entry_points.txt") or ""
    (info / "entry_points.txt").write_text(entry_points)


def runtime_dir() -> Path:
    """The runtime directory for the running envrepro, built once (atomically) and reused."""
    dirs = _source_dirs()
    final = envrepro_home() / "runtime" / _fingerprint(dirs)
    if (final / "bootstrap.py").exists():
        return final
    with staging_dir(final, replace=False) as tmp:  # a concurrent builder may win: keep its copy
        for name, source in dirs.items():
            shutil.copytree(source, tmp / name, ignore=_IGNORE)
        _dist_info(tmp)
        (tmp / "bootstrap.py").write_text(BOOTSTRAP)
    return final


def worker_command(python: str | Path, *args: str) -> list[str]:
    # -I: nothing from the user's site or PYTHON* variables; -B: no bytecode written into the model's code/.
    return [str(python), "-I", "-B", str(runtime_dir() / "bootstrap.py"), *args]
