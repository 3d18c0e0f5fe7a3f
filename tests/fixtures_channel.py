"""A real conda channel that the test suite builds itself (conda-forge is unreachable here).

``build_local_channel(root, packages)`` writes genuine ``.tar.bz2`` conda packages (``info/index.json``,
``info/paths.json``, ``info/files``, optional ``info/link.json``, payload files and symlinks) under
``<root>/<subdir>/`` and indexes the channel with rattler's own indexer, so solvers and installers read it
exactly as they read conda-forge.

The ``python`` package for this machine is a *venv-style prefix* rather than a repackaged interpreter:
``pyvenv.cfg`` (``home = <dir of the real interpreter>``) plus ``bin/python`` → the real interpreter. Python
then treats the conda prefix as its ``sys.prefix``, noarch:python packages land in
``<prefix>/lib/pythonX.Y/site-packages`` and are importable, and pip/uv install into the prefix: a faithful
stand-in for conda-forge's python that is a few KB instead of ~30 MB. ``pip`` is a real noarch:python
package made from the wheel bundled with ``ensurepip`` (entry point included), like conda-forge's.
Other platforms (linux-64, osx-arm64, win-64) get metadata-faithful packages for solving and locking.

Fixtures (session-scoped, built once): ``local_channel`` (path), ``local_channel_url`` (file:// URL),
``channel_http_url`` (the same channel served over real HTTP on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import http.server
import io
import json
import os
import sys
import sysconfig
import tarfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import pytest

# conda's classic placeholder: rattler rewrites it to the real prefix in files listed with it in paths.json.
PREFIX_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
PLATFORMS = ("linux-64", "osx-arm64", "win-64")
_ARCH = {"linux-64": ("linux", "x86_64"), "linux-aarch64": ("linux", "aarch64"), "osx-arm64": ("osx", "arm64"),
         "osx-64": ("osx", "x86_64"), "win-64": ("win", "x86_64")}
_TIMESTAMP = 1_700_000_000_000  # fixed: packages are reproducible byte for byte


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
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    symlinks: Mapping[str, str] = field(default_factory=dict)
    # Files (keys of ``files``) whose text contains PREFIX_PLACEHOLDER, to be rewritten at install time.
    placeholder_files: tuple[str, ...] = ()
    entry_points: tuple[str, ...] = ()  # noarch:python console scripts, "name = module:func"
    executable: tuple[str, ...] = ()  # files installed with the executable bit

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
        (subdir / package.filename).write_bytes(package_bytes(package))
    index_channel(root)
    return root


def index_channel(root: Path) -> None:
    from rattler.index import index_fs

    # Plain repodata.json only: what any conda client reads, and what a mirror would serve.
    asyncio.run(index_fs(root, write_zst=False, write_shards=False, force=True))


def package_bytes(package: PackageSpec) -> bytes:
    """The ``.tar.bz2`` archive of one package, deterministic for equal input."""
    if package.noarch is not None and package.subdir != "noarch":
        raise ValueError(f"{package.name}: a noarch package belongs in the noarch subdir")
    index: dict[str, object] = {
        "name": package.name, "version": package.version, "build": package.build,
        "build_number": package.build_number, "depends": list(package.depends), "license": "MIT",
        "subdir": package.subdir, "timestamp": _TIMESTAMP,
    }
    if package.constrains:
        index["constrains"] = list(package.constrains)
    if package.noarch:
        index["noarch"] = package.noarch
    if package.subdir in _ARCH:
        index["platform"], index["arch"] = _ARCH[package.subdir]

    entries: list[tuple[tarfile.TarInfo, bytes | None]] = []
    paths = []
    for rel, content in sorted(package.files.items()):
        data = content.encode() if isinstance(content, str) else content
        info = tarfile.TarInfo(rel)
        info.size, info.mtime = len(data), 0
        info.mode = 0o755 if rel in package.executable or rel.startswith(("bin/", "Scripts/")) else 0o644
        entries.append((info, data))
        entry: dict[str, object] = {"_path": rel, "path_type": "hardlink",
                                    "sha256": hashlib.sha256(data).hexdigest(), "size_in_bytes": len(data)}
        if rel in package.placeholder_files:
            entry.update(prefix_placeholder=PREFIX_PLACEHOLDER, file_mode="text")
        paths.append(entry)
    for rel, target in sorted(package.symlinks.items()):
        info = tarfile.TarInfo(rel)
        info.type, info.linkname, info.mtime, info.mode = tarfile.SYMTYPE, target, 0, 0o777
        entries.append((info, None))
        paths.append({"_path": rel, "path_type": "softlink", "sha256": hashlib.sha256(target.encode()).hexdigest(),
                      "size_in_bytes": len(target)})
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
    for rel, text in meta.items():
        data = text.encode()
        info = tarfile.TarInfo(rel)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        entries.append((info, data))

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:bz2", format=tarfile.PAX_FORMAT) as archive:
        for info, data in entries:
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


# -- package recipes -------------------------------------------------------------------------------------
def python_package(subdir: str, version: str, interpreter: str | os.PathLike | None = None) -> PackageSpec:
    """``python`` for ``subdir``: a working venv-style prefix for this machine, metadata only elsewhere."""
    major_minor = ".".join(version.split(".")[:2])
    family = _ARCH.get(subdir, ("", ""))[0]
    depends = {"linux": ("__glibc >=2.17",), "osx": ("__osx >=11.0",)}.get(family, ())
    marker = {"etc/envrepro-test/prefix.txt": f"prefix={PREFIX_PLACEHOLDER}\n"}
    if interpreter is not None:
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
    python_version = python_version or ".".join(map(str, sys.version_info[:3]))
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


# -- HTTP serving ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve ``root`` over HTTP on 127.0.0.1 (a random free port); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


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
