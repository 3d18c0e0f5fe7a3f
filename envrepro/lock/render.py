"""Render one platform of a lock as conda's explicit list or as an environment file, as ``conda-lock render`` does.

The output is line for line what conda-lock 4 renders from the same file; only the first comment differs.

``explicit``: ``@EXPLICIT`` then one ``URL#md5`` per conda package in conda's install order
(:func:`conda_toposort`), then the pip packages (in that order too) as ``# pip NAME @ URL#sha256=...`` lines,
which micromamba and ``conda-lock install`` read and other tools ignore. ``env``: an environment.yml pinning
``name=version=build`` in name order, pip packages as ``name == version --hash=sha256:...`` (a solver still
runs on it: good for updating an env, weaker than the lock). In both, a pip direct reference is its source
URL (``name @ git+https://...@<commit>``, ``name @ https://...#sha256=...``).

Categories, as conda-lock's defaults: ``main`` and ``dev`` (``dev=False`` leaves it out), plus ``extras``.
"""

from __future__ import annotations

import os
import posixpath
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Literal

from ..errors import EnvreproError
from ..lockfile import LockedPackage, Lockfile, Manager

RenderKind = Literal["explicit", "env"]


def render_lock(lock: Lockfile, kind: RenderKind, platform: str, *, dev: bool = True,
                extras: Iterable[str] = ()) -> str:
    if kind not in ("explicit", "env"):
        raise EnvreproError(f"unknown render kind {kind!r}", hint="use 'explicit' or 'env'")
    if platform not in lock.metadata.platforms:
        raise EnvreproError(f"the lock has no packages for {platform}", path=lock.path,
                            hint=f"choose one of {', '.join(lock.metadata.platforms)} with -p")
    categories = {"main", *extras, *(("dev",) if dev else ())}
    header = [f"# Rendered by envrepro from {lock.path.name if lock.path else 'a conda-lock.yml'}.",
              f"# platform: {platform}", f"# input_hash: {lock.metadata.content_hash.get(platform)}"]
    if kind == "explicit":
        conda = install_order(lock, platform, "conda", categories)
        pip = install_order(lock, platform, "pip", categories)
        lines = [*header, "@EXPLICIT", *(posixpath.expandvars(f"{p.url}#{p.md5}") for p in conda),
                 *(f"# pip {_pip_direct(p)}" for p in pip)]
    else:
        conda = sorted(_selected(lock, platform, "conda", categories), key=lambda p: p.name)
        pip = sorted(_selected(lock, platform, "pip", categories), key=lambda p: p.name)
        lines = [*header, "", "channels:", *(f"  - {posixpath.expandvars(c)}" for c in lock.metadata.channels),
                 "dependencies:", *(f"  - {p.name}={p.version}={_build(p)}" for p in conda)]
        if pip:
            lines += ["  - pip:", *(f"      - {_pip_pinned(p)}" for p in pip)]
    return "\n".join(lines) + "\n"


def install_order(lock: Lockfile, platform: str, manager: Manager, categories: Iterable[str]) -> list[LockedPackage]:
    """The platform's packages of ``manager`` in ``categories``, dependencies first (conda's order).

    Ordered over every package of the platform, then filtered, as conda-lock does: leaving a category
    out never reorders the rest.
    """
    order = conda_toposort({p.name: p.dependencies for p in lock.packages
                            if p.platform == platform and p.manager == manager})
    selected = {p.name: p for p in _selected(lock, platform, manager, categories)}
    return [selected[name] for name in order if name in selected]


def conda_toposort(dependencies: Mapping[str, Iterable[str]]) -> list[str]:
    """Names in conda's topological order (``conda.common.toposort``, which conda-lock uses for explicit files).

    Rounds: every name whose dependencies are all placed is placed, in alphabetical order. Names that are
    only depended on (virtual packages, pip names of conda packages) count as placed in the first round, so
    they delay their dependents as they do in conda. A cycle is broken by placing the name with the fewest
    unplaced dependencies (then the first by name). python never waits for pip.
    """
    graph = {name: set(deps) - {name} for name, deps in dependencies.items()}
    if "python" in graph:
        graph["python"].discard("pip")
    for name in set().union(*graph.values()) - graph.keys():
        graph[name] = set()
    order: list[str] = []
    while graph:
        ready = sorted(name for name, deps in graph.items() if not deps)
        if not ready:
            ready = [min(graph, key=lambda name: (len(graph[name]), name))]
        for name in ready:
            del graph[name]
        for deps in graph.values():
            deps.difference_update(ready)
        order += ready
    return order


def _selected(lock: Lockfile, platform: str, manager: Manager, categories: Iterable[str]) -> list[LockedPackage]:
    return [p for p in lock.for_platform(platform, manager, categories)
            if not (manager == "conda" and p.name.startswith("__"))]  # virtual packages are never installed


def _pip_direct(pkg: LockedPackage) -> str:
    if pkg.source is None and pkg.sha256:
        return f"{pkg.name} @ {pkg.url}#sha256={pkg.sha256}"
    return pkg.direct_reference


def _pip_pinned(pkg: LockedPackage) -> str:
    if pkg.source is not None:
        return pkg.direct_reference
    return f"{pkg.name} == {pkg.version}" + (f" --hash=sha256:{pkg.sha256}" if pkg.sha256 else "")


def _build(pkg: LockedPackage) -> str:
    """The build string from the URL's file name, as conda-lock takes it (the ``build`` field is optional)."""
    path = PurePosixPath(urllib.parse.urlsplit(pkg.url).path)
    while path.suffix in (".tar", ".bz2", ".gz", ".conda"):
        path = path.with_suffix("")
    return path.name.split("-")[-1]


def render_model_lock(model_path: str | os.PathLike, kind: RenderKind, platform: str | None = None, *,
                      lockfile: str | os.PathLike | None = None, dev: bool = True, extras: Iterable[str] = (),
                      output: str | os.PathLike | None = None) -> str:
    """The model's lock (``lockfile``, else the one it records) rendered for ``platform`` (default: this
    machine's); written atomically to ``output`` when given. What ``envrepro lock --render`` prints."""
    from ..envs.rattler_engine import current_platform
    from ..fsutil import atomic_write_text
    from ..lockfile import read_lockfile
    from ..model import ModelDir
    from .locate import find_lock

    path = lockfile or find_lock(ModelDir.open(model_path).path)
    if path is None:
        raise EnvreproError("the model has no lock file", path=model_path, hint="create one with `envrepro lock`")
    text = render_lock(read_lockfile(path), kind, platform or current_platform(), dev=dev, extras=extras)
    if output is not None:
        atomic_write_text(output, text)
    return text
