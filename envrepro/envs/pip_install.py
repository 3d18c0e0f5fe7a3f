"""Install pip requirements into an environment through that environment's own python.

uv is used when available (``uv pip install --python PREFIX_PYTHON``: no pip needed inside the env);
otherwise ``PYTHON -m pip``, bootstrapped with ``ensurepip`` when the env has no pip.
``ENVREPRO_INSTALLER=pip`` (or ``uv``) overrides the choice.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Literal, Sequence

from ..errors import EnvironmentBuildError
from .progress import Progress

Installer = Literal["auto", "uv", "pip"]


def find_uv() -> str | None:
    """The uv binary: ``ENVREPRO_UV``, the one shipped by the ``uv`` Python package, else PATH."""
    explicit = os.environ.get("ENVREPRO_UV")
    if explicit:
        return shutil.which(explicit)
    try:
        from uv import find_uv_bin  # the PyPI 'uv' package ships its binary

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def choose_installer(installer: Installer = "auto") -> Literal["uv", "pip"]:
    if installer == "auto":
        installer = os.environ.get("ENVREPRO_INSTALLER", "auto")  # type: ignore[assignment]
    if installer == "pip":
        return "pip"
    if installer == "uv":
        if find_uv() is None:
            raise EnvironmentBuildError("uv was requested but is not installed",
                                        hint="pip install uv, or use pip (ENVREPRO_INSTALLER=pip)")
        return "uv"
    if installer != "auto":
        raise EnvironmentBuildError(f"unknown installer {installer!r}", hint="use 'uv', 'pip' or 'auto'")
    return "uv" if find_uv() is not None else "pip"


def install_requirements(python_exe: str | os.PathLike, requirements: Sequence[str],
                         constraints: Sequence[str] = (), quiet: bool = False, *,
                         cwd: str | os.PathLike | None = None, installer: Installer = "auto",
                         what: str = "pip requirements") -> None:
    """Install ``requirements`` (limited by ``constraints``) into the environment of ``python_exe``.

    ``cwd`` is where relative paths in requirement lines (``./pkg.whl``) are resolved.
    """
    if not requirements:
        return
    progress = Progress(quiet=quiet)
    tool = choose_installer(installer)
    with tempfile.TemporaryDirectory(prefix="envrepro-pip-") as tmp:
        req_file = Path(tmp) / "requirements.txt"
        req_file.write_text("".join(f"{line}\n" for line in requirements), encoding="utf-8")
        args = ["-r", str(req_file)]
        if constraints:
            cons_file = Path(tmp) / "constraints.txt"
            cons_file.write_text("".join(f"{line}\n" for line in constraints), encoding="utf-8")
            args += ["-c", str(cons_file)]
        if tool == "uv":
            cmd = [find_uv() or "uv", "pip", "install", "--python", os.fspath(python_exe), *args]
        else:
            _ensure_pip(python_exe, progress)
            cmd = [os.fspath(python_exe), "-m", "pip", "install", "--disable-pip-version-check",
                   "--no-input", *args]
        if not progress.enabled:
            cmd.append("-q")
        progress.step(f"installing {len(requirements)} {what} with {tool}")
        run_tool(cmd, progress, cwd=cwd, failure=f"installing {what} with {tool} failed",
                 hint="check the pins (and constraints) can be satisfied from your package index")


def _ensure_pip(python_exe: str | os.PathLike, progress: Progress) -> None:
    probe = subprocess.run([os.fspath(python_exe), "-c", "import pip"], capture_output=True)
    if probe.returncode == 0:
        return
    progress.step("bootstrapping pip with ensurepip")
    run_tool([os.fspath(python_exe), "-m", "ensurepip", "--default-pip"], progress,
             failure="the environment has no pip and ensurepip failed",
             hint="install uv (pip install uv) or add pip to the environment")


def _die_with_parent() -> None:
    """Runs in the child before exec: if envrepro is killed (even by SIGKILL), the build tool dies too.

    Otherwise an orphaned uv/pip keeps writing into the half-built environment while the next builder
    wipes and rebuilds it.
    """
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def run_tool(cmd: Sequence[str], progress: Progress, *, cwd: str | os.PathLike | None = None,
             env: dict[str, str] | None = None, failure: str, hint: str | None = None) -> str:
    """Run a build tool; stream its output when showing progress, else capture it for the error."""
    tie = {"preexec_fn": _die_with_parent} if sys.platform.startswith("linux") else {}
    try:
        if progress.enabled:
            proc = subprocess.run(list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL, **tie)
            output = ""
        else:
            proc = subprocess.run(list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, errors="replace", **tie)
            output = (proc.stdout or "") + (proc.stderr or "")
    except FileNotFoundError as exc:
        raise EnvironmentBuildError(f"{failure}: {exc.filename or cmd[0]} not found", hint=hint) from None
    if proc.returncode != 0:
        tail = " | ".join(line.strip() for line in output.strip().splitlines()[-6:] if line.strip())
        detail = f": {tail}" if tail else f" (exit {proc.returncode}; its output is above)"
        raise EnvironmentBuildError(f"{failure}{detail}", hint=hint)
    return output
