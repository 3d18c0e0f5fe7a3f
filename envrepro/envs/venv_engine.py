"""Create a virtual environment for python_env.yaml: right interpreter, build dependencies, requirements.

``tool="uv"`` uses ``uv venv`` and ``uv pip install``; ``tool="virtualenv"`` uses the virtualenv package when
importable (``python -m venv`` otherwise) and the venv's own pip. Venvs are not relocatable, so callers
build them at their final path (see :mod:`envrepro.envs.cache`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Literal, Sequence

from ..errors import EnvironmentBuildError
from .interpreters import Interpreter, find_interpreter
from .pip_install import find_uv, install_requirements, run_tool
from .progress import Progress

VenvTool = Literal["uv", "virtualenv"]


def default_venv_tool() -> VenvTool:
    """uv when it is installed, virtualenv/venv otherwise."""
    return "uv" if find_uv() is not None else "virtualenv"


def venv_python(prefix: str | os.PathLike) -> Path:
    prefix = Path(prefix)
    return prefix / "Scripts" / "python.exe" if sys.platform == "win32" else prefix / "bin" / "python"


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
    if tool == "uv":
        uv = find_uv()
        if uv is None:
            raise EnvironmentBuildError("uv is not installed", hint="pip install uv, or use --env-manager virtualenv")
        cmd = [uv, "venv", "--python", os.fspath(base.path), "--no-project", os.fspath(prefix)]
        if not progress.enabled:
            cmd.append("--quiet")
        installer = "uv"
    elif importlib.util.find_spec("virtualenv") is not None:
        # virtualenv seeds pip/setuptools/wheel from wheels it ships: no network needed.
        cmd = [sys.executable, "-m", "virtualenv", "--python", os.fspath(base.path), os.fspath(prefix)]
        if exclude_newer is not None:
            # Today's seeded setuptools would count as "already satisfied" and stay: seed none, install it as
            # of the cutoff (where virtualenv would have seeded it, Python < 3.12).
            cmd.append("--no-setuptools")
            if tuple(int(p) for p in base.minor.split(".")) < (3, 12) and "setuptools" not in _names(build_dependencies):
                build_dependencies = [*build_dependencies, "setuptools"]
        if not progress.enabled:
            cmd.append("--quiet")
        installer = "pip"
    else:
        cmd = [os.fspath(base.path), "-m", "venv", os.fspath(prefix)]
        installer = "pip"
    run_tool(cmd, progress, failure=f"creating the {tool} environment failed",
             hint="check the interpreter works and the target directory is writable")
    python = venv_python(prefix)
    if not python.exists():
        raise EnvironmentBuildError(f"{cmd[0]} did not create {python}")
    install_requirements(python, list(build_dependencies), quiet=quiet, installer=installer, cwd=cwd,
                         what="build dependencies", exclude_newer=exclude_newer)
    install_requirements(python, list(requirements), list(constraints), quiet=quiet, installer=installer,
                         cwd=cwd, what="requirements", exclude_newer=exclude_newer)
    install_requirements(python, list(pip_override), quiet=quiet, installer=installer,
                         what="override requirements", exclude_newer=exclude_newer)
    return base


def _names(lines: Sequence[str]) -> set[str]:
    from ..requirements import requirement_name

    return {name for name in map(requirement_name, lines) if name}


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
