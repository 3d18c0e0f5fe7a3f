"""The 'local' engine: no new environment; check the model's requirements against an existing interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import EnvironmentBuildError

Severity = Literal["error", "warning"]

# Runs under the interpreter being checked (any Python >= 3.8): installed distributions + marker environment.
_INVENTORY = r"""
import json, os, platform, sys
from importlib import metadata
dists = {}
for d in metadata.distributions():
    name = d.metadata["Name"]
    if name:
        dists.setdefault(name, d.version)
impl = sys.implementation
iv = "%d.%d.%d" % tuple(impl.version[:3])
markers = {
    "implementation_name": impl.name, "implementation_version": iv, "os_name": os.name,
    "platform_machine": platform.machine(), "platform_release": platform.release(),
    "platform_system": platform.system(), "platform_version": platform.version(),
    "python_full_version": platform.python_version(), "platform_python_implementation":
    platform.python_implementation(), "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
RESULT = {"python": "%d.%d.%d" % tuple(sys.version_info[:3]), "dists": dists, "markers": markers}
if __name__ == "__main__":
    print(json.dumps(RESULT))
"""


@dataclass(frozen=True)
class Mismatch:
    name: str  # canonical project name, or "python"
    required: str
    installed: str | None  # None: not installed
    severity: Severity = "error"

    def __str__(self) -> str:
        have = self.installed if self.installed is not None else "not installed"
        return f"{self.name}: model needs {self.required}, found {have}"


def check_environment(requirements: Sequence[str], constraints: Sequence[str] = (), *,
                      python_version: str | None = None, python_exe: str | os.PathLike | None = None
                      ) -> list[Mismatch]:
    """Mismatches between the model's needs and the interpreter ``python_exe`` (default: this one).

    A same-minor Python version is a warning; any other Python or package mismatch is an error.
    Requirements whose markers do not apply to that interpreter are skipped; constraints only
    count for packages that are installed (pip semantics).
    """
    python, installed, marker_env = _inventory(python_exe)
    problems: list[Mismatch] = []
    if python_version:
        want = python_version.split(".")
        have = python.split(".")
        if have[: len(want)] != want:
            severity: Severity = "warning" if have[:2] == want[:2] else "error"
            problems.append(Mismatch("python", python_version, python, severity))
    for line, is_constraint in [(r, False) for r in requirements] + [(c, True) for c in constraints]:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue  # URL/path lines: nothing to compare against a version
        if req.marker is not None and not req.marker.evaluate(marker_env):
            continue
        name = canonicalize_name(req.name)
        version = installed.get(name)
        spec = str(req.specifier) or "any version"
        if version is None:
            if not is_constraint:
                problems.append(Mismatch(name, spec, None))
            continue
        try:
            ok = req.specifier.contains(Version(version), prereleases=True)
        except InvalidVersion:
            ok = str(req.specifier) in ("", f"=={version}")
        if not ok:
            problems.append(Mismatch(name, spec, version))
    return problems


def _inventory(python_exe: str | os.PathLike | None) -> tuple[str, dict[str, str], dict[str, str]]:
    if python_exe is None or os.path.realpath(python_exe) == os.path.realpath(sys.executable):
        scope: dict[str, object] = {"__name__": "envrepro_inventory"}
        exec(_INVENTORY, scope)  # same code as for another interpreter, run in-process
        data = scope["RESULT"]
    else:
        proc = subprocess.run([os.fspath(python_exe), "-c", _INVENTORY], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise EnvironmentBuildError(f"cannot inspect the interpreter {python_exe}: "
                                        f"{proc.stderr.strip()[-300:]}")
        data = json.loads(proc.stdout)
    assert isinstance(data, dict)
    dists: dict[str, str] = {canonicalize_name(k): v for k, v in data["dists"].items()}
    return str(data["python"]), dists, dict(data["markers"])
