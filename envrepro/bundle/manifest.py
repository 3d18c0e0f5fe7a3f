"""The bundle's manifest (``envrepro-bundle.json``): what it holds, for which platforms, and each file's hash."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .archive import BundleError
from .origin import MODEL_DIR

FORMAT = "envrepro-bundle"
VERSION = 1
PACKAGES_DIR = "packages"
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class BundledFile:
    path: str  # in the archive: model/... or packages/<key>/<file>
    sha256: str
    size: int


@dataclass(frozen=True)
class BundledPackage:
    path: str  # packages/<key>/<file>; <key> is the locked sha256 (or md5-<md5>), as in the local package store
    name: str
    version: str
    manager: str  # conda or pip
    platforms: list[str]


@dataclass
class Manifest:
    envrepro_version: str
    env_manager: str  # uv, virtualenv or conda: what the bundle was made for (and installs with by default)
    lock_kind: str  # conda or pip
    platforms: list[str]
    lock: str  # the lock's path in the archive (model/conda-lock.yml)
    python_version: str | None  # pip bundles: the Python the target must have; conda bundles bring theirs
    model_uuid: str | None = None
    lock_note: str | None = None  # why the bundle holds a fresh lock rather than the model's own
    files: list[BundledFile] = field(default_factory=list)
    packages: list[BundledPackage] = field(default_factory=list)
    # sdist package path → paths of the wheels it builds with (carried: the target has no index to fetch them)
    build_requirements: dict[str, list[str]] = field(default_factory=dict)
    # venv bundles of Python 3.6/3.7: the pip wheel `python -m venv` is upgraded to where virtualenv cannot help
    venv_tools: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        data = {"format": FORMAT, "version": VERSION, **asdict(self)}
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, source: str | os.PathLike) -> Manifest:
        try:
            raw = json.loads(data.decode("utf-8"))
            if not isinstance(raw, dict) or raw.get("format") != FORMAT:
                raise ValueError("not an envrepro bundle manifest")
            if raw.get("version") != VERSION:
                raise BundleError(f"unsupported bundle version {raw.get('version')!r}: this envrepro reads version "
                                  f"{VERSION}", path=source, hint="unpack it with the envrepro that made it")
            files = [BundledFile(str(f["path"]), str(f["sha256"]), int(f["size"])) for f in raw["files"]]
            packages = [BundledPackage(str(p["path"]), str(p["name"]), str(p["version"]), str(p["manager"]),
                                       [str(x) for x in p["platforms"]]) for p in raw["packages"]]
            manifest = cls(
                envrepro_version=str(raw["envrepro_version"]), env_manager=str(raw["env_manager"]),
                lock_kind=str(raw["lock_kind"]), platforms=[str(p) for p in raw["platforms"]],
                lock=str(raw["lock"]), python_version=raw.get("python_version"), model_uuid=raw.get("model_uuid"),
                lock_note=raw.get("lock_note"), files=files, packages=packages,
                build_requirements={str(k): [str(p) for p in v]
                                    for k, v in (raw.get("build_requirements") or {}).items()},
                venv_tools=[str(p) for p in raw.get("venv_tools") or []])
        except BundleError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BundleError(f"malformed bundle manifest ({exc})", path=source,
                              hint="the bundle is damaged or was not made by envrepro") from None
        manifest._check(source)
        return manifest

    def _check(self, source: str | os.PathLike) -> None:
        paths = [f.path for f in self.files]
        problems = [f"{f.path}: bad sha256" for f in self.files if not _SHA256.fullmatch(f.sha256)]
        if len(set(paths)) != len(paths):
            problems.append("a file is listed twice")
        if self.lock not in paths:
            problems.append(f"its lock {self.lock} is not among its files")
        if self.env_manager not in ("uv", "virtualenv", "conda") or self.lock_kind not in ("conda", "pip"):
            problems.append(f"unknown env manager {self.env_manager!r} or lock kind {self.lock_kind!r}")
        problems += [f"package {p.path} is not among its files" for p in self.packages if p.path not in paths]
        packaged = {p.path for p in self.packages}
        problems += [f"build requirement {p} is not among its packages"
                     for sdist, wheels in self.build_requirements.items() for p in [sdist, *wheels]
                     if p not in packaged]
        problems += [f"venv tool {p} is not among its packages" for p in self.venv_tools if p not in packaged]
        for package in self.packages:
            try:
                package_key(package.path)
            except ValueError:
                problems.append(f"package path {package.path!r} is not packages/<key>/<file>")
        if problems:
            raise BundleError(f"malformed bundle manifest: {'; '.join(problems[:3])}", path=source,
                              hint="the bundle is damaged or was not made by envrepro")

    @property
    def lock_in_model(self) -> str:
        """The lock's path relative to the model directory."""
        return str(Path(self.lock).relative_to(MODEL_DIR).as_posix())

    def size(self, prefix: str = "") -> int:
        return sum(f.size for f in self.files if f.path.startswith(prefix))

    def describe(self) -> str:
        """One line: what the bundle holds."""
        sizes = {f.path: f.size for f in self.files}
        parts = [f"model {mb(self.size(MODEL_DIR + '/'))}"]
        for manager in ("conda", "pip"):
            chosen = [p for p in self.packages if p.manager == manager]
            if chosen:
                parts.append(f"{len(chosen)} {manager} packages {mb(sum(sizes[p.path] for p in chosen))}")
        if self.build_requirements:
            wheels = {w for ws in self.build_requirements.values() for w in ws}
            count = len(self.build_requirements)
            parts.append(f"{len(wheels)} of them to build its {count} sdist{'s' if count > 1 else ''} offline")
        if self.venv_tools:
            tools = [f"{p.name} {p.version}" for p in self.packages if p.path in self.venv_tools]
            parts.append(f"{' and '.join(sorted(set(tools)))} to make the venv")
        python = f", needs Python {self.python_version}" if self.lock_kind == "pip" and self.python_version else ""
        return (f"{self.env_manager} environment for {', '.join(self.platforms)}{python}: {', '.join(parts)}")


def mb(size: int) -> str:
    """A size for people: 629 B, 12.3 kB, 78.3 MB, 1.2 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def package_key(path: str) -> tuple[str, str]:
    """``packages/<key>/<file>`` → (key, file), as the local package store lays them out."""
    parts = path.split("/")
    if len(parts) != 3 or parts[0] != PACKAGES_DIR:
        raise ValueError(path)
    return parts[1], parts[2]
