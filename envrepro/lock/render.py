"""Render one platform of a lock as conda's explicit list or as an environment file.

``explicit``: ``@EXPLICIT`` then one ``URL#md5`` per conda package (``conda create --file``, ``micromamba
create -f``); pip packages follow as ``# pip NAME @ URL#sha256=...`` lines, which micromamba and
``conda-lock install`` read and other tools ignore. ``env``: an environment.yml pinning
``name=version=build`` (a solver still runs on it: good for updating an env, weaker than the lock).
"""

from __future__ import annotations

from typing import Literal

from ..errors import EnvreproError
from ..yamlio import dump_yaml
from .lockfile import LockedPackage, Lockfile

Kind = Literal["explicit", "env"]


def render_lock(lock: Lockfile, kind: Kind, platform: str) -> str:
    if platform not in lock.metadata.platforms:
        raise EnvreproError(f"the lock has no packages for {platform}", path=lock.path,
                            hint=f"choose one of {', '.join(lock.metadata.platforms)} with -p")
    conda = _topological(lock.for_platform(platform, "conda"))
    pip = sorted(lock.for_platform(platform, "pip"), key=lambda p: p.name)
    header = [f"# Rendered by envrepro from {lock.path.name if lock.path else 'a conda-lock.yml'}.",
              f"# platform: {platform}", f"# input_hash: {lock.metadata.content_hash.get(platform, '')}"]
    if kind == "explicit":
        lines = [*header, "@EXPLICIT"]
        lines += [f"{p.url.split('#', 1)[0]}#{p.md5 or p.sha256}" for p in conda]
        lines += [f"# pip {p.name} @ {p.url.split('#', 1)[0]}#sha256={p.sha256}" for p in pip]
        return "\n".join(lines) + "\n"
    if kind == "env":
        deps: list[object] = [f"{p.name}={p.version}={p.build or _build(p)}" for p in sorted(conda, key=lambda p: p.name)]
        if pip:
            deps.append({"pip": [f"{p.name}=={p.version} --hash=sha256:{p.sha256}" for p in pip]})
        body = dump_yaml({"channels": list(lock.metadata.channels), "dependencies": deps})
        return "\n".join(header) + "\n" + body
    raise EnvreproError(f"unknown render kind {kind!r}", hint="use 'explicit' or 'env'")


def _build(pkg: LockedPackage) -> str:
    return pkg.filename.removesuffix(".conda").removesuffix(".tar.bz2").rsplit("-", 2)[-1]


def _topological(packages: list[LockedPackage]) -> list[LockedPackage]:
    """Dependencies before dependents (conda installs an explicit list in order); ties by name."""
    by_name = {p.name: p for p in packages}
    done: dict[str, LockedPackage] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in done or name in visiting or name not in by_name:
            return
        visiting.add(name)
        for dep in sorted(by_name[name].dependencies):
            visit(dep)
        visiting.discard(name)
        done[name] = by_name[name]

    for name in sorted(by_name):
        visit(name)
    return list(done.values())
