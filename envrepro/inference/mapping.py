"""Module name -> installed distribution, through installed metadata only (nothing is imported).

Rules, in order:
- the standard library (``sys.stdlib_module_names``, built-ins, files under the stdlib directory) is never a
  requirement;
- envrepro itself and pip/setuptools/wheel (with ``pkg_resources`` and ``_distutils_hack``) are excluded: the
  environment builder installs those;
- ``importlib.metadata.packages_distributions()`` maps top-level names (from ``top_level.txt`` or ``RECORD``)
  to distributions; that handles renamed distributions (``sklearn`` -> scikit-learn, ``yaml`` -> PyYAML);
- a top-level name shared by several distributions (namespace packages: ``google.*``, ``azure.*``) is
  resolved by the deepest dotted prefix that one candidate's ``RECORD`` lists;
- a module file under the project directory of an editable install (``direct_url.json`` says
  ``editable: true``) belongs to that distribution, flagged as editable;
- anything else with a file outside site-packages and the stdlib is *local* (the user's own code).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from packaging.utils import canonicalize_name


@functools.lru_cache(maxsize=4096)
def _real_dir(directory: str) -> str:
    return os.path.realpath(directory)


def _realpath(file: str) -> str:
    """realpath of a module file; directories are resolved once (a capture lists thousands of modules)."""
    directory, name = os.path.split(file)
    return os.path.join(_real_dir(directory), name)

ModuleKind = Literal["stdlib", "excluded", "dist", "local", "unknown"]

# Distributions the environment builder provides itself: never inferred as model requirements.
EXCLUDED_DISTRIBUTIONS = frozenset({"envrepro", "pip", "setuptools", "wheel"})
_EXCLUDED_MODULES = frozenset({"envrepro", "envrepro_flavors", "pip", "setuptools", "pkg_resources",
                               "_distutils_hack", "wheel"})
_ALWAYS_STDLIB = frozenset({"__main__", "__mp_main__", "builtins", "__future__"})


@dataclass(frozen=True)
class Resolution:
    kind: ModuleKind
    distribution: str | None = None  # canonical name, for kind == "dist"
    editable: bool = False


def _stdlib_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {os.path.realpath(paths[key]) for key in ("stdlib", "platstdlib") if paths.get(key)}
    return tuple(sorted(dirs))


def _site_dirs() -> tuple[str, ...]:
    import site

    dirs = set(site.getsitepackages()) | {site.getusersitepackages()}
    dirs |= {p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")}
    return tuple(sorted(os.path.realpath(d) for d in dirs))


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


class ModuleResolver:
    """Resolves module names (optionally with the file they were loaded from) to distributions.

    ``path`` restricts metadata lookups to those directories (tests); by default ``sys.path`` is used.
    """

    def __init__(self, path: list[str] | None = None):
        self._path = path
        self._stdlib_dirs = _stdlib_dirs()
        self._site_dirs = _site_dirs()
        self._editable: dict[str, bool] = {}
        self._paths_cache: dict[str, tuple[str, ...]] = {}
        self._files_cache: dict[str, frozenset[str]] = {}

    # --- metadata indexes: one scan of the metadata directories, reused while they do not change -------------
    @functools.cached_property
    def _index(self) -> _Index:
        return _Index.for_path(self._path if self._path is not None else sys.path)

    @property
    def _by_name(self) -> dict[str, metadata.Distribution]:
        return self._index.by_name

    @property
    def top_level(self) -> dict[str, list[str]]:
        """Top-level import name -> canonical distribution names (like packages_distributions, but ours)."""
        return self._index.top_level

    @functools.cached_property
    def _editable_roots(self) -> list[tuple[str, str]]:
        roots = []
        for name, dist in self._by_name.items():
            root = editable_root(dist)
            if root:
                roots.append((os.path.realpath(root), name))
        return sorted(roots, key=lambda item: -len(item[0]))

    def distribution(self, name: str) -> metadata.Distribution | None:
        return self._by_name.get(canonicalize_name(name))

    def is_editable(self, name: str) -> bool:
        key = canonicalize_name(name)
        if key not in self._editable:  # asked once per captured module: read the metadata once per dist
            dist = self.distribution(name)
            self._editable[key] = dist is not None and editable_root(dist) is not None
        return self._editable[key]

    # --- resolution ----------------------------------------------------------------------------------------
    def is_stdlib(self, module: str, file: str | None = None) -> bool:
        top = module.split(".")[0]
        if top in _ALWAYS_STDLIB or top in sys.builtin_module_names or top in sys.stdlib_module_names:
            return True
        if file:
            real = _realpath(file)
            return _under(real, self._stdlib_dirs) and not _under(real, self._site_dirs)
        return False

    def resolve(self, module: str, file: str | None = None) -> Resolution:
        top = module.split(".")[0]
        if top in _EXCLUDED_MODULES:
            return Resolution("excluded")
        if self.is_stdlib(module, file):
            return Resolution("stdlib")
        candidates = self.top_level.get(top, [])
        if len(candidates) > 1:
            candidates = self._narrow(module, candidates, file)
        if len(candidates) == 1:
            dist = candidates[0]
            if dist in EXCLUDED_DISTRIBUTIONS:
                return Resolution("excluded")
            return Resolution("dist", dist, editable=self.is_editable(dist))
        if len(candidates) > 1:
            # Only the shared namespace itself (``google``) was named: no single owner, nothing to add.
            return Resolution("unknown")
        if file:
            real = _realpath(file)
            for root, dist in self._editable_roots:
                if _under(real, [root]):
                    if dist in EXCLUDED_DISTRIBUTIONS:
                        return Resolution("excluded")
                    return Resolution("dist", dist, editable=True)
            if not _under(real, self._site_dirs):
                return Resolution("local")
        return Resolution("unknown")

    def _narrow(self, module: str, candidates: list[str], file: str | None) -> list[str]:
        """Pick the owner of ``module`` among distributions sharing its top-level (namespace) package."""
        if file:
            real = _realpath(file)
            owners = [c for c in candidates if real in self._record_files(c)]
            if len(owners) == 1:
                return owners
        parts = module.split(".")
        for depth in range(len(parts), 1, -1):
            prefix = "/".join(parts[:depth])
            owners = [c for c in candidates if self._lists_module(c, prefix)]
            if len(owners) == 1:
                return owners
            if owners:
                candidates = owners
        return candidates

    def _record_paths(self, dist_name: str) -> tuple[str, ...]:
        # Cached per resolver (not functools.cache on the method: that would keep every resolver alive).
        if dist_name not in self._paths_cache:
            dist = self._by_name[dist_name]
            self._paths_cache[dist_name] = tuple(str(f).replace("\\", "/") for f in (dist.files or ()))
        return self._paths_cache[dist_name]

    def _record_files(self, dist_name: str) -> frozenset[str]:
        if dist_name not in self._files_cache:
            dist = self._by_name[dist_name]
            self._files_cache[dist_name] = frozenset(os.path.realpath(str(dist.locate_file(f)))
                                                     for f in (dist.files or ()))
        return self._files_cache[dist_name]

    def _lists_module(self, dist_name: str, prefix: str) -> bool:
        for path in self._record_paths(dist_name):
            if path.startswith(prefix + "/") or (path.startswith(prefix + ".") and "/" not in path[len(prefix):]):
                return True
        return False


class _Index:
    """Installed distributions on a path: canonical name -> distribution, top-level name -> names.

    Built by listing the ``*.dist-info``/``*.egg-info`` directories and reading ``top_level.txt`` (or the
    first path component of each ``RECORD`` line) directly: parsing every METADATA file through
    importlib.metadata costs far more. Cached per path while the directories' modification times stay, and
    each directory's listing is cached on its own: a changing directory on sys.path (the script's, /tmp)
    costs one listing of that directory, not a rescan of site-packages.
    """

    _cache: dict[tuple[tuple[str, int], ...], _Index] = {}
    _entries: dict[tuple[str, int], list[tuple[str, Path, list[str]]]] = {}

    def __init__(self, entries: list[tuple[str, int]]):
        self.by_name: dict[str, metadata.Distribution] = {}
        self.top_level: dict[str, list[str]] = {}
        for entry in entries:
            for name, info, tops in self._listing(entry):
                if name in self.by_name:  # first on the path wins, like import does
                    continue
                self.by_name[name] = metadata.PathDistribution(info)
                for top in tops:
                    owners = self.top_level.setdefault(top, [])
                    if name not in owners:
                        owners.append(name)

    @classmethod
    def _listing(cls, entry: tuple[str, int]) -> list[tuple[str, Path, list[str]]]:
        """(canonical name, metadata directory, top-level names) of each distribution in one directory."""
        if entry not in cls._entries:
            if len(cls._entries) > 256:
                cls._entries.clear()
            cls._entries[entry] = [
                (canonicalize_name(info.name.split("-")[0].removesuffix(".dist").removesuffix(".egg")), info,
                 _top_names(info)) for info in _metadata_dirs(entry[0])]
        return cls._entries[entry]

    @classmethod
    def for_path(cls, path: list[str]) -> _Index:
        key = tuple((e, _mtime(e)) for e in (os.path.abspath(p or ".") for p in path))
        if key not in cls._cache:
            if len(cls._cache) > 8:
                cls._cache.clear()
            cls._cache[key] = cls(list(key))
        return cls._cache[key]


def _mtime(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


def _metadata_dirs(entry: str) -> list[Path]:
    try:
        with os.scandir(entry) as it:
            return sorted(Path(d.path) for d in it if d.name.endswith((".dist-info", ".egg-info")) and d.is_dir())
    except OSError:
        return []


def _top_names(info: Path) -> list[str]:
    try:
        text = (info / "top_level.txt").read_text(encoding="utf-8")
    except OSError:
        text = ""
    names = [line.strip().replace("/", ".").split(".")[0] for line in text.splitlines() if line.strip()]
    if names:
        return list(dict.fromkeys(names))
    try:
        record = (info / ("RECORD" if info.suffix == ".dist-info" else "installed-files.txt")).read_text(
            encoding="utf-8")
    except OSError:
        return []
    found: dict[str, None] = {}
    for line in record.splitlines():
        path = line.split(",", 1)[0].replace("\\", "/")
        first, _, rest = path.partition("/")
        if not first or first.endswith((".dist-info", ".egg-info", ".data")) or first in ("..", "__pycache__"):
            continue
        if not rest:
            if not first.endswith((".py", ".so", ".pyd")):
                continue
            first = first.split(".")[0]
        if first.isidentifier():
            found[first] = None
    return list(found)


def editable_root(dist: metadata.Distribution) -> str | None:
    """The project directory of an editable (development) install, or None for a regular install."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        info = json.loads(text)
    except ValueError:
        return None
    if not (info.get("dir_info") or {}).get("editable"):
        return None
    url = urlparse(str(info.get("url", "")))
    if url.scheme != "file":
        return None
    return str(Path(unquote(url.path)))
