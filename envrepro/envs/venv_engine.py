"""Create a virtual environment for python_env.yaml: right interpreter, build dependencies, requirements.

``tool="uv"`` uses ``uv venv`` and ``uv pip install``; ``tool="virtualenv"`` uses the virtualenv package and the
venv's own pip. Where virtualenv cannot make the environment (not installed, or too new for the Python: 20.22
dropped 3.6, 20.27 dropped 3.7) the interpreter's own ``-m venv`` makes it, with pip upgraded to the last
release for that Python. Venvs are not relocatable, so callers build them at their final path (see
:mod:`envrepro.envs.cache`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal

from ..errors import EnvironmentBuildError
from .interpreters import Interpreter, find_interpreter
from .one_pass import BuildDependenciesAlone, install_in_one_pass, one_pass_applies
from .pip_install import find_uv, install_requirements, run_tool
from .prefix import prefix_python
from .progress import Progress

VenvTool = Literal["uv", "virtualenv"]


def default_venv_tool() -> VenvTool:
    """uv when it is installed, virtualenv/venv otherwise."""
    return "uv" if find_uv() is not None else "virtualenv"


def create_venv(prefix: str | os.PathLike, *, python_version: str, build_dependencies: Sequence[str] = (),
                requirements: Sequence[str] = (), constraints: Sequence[str] = (), tool: VenvTool | None = None,
                quiet: bool = False, interpreter: Interpreter | None = None,
                pip_override: Sequence[str] = (), cwd: str | os.PathLike | None = None,
                exclude_newer: datetime | None = None) -> Interpreter:
    """Create a venv at ``prefix`` and install build dependencies, then requirements (+ constraints).

    ``pip_override`` requirements are installed last, on top, without the constraints. ``cwd`` is where
    relative paths in the model's requirements resolve (the model directory). ``exclude_newer`` (UTC) resolves
    what is not pinned as of then (:mod:`envrepro.asof`). Returns the base interpreter used (``exact`` is False
    when only the minor version matched).
    """
    tool = tool or default_venv_tool()
    if tool not in ("uv", "virtualenv"):
        raise EnvironmentBuildError(f"unknown environment tool {tool!r}", hint="use 'uv' or 'virtualenv'")
    progress = Progress(quiet=quiet)
    base = interpreter or find_interpreter(python_version)
    progress.step(f"creating a {tool} environment with Python {base.version} ({base.path})")
    prefix = Path(prefix)
    installer: Literal["uv", "pip"] = "pip"
    last_pip = None
    if tool == "uv":
        uv = find_uv()
        if uv is None:
            raise EnvironmentBuildError("uv is not installed", hint="pip install uv, or use --env-manager virtualenv")
        cmd = [uv, "venv", "--python", os.fspath(base.path), "--no-project", os.fspath(prefix)]
        installer = "uv"
    elif _virtualenv_can_target(base):
        # virtualenv seeds pip/setuptools/wheel from the wheels it embeds: no network needed. By default it may
        # instead seed wheels it fetched in the background on an earlier run ("bundle"), so the same model got
        # a different pip from one day to the next (seen: pip 26 seeded into a Python 3.8 venv, where it breaks).
        seeds = ["--pip", "embed"] + (["--setuptools", "embed", "--wheel", "embed"]
                                      if _minor_tuple(base) < (3, 12) else [])
        cmd = [sys.executable, "-m", "virtualenv", "--no-periodic-update", *seeds, "--python",
               os.fspath(base.path), os.fspath(prefix)]
        if exclude_newer is not None:
            # Today's seeded setuptools would count as "already satisfied" and stay: seed none, install it as
            # of the cutoff (where virtualenv would have seeded it, Python < 3.12).
            cmd.append("--no-setuptools")
            if _minor_tuple(base) < (3, 12) and "setuptools" not in _names(build_dependencies):
                build_dependencies = [*build_dependencies, "setuptools"]
    else:
        cmd, last_pip = _fallback_venv_command(base, prefix, progress)
    if not progress.enabled and cmd[1:3] != ["-m", "venv"]:
        cmd.append("--quiet")
    # Build dependencies first, then requirements, as MLflow does; with uv in one run when that installs the
    # same (see envrepro.envs.one_pass), else the venv is made again and installed in two runs. The check's
    # resolution of the build dependencies alone starts first, to overlap making the venv.
    one_pass = installer == "uv" and one_pass_applies(build_dependencies, requirements)
    with (BuildDependenciesAlone(base.path, build_dependencies, cwd=cwd, exclude_newer=exclude_newer)
          if one_pass else contextlib.nullcontext()) as alone:
        python = _make_venv(cmd, prefix, progress, tool)
        done = alone is not None and install_in_one_pass(
            python, prefix, alone, build_dependencies, requirements, constraints, progress=progress, cwd=cwd,
            exclude_newer=exclude_newer)
    if one_pass and not done:
        shutil.rmtree(prefix)
        python = _make_venv(cmd, prefix, progress, tool)
    if last_pip is not None:
        _install_last_pip(python, last_pip, progress, quiet=quiet)
    if not done:
        install_requirements(python, list(build_dependencies), quiet=quiet, installer=installer, cwd=cwd,
                             what="build dependencies", exclude_newer=exclude_newer)
        install_requirements(python, list(requirements), list(constraints), quiet=quiet, installer=installer,
                             cwd=cwd, what="requirements", exclude_newer=exclude_newer)
    install_requirements(python, list(pip_override), quiet=quiet, installer=installer,
                         what="override requirements", exclude_newer=exclude_newer)
    return base


def _make_venv(cmd: Sequence[str], prefix: Path, progress: Progress, tool: str) -> Path:
    run_tool(cmd, progress, failure=f"creating the {tool} environment failed",
             hint="check the interpreter works and the target directory is writable")
    python = prefix_python(prefix)
    if not python.exists():
        raise EnvironmentBuildError(f"{cmd[0]} did not create {python}")
    return python


# The last pip for Pythons whose ensurepip ships a pip that cannot read today's wheel tags (3.6: pip 18.1).
_LAST_PIP = {(3, 6): "21.3.1", (3, 7): "24.0"}


# virtualenv releases that dropped creating environments for old Pythons (its interpreter probe is 3.8 code).
_VIRTUALENV_DROPPED = (((20, 27), (3, 7)), ((20, 22), (3, 6)))


def last_pip_for(python_version: str) -> str | None:
    """The pip a ``python -m venv`` of that Python is upgraded to (None: its own pip will do)."""
    try:
        major, minor = (int(p) for p in python_version.split(".")[:2])
    except ValueError:  # not "X.Y...": no such Python to upgrade
        return None
    return _LAST_PIP.get((major, minor))


def _install_last_pip(python: Path, version: str, progress: Progress, *, quiet: bool) -> None:
    """pip ``version`` into the venv: from the local package store when a bundle put it there (so a venv
    bundle for Python 3.6/3.7 installs with no network), else from the index."""
    from .store import find_stored

    wheel = find_stored(f"pip-{version}-py3-none-any.whl")
    if wheel is None:
        install_requirements(python, [f"pip=={version}"], quiet=quiet, installer="pip", what="pip upgrade")
        return
    progress.step(f"installing pip {version} from the local package store")
    cmd = [os.fspath(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--no-index",
           os.fspath(wheel)]
    run_tool(cmd if progress.enabled else [*cmd, "-q"], progress, failure=f"installing pip {version} failed",
             hint="check the Python works and the environment's directory is writable")


def _virtualenv_can_target(base: Interpreter) -> bool:
    """virtualenv is importable here and still creates environments for ``base``'s Python."""
    if importlib.util.find_spec("virtualenv") is None:
        return False
    from importlib import metadata

    try:
        release = tuple(int(p) for p in metadata.version("virtualenv").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return True
    return not any(release >= since and _minor_tuple(base) <= dropped for since, dropped in _VIRTUALENV_DROPPED)


def _fallback_venv_command(base: Interpreter, prefix: Path, progress: Progress) -> tuple[list[str], str | None]:
    """No usable virtualenv for ``base``: the interpreter's own ``-m venv``, then (for 3.6 and 3.7, whose
    ensurepip pip is too old for today's wheels) the last pip release for it. Says so in one line."""
    why = "virtualenv cannot create it" if importlib.util.find_spec("virtualenv") else "virtualenv is not installed"
    last_pip = last_pip_for(base.minor)
    progress.step(f"Python {base.minor}: {why}; using its own `python -m venv`"
                  + (f" and pip {last_pip}" if last_pip else ""))
    return [os.fspath(base.path), "-m", "venv", os.fspath(prefix)], last_pip


def _names(lines: Sequence[str]) -> set[str]:
    from ..requirements import requirement_name

    return {name for name in map(requirement_name, lines) if name}


def _minor_tuple(base: Interpreter) -> tuple[int, int]:
    major, minor = base.minor.split(".")
    return int(major), int(minor)


def venv_cache_fields(*, python_version: str, build_dependencies: Sequence[str], requirements: Sequence[str],
                      constraints: Sequence[str], tool: str, pip_override: Sequence[str] = ()) -> dict[str, object]:
    """Normalized content identifying a venv, for :meth:`EnvCache.key_for` (order-free lists sorted)."""
    from ..requirements import normalized

    return {
        "engine": tool,
        "python": python_version,
        "build_dependencies": normalized(build_dependencies),
        "requirements": normalized(requirements),
        "constraints": normalized(constraints),
        "pip_override": normalized(pip_override),
    }
