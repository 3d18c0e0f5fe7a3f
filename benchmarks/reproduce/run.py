"""Cold and warm `envrepro env create` vs `uv venv` + `uv pip install` by hand and vs `python -m venv` +
`pip install -r requirements.txt`, same model, same requirements, one run.

Usage: python benchmarks/reproduce/run.py [--repeat 3] [--empty-caches]

- uv by hand: `uv venv --python <the interpreter envrepro picks>` then one `uv pip install` of the model's
  build dependencies and `-r requirements.txt`: what envrepro drives, typed by hand. The interpreter is named
  by path, as envrepro does (`uv venv -p 3.11.7` would make uv search PATH, which costs most of a second
  where that finds a pyenv shim). Targets: envrepro cold within 1.5x of it, warm (cache hit) <= 0.2 s.
- `python -m venv` + `pip install -r requirements.txt` is what `mlflow models predict --env-manager virtualenv`
  does for its environment step (MLflow's own command cannot run offline here: it asks pyenv to download a
  Python that is already installed).

By default every side has warm download caches (pip's, uv's: the same uv cache for envrepro and uv by hand),
as on a developer machine; --empty-caches gives each side its own empty download cache each run (PyPI
downloads included). envrepro runs with Python's bytecode cache, as an installed package does (the cache goes to
benchmarks/_work/pycache, and one untimed run fills it and the download caches before timing).
"""

from __future__ import annotations

import argparse
import os
import resource
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
    python_env = _python_env(model)
    python_version = str(python_env["python"])
    build_dependencies = [str(d) for d in python_env.get("build_dependencies") or []]

    from envrepro.envs.interpreters import find_interpreter
    from envrepro.envs.pip_install import find_uv

    interpreter = str(find_interpreter(python_version).path)
    uv = find_uv() or "uv"
    # An installed envrepro has compiled bytecode; PYTHONDONTWRITEBYTECODE (set in some shells) would make it
    # compile its modules on every run instead.
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base_env["PYTHONPYCACHEPREFIX"] = str(WORK / "pycache")
    create = [sys.executable, "-m", "envrepro.cli", "env", "create", "-m", str(model), "-q"]

    def uv_by_hand(tmp: Path, env: dict[str, str]) -> tuple[float, float]:
        venv = tmp / "uv-venv"
        cpu = _children_cpu()
        seconds, proc = timed([uv, "venv", "-q", "--python", interpreter, str(venv)], env=env)
        _check(proc)
        seconds2, proc = timed([uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                                *build_dependencies, "-r", str(requirements)], env=env, cwd=model)
        _check(proc)
        return seconds + seconds2, _children_cpu() - cpu

    with tempfile.TemporaryDirectory(dir=WORK) as warmup:  # untimed: fills the bytecode and download caches
        _check(subprocess.run(create, env=dict(base_env, ENVREPRO_HOME=str(Path(warmup) / "home")),
                              capture_output=True, text=True))
        uv_by_hand(Path(warmup), base_env)

    pip_times, uv_times, cold_times, warm_times, uv_cpu, cold_cpu = [], [], [], [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(dir=WORK) as tmp_name:
            tmp = Path(tmp_name)
            env = dict(base_env, ENVREPRO_HOME=str(tmp / "home"))
            uv_env = dict(base_env)
            pip_env = dict(os.environ)
            if args.empty_caches:
                env["UV_CACHE_DIR"] = str(tmp / "uv-cache")
                uv_env["UV_CACHE_DIR"] = str(tmp / "uv-cache-by-hand")
                pip_env["PIP_NO_CACHE_DIR"] = "1"
            seconds, proc = timed([sys.executable, "-m", "venv", str(tmp / "venv")])
            _check(proc)
            seconds2, proc = timed([str(tmp / "venv" / "bin" / "pip"), "install", "-q", "-r", str(requirements)],
                                   env=pip_env)
            _check(proc)
            pip_times.append(seconds + seconds2)
            seconds, cpu = uv_by_hand(tmp, uv_env)
            uv_times.append(seconds)
            uv_cpu.append(cpu)
            cpu = _children_cpu()
            seconds, proc = timed(create, env=env)
            _check(proc)
            cold_times.append(seconds)
            cold_cpu.append(_children_cpu() - cpu)
            seconds, proc = timed(create, env=env)
            _check(proc)
            warm_times.append(seconds)
            shutil.rmtree(tmp / "venv", ignore_errors=True)
    pip_med, uv_med, cold_med, warm_med = (statistics.median(t) for t in (pip_times, uv_times, cold_times,
                                                                          warm_times))
    caches = "empty download caches" if args.empty_caches else "warm download caches"
    print(f"model: {model} (python {python_version}, {len(build_dependencies)} build dependencies, "
          f"{len(requirements.read_text().split())} requirements), {caches}, median of {args.repeat}")
    print(f"load: {_load()}")
    print(f"venv + pip install -r requirements.txt: {pip_med:6.3f} s  ({_runs(pip_times)})")
    print(f"uv venv + uv pip install, by hand:      {uv_med:6.3f} s  ({_runs(uv_times)})")
    print(f"envrepro env create, cold:              {cold_med:6.3f} s  ({_runs(cold_times)})")
    print(f"envrepro env create, warm (cache hit):  {warm_med:6.3f} s  ({_runs(warm_times)})")
    print(f"CPU (the command and everything it waited for), median: envrepro cold {statistics.median(cold_cpu):.3f} s, "
          f"uv by hand {statistics.median(uv_cpu):.3f} s: less sensitive to other load than wall time")
    print(f"ratio: envrepro cold takes {cold_med / uv_med:.2f}x the time of uv by hand (target <= 1.5x); "
          f"{ratio(cold_med, pip_med)} faster than venv + pip; warm {warm_med:.3f} s (target <= 0.2 s), "
          f"{ratio(warm_med, pip_med)} faster than venv + pip")


def _python_env(model: Path) -> dict:
    import yaml

    return yaml.safe_load((model / "python_env.yaml").read_text())


def _check(proc: subprocess.CompletedProcess) -> None:
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, proc.args))} failed:\n{proc.stderr[-2000:]}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _runs(times: list[float]) -> str:
    return ", ".join(f"{t:.3f}" for t in times)


def _load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
