"""Compare a model's recorded requirements with what is installed in the running interpreter."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Iterable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version


@dataclass(frozen=True)
class Mismatch:
    name: str
    recorded: str        # the requirement line as recorded
    installed: str | None  # installed version, None when missing

    def describe(self) -> str:
        return f"{self.name}: recorded {self.recorded!r}, installed {self.installed or 'nothing'}"


def requirement_mismatches(requirements: Iterable[str]) -> list[Mismatch]:
    """Requirements that the current environment does not satisfy (local labels like +cpu are ignored)."""
    found = []
    for line in requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue  # URLs, paths: nothing to compare against
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            found.append(Mismatch(req.name, line, None))
            continue
        try:
            public = Version(installed).public
        except InvalidVersion:
            public = installed
        if req.specifier and not req.specifier.contains(public, prereleases=True):
            found.append(Mismatch(req.name, line, installed))
    return found
