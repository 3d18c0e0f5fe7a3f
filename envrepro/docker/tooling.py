"""envrepro's own tooling for the image: version pins of its dependencies, and their wheels for ``--bundle``.

The image runs the same envrepro that wrote the Dockerfile (see :mod:`.envrepro_source`). Its dependencies are
pinned, as constraints, to the versions installed here: the image's tooling is then the tested set, not
whatever PyPI has that day.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Sequence
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import EnvreproError

# The builder stage installs the lock with these; the final stage needs only envrepro's core.
BUILDER_TOOLS = ("py-rattler", "uv")


def tooling_constraints(roots: tuple[str, ...] = ("envrepro", *BUILDER_TOOLS)) -> list[str]:
    """``name==version`` for every installed distribution that ``roots`` need here (envrepro itself excluded)."""
    pins: dict[str, str] = {}
    stack = list(roots)
    while stack:
        name = canonicalize_name(stack.pop())
        if name in pins:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        pins[name] = dist.version
        for line in dist.requires or []:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                stack.append(req.name)
    pins.pop("envrepro", None)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def tooling_wheels(dest: Path, requirements: Sequence[str], constraints: Sequence[str], *, platform: str,
                   python_version: str, quiet: bool = True, in_context: Collection[str] = ()) -> list[Path]:
    """Wheels of ``requirements`` (and what they need) for the image's platform and Python, into ``dest``,
    except those of ``in_context`` (names whose wheel the context has already, e.g. envrepro's own).

    Resolved by uv for that target (as a pip lock is), each file hash-checked on download: the image then
    installs its tooling with ``pip --no-index`` and needs no package index (``generate-dockerfile --bundle``).
    """
    from ..envs.from_lock import fetch_verified
    from ..lock.pip_lock import lock_pip
    from ..lock.virtual import virtual_packages_for

    packages = [p for p in lock_pip(requirements, constraints, platform=platform, python_version=python_version,
                                    virtual_packages=virtual_packages_for(platform), quiet=quiet)
                if p.name not in in_context]
    sdists = [p.name for p in packages if not p.filename.endswith(".whl")]
    if sdists:
        raise EnvreproError(f"no wheel of {', '.join(sdists)} for Python {python_version} on {platform}: the "
                            "image could not build it without a package index",
                            hint="use a base image whose Python has wheels for them (--base-image), or drop --bundle")
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for pkg, path in zip(packages, fetch_verified(packages)):
        target = dest / pkg.filename
        shutil.copyfile(path, target)
        out.append(target)
    return out
