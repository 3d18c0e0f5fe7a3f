"""Getting a model's environment onto Spark's executors: a bundle made once on the driver, installed once per
executor machine, never resolved there.

- **Driver**: :func:`driver_bundle` makes the model's bundle (its lock, every package; see docs/bundles.md) once
  per model content, kept in ``$ENVREPRO_HOME/spark/bundles/``; a model given as a bundle is used as it is.
  ``spark_udf`` then ships it with ``SparkContext.addFile`` (not in local mode: the executors share the
  driver's disk, so the driver installs it and they find it installed).
- **Executor**: :func:`installed_env` installs it with ``create_env_from_bundle`` (no network: uv ``--offline``
  or pip ``--no-index``, every hash checked) into the executor's ``$ENVREPRO_HOME``, once: Spark runs several
  Python workers per executor, so a file lock lets one install while the others wait, and a small marker
  file lets every later worker (and application) skip straight to the installed environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..home import envrepro_home

SPARK_DIR = "spark"  # under ENVREPRO_HOME
# What a driver's bundle holds, beyond the version: 2 = its sdists' build wheels and a 3.6/3.7 venv's pip, so a
# bundle cached before those were carried is made again rather than reused.
BUNDLE_CONTENT = 2


@dataclass(frozen=True)
class Shipment:
    """What every executor needs to score with the model (pickled into the UDF)."""

    bundle_id: str  # the sha256 of the bundle's manifest (its unpacked copy is bundles/<id>)
    file_name: str  # as SparkFiles knows it (addFile)
    driver_path: str  # the bundle on the driver: read directly in local mode
    local: bool  # the executors share the driver's machine (local[N])
    model_name: str  # for error messages
    result_type: Any  # a pyspark DataType
    params: dict[str, Any] | None
    expected: list[Any] | None  # the input columns the model names (signature or input example), in order
    required: list[Any] | None  # those of them a batch must have for its columns to be taken by name


@dataclass(frozen=True)
class InstalledEnv:
    python: str
    model_dir: str
    cache_key: str | None


def driver_bundle(model_uri: str | os.PathLike, env_manager: str | None, *, quiet: bool = True) -> Path:
    """The bundle to ship: ``model_uri`` when it is one, else the model's, made once per model content."""
    from ..bundle import create_bundle, is_bundle
    from ..envs.from_lock import local_platform
    from ..envs.venv_engine import default_venv_tool
    from ..model import ModelDir

    if is_bundle(model_uri):
        _check_manager(Path(model_uri), env_manager)
        return Path(model_uri).absolute()
    model = ModelDir.open(model_uri)
    manager = env_manager or default_venv_tool()
    key = hashlib.sha256(json.dumps({"model": _tree_fingerprint(model.path), "manager": manager,
                                     "platform": local_platform(), "envrepro": _version(),
                                     "content": BUNDLE_CONTENT}).encode()).hexdigest()
    out = envrepro_home() / SPARK_DIR / "bundles" / f"{key[:32]}.tar"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(out.with_suffix(".lock")):
        if not out.is_file():
            create_bundle(model.path, out, env_manager=manager, quiet=quiet)  # written atomically
    return out


def _check_manager(bundle: Path, env_manager: str | None) -> None:
    """A bundle installs with the kind of manager it was made for (its packages are conda's or pip's)."""
    from ..bundle.archive import BundleError, read_manifest
    from ..bundle.manifest import Manifest

    manifest = Manifest.from_json(read_manifest(bundle), bundle)
    if env_manager is not None and (env_manager == "conda") != (manifest.lock_kind == "conda"):
        raise BundleError(f"the bundle holds a {manifest.env_manager} environment, which env_manager="
                          f"{env_manager!r} cannot install", path=bundle, hint="omit env_manager")


def _version() -> str:
    from .. import __version__

    return __version__


def _tree_fingerprint(root: Path) -> list[tuple[str, int, int]]:
    """Every file's relative path, size and mtime: a changed model gets a new bundle (stat only: models are big)."""
    entries = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            stat = path.stat()
            entries.append((path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns))
    return entries


def bundle_id(bundle: Path) -> str:
    """The id ``open_bundle`` unpacks a bundle under: the sha256 of its manifest."""
    from ..bundle.archive import read_manifest

    return hashlib.sha256(read_manifest(bundle)).hexdigest()[:32]


def shipped_copy(bundle: Path, bundle_id_: str) -> Path:
    """The bundle under a name unique to its content, for ``addFile`` (two bundles may share a file name).

    Not ``.tar``: Spark's fetchFile untars any ``.tar`` it is given, on the driver and on every executor, which
    cost a bundle's size in disk twice per machine for nothing (bundles are recognised by content)."""
    target = envrepro_home() / SPARK_DIR / "ship" / f"envrepro-{bundle_id_}.bundle"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    try:
        os.link(bundle, tmp)
    except OSError:  # another file system
        os.symlink(bundle.resolve(), tmp)
    os.replace(tmp, target)
    return target


def installed_env(ship: Shipment) -> InstalledEnv:
    """The model's environment on this machine, installed from the shipped bundle the first time."""
    root = envrepro_home() / SPARK_DIR
    marker = root / "installed" / f"{ship.bundle_id}.json"
    found = _read_marker(marker)
    if found is not None:
        return found
    marker.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(marker.with_suffix(".lock")):
        found = _read_marker(marker)
        if found is not None:
            return found
        from ..bundle import create_env_from_bundle, open_bundle
        from ..fsutil import atomic_write_text

        bundle = ship.driver_path if ship.local else _spark_file(ship.file_name)
        env = create_env_from_bundle(bundle, quiet=True)  # its sdists build from the wheels it carries
        installed = InstalledEnv(str(env.python), str(open_bundle(bundle, quiet=True).model_dir), env.cache_key)
        atomic_write_text(marker, json.dumps(asdict(installed)))
        return installed


def _spark_file(name: str) -> str:
    from pyspark import SparkFiles

    return SparkFiles.get(name)


def _read_marker(marker: Path) -> InstalledEnv | None:
    """The environment a marker names, if it is all still there (a pruned cache installs again)."""
    try:
        installed = InstalledEnv(**json.loads(marker.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not (Path(installed.python).exists() and (Path(installed.model_dir) / "MLmodel").is_file()):
        return None
    if installed.cache_key is not None:
        from ..envs.cache import EnvCache

        if EnvCache().lookup(installed.cache_key) is None:
            return None
    return installed


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created), held for the block: one process at a time, across processes."""
    import fcntl

    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
