"""``create_bundle``: one file holding a model, its lock and every package the lock names (docs/bundles.md)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..envs.from_lock import CATEGORIES, fetch_verified, is_unhashed, local_platform
from ..envs.progress import Progress
from ..envs.sdist_builds import build_requires, is_sdist
from ..errors import EnvreproError
from ..fsutil import file_digest
from ..lock.ensure import ensure_lock, locked_python
from ..lock.inputs import LockKind
from ..lockfile import LockedPackage, Lockfile, read_lockfile
from ..model import ModelDir
from .archive import Entry, write_archive
from .manifest import MODEL_DIR, PACKAGES_DIR, BundledFile, BundledPackage, Manifest, mb

MANAGERS = ("uv", "virtualenv", "conda")


@dataclass(frozen=True)
class BundleSummary:
    path: Path
    manifest: Manifest
    size: int
    seconds: float

    def describe(self) -> str:
        return f"wrote {self.path} ({mb(self.size)}): {self.manifest.describe()}"


def create_bundle(model_path: str | os.PathLike, output: str | os.PathLike, *, platforms: Sequence[str] = (),
                  env_manager: str | None = None, channel_alias: Mapping[str, str] | None = None,
                  quiet: bool = False) -> BundleSummary:
    """Write ``output``: the model, its lock for ``platforms`` (default: this machine's) and the lock's packages.

    The lock is the model's own when it is current, of the manager's kind (a conda lock for ``conda``, a
    ``--pip-only`` lock for ``uv``/``virtualenv``) and holds the platforms; otherwise one is made into the
    bundle's copy of the model (the model itself is never changed). ``env_manager`` defaults to uv when it is
    installed, else virtualenv, as for ``env create``.
    """
    started = time.perf_counter()
    model = ModelDir.open(model_path)
    if env_manager is None:
        from ..envs.venv_engine import default_venv_tool

        env_manager = default_venv_tool()
    if env_manager not in MANAGERS:
        raise EnvreproError(f"cannot bundle for env manager {env_manager!r}", hint=f"use one of {', '.join(MANAGERS)}")
    kind: LockKind = "conda" if env_manager == "conda" else "pip"
    targets = list(dict.fromkeys(platforms)) or [local_platform()]
    out = _check_output(Path(output), model.path)
    progress = Progress(quiet=quiet)
    progress.step(f"bundling {model.path} for {', '.join(targets)} ({env_manager})")
    with tempfile.TemporaryDirectory(prefix=".envrepro-bundle-", dir=out.parent) as tmp:
        copy = Path(tmp) / MODEL_DIR
        shutil.copytree(model.path, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".git"))
        _make_writable(copy)  # a read-only model (a mount, a registry cache) gets its lock written into the copy
        ensured = ensure_lock(model.path, copy, targets, kind=kind, channel_alias=channel_alias, quiet=quiet,
                              into="the bundle", for_what="the bundle")
        if ensured.note:
            progress.step(ensured.note)
        lock = read_lockfile(ensured.path)
        chosen = _packages(lock, targets)
        paths = _fetch(chosen, lock, progress)
        build_requirements = _add_build_requirements(chosen, paths, lock, targets, progress)
        venv_tools = _add_venv_tools(chosen, paths, lock, targets, progress) if kind == "pip" else []
        model_files = _model_entries(copy)
        package_entries = [_package_entry(path, pkg, paths[path]) for path, (pkg, _) in sorted(chosen.items())]
        entries = model_files + package_entries
        manifest = Manifest(
            envrepro_version=__version__, env_manager=env_manager, lock_kind=kind, platforms=targets,
            lock=f"{MODEL_DIR}/{ensured.path.relative_to(copy).as_posix()}",
            python_version=locked_python(lock, targets[0]), model_uuid=model.mlmodel.model_uuid,
            lock_note=ensured.note,
            files=[BundledFile(e.name, e.sha256, e.size) for e in entries],
            packages=[BundledPackage(path, pkg.name, pkg.version, pkg.manager, where)
                      for path, (pkg, where) in sorted(chosen.items())],
            build_requirements=build_requirements, venv_tools=venv_tools)
        total = sum(e.size for e in entries)
        progress.step(f"writing {out} ({len(entries)} files, {mb(total)})")
        written = [0]

        def advance(n: int) -> None:
            written[0] += n
            progress.status(f"written {mb(written[0])} of {mb(total)}")

        write_archive(out, manifest.to_json(), entries, progress=advance if progress.enabled else None)
        progress.finish()
    return BundleSummary(out, manifest, out.stat().st_size, time.perf_counter() - started)


def _check_output(out: Path, model_dir: Path) -> Path:
    out = out.absolute()
    if out.is_dir():
        raise EnvreproError("the bundle's output is a directory", path=out, hint="name a file, e.g. model.tar")
    if not out.parent.is_dir():
        raise EnvreproError("the bundle's output directory does not exist", path=out,
                            hint=f"create {out.parent} first")
    if model_dir.resolve() in out.resolve().parents:
        raise EnvreproError("the bundle cannot be written inside the model directory", path=out,
                            hint="write it next to the model")
    return out


def _packages(lock: Lockfile, platforms: Sequence[str]) -> dict[str, tuple[LockedPackage, list[str]]]:
    """Archive path → (package, platforms it serves): what `env create --from-lock` installs, each file once."""
    missing = [p for p in platforms if p not in lock.metadata.platforms]
    if missing:  # ensure_lock makes sure they are there; a defensive check costs nothing
        raise EnvreproError(f"the lock has no {', '.join(missing)}", path=lock.path)
    chosen: dict[str, tuple[LockedPackage, list[str]]] = {}
    for platform in platforms:
        for pkg in lock.for_platform(platform, None, CATEGORIES):
            if pkg.manager == "pip" and is_unhashed(pkg):
                raise EnvreproError(
                    f"cannot bundle pip package {pkg.name}: the lock names it as {pkg.direct_reference} with no "
                    "file hash (a git checkout or an unhashed URL), which has no file to carry",
                    path=lock.path, hint="require a released version, or a wheel/sdist URL with #sha256=, and re-lock")
            path = f"{PACKAGES_DIR}/{pkg.sha256 or f'md5-{pkg.md5}'}/{pkg.filename}"
            chosen.setdefault(path, (pkg, []))[1].append(platform)
    return chosen


def _fetch(chosen: dict[str, tuple[LockedPackage, list[str]]], lock: Lockfile, progress: Progress) -> dict[str, Path]:
    """Every package's verified local file (downloaded into the local package store when needed)."""
    items = sorted(chosen.items())
    conda = sum(1 for _, (pkg, _) in items if pkg.manager == "conda")
    progress.step(f"collecting {len(items)} packages ({conda} conda, {len(items) - conda} pip), each hash-checked")
    done = [0]
    lock_ = threading.Lock()

    def fetched(pkg: LockedPackage, path: Path) -> None:
        with lock_:
            done[0] += 1
            progress.status(f"[{done[0]}/{len(items)}] {pkg.name} {pkg.version} ({mb(path.stat().st_size)})",
                            force=True)

    paths = fetch_verified([pkg for _, (pkg, _) in items], lock.path, on_fetched=fetched)
    progress.finish()
    return {path: local for (path, _), local in zip(items, paths)}


def _add_build_requirements(chosen: dict[str, tuple[LockedPackage, list[str]]], paths: dict[str, Path],
                            lock: Lockfile, platforms: Sequence[str], progress: Progress) -> dict[str, list[str]]:
    """The wheels the lock's sdists build with, added to ``chosen``/``paths``: sdist path → their paths.

    The target installs with no index, so it cannot fetch what building an sdist needs (see
    ``envrepro.envs.sdist_builds``); they are resolved here for each platform's Python, with hashes."""
    built: dict[str, set[str]] = {}
    for platform in platforms:
        sdists = [path for path, (pkg, where) in sorted(chosen.items())
                  if pkg.manager == "pip" and is_sdist(pkg.filename) and platform in where]
        python = locked_python(lock, platform)
        if not sdists or python is None:
            continue
        requires = sorted({r for path in sdists for r in build_requires(paths[path])})
        names = ", ".join(chosen[path][0].name for path in sdists)
        progress.step(f"resolving what {names} build{'s' if len(sdists) == 1 else ''} with on {platform} "
                      f"({', '.join(requires)})")
        for path in _add_resolved(requires, platform, python, chosen, paths, lock):
            for sdist in sdists:
                built.setdefault(sdist, set()).add(path)
    return {sdist: sorted(wheels) for sdist, wheels in sorted(built.items())}


def _add_venv_tools(chosen: dict[str, tuple[LockedPackage, list[str]]], paths: dict[str, Path], lock: Lockfile,
                    platforms: Sequence[str], progress: Progress) -> list[str]:
    """The pip wheel a venv of the lock's Python needs when virtualenv cannot make it (Python 3.6 and 3.7 on
    today's virtualenv, or none installed): ``python -m venv`` then upgrades pip, which needs an index."""
    from ..envs.venv_engine import last_pip_for

    added: set[str] = set()
    for platform in platforms:
        python = locked_python(lock, platform)
        version = last_pip_for(python) if python else None
        if python is None or version is None:
            continue
        progress.step(f"adding pip {version}, which a venv of Python {python} is made with where virtualenv "
                      "cannot make it")
        added.update(_add_resolved([f"pip=={version}"], platform, python, chosen, paths, lock))
    return sorted(added)


def _add_resolved(requirements: Sequence[str], platform: str, python: str,
                  chosen: dict[str, tuple[LockedPackage, list[str]]], paths: dict[str, Path], lock: Lockfile
                  ) -> list[str]:
    """Resolve ``requirements`` for ``platform``'s Python (with hashes), fetch them verified and add them to
    ``chosen``/``paths`` as the lock's own packages are; their archive paths."""
    from ..lock.pip_lock import lock_pip

    wheels = lock_pip(requirements, [], platform=platform, python_version=python, virtual_packages={})
    added = []
    for pkg, local in zip(wheels, fetch_verified(wheels, lock.path)):
        path = f"{PACKAGES_DIR}/{pkg.sha256}/{pkg.filename}"
        chosen.setdefault(path, (pkg, []))[1].append(platform)
        paths[path] = local
        added.append(path)
    return added


def _make_writable(root: Path) -> None:
    """Owner write on the copy: copytree keeps a read-only model's modes (the archive's modes are fixed anyway)."""
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


def _model_entries(copy: Path) -> list[Entry]:
    entries = []
    for path in sorted(copy.rglob("*")):
        if path.is_file():
            rel = path.relative_to(copy).as_posix()
            entries.append(Entry(f"{MODEL_DIR}/{rel}", path, file_digest(path), path.stat().st_size,
                                 executable=bool(path.stat().st_mode & 0o111)))
    return entries


def _package_entry(name: str, pkg: LockedPackage, local: Path) -> Entry:
    sha256 = pkg.sha256 or file_digest(local)  # conda-lock's conda entries may carry only md5 (checked on fetch)
    return Entry(name, local, sha256, local.stat().st_size)
