"""Install pip requirements into an environment through that environment's own python.

uv is used when available (``uv pip install --python PREFIX_PYTHON``: no pip needed inside the env);
otherwise ``PYTHON -m pip``, bootstrapped with ``ensurepip`` when the env has no pip.
``ENVREPRO_INSTALLER=pip`` (or ``uv``) overrides the choice.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

from ..asof import pinned_lines, pinned_names, stamp
from ..errors import EnvironmentBuildError
from ..requirements import requirement_name
from .progress import Progress

Installer = Literal["auto", "uv", "pip"]


_FIND_UV_LOCK = threading.Lock()


def find_uv() -> str | None:
    """The uv binary: ``ENVREPRO_UV``, the one shipped by the ``uv`` Python package, else PATH."""
    explicit = os.environ.get("ENVREPRO_UV")
    if explicit:
        return shutil.which(explicit)
    # uv's finder reads sysconfig, whose first use is not thread-safe before Python 3.13 (another thread can
    # see its variables half-filled: "EXE" is None); lock platforms are resolved from several threads.
    with _FIND_UV_LOCK:
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
                         what: str = "pip requirements", exclude_newer: datetime | None = None) -> None:
    """Install ``requirements`` (limited by ``constraints``) into the environment of ``python_exe``.

    ``cwd`` is where relative paths in requirement lines (``./pkg.whl``) are resolved. ``exclude_newer``
    (UTC) ignores what was uploaded after it, except requirements pinned with ``==`` (see
    :mod:`envrepro.asof`): uv exempts them per package; pip (26+, ``--uploaded-prior-to``) cannot, so they are
    installed first without their dependencies, which the second pass then resolves under the cutoff. A pip
    without the option hands the cutoff to uv when it is installed, else installs without it (warned).
    """
    if not requirements:
        return
    progress = Progress(quiet=quiet)
    tool = choose_installer(installer)
    if exclude_newer is not None and tool == "pip":
        problem = _pip_cutoff_problem(python_exe)
        if problem is not None:
            tool, exclude_newer = _without_pip_cutoff(python_exe, progress, exclude_newer, problem)
    with tempfile.TemporaryDirectory(prefix="envrepro-pip-") as tmp:
        req_file = write_lines(Path(tmp) / "requirements.txt", requirements)
        args = ["-r", str(req_file)]
        if constraints:
            args += ["-c", str(write_lines(Path(tmp) / "constraints.txt", constraints))]
        if tool == "uv":
            cutoff_args = uv_cutoff_args(exclude_newer, [*requirements, *constraints])
            cmds = [[find_uv() or "uv", "pip", "install", "--python", os.fspath(python_exe), *args, *cutoff_args]]
        else:
            ensure_pip(python_exe, progress)
            pip = [os.fspath(python_exe), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
            cmds = [[*pip, *args]]
            if exclude_newer is not None:
                # Pinned versions are never moved: in place before the cutoff applies. A pin of pip itself goes
                # in last, so the pip that knows --uploaded-prior-to runs the cutoff pass (and pip is exempt).
                pins = pinned_lines(requirements)
                own = [line for line in pins if requirement_name(line) == "pip"]
                rest = [line for line in requirements if line not in own]
                others = [line for line in pins if line not in own]
                cutoff_args = ["-r", str(write_lines(Path(tmp) / "cutoff.txt", rest)), *args[2:]]
                cmds = [[*pip, *cutoff_args, "--uploaded-prior-to", stamp(exclude_newer)]] if rest else []
                if others:
                    cmds.insert(0, [*pip, "--no-deps", "-r", str(write_lines(Path(tmp) / "pinned.txt", others))])
                if own:
                    cmds.append([*pip, "--no-deps", *own])
        progress.step(f"installing {len(requirements)} {what} with {tool}{cutoff_note(exclude_newer)}")
        hint = "check the pins (and constraints) can be satisfied from your package index"
        if exclude_newer is not None:
            hint += (f"; only what was uploaded before {stamp(exclude_newer)} is used for unpinned packages: pin "
                     "what must be newer (==), or pass --resolve-as-of now (also if your index has no upload times)")
        for cmd in cmds:
            if not progress.enabled:
                cmd.append("-q")
            run_tool(cmd, progress, cwd=cwd, failure=f"installing {what} with {tool} failed", hint=hint)


def cutoff_note(exclude_newer: datetime | None) -> str:
    """What a progress line says of the cutoff: the user sees which index snapshot an install reads."""
    return f" (uploaded before {stamp(exclude_newer)})" if exclude_newer is not None else ""


def uv_cutoff_args(exclude_newer: datetime | None, lines: Sequence[str]) -> list[str]:
    """uv's ``--exclude-newer``, with every ``==``-pinned name in ``lines`` exempted (its cutoff moved to now)."""
    if exclude_newer is None:
        return []
    now = stamp(datetime.now(timezone.utc) + timedelta(minutes=1))
    return ["--exclude-newer", stamp(exclude_newer),
            *(f"--exclude-newer-package={name}={now}" for name in pinned_names(lines))]


def write_lines(path: Path, lines: Sequence[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


_warned_no_cutoff: set[str] = set()


_LOCATION_KEYS = ("index-url", "extra-index-url", "find-links")


def _pip_cutoff_problem(python_exe: str | os.PathLike) -> str | None:
    """Why the environment's pip cannot apply a cutoff faithfully, or None when it can.

    pip needs ``--uploaded-prior-to`` (pip 26+; never on Python < 3.9), and it keeps files whose upload time it
    cannot know: those of local indexes and find-links directories (pip.conf, PIP_* variables). uv drops them.
    """
    python = os.fspath(python_exe)
    helped = subprocess.run([python, "-m", "pip", "install", "--help"], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    if helped.returncode != 0 or "--uploaded-prior-to" not in helped.stdout:
        return "the environment's pip has no --uploaded-prior-to (pip 26+)"
    config = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL).stdout
    local = []
    for line in config.splitlines():
        key, _, value = line.partition("=")
        if key.rsplit(".", 1)[-1] in _LOCATION_KEYS:
            local += [v for v in value.strip("'\"").split() if not v.startswith(("http://", "https://"))]
    if local:
        return f"pip reads local package locations without upload times ({', '.join(dict.fromkeys(local))})"
    return None


def _without_pip_cutoff(python_exe: str | os.PathLike, progress: Progress, exclude_newer: datetime,
                        problem: str) -> tuple[Literal["uv", "pip"], datetime | None]:
    if find_uv() is not None:
        progress.step(f"{problem}: resolving as of a date with uv instead")
        return "uv", exclude_newer
    if os.fspath(python_exe) not in _warned_no_cutoff:
        _warned_no_cutoff.add(os.fspath(python_exe))
        logging.getLogger(__name__).warning(
            "resolving as of %s is not applied: %s and uv is not installed (pip install uv)", stamp(exclude_newer),
            problem)
    return "pip", None


def ensure_pip(python_exe: str | os.PathLike, progress: Progress) -> None:
    probe = subprocess.run([os.fspath(python_exe), "-c", "import pip"], capture_output=True)
    if probe.returncode == 0:
        return
    progress.step("bootstrapping pip with ensurepip")
    run_tool([os.fspath(python_exe), "-m", "ensurepip", "--default-pip"], progress,
             failure="the environment has no pip and ensurepip failed",
             hint="install uv (pip install uv) or add pip to the environment")


def tied_to_parent() -> dict[str, Any]:
    """``subprocess`` keyword arguments that make a build tool die with envrepro (see ``_die_with_parent``)."""
    return {"preexec_fn": _die_with_parent} if sys.platform.startswith("linux") else {}


def _die_with_parent() -> None:
    """Runs in the child before exec: if envrepro is killed (even by SIGKILL), the build tool dies too.

    Otherwise an orphaned uv/pip keeps writing into the half-built environment while the next builder
    wipes and rebuilds it.
    """
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _stderr_fd() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by something without a descriptor
        return None


def run_tool(cmd: Sequence[str], progress: Progress, *, cwd: str | os.PathLike | None = None,
             env: dict[str, str] | None = None, failure: str, hint: str | None = None) -> str:
    """Run a build tool; stream its output when showing progress, else capture it for the error."""
    tie = tied_to_parent()
    try:
        if progress.enabled:  # the tool's output is progress: stderr, never mixed into envrepro's stdout
            proc = subprocess.run(list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=_stderr_fd(), **tie)
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
