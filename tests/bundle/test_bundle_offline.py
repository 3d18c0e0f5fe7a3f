"""A bundle made here installs and predicts in a network namespace with no network and empty caches, as on an
air-gapped machine: for the uv and virtualenv managers (PyPI wheels) and for conda (the suite's local channel)."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from tests.conftest import SKLEARN_COLUMNS, run_cli

from .conftest import envrepro_cmd, fresh_env, offline

pytestmark = pytest.mark.slow  # bundling resolves and downloads from PyPI; installing builds real environments


@pytest.fixture(scope="module")
def sk_model(tmp_path_factory, saved_sklearn_dir) -> Path:
    """The session's saved sklearn model (no lock; its output on the input example recorded)."""
    path = tmp_path_factory.mktemp("bundle-src") / "sk-model"
    shutil.copytree(saved_sklearn_dir, path)
    assert (path / "envrepro_output_example.json").is_file()
    return path


@pytest.fixture(scope="module")
def payload(tmp_path_factory, iris_like, sklearn_model) -> tuple[Path, list]:
    X, _ = iris_like
    path = tmp_path_factory.mktemp("bundle-input") / "input.json"
    path.write_text(json.dumps({"dataframe_split": {"columns": SKLEARN_COLUMNS, "data": X[:4].tolist()}}))
    return path, sklearn_model.predict(X[:4]).tolist()


def _bundle(model: Path, out: Path, *args: str) -> str:
    before = sorted(p.name for p in model.iterdir())
    proc = run_cli("bundle", "-m", str(model), "-o", str(out), *args, check=True, timeout=1200)
    assert sorted(p.name for p in model.iterdir()) == before  # the lock went into the bundle, not the model
    assert "the model has no lock: locking it for linux-64 into the bundle" in proc.stderr
    return proc.stdout


@pytest.mark.parametrize("manager", ["uv", "virtualenv"])
def test_venv_bundle_installs_and_predicts_with_no_network(manager, sk_model, tmp_path, payload):
    bundle = tmp_path / f"{manager}.tar"
    out = _bundle(sk_model, bundle, "--env-manager", manager)
    assert f"{manager} environment for linux-64, needs Python" in out and "scikit_learn" not in out
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    assert any(n.startswith("packages/") and "/scikit_learn-" in n for n in names)
    site = tmp_path / "site"
    # virtualenv: a site without uv at all, so virtualenv creates the venv and pip installs into it.
    extra = {"ENVREPRO_UV": str(tmp_path / "no-uv")} if manager == "virtualenv" else {}
    env = fresh_env(site, ENVREPRO_PROGRESS="1", **extra)
    created = offline(envrepro_cmd("env", "create", "--from-bundle", str(bundle)), env)
    assert created.returncode == 0, created.stderr
    prefix = Path(created.stdout.strip().splitlines()[-1])
    assert prefix.parent == site / "home" / "envs"
    tool = "uv" if manager == "uv" else "pip"
    assert f"locked pip packages with {tool} (hashes required, all from local files)" in created.stderr
    assert ("uv = " if manager == "uv" else "virtualenv = ") in (prefix / "pyvenv.cfg").read_text()
    path, expected = payload
    predicted = offline(envrepro_cmd("predict", "-m", str(bundle), "-i", str(path)), env)
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout) == {"predictions": expected}
    assert "creating" not in predicted.stderr  # the environment built from the bundle was reused
    verified = offline(envrepro_cmd("verify", "-m", str(bundle)), env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith(f"verified: the {manager} environment ({prefix}) reproduces the output "
                                      "recorded when the model was saved")


def test_conda_bundle_carries_its_python_and_installs_with_no_network(sk_model, tmp_path, local_channel_url,
                                                                      payload):
    bundle = tmp_path / "conda.tar"
    out = _bundle(sk_model, bundle, "--env-manager", "conda", "--channel-alias", f"conda-forge={local_channel_url}")
    assert "conda environment for linux-64: model" in out and "conda packages" in out and "needs Python" not in out
    site = tmp_path / "site"
    env = fresh_env(site, ENVREPRO_PROGRESS="1")
    prefix = site / "env"
    created = offline(envrepro_cmd("env", "create", "--from-bundle", str(bundle), "--prefix", str(prefix)), env)
    assert created.returncode == 0, created.stderr
    assert "locked conda packages" in created.stderr and "solving" not in created.stderr
    assert list((prefix / "conda-meta").glob("python-3.*.json")) and (prefix / "bin" / "python").is_file()
    path, expected = payload
    predicted = offline(envrepro_cmd("predict", "-m", str(bundle), "--env-prefix", str(prefix), "-i", str(path)),
                        env)
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout) == {"predictions": expected}
    # Without --env-manager, a conda bundle's model builds with conda (the default would be uv) from the bundle.
    verified = offline(envrepro_cmd("verify", "-m", str(bundle)), env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("verified: the conda environment")


def test_the_same_bundle_opened_again_is_not_unpacked_again(tmp_path, tiny_pip_bundle):
    env = fresh_env(tmp_path / "site", ENVREPRO_PROGRESS="1")
    first = offline(envrepro_cmd("inspect", "-m", str(tiny_pip_bundle)), env)
    assert first.returncode == 0 and "unpacking" in first.stderr and "checking every byte" in first.stderr
    assert "tinyreq" in first.stdout
    second = offline(envrepro_cmd("inspect", "-m", str(tiny_pip_bundle)), env)
    assert second.returncode == 0 and "unpacking" not in second.stderr and second.stdout == first.stdout
