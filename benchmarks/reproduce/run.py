"""Cold and warm `envrepro env create` vs `python -m venv` + `pip install -r requirements.txt`, same model, one run.

Usage: python benchmarks/reproduce/run.py [--repeat 3] [--empty-caches]
`python -m venv` + `pip install -r requirements.txt` is what `mlflow models predict --env-manager virtualenv`
does for its environment step (MLflow's own command cannot run offline here: it asks pyenv to download a
Python that is already installed). By default both sides have warm package caches (pip's and uv's), as on a
developer machine; --empty-caches gives both an empty download cache each run (PyPI downloads included).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import ROOT, WORK, ratio, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--empty-caches", action="store_true")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    model = WORK / "reproduce-model"
    if not (model / "MLmodel").exists():
        subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py"), str(model)], check=True)
    requirements = model / "requirements.txt"
    python = sys.version.split()[0]
    pip_times, cold_times, warm_times = [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(dir=WORK) as tmp:
            tmp = Path(tmp)
            env = dict(os.environ, ENVREPRO_HOME=str(tmp / "home"))
            pip_env = dict(os.environ)
            if args.empty_caches:
                env["UV_CACHE_DIR"] = str(tmp / "uv-cache")
                pip_env["PIP_NO_CACHE_DIR"] = "1"
            seconds, proc = timed([sys.executable, "-m", "venv", str(tmp / "venv")])
            seconds2, proc2 = timed([str(tmp / "venv" / "bin" / "pip"), "install", "-q", "-r", str(requirements)],
                                    env=pip_env)
            if proc2.returncode != 0:
                raise SystemExit(proc2.stderr[-2000:])
            pip_times.append(seconds + seconds2)
            cmd = [sys.executable, "-m", "envrepro.cli", "env", "create", "-m", str(model), "-q"]
            seconds, proc = timed(cmd, env=env)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-2000:])
            cold_times.append(seconds)
            seconds, proc = timed(cmd, env=env)
            warm_times.append(seconds)
            shutil.rmtree(tmp / "venv", ignore_errors=True)
    pip_med, cold_med, warm_med = (statistics.median(t) for t in (pip_times, cold_times, warm_times))
    caches = "empty download caches" if args.empty_caches else "warm download caches"
    print(f"model: {model} (python {python}, {len(requirements.read_text().split())} requirements), {caches}")
    runs = ", ".join(f"{t:.2f}" for t in pip_times)
    print(f"venv + pip install -r requirements.txt: median {pip_med:.2f} s  ({runs})")
    runs = ", ".join(f"{t:.2f}" for t in cold_times)
    print(f"envrepro env create, cold:               median {cold_med:.2f} s  ({runs})"
          f"  -> {ratio(cold_med, pip_med)} faster")
    runs = ", ".join(f"{t:.3f}" for t in warm_times)
    print(f"envrepro env create, warm (cache hit):   median {warm_med:.3f} s ({runs})"
          f"  -> {ratio(warm_med, pip_med)} faster")


if __name__ == "__main__":
    main()
