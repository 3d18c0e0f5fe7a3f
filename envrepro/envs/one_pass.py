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

So ``S1`` is computed (``uv pip compile`` of the build dependencies for the venv's base interpreter, with their
own cutoff) while the venv is made and the single run installs, and compared with what it installed. When they
differ (the requirements moved a build dependency or one of its dependencies, a constraint reached one of them)
or the single run fails, the caller makes the venv again and installs in two runs, so the result is always the
two-run result.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Collection, Sequence
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


class BuildDependenciesAlone:
    """``S1``: ``uv pip compile`` of the build dependencies alone, running in the background inside ``with``.

    It resolves for the base interpreter the venv is made from (the same marker environment and wheel tags as the
    venv's Python, and uv already knows it, while the new venv's Python would be started once more just to be
    asked), so it can start before the venv is made and overlap making it.
    """

    def __init__(self, base_python: Path, build_dependencies: Sequence[str], *,
                 cwd: str | os.PathLike | None = None, exclude_newer: datetime | None = None):
        self._tmp = tempfile.TemporaryDirectory(prefix="envrepro-pip-")
        build = write_lines(Path(self._tmp.name) / "build.txt", build_dependencies)
        self._cmd = [find_uv() or "uv", "pip", "compile", os.fspath(build), "--python", os.fspath(base_python),
                     "--no-header", "--no-annotate", "--quiet", *uv_cutoff_args(exclude_newer, build_dependencies)]
        self._cwd = cwd
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> BuildDependenciesAlone:
        try:
            self._proc = subprocess.Popen(self._cmd, cwd=self._cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True, errors="replace", **tied_to_parent())
        except BaseException:
            self._tmp.cleanup()  # __exit__ does not run when __enter__ raises
            raise
        return self

    def pins(self) -> dict[str, str] | None:
        """Canonical name -> version of ``S1``; None when the build dependencies alone do not resolve."""
        assert self._proc is not None, "use as a context manager"
        out, _ = self._proc.communicate()
        return _pins(out) if self._proc.returncode == 0 else None

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._tmp.cleanup()


def install_in_one_pass(python: Path, prefix: Path, alone: BuildDependenciesAlone, build_dependencies: Sequence[str],
                        requirements: Sequence[str], constraints: Sequence[str], *, progress: Progress,
                        cwd: str | os.PathLike | None = None, exclude_newer: datetime | None = None) -> bool:
    """Install both parts with one uv run into the venv at ``prefix``; True when that is what two runs install
    (``alone`` computes ``S1`` meanwhile).

    False leaves the venv in an unknown state: the caller makes it again and installs in two runs.
    """
    with tempfile.TemporaryDirectory(prefix="envrepro-pip-") as tmp:
        build = write_lines(Path(tmp) / "build.txt", build_dependencies)
        reqs = write_lines(Path(tmp) / "requirements.txt", requirements)
        cmd = [find_uv() or "uv", "pip", "install", "--python", os.fspath(python), "-r", os.fspath(build),
               "-r", os.fspath(reqs), *uv_cutoff_args(exclude_newer, [*build_dependencies, *requirements,
                                                                      *constraints])]
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
    pins = alone.pins()
    if pins is None:
        return False  # the build dependencies alone do not resolve: two runs give the error
    moved = _moved(pins, installed_versions(prefix, pins))
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


def installed_versions(prefix: Path, only: Collection[str] | None = None) -> dict[str, str]:
    """Canonical name -> version of every distribution installed in the venv at ``prefix`` (of those named in
    ``only``, canonical names, when given).

    Reads the header of each metadata file only: ``importlib.metadata`` parses every file whole (numpy's and
    scipy's carry their licences), ~0.05 s of a cold create. A distribution it cannot read counts as missing, so
    the one-run check falls back to two runs.
    """
    from packaging.utils import canonicalize_name

    versions: dict[str, str] = {}
    for site in [*prefix.glob("lib/python*/site-packages"), prefix / "Lib" / "site-packages"]:
        for info in [*site.glob("*.dist-info/METADATA"), *site.glob("*.egg-info/PKG-INFO")]:
            name, version = _name_and_version(info)
            if name and version and (only is None or canonicalize_name(name) in only):
                versions[canonicalize_name(name)] = version
    return versions


def _name_and_version(metadata_file: Path) -> tuple[str | None, str | None]:
    """The ``Name`` and ``Version`` fields of a core metadata file's header (which ends at the first blank line)."""
    fields: dict[str, str] = {}
    try:
        with metadata_file.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    break
                key, sep, value = line.partition(":")
                if sep and key.lower() in ("name", "version") and key.lower() not in fields:
                    fields[key.lower()] = value.strip()
    except OSError:
        pass
    return fields.get("name"), fields.get("version")


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
