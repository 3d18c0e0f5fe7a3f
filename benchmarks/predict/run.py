"""Warm `envrepro predict` vs `mlflow models predict --env-manager uv` on the same model, in one run.

Usage: python benchmarks/predict/run.py [--repeat 3]
Runs from benchmarks/_work/mlflow-venv (MLflow and envrepro side by side). MLflow rebuilds its environment
on every call; envrepro builds it once (the cold build is reported separately) and reuses it.
Rows: envrepro on the model it saved itself, and envrepro on MLflow's own model directory (whose
environment includes MLflow, loaded through MLflow's pyfunc loader). Outputs must match MLflow's.
Then the README's quickstart model (examples/quickstart.py), warm, with uv, with virtualenv, from a pip-only lock
and from a bundle: the first predict (it starts the model's resident predictor and leaves bytecode behind), then
the warm ones, answered by the resident; and warm with no resident (ENVREPRO_WARM_SECONDS=0: a new interpreter
per predict, on the bytecode the first one left), as after the resident idled out.

CPU times are the benchmark's children: for predicts answered by a resident that is the host process only (the
resident is nobody's child), so compare wall times there.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import ROOT, WORK, bench_env, load_average, mlflow_venv, run_header, timed  # noqa: E402

from envrepro_runtime.bytecode import wait_for_compiler  # noqa: E402

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


def cpu_timed(cmd: list[str], env: dict) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds of the command and what it waited for, the process). CPU time is what the
    run costs whatever else the machine is doing; wall time on a shared machine is not."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds, proc = timed(cmd, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, proc


def repeated(cmd: list[str], env: dict, repeat: int, what: str) -> tuple[list[float], list, list[float]]:
    """Run ``cmd`` ``repeat`` times; the wall times, the last run's predictions and the CPU times."""
    times, out, cpu = [], [], []
    for _ in range(repeat):
        seconds, cpu_seconds, proc = cpu_timed(cmd, env)
        if proc.returncode != 0:
            raise SystemExit(f"{what} failed:\n{proc.stderr[-2000:]}")
        times.append(seconds)
        cpu.append(cpu_seconds)
        out = predictions(proc.stdout)
    return times, out, cpu


def quickstart(bindir: Path, env: dict, input_path: Path, repeat: int) -> list[str]:
    """The README's quickstart model, warm, for each way its environment can be made: the ≤ 1.0 s target."""
    model = WORK / "quickstart-model"
    envrepro = str(bindir / "envrepro")
    if not (model / "MLmodel").exists():
        subprocess.run([str(bindir / "python"), str(ROOT / "examples" / "quickstart.py"), str(model)], check=True,
                       env=env, capture_output=True)
    locked, bundle = WORK / "quickstart-model-locked", WORK / "quickstart-model.bundle"
    if not (locked / "conda-lock.yml").exists():
        shutil.rmtree(locked, ignore_errors=True)
        shutil.copytree(model, locked)
        subprocess.run([envrepro, "lock", "-m", str(locked), "--pip-only", "-q"], check=True, env=env,
                       capture_output=True)
    if not bundle.exists():
        subprocess.run([envrepro, "bundle", "-m", str(model), "-o", str(bundle), "-q"], check=True, env=env,
                       capture_output=True)
    variants = [("uv", str(model), ["--env-manager", "uv"], ["-m", str(model), "--env-manager", "uv"]),
                ("virtualenv", str(model), ["--env-manager", "virtualenv"],
                 ["-m", str(model), "--env-manager", "virtualenv"]),
                ("uv, from a pip-only lock", str(locked), [], ["-m", str(locked)]),
                ("from a bundle (-m FILE)", str(bundle), [], ["--from-bundle", str(bundle)])]
    lines = []
    for label, model_arg, args, create in variants:
        cold, proc = timed([envrepro, "env", "create", *create, "-q"], env=env)
        if proc.returncode != 0:
            raise SystemExit(f"envrepro env create ({label}) failed:\n{proc.stderr[-2000:]}")
        cmd = [envrepro, "predict", "-m", model_arg, "-i", str(input_path), *args, "-q"]
        first, first_cpu, _ = cpu_timed(cmd, env)
        wait_for_compiler(proc.stdout.strip().splitlines()[-1])  # the first predict's compiler
        warm, out, cpu = repeated(cmd, env, repeat, f"envrepro predict ({label})")
        cold_worker, cold_out, cold_cpu = repeated(cmd, {**env, "ENVREPRO_WARM_SECONDS": "0"}, repeat,
                                                   f"envrepro predict ({label}, no resident)")
        median, no_resident = statistics.median(warm), statistics.median(cold_worker)
        lines.append(f"quickstart model, {label}: env create {cold:.2f} s; first predict {first:.2f} s; "
                     f"warm predict median {median:.2f} s (runs: {', '.join(f'{t:.2f}' for t in warm)}; "
                     f"host CPU {statistics.median(cpu):.2f} s); with no resident {no_resident:.2f} s "
                     f"(runs: {', '.join(f'{t:.2f}' for t in cold_worker)}; CPU {statistics.median(cold_cpu):.2f} s); "
                     f"<= 1.0 s: {'yes' if median <= 1.0 else 'no'} ({'yes' if no_resident <= 1.0 else 'no'} with "
                     f"no resident); predictions {out}{'' if out == cold_out else ' DIFFER with no resident'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    python = mlflow_venv()
    mlflow_model, envrepro_model = WORK / "serve-model", WORK / "serve-model-envrepro"
    if not (envrepro_model / "MLmodel").exists():
        subprocess.run([sys.executable, str(SAVE_MODELS), "--seconds", "0"], check=False)  # creates both
    bindir = python.parent
    # Resident predictors of this run listen in a directory of its own (short: a socket path holds ~100 bytes),
    # stopped at the end.
    run_dir = tempfile.mkdtemp(prefix="envrepro-bench-")
    env = bench_env(PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", ENVREPRO_HOME=str(WORK / "envrepro-home"),
                    XDG_RUNTIME_DIR=run_dir)
    try:
        measure(python, bindir, env, mlflow_model, envrepro_model, args.repeat)
    finally:
        subprocess.run([str(bindir / "envrepro"), "env", "stop"], env=env, capture_output=True)
        shutil.rmtree(run_dir, ignore_errors=True)


def measure(python: Path, bindir: Path, env: dict, mlflow_model: Path, envrepro_model: Path, repeat: int) -> None:
    print(run_header(python), flush=True)
    input_path = WORK / "predict-input.json"
    input_path.write_text(json.dumps(INPUT))

    mlflow_cmd = [str(bindir / "mlflow"), "models", "predict", "-m", str(mlflow_model), "-i", str(input_path),
                  "-t", "json", "--env-manager", "uv"]
    mlflow_times, mlflow_out, mlflow_cpu = repeated(mlflow_cmd, env, repeat, "mlflow models predict")

    rows = {}
    for name, model in (("envrepro", envrepro_model), ("envrepro/mlflow-model", mlflow_model)):
        cold, proc = timed([str(bindir / "envrepro"), "env", "create", "-m", str(model), "-q"], env=env)
        if proc.returncode != 0:
            raise SystemExit(f"envrepro env create failed:\n{proc.stderr[-2000:]}")
        cmd = [str(bindir / "envrepro"), "predict", "-m", str(model), "-i", str(input_path), "-q"]
        repeated(cmd, env, 1, "envrepro predict")  # the first: starts the resident, leaves bytecode
        wait_for_compiler(proc.stdout.strip().splitlines()[-1])  # ... compiled by a child it leaves running
        warm, out, _ = repeated(cmd, env, repeat, "envrepro predict")
        no_resident, _, cpu = repeated(cmd, {**env, "ENVREPRO_WARM_SECONDS": "0"}, repeat, "envrepro predict")
        rows[name] = (cold, warm, out, no_resident, cpu)
    quickstart_lines = quickstart(bindir, env, ROOT / "examples" / "input.json", repeat)

    offline = offline_virtualenv(bindir, mlflow_model, envrepro_model, input_path, env)
    mlflow_median = statistics.median(mlflow_times)
    print(f"mlflow models predict --env-manager uv: median {mlflow_median:.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in mlflow_times)}), CPU median {statistics.median(mlflow_cpu):.2f} s, "
          f"predictions {mlflow_out}")
    for name, (cold, warm, out, no_resident, cpu) in rows.items():
        median, cold_worker = statistics.median(warm), statistics.median(no_resident)
        print(f"{name}: cold env create {cold:.2f} s; warm predict median {median:.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in warm)}): {mlflow_median / median:.1f}x faster than MLflow; "
              f"with no resident {cold_worker:.2f} s (runs: {', '.join(f'{t:.2f}' for t in no_resident)}), CPU "
              f"median {statistics.median(cpu):.2f} s: {mlflow_median / cold_worker:.1f}x faster than MLflow (CPU: "
              f"{statistics.median(mlflow_cpu) / statistics.median(cpu):.1f}x); same output: {out == mlflow_out}")
    for line in quickstart_lines:
        print(line)
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
    # The home persists across runs of this script: say whether this predict built the environment or reused it.
    envs = Path(offline_env["ENVREPRO_HOME"]) / "envs"
    built = not envs.is_dir() or not any(envs.iterdir())
    seconds, proc = timed([str(bindir / "envrepro"), "predict", "-m", str(envrepro_model), "-i", str(input_path),
                           "--env-manager", "virtualenv", "-q"], env=offline_env)
    lines.append(f"offline, envrepro --env-manager virtualenv: exit {proc.returncode} after {seconds:.1f} s "
                 f"({'cold build included' if built else 'environment of an earlier run reused'}), output "
                 f"{proc.stdout.strip() or proc.stderr.strip()[-200:]}")
    return lines


if __name__ == "__main__":
    main()
