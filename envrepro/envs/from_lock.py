"""Install exactly the packages of a lock file into a prefix: no solve, every file checked against its hash.

Conda packages: each archive is fetched (``file://`` read in place; ``http(s)://`` downloaded into
``$ENVREPRO_HOME/locked-pkgs/<sha256>/``), its sha256 (its md5 when the lock gives no sha256) compared with
the lock *before* anything is linked, then the verified files are handed to rattler's installer as records
built from the lock (rattler links what it is given; it does not check archive hashes itself). An archive
rattler's package cache does not hold yet is unpacked into that cache here, its hash taken from the same
read (and moved in only when it matches); one the cache holds is hashed on its own.
Pip packages: ``--require-hashes --no-deps`` with the locked URLs, so nothing is resolved and a changed file
is refused by uv or pip; a direct reference without a file hash (a git dependency pinned to its commit, a URL
conda-lock locked without ``#sha256=``) is installed as ``name @ URL --no-deps`` after them.

``locked-pkgs/<sha256>/<file>`` is a content-addressed store: downloads land there, and unpacking a bundle
(``envrepro.bundle``) puts its packages there. A package found in the store (with the locked hash) is used
instead of its URL, conda and pip alike, and a ``file://`` package missing from its path is looked up there;
when every pip file is local, uv runs ``--offline`` (pip ``--no-index``), so such an install cannot reach
the network; its sdists build from the wheels the store recorded for them (``envrepro.envs.sdist_builds``).
An sdist without such a record (a local wheelhouse, a bundle of an older envrepro) leaves the index open: its
build requirements can come from nowhere else.
A lock made with ``--pip-only`` has no conda packages: a venv with the recorded Python is created instead.
Categories: ``main`` and ``dev``, what ``conda-lock install`` installs by default (envrepro's locks are all
``main``).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import OFFLINE_HELP, EnvironmentBuildError
from ..fsutil import file_digest, largest_first
from ..home import envrepro_home
from ..lockfile import PYTHON_KEY, LockedPackage, Lockfile, read_lockfile
from .pip_install import choose_installer, ensure_pip, find_uv, run_tool
from .progress import Progress
from .rattler_engine import current_platform, extract_archives, install_records, package_cache_dir, prefix_python
from .sdist_builds import has_build_record, is_sdist, offline_build_flags
from .store import store_root

_CHUNK = 1 << 20
CATEGORIES = ("main", "dev")  # conda-lock install's default (--dev-dependencies, no extras)


def install_from_lock(lock_path: Path, prefix: Path, *, platform: str | None = None, quiet: bool = False) -> None:
    """Create ``prefix`` from the lock's packages for ``platform`` (default: this machine's)."""
    lock = read_lockfile(lock_path)
    platform = platform or local_platform()
    if platform not in lock.metadata.platforms:
        raise EnvironmentBuildError(
            f"the lock has no packages for {platform} (it has {', '.join(lock.metadata.platforms) or 'none'})",
            path=lock_path, hint=f"re-lock with `{lock.relock_command} -p {platform} ...`")
    progress = Progress(quiet=quiet)
    conda = lock.for_platform(platform, "conda", CATEGORIES)
    pip = lock.for_platform(platform, "pip", CATEGORIES)
    prefix = Path(prefix)
    if conda:
        progress.step(f"verifying {len(conda)} locked conda packages")
        records = [_record(pkg, path) for pkg, path in zip(conda, fetch_and_extract_verified(conda, lock_path))]
        progress.step(f"installing {len(records)} locked conda packages into {prefix}")
        install_records(records, prefix, platform=platform, progress=progress)
        python = prefix_python(prefix)
    else:
        python = _create_venv(lock, prefix, quiet=quiet)
    if pip:
        if not python.exists():
            raise EnvironmentBuildError("the lock has pip packages but its conda packages have no python",
                                        path=lock_path, hint="add python to the conda dependencies and re-lock")
        install_pip_locked(python, pip, quiet=quiet, lock_path=lock_path)


def local_platform() -> str:
    """This machine's conda subdir; without py-rattler (a pip-only install) from the standard library."""
    try:
        return current_platform()
    except EnvironmentBuildError:
        import platform
        import sys

        machine = platform.machine().lower()
        arch = {"x86_64": "64", "amd64": "64", "aarch64": "aarch64", "arm64": "arm64"}.get(machine, machine)
        family = "osx" if sys.platform == "darwin" else "win" if sys.platform == "win32" else "linux"
        return f"{family}-{'aarch64' if family == 'linux' and arch == 'arm64' else arch}"


# -- the local package store -----------------------------------------------------------------------------------
def store_path(pkg: LockedPackage) -> Path:
    """Where ``pkg``'s file lives in the content-addressed store (whether or not it is there)."""
    return store_root() / (pkg.sha256 or f"md5-{pkg.md5}") / pkg.filename


def stored_package(pkg: LockedPackage) -> Path | None:
    """``pkg``'s file from the store when it is there with the locked hashes, else None."""
    if not pkg.sha256 and not pkg.md5:
        return None
    target = store_path(pkg)
    if target.is_file():
        kind, expected = _strongest(pkg)
        if file_digest(target, kind) == expected:
            return target
    return None


def _file_url_path(pkg: LockedPackage) -> Path | None:
    parsed = urllib.parse.urlsplit(pkg.url)
    return Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else None


# -- conda ------------------------------------------------------------------------------------------------
def fetch_and_extract_verified(packages: Sequence[LockedPackage], lock_path: Path | None = None) -> list[Path]:
    """As :func:`fetch_verified`, and each package rattler's cache does not hold yet is extracted into it
    here, its hash taken from the same read: one pass over the archive instead of a hash pass (0.023 s on
    the lock benchmark) and then rattler's extraction behind it. Nothing is linked until every archive has
    passed; one that fails leaves nothing in the cache."""
    cache = package_cache_dir()
    fresh = [not (cache / _cache_entry(pkg)).exists() for pkg in packages]
    paths = fetch_verified(packages, lock_path, hash_local=[not f for f in fresh])
    _extract_verified([(pkg, path) for pkg, path, f in zip(packages, paths, fresh) if f], cache, lock_path)
    return paths


def _cache_entry(pkg: LockedPackage) -> str:
    return f"{pkg.name}-{pkg.version}-{pkg.build or _build_from_filename(pkg.filename)}"  # rattler's naming


def _extract_verified(items: Sequence[tuple[LockedPackage, Path]], cache: Path, lock_path: Path | None) -> None:
    if not items:
        return
    staging = envrepro_home() / "pkgs-unpacking"
    staging.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=staging))  # same file system as the cache: entries move in by rename
    try:
        results = extract_archives([(path, tmp / _cache_entry(pkg)) for pkg, path in items])
        for (pkg, path), result in zip(items, results):
            if isinstance(result, BaseException):
                _check(pkg, file_digest(path, _strongest(pkg)[0]), lock_path)  # a changed file says so first
                raise EnvironmentBuildError(
                    f"cannot unpack locked package {pkg.name} {pkg.version} ({path}): {result}", path=lock_path,
                    hint="the archive matches the lock but is damaged; re-lock with `envrepro lock`")
            sha256, md5 = result
            _check(pkg, (sha256 if pkg.sha256 else md5).hex(), lock_path)
        for pkg, _ in items:
            try:
                os.rename(tmp / _cache_entry(pkg), cache / _cache_entry(pkg))
            except OSError:  # another install put it there meanwhile: rattler checks and uses that one
                pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fetch_verified(packages: Sequence[LockedPackage], lock_path: Path | None = None, *,
                   on_fetched: Callable[[LockedPackage, Path], None] | None = None,
                   hash_local: Sequence[bool] | None = None) -> list[Path]:
    """Local paths of the packages' files, each checked against the lock's sha256, else md5 (in parallel).

    ``on_fetched(package, path)`` is called as each one is ready (progress reporting). ``hash_local[i]``
    False: a file already on disk is not hashed here, its caller checks it as it reads it (downloads and
    the store's copies are checked all the same)."""
    for pkg in packages:
        if not pkg.sha256 and not pkg.md5:
            raise EnvironmentBuildError(f"the lock gives no sha256 or md5 for package {pkg.name} ({pkg.filename})",
                                        path=lock_path, hint="re-lock with `envrepro lock`")

    def one(i: int) -> Path:
        pkg = packages[i]
        path = _fetch_one(pkg, lock_path, hash_local=hash_local is None or hash_local[i])
        if on_fetched is not None:
            on_fetched(pkg, path)
        return path

    # Hashing local files is CPU-bound: one thread per core, the biggest file first (the longest job starts at
    # once; 0.027 -> 0.017 s for the benchmark's 76 archives). Downloads wait on the network: up to 8 at once.
    local = [_file_url_path(pkg) for pkg in packages]
    order = largest_first(local)  # a missing file: _fetch_one looks for it in the store, or says so
    workers = min(8 if None in local else os.cpu_count() or 1, max(1, len(packages)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        done = dict(zip(order, pool.map(one, order)))
    return [done[i] for i in range(len(packages))]


def _fetch_one(pkg: LockedPackage, lock_path: Path | None, *, hash_local: bool = True) -> Path:
    if not pkg.sha256 and not pkg.md5:
        raise EnvironmentBuildError(f"the lock gives no hash for {pkg.name} {pkg.version}", path=lock_path,
                                    hint="re-lock with `envrepro lock`")
    parsed = urllib.parse.urlsplit(pkg.url)
    if parsed.scheme == "file":
        path = _file_url_path(pkg)
        assert path is not None
        if path.is_file():  # the channel on disk is the source of truth while it is there
            if hash_local:
                _check(pkg, file_digest(path, _strongest(pkg)[0]), lock_path)
            return path
        stored = stored_package(pkg)  # e.g. unpacked from a bundle made where that channel was
        if stored is not None:
            return stored
        raise EnvironmentBuildError(f"locked package {pkg.name} {pkg.version} is missing: {path}", path=lock_path,
                                    hint="restore the channel, re-lock against one that is there, or install "
                                         "from a bundle of the model (envrepro bundle)")
    if parsed.scheme not in ("http", "https"):
        raise EnvironmentBuildError(f"unsupported URL for {pkg.name}: {pkg.url}", path=lock_path)
    stored = stored_package(pkg)
    if stored is not None:
        return stored
    target = store_path(pkg)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{pkg.filename}.", suffix=".part", dir=target.parent)
    try:
        digest = hashlib.new(_strongest(pkg)[0])
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(pkg.url, timeout=120) as response:
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        _check(pkg, digest.hexdigest(), lock_path)
        os.replace(tmp, target)
    except OSError as exc:
        raise EnvironmentBuildError(f"cannot download locked package {pkg.name} from {pkg.url}: {exc}",
                                    path=lock_path, hint=f"check the channel is reachable; {OFFLINE_HELP}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _strongest(pkg: LockedPackage) -> tuple[str, str]:
    """The hash a package's file is checked with: its sha256 when the lock gives one, else its md5.

    A file with the locked sha256 is the locked file, so its md5 adds nothing, and costs more to compute than
    the sha256 (2.5x here, where the CPU hashes sha256 in hardware): checking one keeps a rebuild from a lock
    cheaper than the solve it replaces."""
    return ("sha256", pkg.sha256.lower()) if pkg.sha256 else ("md5", (pkg.md5 or "").lower())


def _check(pkg: LockedPackage, actual: str, lock_path: Path | None) -> None:
    kind, expected = _strongest(pkg)
    if expected != actual:
        raise EnvironmentBuildError(
            f"hash mismatch for locked package {pkg.name} {pkg.version} ({pkg.filename}): the lock says "
            f"{kind} {expected}, the file has {actual}", path=lock_path,
            hint="the package changed on the channel, or the lock was edited; re-lock with `envrepro lock`")


def _record(pkg: LockedPackage, archive: Path) -> Any:
    import rattler

    url = archive.resolve().as_uri()  # where rattler reads it: the channel on disk, or the store
    subdir = pkg.url.split("#", 1)[0].rstrip("/").rsplit("/", 2)[-2]
    build = pkg.build or _build_from_filename(pkg.filename)
    record = rattler.PackageRecord(
        pkg.name, pkg.version, _build_string(rattler, build), 0, subdir,
        depends=[f"{name} {spec}".strip() for name, spec in pkg.dependencies.items()],
        sha256=bytes.fromhex(pkg.sha256) if pkg.sha256 else None, md5=bytes.fromhex(pkg.md5) if pkg.md5 else None,
    )
    channel = pkg.url.split("#", 1)[0].rsplit("/", 2)[0] + "/"
    return rattler.RepoDataRecord(record, pkg.filename, url, channel)


def _build_from_filename(filename: str) -> str:
    stem = filename.removesuffix(".conda").removesuffix(".tar.bz2")
    return stem.rsplit("-", 2)[-1]


# -- pip ----------------------------------------------------------------------------------------------------
def pip_lines(packages: Sequence[LockedPackage]) -> list[str]:
    """``name @ URL --hash=sha256:...`` lines: no index, no resolution, one exact file each (the store's copy
    when it has one, see the module docstring)."""
    lines = []
    for pkg in packages:
        if not pkg.sha256:
            raise EnvironmentBuildError(f"the lock gives no sha256 for pip package {pkg.name}",
                                        hint="re-lock with `envrepro lock`")
        lines.append(f"{pkg.name} @ {_pip_source(pkg)} --hash=sha256:{pkg.sha256}")
    return lines


_HASH_HINT = ("a hash mismatch means the file changed since it was locked, or the lock was edited: re-lock with "
              "`envrepro lock`")


def _pip_source(pkg: LockedPackage) -> str:
    path = _file_url_path(pkg)
    if path is None or not path.is_file():
        stored = stored_package(pkg)
        if stored is not None:
            return stored.resolve().as_uri()
    return pkg.url.split("#", 1)[0]


def is_unhashed(pkg: LockedPackage) -> bool:
    """A direct reference without a file hash: a git checkout (pinned by its commit id), or a URL or local
    path that conda-lock locked without ``#sha256=``. Installed as ``name @ URL``, outside hash mode."""
    return pkg.is_vcs or (pkg.source is not None and not pkg.sha256)


def install_pip_locked(python: Path, packages: Sequence[LockedPackage], *, quiet: bool = False,
                       lock_path: Path | None = None) -> None:
    """Install exactly ``packages`` with ``--no-deps``: files by URL with ``--require-hashes``, then the
    direct references that have no file hash (uv and pip refuse those in hash mode)."""
    progress = Progress(quiet=quiet)
    tool = choose_installer()
    hashed = [p for p in packages if not is_unhashed(p)]
    direct = [p for p in packages if is_unhashed(p)]
    unverified = [p.name for p in direct if not p.is_vcs]
    if unverified:
        logging.getLogger(__name__).warning("the lock gives no hash for pip package(s) %s: installing them "
                                            "unverified", ", ".join(unverified))
    if hashed:
        lines = pip_lines(hashed)
        local = all(line.split(" @ ", 1)[1].startswith("file:") for line in lines)
        where = ", all from local files" if local else ""
        progress.step(f"installing {len(hashed)} locked pip packages with {tool} (hashes required{where})")
        # Every file is local (a bundle, a wheelhouse): make the installer unable to reach an index at all; its
        # sdists build from the wheels the store recorded for them (see .sdist_builds). An sdist with no such
        # record can only get its build requirements from an index (or uv's cache): then the index stays open.
        sdists = [pkg for pkg in hashed if local and is_sdist(pkg.filename)]
        unprovided = [pkg.name for pkg in sdists if not has_build_record(store_path(pkg))]
        offline = (["--offline"] if tool == "uv" else ["--no-index"]) if local and not unprovided else []
        hint = _HASH_HINT if not unprovided else (
            f"{_HASH_HINT}; {', '.join(unprovided)} {'is an sdist' if len(unprovided) == 1 else 'are sdists'} "
            "whose build requirements come from an index: connect to one, or bundle the model with this "
            "envrepro, which carries them")
        with offline_build_flags([store_path(pkg) for pkg in sdists], store_root()) as build_flags:
            _pip_install(tool, python, lines, ["--require-hashes", *offline, *build_flags], progress,
                         failure=f"installing the locked pip packages with {tool} failed", hint=hint)
    if direct:
        progress.step(f"installing {len(direct)} locked pip direct references with {tool} "
                      f"({', '.join(p.direct_reference for p in direct)})")
        _pip_install(tool, python, [p.direct_reference for p in direct], [], progress,
                     failure=f"installing the locked pip direct references with {tool} failed",
                     hint="check the URL or git repository (and the locked commit) can be reached from here")


def _pip_install(tool: str, python: Path, lines: Sequence[str], flags: Sequence[str], progress: Progress, *,
                 failure: str, hint: str) -> None:
    with tempfile.TemporaryDirectory(prefix="envrepro-pip-locked-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        if tool == "uv":
            cmd = [find_uv() or "uv", "pip", "install", "--python", os.fspath(python), *flags, "--no-deps",
                   "-r", os.fspath(req)]
        else:
            ensure_pip(python, progress)
            cmd = [os.fspath(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *flags,
                   "--no-deps", "-r", os.fspath(req)]
        if not progress.enabled:
            cmd.append("-q")
        run_tool(cmd, progress, failure=failure, hint=hint)


def _create_venv(lock: Lockfile, prefix: Path, *, quiet: bool) -> Path:
    from .venv_engine import create_venv

    python_version = lock.metadata.custom.get(PYTHON_KEY)
    if not python_version:
        raise EnvironmentBuildError("the lock has no conda packages and does not say which Python to use",
                                    path=lock.path, hint="re-lock with `envrepro lock`")
    create_venv(prefix, python_version=python_version, quiet=quiet)
    return prefix_python(prefix)


def _build_string(rattler: Any, build: str) -> Any:
    """py-rattler 0.28 wants a BuildString; older releases a plain str."""
    return getattr(rattler, "BuildString", str)(build)
