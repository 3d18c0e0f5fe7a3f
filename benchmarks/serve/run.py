"""Throughput and latency of `envrepro serve` vs `mlflow models serve --env-manager local`, same model, one run.

Usage: python benchmarks/serve/run.py [--seconds 10] [--workers 1]
Both servers run from benchmarks/_work/mlflow-venv (MLflow + envrepro on the same packages), both with
--env-manager local, on the same trained estimator and the same request body. Three rows:
  mlflow            MLflow serving the model saved by mlflow.sklearn.save_model
  envrepro          envrepro serving the same estimator saved by envrepro.save_model (the headline ratio)
  envrepro/mlflow   envrepro serving MLflow's model directory (through MLflow's own pyfunc loader, so it
                    pays MLflow's per-request schema enforcement too)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import WORK, bench_env, load_average, mlflow_venv, run_header  # noqa: E402
from loadgen import run_load  # noqa: E402

SAVE_MODEL = """
import sys, numpy as np, pandas as pd, mlflow.sklearn, envrepro
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(200, 4)), columns=list("abcd"))
y = (X.a + X.b > 0).astype(int)
model = LogisticRegression().fit(X, y)
mlflow.sklearn.save_model(model, sys.argv[1], input_example=X.head(2))
envrepro.save_model(model, sys.argv[2], input_example=X.head(2))
"""
BODY = json.dumps({"dataframe_split": {"columns": list("abcd"), "data": [[0.1, -0.2, 0.3, 0.4]]}}).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not become ready")


def bench(name: str, cmd: list[str], port: int, seconds: float, clients: tuple[int, ...] = (1, 8)) -> dict:
    # The venv's bin/ first on PATH: MLflow execs `uvicorn` by name.
    env = bench_env(PATH=f"{Path(cmd[0]).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_ready(port, proc)
        run_load("127.0.0.1", port, BODY, clients=1, seconds=2)  # warm-up
        return {n: run_load("127.0.0.1", port, BODY, clients=n, seconds=seconds) for n in clients}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    python = mlflow_venv()
    mlflow_model, envrepro_model = WORK / "serve-model", WORK / "serve-model-envrepro"
    if not (envrepro_model / "MLmodel").exists():
        import shutil

        shutil.rmtree(mlflow_model, ignore_errors=True)
        subprocess.run([str(python), "-c", SAVE_MODEL, str(mlflow_model), str(envrepro_model)], check=True)
    bindir = python.parent
    print(run_header(python), flush=True)
    workers = ["--workers", str(args.workers)]
    runs = {
        "mlflow": [str(bindir / "mlflow"), "models", "serve", "-m", str(mlflow_model), "--env-manager", "local"],
        "envrepro": [str(bindir / "envrepro"), "serve", "-m", str(envrepro_model), "--env-manager", "local"],
        "envrepro/mlflow": [str(bindir / "envrepro"), "serve", "-m", str(mlflow_model), "--env-manager", "local"],
    }
    results = {}
    for name, cmd in runs.items():
        port = free_port()
        results[name] = bench(name, cmd + ["-p", str(port)] + workers, port, args.seconds)
    print(f"{'server':<16} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for name, by_clients in results.items():
        for clients, r in by_clients.items():
            print(f"{name:<16} {clients:>7} {r['rps']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['errors']:>6}")
    for ours in ("envrepro", "envrepro/mlflow"):
        for clients in (1, 8):
            mine, theirs = results[ours][clients], results["mlflow"][clients]
            print(f"{ours} vs mlflow, {clients} client(s): throughput {mine['rps'] / max(theirs['rps'], 1e-9):.2f}x, "
                  f"p99 {mine['p99_ms']:.1f} ms vs {theirs['p99_ms']:.1f} ms")
    print(f"load average (1, 5, 15 min) at end: {load_average()}")


if __name__ == "__main__":
    main()
