"""Fixtures for lock tests: models on the shared local channel, an offline wheelhouse, the CLI with `lock`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures_channel import build_backend_wheel, build_sdist, build_wheel

# The `lock` command through the real CLI group.
_CLI = "import sys; from envrepro.cli import cli; cli(sys.argv[1:], prog_name='envrepro')"


def run_envrepro(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _CLI, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture(scope="session")
def lock_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tinywheel 1.0/2.0, tinyreq 1.0 (needs tinywheel<2), tinydep 1.0/1.1 (also a conda package), and tinysrc
    1.0, an sdist only, which builds with tinybackend (a wheel)."""
    directory = tmp_path_factory.mktemp("lock-wheelhouse")
    build_wheel(directory, "tinywheel", "1.0")
    build_wheel(directory, "tinywheel", "2.0")
    build_wheel(directory, "tinyreq", "1.0", requires=["tinywheel<2"])
    build_wheel(directory, "tinydep", "1.0")
    build_wheel(directory, "tinydep", "1.1")
    build_backend_wheel(directory)
    build_sdist(directory, "tinysrc", "1.0")
    return directory


@pytest.fixture
def offline_pip(lock_wheelhouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """uv and pip resolve from the local wheelhouse only (offline, deterministic)."""
    for key, value in {"UV_FIND_LINKS": str(lock_wheelhouse), "UV_NO_INDEX": "1", "UV_OFFLINE": "1",
                       "PIP_FIND_LINKS": str(lock_wheelhouse), "PIP_NO_INDEX": "1"}.items():
        monkeypatch.setenv(key, value)
    return lock_wheelhouse


@pytest.fixture
def no_resolution(monkeypatch: pytest.MonkeyPatch, offline_pip) -> None:
    """Any solve (rattler's, envrepro's) or pip resolution now raises; pip has no index or find-links."""
    import rattler

    import envrepro.envs.rattler_engine as engine
    import envrepro.lock.pip_lock as pip_lock
    import envrepro.lock.solve as solve

    def boom(*args, **kwargs):
        raise AssertionError("a solver was called while installing from a lock")

    for target, name in ((rattler, "solve"), (engine, "solve_conda_spec"), (solve, "solve_conda_spec"),
                         (pip_lock, "_compile")):
        monkeypatch.setattr(target, name, boom)
    for key in ("UV_FIND_LINKS", "PIP_FIND_LINKS"):
        monkeypatch.delenv(key)


def write_model(path: Path, conda: dict[str, Any] | None = None, *, python_env: dict | None = None,
                requirements: list[str] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    env = {}
    if conda is not None:
        (path / "conda.yaml").write_text(yaml.safe_dump(conda, sort_keys=False))
        env["conda"] = "conda.yaml"
    if python_env is not None:
        (path / "python_env.yaml").write_text(yaml.safe_dump(python_env, sort_keys=False))
        env["virtualenv"] = "python_env.yaml"
    if requirements is not None:
        (path / "requirements.txt").write_text("".join(f"{r}\n" for r in requirements))
    mlmodel = {"flavors": {"python_function": {"loader_module": "tinyapp", "env": env,
                                               "python_version": ".".join(map(str, sys.version_info[:3]))}}}
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel, sort_keys=False))
    return path


@pytest.fixture
def conda_model(tmp_path: Path, local_channel_url: str) -> Path:
    """python + tinyapp 2 (→ tinydep 1.1, tinylib 1.2) from the local channel, tinyreq (→ tinywheel 1.0) from pip."""
    return write_model(tmp_path / "model", {
        "name": "locked", "channels": [local_channel_url],
        "dependencies": [f"python={sys.version_info[0]}.{sys.version_info[1]}", "pip", "tinyapp=2",
                         {"pip": ["tinyreq"]}],
    })
