"""The virtual packages assumed for a platform that is not this machine (one table, for solving and locking).

Close to conda-lock's defaults: glibc 2.28 and Linux 5.10 on Linux, macOS 11.0 on Apple platforms, the
architecture as ``__archspec``; ``__cuda`` absent (CPU builds run everywhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_ARCH = {"64": "x86_64", "aarch64": "aarch64", "arm64": "arm64", "ppc64le": "ppc64le", "32": "x86"}


def default_virtual_packages(platform: str) -> dict[str, str]:
    """name → version for ``platform`` (e.g. ``linux-64``); empty for unknown families."""
    family, _, arch = platform.partition("-")
    archspec = {"__archspec": f"1 {_ARCH.get(arch, arch)}"} if arch else {}
    if family == "linux":
        return {"__unix": "0", "__linux": "5.10", "__glibc": "2.28", **archspec}
    if family == "osx":
        return {"__unix": "0", "__osx": "11.0", **archspec}
    if family == "win":
        return {"__win": "0", **archspec}
    return {}


def to_rattler(packages: Mapping[str, str]) -> list[Any]:
    import rattler  # only when solving: py-rattler is the conda extra

    build_string: Any = getattr(rattler, "BuildString", str)  # a plain str before py-rattler 0.28
    result = []
    for name, version in packages.items():
        # __archspec is "1 x86_64": version 1, build string x86_64 (as conda reports it)
        ver, _, build = version.partition(" ")
        result.append(rattler.GenericVirtualPackage(rattler.PackageName(name), rattler.Version(ver),
                                                    build_string(build or "0")))
    return result
