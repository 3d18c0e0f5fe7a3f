"""Shared by the benchmark scripts: a venv holding MLflow *and* envrepro, so both run on the same packages."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"
MLFLOW_SPEC = os.environ.get("BENCH_MLFLOW_SPEC", "mlflow")


def mlflow_venv() -> Path:
    """Create (once) benchmarks/_work/mlflow-venv with mlflow, scikit-learn, pandas and envrepro; return its python."""
    venv = WORK / "mlflow-venv"
    python = venv / "bin" / "python"
    marker = venv / ".ready"
    if marker.exists():
        return python
    WORK.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", MLFLOW_SPEC, "scikit-learn", "pandas", "uv",
                    "virtualenv", "-e", str(ROOT)], check=True)
    marker.write_text("ok\n")
    return python


def timed(cmd: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    return time.perf_counter() - start, proc


def ratio(ours: float, theirs: float) -> str:
    return f"{theirs / ours:.1f}x" if ours > 0 else "n/a"
