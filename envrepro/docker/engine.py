"""Is a Docker engine reachable, and ``docker build`` of a context. ``ENVREPRO_DOCKER`` names another client
(e.g. podman, which answers ``info`` and ``build`` the same way)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import EnvreproError
from .platforms import DOCKER_PLATFORMS

DOCKER_ENV = "ENVREPRO_DOCKER"


def docker_exe() -> str:
    return os.environ.get(DOCKER_ENV) or "docker"


def engine_problem(timeout: float = 30) -> str | None:
    """None when ``docker info`` reaches an engine, else a one-line reason."""
    exe = shutil.which(docker_exe())
    if exe is None:
        return f"the {docker_exe()} command is not installed"
    try:
        proc = subprocess.run([exe, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"`{docker_exe()} info` did not answer within {timeout:.0f} s"
    if proc.returncode == 0 and proc.stdout.strip():
        return None
    lines = [line.strip() for line in (proc.stderr + "\n" + proc.stdout).splitlines() if line.strip()]
    reason = lines[-1] if lines else f"`{docker_exe()} info` exited with {proc.returncode}"
    return reason.removeprefix("ERROR: ").removeprefix("Error: ")[:300]


def require_engine(model_path: str | os.PathLike) -> None:
    problem = engine_problem()
    if problem is not None:
        raise EnvreproError(f"no Docker engine is reachable ({problem}); use envrepro generate-dockerfile -m "
                            f"{os.fspath(model_path)} -d DIR and build it where Docker runs")


def build_image(context: str | os.PathLike, name: str, *, platform: str = "linux-64", quiet: bool = False) -> None:
    """``docker build`` the context; its output goes straight to the terminal."""
    cmd = [shutil.which(docker_exe()) or docker_exe(), "build", "--platform", DOCKER_PLATFORMS[platform], "-t", name]
    if quiet:
        cmd.append("--quiet")
    proc = subprocess.run([*cmd, os.fspath(Path(context))])
    if proc.returncode != 0:
        raise EnvreproError(f"`docker build` failed (exit {proc.returncode})", path=context,
                            hint="its output above says why")
