"""`envrepro lock --check`: exit 0 while the model matches its lock, 1 once a requirement changes."""

from __future__ import annotations

import sys

import pytest
import yaml

from envrepro.errors import EnvreproError, ModelFormatError
from envrepro.lock import check_lock, find_lock, lock_model

from .conftest import run_envrepro


def _edit_conda(model, fn):
    path = model / "conda.yaml"
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_check_passes_then_fails_after_a_conda_change(conda_model, offline_pip):
    lock_model(conda_model, ["linux-64", "win-64"], quiet=True)
    ok = run_envrepro("lock", "-m", str(conda_model), "--check")
    assert ok.returncode == 0 and "up to date for linux-64, win-64" in ok.stdout

    # Same environment, different spelling and order: still current.
    _edit_conda(conda_model, lambda d: d.update(dependencies=[
        {"pip": ["  tinyreq  "]}, "tinyapp 2.*", "pip", f"python {sys.version_info[0]}.{sys.version_info[1]}.*"]))
    assert run_envrepro("lock", "-m", str(conda_model), "--check").returncode == 0

    _edit_conda(conda_model, lambda d: d["dependencies"].__setitem__(1, "tinyapp=1"))
    stale = run_envrepro("lock", "-m", str(conda_model), "--check")
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "out of date for linux-64, win-64" in stale.stderr and "envrepro lock" in stale.stderr


def test_check_fails_after_a_pip_change(conda_model, offline_pip):
    lock_model(conda_model, ["linux-64"], quiet=True)
    assert check_lock(conda_model)
    _edit_conda(conda_model, lambda d: d["dependencies"][-1].__setitem__("pip", ["tinyreq", "tinywheel<2"]))
    result = check_lock(conda_model)
    assert not result and result.stale == ["linux-64"]


def test_check_without_lock_and_with_missing_recorded_lock(conda_model, offline_pip):
    with pytest.raises(EnvreproError, match="has no lock file"):
        check_lock(conda_model)
    lock = lock_model(conda_model, ["linux-64"], quiet=True)
    lock.unlink()
    with pytest.raises(ModelFormatError, match="recorded in MLmodel .* is missing"):
        find_lock(conda_model)
    proc = run_envrepro("lock", "-m", str(conda_model), "--check")
    assert proc.returncode == 2 and "is missing" in proc.stderr


def test_lock_written_elsewhere_is_found_through_mlmodel(conda_model, offline_pip, tmp_path):
    target = conda_model / "locks" / "model.conda-lock.yml"
    proc = run_envrepro("lock", "-m", str(conda_model), "-p", "linux-64", "-o", str(target), "-q")
    assert proc.returncode == 0, proc.stderr
    assert find_lock(conda_model) == target
    assert run_envrepro("lock", "-m", str(conda_model), "--check").returncode == 0


def test_lock_written_outside_the_model_is_not_recorded(conda_model, offline_pip, tmp_path):
    # MLmodel names only files inside the model (docs/security.md): such a lock is used with --lockfile.
    target = tmp_path / "locks" / "model.conda-lock.yml"
    before = (conda_model / "MLmodel").read_text()
    proc = run_envrepro("lock", "-m", str(conda_model), "-p", "linux-64", "-o", str(target), "-q")
    assert proc.returncode == 0 and "not recorded in MLmodel" in proc.stderr, proc.stderr
    assert (conda_model / "MLmodel").read_text() == before and find_lock(conda_model) is None
    check = run_envrepro("lock", "-m", str(conda_model), "--check", "--lockfile", str(target))
    assert check.returncode == 0, check.stderr


def test_an_edited_python_in_a_pip_lock_makes_it_stale(tmp_path, offline_pip):
    from tests.lock.conftest import write_model

    python = ".".join(map(str, sys.version_info[:3]))
    model = write_model(tmp_path / "m", python_env={"python": python, "build_dependencies": [],
                                                    "dependencies": ["-r requirements.txt"]},
                        requirements=["tinyreq==1.0"])
    lock = lock_model(model, ["linux-64"], pip_only=True, quiet=True)
    assert run_envrepro("lock", "-m", str(model), "--check").returncode == 0
    lock.write_text(lock.read_text().replace(f"envrepro.python: {python}", "envrepro.python: 3.6.15")
                    .replace(f"envrepro.python: '{python}'", "envrepro.python: '3.6.15'"))
    assert "3.6.15" in lock.read_text()
    check = run_envrepro("lock", "-m", str(model), "--check")
    assert check.returncode == 1 and "records Python '3.6.15'" in check.stderr, check.stdout + check.stderr
    build = run_envrepro("env", "create", "-m", str(model), "--from-lock", "--env-manager", "uv", "-q")
    assert build.returncode == 2 and "records Python '3.6.15'" in build.stderr, build.stderr
