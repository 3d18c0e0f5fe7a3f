"""`envrepro verify` with real rebuilt environments: uv against the record, an upgrade that changes the output,
two reproductions of an MLflow-format model, and real models saved by old MLflow releases in their own venvs."""

from __future__ import annotations

import datetime
import json
import sys
import textwrap
from pathlib import Path

import pytest

import envrepro
from tests.conftest import run_cli
from tests.mlflow_format import write_mlflow_sklearn_model
from tests.old_mlflow import RECIPES, OldModel

pytestmark = pytest.mark.slow  # real venvs (packages from PyPI, or uv's cache)


@pytest.fixture
def versioned_model(tmp_path, monkeypatch) -> Path:
    """A pyfunc model whose output depends on the installed cloudpickle (its version, as a number, scales the
    input). cloudpickle, not a package that others vendor: the save-time capture sees the saving process's
    sys.path, where another copy could come first."""
    src = tmp_path / "usercode"
    src.mkdir()
    (src / "versioned.py").write_text(textwrap.dedent("""
        import cloudpickle
        from envrepro import PythonModel

        class Versioned(PythonModel):
            def predict(self, context, model_input, params=None):
                factor = int(cloudpickle.__version__.replace(".", ""))
                return [x * factor for x in model_input]
    """))
    monkeypatch.syspath_prepend(str(src))
    import versioned

    path = tmp_path / "model"
    envrepro.save_model(versioned.Versioned(), path, input_example=[1, 2], code_paths=[src / "versioned.py"])
    assert any(line.startswith("cloudpickle==") for line in (path / "requirements.txt").read_text().splitlines())
    return path


def test_a_uv_rebuild_matches_and_an_upgrade_that_changes_the_output_does_not(versioned_model):
    import cloudpickle

    factor = int(cloudpickle.__version__.replace(".", ""))
    assert factor != 311, "pick another cloudpickle for the override"
    ok = run_cli("verify", "-m", str(versioned_model), "--env-manager", "uv", "-q", timeout=900)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("verified: the uv environment (") and "2 values match" in ok.stdout
    changed = run_cli("verify", "-m", str(versioned_model), "--env-manager", "uv", "-q",
                      "--pip-requirements-override", "cloudpickle==3.1.1", timeout=900)
    assert changed.returncode == 1, changed.stdout + changed.stderr
    lines = changed.stdout.strip().splitlines()
    assert lines[0].startswith("MISMATCH: the uv environment (") and "at 2 of 2 values" in lines[0]
    diff = factor - 311
    assert lines[1] == f"  predictions[0]: expected {factor}, got 311  (off by {abs(diff)}, relative " \
                       f"{abs(diff) / factor:.3g})"
    assert lines[2].startswith(f"  predictions[1]: expected {2 * factor}, got 622")


def test_mlflow_format_model_two_reproductions(tmp_path, sklearn_model, iris_like):
    """MLflow records no output: its uv rebuild is compared with this interpreter (where it was trained)."""
    import cloudpickle
    import numpy
    import pandas
    import sklearn

    X, _ = iris_like
    saved = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")  # as its pins
    model = write_mlflow_sklearn_model(
        tmp_path / "mlflow-model", python=sys.version.split()[0], sklearn=sklearn.__version__, mlflow="2.14.1",
        requirements=[f"cloudpickle=={cloudpickle.__version__}", f"numpy=={numpy.__version__}",
                      f"pandas=={pandas.__version__}", f"scikit-learn=={sklearn.__version__}"],
        pickled=cloudpickle.dumps(sklearn_model), utc_time_created=saved)
    (model / "input_example.json").write_text(json.dumps({"columns": [0, 1, 2, 3], "data": X[:5].tolist()}))
    with open(model / "MLmodel", "a") as fh:
        fh.write("saved_input_example_info:\n  artifact_path: input_example.json\n  pandas_orient: split\n"
                 "  type: dataframe\n")
    proc = run_cli("verify", "-m", str(model), "--env-manager", "uv", "--against", "local", "-q", "--json",
                   timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] and result["candidate"].startswith("the uv environment (")
    assert result["reference"].startswith("this Python (") and result["values"] == 5
    assert result["actual"] == result["expected"] == sklearn_model.predict(X[:5]).tolist()


@pytest.fixture
def old(request: pytest.FixtureRequest) -> OldModel:
    return request.getfixturevalue(request.param)


@pytest.mark.parametrize("old", list(RECIPES), indirect=True)
def test_old_mlflow_models_predict_in_their_own_venv_as_that_mlflow_did(old: OldModel, old_mlflow_venv, tmp_path):
    """envrepro's runtime, inside a venv like the one the model was saved in (Python 3.6-3.10, MLflow 1.14-2.9),
    gives exactly the predictions that MLflow recorded there; a wrong expectation is a mismatch."""
    prefix = Path(old_mlflow_venv(old)).parent.parent
    expected = tmp_path / "expected.json"
    expected.write_text(json.dumps({"predictions": old.served}))
    args = ["verify", "-m", str(old.path), "--env-prefix", str(prefix), "-i", str(old.input_json),
            "--expected", str(expected), "--rtol", "1e-12", "--atol", "0"]
    proc = run_cli(*args, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"verified: the environment at {prefix} reproduces the predictions in")
    wrong = [1 - p if isinstance(p, int) else p * 1.01 for p in old.expected]
    expected.write_text(json.dumps({"predictions": wrong}))
    proc = run_cli(*args, timeout=900)
    assert proc.returncode == 1 and proc.stdout.startswith("MISMATCH: the environment at") and \
        "predictions[0]: expected" in proc.stdout
    assert old.unchanged()
