"""Models of old Pythons (3.6, 3.7) build with every venv manager; the marker records the env's own Python.

virtualenv >= 20.22 cannot create 3.6 environments and >= 20.27 not 3.7 ones (its interpreter probe is 3.8
code): the virtualenv manager then uses the interpreter's own ``-m venv`` and upgrades ensurepip's pip (18.1
for 3.6) to the last release for that Python. Real interpreters (pyenv), real PyPI.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow
PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
LAST_PIP = {"3.6.15": "21.3.1", "3.7.16": "24.0"}
FALLBACK = "virtualenv cannot create it; using its own `python -m venv` and pip"


def old_model(path: Path, python: str, requirements: list[str]) -> Path:
    path.mkdir(parents=True)
    (path / "MLmodel").write_text("flavors:\n  python_function:\n    env: {virtualenv: python_env.yaml}\n"
                                  f"    loader_module: mlflow.sklearn\n    python_version: {python}\n")
    (path / "python_env.yaml").write_text(f"python: {python}\nbuild_dependencies: [pip]\n"
                                          "dependencies: [-r requirements.txt]\n")
    (path / "requirements.txt").write_text("".join(f"{r}\n" for r in requirements))
    return path


def need(python: str) -> None:
    if not (PYENV / python / "bin" / "python").exists():
        pytest.skip(f"needs pyenv's Python {python}")


def env_report(prefix: Path) -> dict:
    code = ("import json, platform, six\ntry:\n    import pip; pip = pip.__version__\n"
            "except ImportError:\n    pip = None\n"
            "print(json.dumps({'python': platform.python_version(), 'six': six.__version__, 'pip': pip}))")
    proc = subprocess.run([str(prefix / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("python", ["3.6.15", "3.7.16"])
@pytest.mark.parametrize("manager", ["uv", "virtualenv"])
def test_old_python_env_with_every_venv_manager(tmp_path, python, manager):
    need(python)
    model = old_model(tmp_path / "model", python, ["six==1.15.0"])
    proc = run_cli("env", "create", "-m", str(model), "--env-manager", manager,
                   env={**os.environ, "ENVREPRO_PROGRESS": "1"}, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    prefix = Path(proc.stdout.strip())  # tool output went to stderr: stdout is the prefix alone
    report = env_report(prefix)
    assert report["python"] == python and report["six"] == "1.15.0"
    marker = json.loads((prefix / ".envrepro-env.json").read_text())
    assert marker["python"] == python  # the env's own python, not the host's
    if manager == "virtualenv":
        assert proc.stderr.count(FALLBACK) == 1, proc.stderr
        assert f"Python {python[:3]}: {FALLBACK} {LAST_PIP[python]}" in proc.stderr
        assert report["pip"] == LAST_PIP[python]  # the env's own pip installed six
    else:
        assert FALLBACK not in proc.stderr


def test_marker_records_the_envs_python_not_the_hosts(tmp_path):
    need("3.8.18")
    model = old_model(tmp_path / "model", "3.8.18", ["six==1.16.0"])
    prefix = Path(run_cli("env", "create", "-m", str(model), "--env-manager", "virtualenv", "-q",
                          check=True, timeout=900).stdout.strip())
    marker = json.loads((prefix / ".envrepro-env.json").read_text())
    host = "%d.%d.%d" % __import__("sys").version_info[:3]
    assert (marker["python"], marker["envrepro_python"]) == ("3.8.18", host)
    assert env_report(prefix)["python"] == "3.8.18"
