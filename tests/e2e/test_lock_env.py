"""`envrepro lock` then `env create`: the lock is used automatically, exactly, and only while it is current."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture
def conda_model(tmp_path, sk_model_dir) -> Path:
    model = tmp_path / "model"
    shutil.copytree(sk_model_dir, model)
    return model


def test_env_create_installs_from_the_lock_and_ignores_a_stale_one(conda_model, local_channel_url, cli_env):
    alias = ["--channel-alias", f"conda-forge={local_channel_url}"]
    run_cli("lock", "-m", str(conda_model), "-p", "linux-64", *alias, check=True, timeout=600)
    assert (conda_model / "conda-lock.yml").exists()
    assert "envrepro_lock: conda-lock.yml" in (conda_model / "MLmodel").read_text()
    proc = run_cli("env", "create", "-m", str(conda_model), "--env-manager", "conda", *alias, env=cli_env,
                   check=True, timeout=900)
    assert "locked conda packages" in proc.stderr and "solving" not in proc.stderr
    prefix = Path(proc.stdout.strip().splitlines()[-1])
    subprocess.run([str(prefix / "bin" / "python"), "-c", "import sklearn"], check=True)
    # The model changes after locking: the lock is stale, --check fails, env create says so and solves.
    run_cli("update-pip-requirements", "-m", str(conda_model), "add", "six==1.16.0", check=True)
    assert run_cli("lock", "-m", str(conda_model), "--check").returncode == 1
    proc = run_cli("env", "create", "-m", str(conda_model), "--env-manager", "conda", *alias, env=cli_env,
                   timeout=900)
    assert proc.returncode == 0 and "ignoring the lock" in proc.stderr and "solving" in proc.stderr
    proc = run_cli("env", "create", "-m", str(conda_model), "--env-manager", "conda", "--from-lock", *alias)
    assert proc.returncode == 2 and "out of date" in proc.stderr and "Traceback" not in proc.stderr


def test_pip_only_lock_is_used_by_uv(conda_model, cli_env):
    run_cli("lock", "-m", str(conda_model), "--pip-only", "-p", "linux-64", check=True, timeout=600)
    proc = run_cli("env", "create", "-m", str(conda_model), "--env-manager", "uv", env=cli_env, check=True,
                   timeout=900)
    prefix = Path(proc.stdout.strip().splitlines()[-1])
    subprocess.run([str(prefix / "bin" / "python"), "-c", "import sklearn"], check=True)
    assert run_cli("env", "create", "-m", str(conda_model), "--no-lock", "-q", check=True).stdout.strip() != str(prefix)
