"""The installed dependency graph: prune distributions other listed ones already bring, detect needed extras.

Convention (MLflow's): requirements list the *top-level* distributions. A distribution that another listed
one depends on (transitively, as installed here) is dropped, because pip installs it anyway. A distribution
that another listed one only brings through an extra (``requests[socks]`` -> PySocks) is dropped too, and
the extra is kept on the requirement that needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..requirements import RUNTIME_PROVIDED

Lookup = Callable[[str], "metadata.Distribution | None"]


@dataclass
class Pruned:
    kept: list[str]                                               # canonical names, input order
    extras: dict[str, set[str]] = field(default_factory=dict)     # kept name -> extras it needs
    dropped: dict[str, str] = field(default_factory=dict)         # dropped name -> the listed one bringing it
    via_extra: dict[str, tuple[str, str]] = field(default_factory=dict)  # dropped -> (listed, extra)


def _marker_ok(marker: Marker | None, extra: str | None) -> bool:
    if marker is None:
        return extra is None
    env = {"extra": extra or ""}
    try:
        return marker.evaluate(env)
    except Exception:  # an unknown marker variable: be conservative, assume it does not apply
        return False


@dataclass
class _Meta:
    """One parse of a distribution's metadata (parsing METADATA is most of what pruning costs)."""

    version: str | None
    requires: list[Requirement]
    extras: list[str]
    filtered: dict[str | None, list[Requirement]] = field(default_factory=dict)  # by extra (None: base)


_META: dict[tuple[str, int], _Meta] = {}


def _meta(dist: metadata.Distribution) -> _Meta:
    path = getattr(dist, "_path", None)
    key = None
    if path is not None:  # an installed dist-info directory: reread only when it changes
        try:
            key = (str(path), os.stat(path).st_mtime_ns)
        except OSError:
            key = None
    if key is not None and key in _META:
        return _META[key]
    info = dist.metadata
    lines = info.get_all("Requires-Dist") if info is not None else None
    if lines is None:
        lines = dist.requires or []  # egg-info: requires.txt
    requires = []
    for line in lines:
        try:
            requires.append(Requirement(line))
        except InvalidRequirement:
            continue
    meta = _Meta(info["Version"] if info is not None else None, requires,
                 list(info.get_all("Provides-Extra") or ()) if info is not None else [])
    if key is not None:
        if len(_META) > 4096:
            _META.clear()
        _META[key] = meta
    return meta


def _installed_version(lookup: Lookup, name: str) -> str | None:
    dist = lookup(name)
    return _meta(dist).version if dist is not None else None


def _satisfied(req: Requirement, version: str | None) -> bool:
    if version is None:
        return False
    try:
        public = Version(version).public
    except InvalidVersion:
        return True
    return not req.specifier or req.specifier.contains(public, prereleases=True)


def direct_requirements(lookup: Lookup, name: str, extra: str | None = None) -> list[Requirement]:
    """Installed requirements of ``name`` (without extras when ``extra`` is None, else only that extra's)."""
    dist = lookup(name)
    if dist is None:
        return []
    meta = _meta(dist)
    if extra in meta.filtered:
        return list(meta.filtered[extra])
    out = []
    for req in meta.requires:
        if extra is None and _marker_ok(req.marker, None):
            out.append(req)
        elif extra is not None and req.marker is not None and "extra" in str(req.marker) \
                and _marker_ok(req.marker, extra) and not _marker_ok(req.marker, None):
            out.append(req)
    meta.filtered[extra] = out
    return list(out)


def closure(lookup: Lookup, roots: Iterable[str], extras: Mapping[str, Iterable[str]] | None = None) -> set[str]:
    """Every installed distribution that ``roots`` (with ``extras``) pull in, roots excluded."""
    extras = extras or {}
    seen: set[str] = set()
    stack: list[tuple[str, str | None]] = []
    for root in roots:
        stack.append((canonicalize_name(root), None))
        stack.extend((canonicalize_name(root), e) for e in extras.get(canonicalize_name(root), ()))
    visited: set[tuple[str, str | None]] = set()
    while stack:
        name, extra = stack.pop()
        if (name, extra) in visited:
            continue
        visited.add((name, extra))
        for req in direct_requirements(lookup, name, extra):
            dep = canonicalize_name(req.name)
            if not _satisfied(req, _installed_version(lookup, dep)):
                continue
            if dep not in seen:
                seen.add(dep)
            stack.append((dep, None))
            stack.extend((dep, e) for e in req.extras)
    return seen


def prune(lookup: Lookup, names: list[str], *, protected: Iterable[str] = ()) -> Pruned:
    """Drop names that other names bring in; ``protected`` names (flavor defaults) are never dropped.

    Then an extra of a kept name is chosen when every distribution the extra adds is installed and needed
    (in ``names``), and at least one of them would otherwise be listed on its own: ``requests`` + ``PySocks``
    becomes ``requests[socks]``. Extras that would add anything the model does not need are never chosen.
    """
    names = list(dict.fromkeys(canonicalize_name(n) for n in names))
    protected = {canonicalize_name(p) for p in protected}
    needed = set(names)
    result = Pruned(kept=[])
    reach: dict[str, set[str]] = {}
    for name in names:
        if name in protected:
            result.kept.append(name)
            continue
        # Only names still listed can bring another: a dependency cycle keeps its first member. A
        # runtime-provided name (envrepro) is never installed by envrepro's own builds, so it brings nothing.
        bringer = None
        for other in (n for n in names if n != name and n not in result.dropped and n not in RUNTIME_PROVIDED):
            if other not in reach:
                reach[other] = closure(lookup, [other])
            if name in reach[other]:
                bringer = other
                break
        if bringer is not None:
            result.dropped[name] = bringer
        else:
            result.kept.append(name)
    for name in list(result.kept):
        dist = lookup(name)
        if dist is None or name not in result.kept:
            continue
        for extra in _meta(dist).extras:
            reqs = direct_requirements(lookup, name, extra)
            adds = {canonicalize_name(r.name) for r in reqs}
            if not reqs or not adds <= needed or adds & protected or name in adds:
                continue
            if not all(_satisfied(r, _installed_version(lookup, r.name)) for r in reqs):
                continue
            standalone = [a for a in adds if a in result.kept]
            if not standalone:
                continue
            result.extras.setdefault(name, set()).add(canonicalize_name(extra))
            for dep in standalone:
                result.kept.remove(dep)
                result.dropped[dep] = name
                result.via_extra[dep] = (name, canonicalize_name(extra))
    return result
