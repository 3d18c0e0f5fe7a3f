"""Fixtures for bundle tests: tiny bundles (fast, for the damage tests), and running commands with no network."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from envrepro.bundle import create_bundle
from tests.lock.conftest import lock_wheelhouse, offline_pip, write_model  # noqa: F401 (fixtures)

PYTHON = ".".join(map(str, sys.version_info[:3]))


@pytest.fixture
def tiny_pip_bundle(tmp_path: Path, offline_pip) -> Path:  # noqa: F811
    """A venv bundle of a model needing tinyreq (→ tinywheel), from the local wheelhouse: ~10 KB."""
    model = write_model(tmp_path / "tiny-pip", python_env={"python": PYTHON, "build_dependencies": [],
                                                             "dependencies": ["-r requirements.txt"]},
                        requirements=["tinyreq"])
    return create_bundle(model, tmp_path / "tiny-pip.tar", env_manager="uv", platforms=["linux-64"],
                         quiet=True).path


@pytest.fixture
def tiny_conda_bundle(tmp_path: Path, local_channel_url: str, offline_pip) -> Path:  # noqa: F811
    """A conda bundle of a model needing tinydata (a noarch:generic package) from the local channel."""
    model = write_model(tmp_path / "tiny-conda", {"channels": [local_channel_url], "dependencies": ["tinydata"]})
    return create_bundle(model, tmp_path / "tiny-conda.tar", env_manager="conda", platforms=["linux-64"],
                         quiet=True).path


def fresh_env(root: Path, **extra: str) -> dict[str, str]:
    """A process environment with empty caches (envrepro's, uv's, pip's, XDG's) under ``root``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_", "ENVREPRO_"))}
    for name, sub in (("ENVREPRO_HOME", "home"), ("UV_CACHE_DIR", "uv-cache"), ("PIP_CACHE_DIR", "pip-cache"),
                      ("XDG_CACHE_HOME", "xdg-cache")):
        env[name] = str(root / sub)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


NO_NETWORK_PROBE = ("import socket, sys\n"
                    "try:\n    socket.create_connection(('1.1.1.1', 443), timeout=3)\n"
                    "except OSError as exc:\n    sys.exit(0)\nsys.exit('the network is reachable')\n")


def offline(cmd: Sequence[str], env: dict[str, str], *, cwd: Path | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``cmd`` in a new network namespace: no interface but a down loopback, so no network at all."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-n", sys.executable, "-c", NO_NETWORK_PROBE], capture_output=True, text=True)
    if probe.returncode != 0:
        if "Operation not permitted" in probe.stderr:
            pytest.skip("unshare -n needs root (CI runs as root)")
        raise AssertionError(f"a network namespace still reaches the network: {probe.stderr}")
    return subprocess.run(["unshare", "-n", "--", *cmd], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def envrepro_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "envrepro.cli", *args]
