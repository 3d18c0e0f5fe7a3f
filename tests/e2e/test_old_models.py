"""Models saved by real old MLflow releases (tests/old_mlflow.py), run by envrepro in their own environments.

MLflow 1.14 on Python 3.6 and 1.17 on Python 3.8 wrote only MLmodel, the artifact and a conda.yaml with
``channels: [defaults, conda-forge]`` and ``mlflow`` unpinned. envrepro must rebuild their environments with
uv and with virtualenv and reproduce the predictions that MLflow itself computed when the models were made.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.e2e.conftest import marker
from tests.serving.helpers import start_server, stop_server

pytestmark = pytest.mark.slow

OLD_MODELS = ["mlflow117_py38_sklearn", "mlflow117_py38_pyfunc", "mlflow1x_py36_sklearn", "mlflow1x_py36_pyfunc"]


@pytest.fixture(params=OLD_MODELS)
def old(request):
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("manager", ["uv", "virtualenv"])
def test_predict_reproduces_mlflows_predictions(old, manager, tmp_path):
    for payload in (old.input_json, old.input_csv):
        out = run_cli("predict", "-m", str(old.path), "-i", str(payload), "--env-manager", manager, "-q",
                      check=True, timeout=900)
        assert json.loads(out.stdout) == {"predictions": old.served}, payload.name
    prefix = Path(run_cli("env", "create", "-m", str(old.path), "--env-manager", manager, "-q", check=True,
                          timeout=900).stdout.strip())
    python = marker(prefix)["python"]
    assert python == old.python_version, "the marker records the environment's own Python, not the host's"


def test_serve_reproduces_mlflows_predictions(old):
    server = start_server(old.path, "--env-manager", "uv", "-q")
    try:
        payload = json.loads(old.input_json.read_text())
        assert server.invoke(payload) == (200, {"predictions": old.served})
        assert server.invoke(old.input_csv.read_text(), "text/csv") == (200, {"predictions": old.served})
        status, body = server.request("GET", "/ping")
        assert status == 200
    finally:
        stop_server(server)


def test_inspect_shows_the_old_layout(old):
    report = json.loads(run_cli("inspect", "-m", str(old.path), "--json", check=True).stdout)
    assert report["python_version"] == old.python_version
    assert report["env_files"] == {"conda": "conda.yaml"}
    assert any(r.startswith("scikit-learn==") or r.startswith("cloudpickle==") for r in report["requirements"])


@pytest.mark.parametrize("manager", ["uv", "virtualenv"])
def test_mlflow_2_9_model_runs_as_of_its_date_and_not_without(mlflow292_py310_pyfunc, manager):
    """MLflow 2.9.2 imports pkg_resources; python_env.yaml leaves setuptools unpinned, and today's setuptools has
    no pkg_resources. Resolved as of the model's date (the default for an old model) it runs; as of today it cannot."""
    old = mlflow292_py310_pyfunc
    out = run_cli("predict", "-m", str(old.path), "-i", str(old.input_json), "--env-manager", manager, "-q",
                  check=True, timeout=900)
    assert json.loads(out.stdout) == {"predictions": old.served}
    report = json.loads(run_cli("inspect", "-m", str(old.path), "--json", check=True).stdout)
    assert report["resolve_as_of"]["cutoff"].startswith(old.saved_at[:10])
    today = run_cli("predict", "-m", str(old.path), "-i", str(old.input_json), "--env-manager", manager, "-q",
                    "--resolve-as-of", "now", timeout=900)
    assert today.returncode != 0 and "Traceback" not in today.stderr
    assert ("the model failed to load in its environment (Python 3.10.13): ModuleNotFoundError: No module named "
            "'pkg_resources'") in today.stderr
