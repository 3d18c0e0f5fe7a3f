"""Warm `envrepro predict` vs `mlflow models predict --env-manager uv` on the same model, in one run.

Usage: python benchmarks/predict/run.py [--repeat 3]
Runs from benchmarks/_work/mlflow-venv (MLflow and envrepro side by side). MLflow rebuilds its environment
on every call; envrepro builds it once (the cold build is reported separately) and reuses it.
Rows: envrepro on the model it saved itself, and envrepro on MLflow's own model directory (whose
environment includes MLflow, loaded through MLflow's pyfunc loader). Outputs must match MLflow's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import WORK, bench_env, load_average, mlflow_venv, run_header, timed  # noqa: E402

SAVE_MODELS = Path(__file__).resolve().parents[1] / "serve" / "run.py"
INPUT = {"dataframe_split": {"columns": list("abcd"), "data": [[0.1, -0.2, 0.3, 0.4], [-1.0, -1.0, 0.5, 0.5],
                                                                 [2.0, 0.1, 0.0, 1.0]]}}


def predictions(stdout: str) -> list:
    """The predictions from a command's stdout (MLflow prints log lines around its JSON)."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and "predictions" in line:
            return json.loads(line)["predictions"]
    raise ValueError(f"no predictions in output: {stdout[-500:]}")


def repeated(cmd: list[str], env: dict, repeat: int, what: str) -> tuple[list[float], list]:
    """Run ``cmd`` ``repeat`` times; the times and the last run's predictions."""
    times, out = [], []
    for _ in range(repeat):
        seconds, proc = timed(cmd, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"{what} failed:\n{proc.stderr[-2000:]}")
        times.append(seconds)
        out = predictions(proc.stdout)
    return times, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    python = mlflow_venv()
    mlflow_model, envrepro_model = WORK / "serve-model", WORK / "serve-model-envrepro"
    if not (envrepro_model / "MLmodel").exists():
        subprocess.run([sys.executable, str(SAVE_MODELS), "--seconds", "0"], check=False)  # creates both
    bindir = python.parent
    env = bench_env(PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", ENVREPRO_HOME=str(WORK / "envrepro-home"))
    print(run_header(python), flush=True)
    input_path = WORK / "predict-input.json"
    input_path.write_text(json.dumps(INPUT))

    mlflow_cmd = [str(bindir / "mlflow"), "models", "predict", "-m", str(mlflow_model), "-i", str(input_path),
                  "-t", "json", "--env-manager", "uv"]
    mlflow_times, mlflow_out = repeated(mlflow_cmd, env, args.repeat, "mlflow models predict")

    rows = {}
    for name, model in (("envrepro", envrepro_model), ("envrepro/mlflow-model", mlflow_model)):
        cold, proc = timed([str(bindir / "envrepro"), "env", "create", "-m", str(model), "-q"], env=env)
        if proc.returncode != 0:
            raise SystemExit(f"envrepro env create failed:\n{proc.stderr[-2000:]}")
        cmd = [str(bindir / "envrepro"), "predict", "-m", str(model), "-i", str(input_path), "-q"]
        warm, out = repeated(cmd, env, args.repeat, "envrepro predict")
        rows[name] = (cold, warm, out)

    offline = offline_virtualenv(bindir, mlflow_model, envrepro_model, input_path, env)
    mlflow_median = statistics.median(mlflow_times)
    print(f"mlflow models predict --env-manager uv: median {mlflow_median:.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in mlflow_times)}), predictions {mlflow_out}")
    for name, (cold, warm, out) in rows.items():
        median = statistics.median(warm)
        print(f"{name}: cold env create {cold:.2f} s; warm predict median {median:.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in warm)}); {mlflow_median / median:.1f}x faster than MLflow; "
              f"same output: {out == mlflow_out}")
    for line in offline:
        print(line)
    print(f"load average (1, 5, 15 min) at end: {load_average()}")


def offline_virtualenv(bindir: Path, mlflow_model: Path, envrepro_model: Path, input_path: Path,
                       env: dict) -> list[str]:
    """--env-manager virtualenv with no index at all (a local wheelhouse only) and the recorded Python installed."""
    wheelhouse = WORK / "wheelhouse"
    requirements = envrepro_model / "requirements.txt"
    import yaml

    build = yaml.safe_load((envrepro_model / "python_env.yaml").read_text())["build_dependencies"]
    subprocess.run([str(bindir / "pip"), "download", "-q", "-d", str(wheelhouse), "-r", str(requirements), *build],
                   check=True)
    offline_env = {**env, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse), "UV_OFFLINE": "1",
                   "ENVREPRO_HOME": str(WORK / "envrepro-home-offline")}
    lines = []
    seconds, proc = timed([str(bindir / "mlflow"), "models", "predict", "-m", str(mlflow_model), "-i",
                           str(input_path), "-t", "json", "--env-manager", "virtualenv"], env=offline_env)
    reason = (proc.stderr.strip().splitlines() or ["?"])[-1][:200]
    lines.append(f"offline, mlflow --env-manager virtualenv: exit {proc.returncode} after {seconds:.1f} s"
                 + (f" ({reason})" if proc.returncode else ""))
    seconds, proc = timed([str(bindir / "envrepro"), "predict", "-m", str(envrepro_model), "-i", str(input_path),
                           "--env-manager", "virtualenv", "-q"], env=offline_env)
    lines.append(f"offline, envrepro --env-manager virtualenv: exit {proc.returncode} after {seconds:.1f} s "
                 f"(cold build included), output {proc.stdout.strip() or proc.stderr.strip()[-200:]}")
    return lines


if __name__ == "__main__":
    main()
