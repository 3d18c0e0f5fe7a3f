"""Builders for the audit tests' fixture trees (real files in tmp_path) and the CLI run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

MLMODEL_OLD = """artifact_path: model
flavors:
  python_function:
    data: model.pkl
    env: {env}
    loader_module: mlflow.sklearn
    python_version: 3.7.6
  sklearn:
    pickled_model: model.pkl
    sklearn_version: 0.22.1
run_id: 0123456789abcdef
utc_time_created: '2020-06-01 00:00:00.000000'
"""

MLMODEL_NEW = """artifact_path: model
flavors:
  python_function:
    env:
      conda: {env}
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    python_version: 3.10.12
mlflow_version: {version}
run_id: 0123456789abcdef
"""


def write(root: Path, rel: str, text: str | bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    return path


def model_dir(root: Path, rel: str, conda: str, *, version: str | None = None, env: str = "conda.yaml") -> Path:
    """An MLflow model directory; ``version=None`` writes an old-style MLmodel (no mlflow_version)."""
    mlmodel = MLMODEL_OLD.format(env=env) if version is None else MLMODEL_NEW.format(env=env, version=version)
    write(root, f"{rel}/MLmodel", mlmodel)
    write(root, f"{rel}/{env}", conda)
    write(root, f"{rel}/python_env.yaml", "python: 3.10.12\ndependencies:\n- -r requirements.txt\n")
    write(root, f"{rel}/requirements.txt", "scikit-learn==1.3.2\n")
    return root / rel


def run_audit(*args: str | os.PathLike, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m envrepro.cli audit ARGS`` in a real subprocess."""
    return subprocess.run([sys.executable, "-m", "envrepro.cli", "audit", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def run_json(*args: str | os.PathLike, cwd: Path | None = None) -> tuple[int, dict]:
    proc = run_audit("--json", *args, cwd=cwd)
    return proc.returncode, json.loads(proc.stdout)
