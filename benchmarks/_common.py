"""Shared by the benchmark scripts: a venv holding MLflow *and* envrepro, so both run on the same packages."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"
MLFLOW_SPEC = os.environ.get("BENCH_MLFLOW_SPEC", "mlflow==3.17.2")  # the version the issues measured against


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
                    "virtualenv", "-e", str(ROOT)], check=True, env=bench_env())
    # Bytecode for the host side of both tools, as an ordinary pip install leaves it (an install run with
    # PYTHONDONTWRITEBYTECODE set leaves none, and then every CLI call compiles MLflow or envrepro from source).
    subprocess.run([str(python), "-m", "compileall", "-q", "-j", "0", str(venv / "lib")], check=False,
                   stdout=subprocess.DEVNULL, env=bench_env())
    marker.write_text("ok\n")
    return python


def bench_env(**extra: str) -> dict[str, str]:
    """os.environ without PYTHONDONTWRITEBYTECODE (some CI shells set it; a user's shell does not), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


def run_header(python: Path) -> str:
    """The MLflow version the ratios are against and the machine's load, for the figures to be read against."""
    version = subprocess.run([str(python), "-c", "from importlib.metadata import version; print(version('mlflow'))"],
                             capture_output=True, text=True).stdout.strip() or "?"
    return f"MLflow {version}; {os.cpu_count()} cores; load average (1, 5, 15 min) at start: {load_average()}"


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(cmd: list[str], **kwargs) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    return time.perf_counter() - start, proc


def ratio(ours: float, theirs: float) -> str:
    return f"{theirs / ours:.1f}x" if ours > 0 else "n/a"
