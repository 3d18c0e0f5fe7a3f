"""The real MLflow, installed from the package index into test venvs, to check compatibility both ways.

``real_mlflow`` (session): ``.python`` of a uv venv with ``mlflow==3.17.2`` and the test interpreter's own
numpy, pandas, scikit-learn and cloudpickle (so models pickled here load there), plus skops and pyarrow;
``.with_envrepro`` is a second venv with the same packages and envrepro installed from this source tree
(a regular, non-editable install, as a user's ``pip install envrepro`` beside MLflow).
MLflow 3.17 refuses to unpickle models unless ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true``: ``.env`` sets it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

MLFLOW_VERSION = "3.17.2"
ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class RealMlflow:
    python: Path
    with_envrepro: Path
    version: str = MLFLOW_VERSION

    @property
    def env(self) -> dict[str, str]:
        # PATH: `mlflow models serve` starts `uvicorn` by name.
        return {**os.environ, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
                "PATH": f"{self.python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def run(self, code: str, *args: str, envrepro: bool = False, timeout: float = 600) -> subprocess.CompletedProcess:
        python = self.with_envrepro if envrepro else self.python
        return subprocess.run([str(python), "-c", code, *args], capture_output=True, text=True, timeout=timeout,
                              env=self.env, cwd=python.parent)

    def mlflow_cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.python.parent / "mlflow"), *args], capture_output=True, text=True,
                              timeout=timeout, env=self.env, cwd=self.python.parent)


def _uv() -> str:
    from envrepro.envs.pip_install import find_uv

    uv = find_uv()
    if uv is None:
        pytest.skip("uv is not installed")
    return uv


def _venv(root: Path, packages: list[str]) -> Path:
    uv = _uv()
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(root)], check=True)
    python = root / "bin" / "python"
    proc = subprocess.run([uv, "pip", "install", "-q", "--python", str(python), *packages], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return python


@pytest.fixture(scope="session")
def real_mlflow(tmp_path_factory: pytest.TempPathFactory) -> RealMlflow:
    pins = [f"{name}=={metadata.version(name)}" for name in ("numpy", "pandas", "scikit-learn", "cloudpickle")]
    packages = [f"mlflow=={MLFLOW_VERSION}", *pins, "skops", "pyarrow"]
    root = tmp_path_factory.mktemp("real-mlflow")
    python = _venv(root / "mlflow", packages)
    source = root / "envrepro-src"  # a clean copy: building writes build/ and *.egg-info into the tree
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".ci", ".venv", "build", "*.egg-info",
                                                                "__pycache__", "tests", "benchmarks"))
    with_envrepro = _venv(root / "mlflow-envrepro", [*packages, str(source)])
    return RealMlflow(python, with_envrepro)
