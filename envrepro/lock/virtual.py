"""Virtual packages assumed for each target platform when locking, and the user's overrides.

A lock must not depend on the machine that made it, so every platform (this one included) is solved
against the same assumed floor, close to conda-lock's defaults: glibc 2.28 and Linux 5.10 on Linux,
macOS 11.0 on Apple platforms. ``__cuda`` is absent by default (CPU builds run everywhere); ask for it with
``--virtual-package __cuda=12.4`` (all platforms that can have CUDA) or ``linux-64:__cuda=12.4``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..envs.virtual_packages import default_virtual_packages
from ..errors import EnvreproError

_CUDA_FAMILIES = ("linux", "win")


def parse_overrides(items: Iterable[str]) -> list[tuple[str | None, str, str | None]]:
    """``['__cuda=12.4', 'linux-64:__glibc=2.17', '__cuda=']`` → (platform or None, name, version or None).

    An empty version removes the package.
    """
    result = []
    for item in items:
        scope: str | None
        scope, sep, rest = item.partition(":")
        if not sep or scope.strip().startswith("__"):
            scope, rest = None, item  # no platform prefix
        name, eq, version = rest.partition("=")
        name = name.strip()
        if not eq or not name.startswith("__"):
            raise EnvreproError(f"invalid virtual package {item!r}",
                                hint="use [PLATFORM:]__NAME=VERSION, e.g. __cuda=12.4 or linux-64:__glibc=2.17; "
                                     "an empty VERSION removes it")
        result.append((scope.strip() if scope else None, name, version.strip() or None))
    return result


def virtual_packages_for(platform: str, overrides: Iterable[tuple[str | None, str, str | None]] = ()) -> dict[str, str]:
    """The defaults for ``platform`` with the overrides applied (an unscoped ``__cuda`` only where CUDA exists)."""
    packages = default_virtual_packages(platform)
    family = platform.split("-", 1)[0]
    for scope, name, version in overrides:
        if scope is not None and scope != platform:
            continue
        if scope is None and name == "__cuda" and family not in _CUDA_FAMILIES:
            continue
        if scope is None and name in ("__glibc", "__linux") and family != "linux":
            continue
        if scope is None and name == "__osx" and family != "osx":
            continue
        if version is None:
            packages.pop(name, None)
        else:
            packages[name] = version
    return dict(sorted(packages.items()))


def encode(packages: Mapping[str, str]) -> str:
    """Compact text for the lock's custom metadata: ``__glibc=2.28,__linux=5.10``."""
    return ",".join(f"{k}={v}" for k, v in sorted(packages.items()))


def decode(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, text.split(",")):
        name, _, version = part.partition("=")
        out[name] = version
    return out
