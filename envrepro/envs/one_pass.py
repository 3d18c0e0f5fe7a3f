"""A venv's build dependencies, then its requirements, in one uv run when that installs what two runs would.

MLflow installs a venv's build dependencies (python_env.yaml) first, then its requirements (with the
constraints): two ``uv pip install`` runs. Each pays its own round trips to the package index, which are most
of an install from a warm download cache (about 0.3 s a run here). One run over both installs the same packages
whenever the requirements leave the build dependencies' own resolution alone:

- Two runs: the first installs ``S1``, the resolution of the build dependencies alone. The second resolves the
  requirements and constraints, keeping every installed version that satisfies them, and installs that on top.
- One run installs ``F``, a resolution of both together. If ``F`` has every package of ``S1`` at its ``S1``
  version, the requirements and constraints are satisfied with those versions, so the second run would have
  kept them all; ``S1`` is closed under dependencies, so nothing else in ``F`` is constrained by the build
  dependencies, and the rest is what the second run resolves: the same requirements, the same index, the same
  fixed versions. ``F`` is what two runs install.

So ``S1`` is computed (``uv pip compile`` of the build dependencies for the venv's interpreter, with their own
cutoff) while the single run installs, and compared with what it installed. When they differ (the requirements
moved a build dependency or one of its dependencies, a constraint reached one of them) or the single run fails,
the caller makes the venv again and installs in two runs, so the result is always the two-run result.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from ..errors import EnvironmentBuildError
from ..requirements import requirement_name
from .pip_install import cutoff_note, find_uv, run_tool, tied_to_parent, uv_cutoff_args, write_lines
from .progress import Progress


def one_pass_applies(build_dependencies: Sequence[str], requirements: Sequence[str]) -> bool:
    """Both parts present, and every build dependency a plain named requirement (``pip``, ``setuptools==69``):
    a URL or a local path would be built twice to be compared."""
    return bool(build_dependencies) and bool(requirements) and all(
        requirement_name(line) is not None and "@" not in line for line in build_dependencies)


def install_in_one_pass(python: Path, prefix: Path, build_dependencies: Sequence[str], requirements: Sequence[str],
                        constraints: Sequence[str], *, progress: Progress, cwd: str | os.PathLike | None = None,
                        exclude_newer: datetime | None = None) -> bool:
    """Install both parts with one uv run into the venv at ``prefix``; True when that is what two runs install.

    False leaves the venv in an unknown state: the caller makes it again and installs in two runs.
    """
    uv = find_uv() or "uv"
    with tempfile.TemporaryDirectory(prefix="envrepro-pip-") as tmp:
        build = write_lines(Path(tmp) / "build.txt", build_dependencies)
        reqs = write_lines(Path(tmp) / "requirements.txt", requirements)
        compile_cmd = [uv, "pip", "compile", os.fspath(build), "--python", os.fspath(python), "--no-header",
                       "--no-annotate", "--quiet", *uv_cutoff_args(exclude_newer, build_dependencies)]
        alone = subprocess.Popen(compile_cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, errors="replace", **tied_to_parent())
        try:
            cmd = [uv, "pip", "install", "--python", os.fspath(python), "-r", os.fspath(build), "-r", os.fspath(reqs),
                   *uv_cutoff_args(exclude_newer, [*build_dependencies, *requirements, *constraints])]
            if constraints:
                cmd += ["-c", os.fspath(write_lines(Path(tmp) / "constraints.txt", constraints))]
            if not progress.enabled:
                cmd.append("-q")
            progress.step(f"installing {len(build_dependencies)} build dependencies and {len(requirements)} "
                          f"requirements with uv in one run{cutoff_note(exclude_newer)}")
            try:
                run_tool(cmd, progress, cwd=cwd, failure="installing in one run failed")
            except EnvironmentBuildError:
                progress.step("one run failed: installing the build dependencies, then the requirements")
                return False
            out, _ = alone.communicate()
        finally:
            if alone.poll() is None:
                alone.kill()
                alone.wait()
    if alone.returncode != 0:
        return False  # the build dependencies alone do not resolve: two runs give the error
    moved = _moved(_pins(out), installed_versions(prefix))
    if moved:
        progress.step(f"the requirements change what the build dependencies install ({', '.join(moved)}): "
                      "installing the build dependencies, then the requirements")
        return False
    return True


def _pins(compiled: str) -> dict[str, str]:
    """``name==version`` lines of ``uv pip compile`` output, by canonical name."""
    pins = {}
    for line in compiled.splitlines():
        name, sep, version = line.split(";", 1)[0].strip().partition("==")
        canonical = requirement_name(name) if sep else None
        if canonical:
            pins[canonical] = version.strip()
    return pins


def installed_versions(prefix: Path) -> dict[str, str]:
    """Canonical name -> version of every distribution installed in the venv at ``prefix``."""
    from importlib import metadata

    from packaging.utils import canonicalize_name

    paths = [os.fspath(p) for p in [*prefix.glob("lib/python*/site-packages"), prefix / "Lib" / "site-packages"]
             if p.is_dir()]
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions(path=paths)
            if d.metadata["Name"]}


def _moved(alone: dict[str, str], installed: dict[str, str]) -> list[str]:
    """``name alone-version -> installed-version`` for each package of ``alone`` installed otherwise."""
    from packaging.version import InvalidVersion, Version

    def same(a: str, b: str | None) -> bool:
        if b is None:
            return False
        try:
            return Version(a) == Version(b)
        except InvalidVersion:
            return a == b

    return [f"{name} {version} -> {installed.get(name) or 'none'}" for name, version in sorted(alone.items())
            if not same(version, installed.get(name))]
