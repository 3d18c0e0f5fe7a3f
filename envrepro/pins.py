"""Pin a distribution to the version installed now, without local build labels like ``+cpu``."""

from __future__ import annotations

import logging
from importlib import metadata

from packaging.version import InvalidVersion, Version

log = logging.getLogger(__name__)

_noted: set[str] = set()


def public_version(version: str) -> tuple[str, str | None]:
    """(version without local label, the local label or None)."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        return version, None
    return parsed.public, parsed.local


def pin(distribution: str, *, extras: tuple[str, ...] = ()) -> str:
    """``name==version`` for the installed distribution; just ``name`` when it is not installed."""
    extra = f"[{','.join(sorted(extras))}]" if extras else ""
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        return f"{distribution}{extra}"
    name = dist.metadata["Name"] or distribution
    version, local = public_version(dist.version)
    if local and name not in _noted:
        _noted.add(name)
        log.info("%s %s is a local build (+%s); pinned as %s==%s. Builds like +cpu/+cu121 come from the "
                 "project's own index (e.g. https://download.pytorch.org/whl/cpu): add it with "
                 "--extra-index-url where the environment is rebuilt.", name, dist.version, local, name, version)
    return f"{name}{extra}=={version}"
