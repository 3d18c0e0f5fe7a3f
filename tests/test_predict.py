"""envrepro predict (CLI and API) with the local env manager; env-building managers are in tests/e2e."""

from __future__ import annotations

import json

import pytest

import envrepro
from envrepro.errors import EnvreproError
from envrepro.predicting import predict
from tests.conftest import run_cli

COLUMNS = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def model_dir(saved_sklearn_dir):
    return saved_sklearn_dir

def test_cli_json_csv_stdin_and_output_file(tmp_path, model_dir, sklearn_model, iris_like):
    X, _ = iris_like
    preds = sklearn_model.predict(X[:5]).tolist()
    (tmp_path / "in.json").write_text(json.dumps({"dataframe_split": {"columns": COLUMNS, "data": X[:5].tolist()}}))
    out = run_cli("predict", "-m", str(model_dir), "-i", str(tmp_path / "in.json"), "--env-manager", "local",
                  check=True)
    assert json.loads(out.stdout) == {"predictions": preds}
    rows = "\n".join(",".join(map(str, r)) for r in X[:5].tolist())
    (tmp_path / "in.csv").write_text(",".join(COLUMNS) + "\n" + rows)
    out = run_cli("predict", "-m", str(model_dir), "-i", str(tmp_path / "in.csv"), "-t", "csv",
                  "-o", str(tmp_path / "out.json"), "--env-manager", "local", check=True)
    assert out.stdout == "" and json.loads((tmp_path / "out.json").read_text()) == {"predictions": preds}


@pytest.fixture(scope="module")
def unnamed_model_dir(tmp_path_factory, sklearn_model):
    path = tmp_path_factory.mktemp("unnamed") / "model"
    envrepro.save_model(sklearn_model, path)
    return path


@pytest.mark.parametrize("convert", ["dataframe", "ndarray", "list", "sparse"])
def test_api_accepts_python_objects(model_dir, unnamed_model_dir, sklearn_model, iris_like, convert):
    import pandas as pd

    X, _ = iris_like
    data = {"dataframe": lambda: pd.DataFrame(X[:4], columns=COLUMNS), "ndarray": lambda: X[:4],
            "list": lambda: X[:4].tolist(),
            "sparse": lambda: pytest.importorskip("scipy.sparse").csr_matrix(X[:4])}[convert]()
    expected = sklearn_model.predict(X[:4]).tolist()
    if convert == "dataframe":
        assert predict(model_dir, data, env_manager="local") == expected
        return
    # Unnamed rows go to a model without a signature; `model_dir`'s signature names columns a-d, and, as
    # MLflow, envrepro refuses rows that do not name them.
    assert predict(unnamed_model_dir, data, env_manager="local") == expected
    with pytest.raises(EnvreproError, match=r"Model is missing inputs \['a', 'b', 'c', 'd'\]"):
        predict(model_dir, data, env_manager="local")


def test_bad_input_is_a_clear_error(tmp_path, model_dir):
    (tmp_path / "bad.json").write_text("{oops")
    proc = run_cli("predict", "-m", str(model_dir), "-i", str(tmp_path / "bad.json"), "--env-manager", "local")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{tmp_path / 'bad.json'}: malformed JSON" in proc.stderr
    proc = run_cli("predict", "-m", str(model_dir), "-i", str(tmp_path / "missing.json"), "--env-manager", "local")
    assert proc.returncode == 2 and "cannot read input" in proc.stderr
    with pytest.raises(EnvreproError, match="cannot send input of type"):
        predict(model_dir, object(), env_manager="local")
    with pytest.raises(EnvreproError, match="unknown env manager"):
        predict(model_dir, [[1, 2, 3, 4]], env_manager="docker")


def test_missing_module_points_to_the_troubleshooting_flow(tmp_path):
    class NeedsLib(envrepro.PythonModel):
        def predict(self, context, model_input, params=None):
            import not_installed_anywhere  # noqa: F401

            return model_input

    path = tmp_path / "model"
    envrepro.save_model(NeedsLib(), path, pip_requirements=["cloudpickle"])
    (tmp_path / "in.json").write_text('{"inputs": [1]}')
    proc = run_cli("predict", "-m", str(path), "-i", str(tmp_path / "in.json"), "--env-manager", "local")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "No module named 'not_installed_anywhere'" in proc.stderr
    assert "--pip-requirements-override" in proc.stderr and "update-pip-requirements" in proc.stderr


@pytest.mark.parametrize("breakage, expected", [
    (lambda p: (p / "model.pkl").unlink(), "model.pkl: model artifact is missing"),
    (lambda p: (p / "MLmodel").write_text((p / "MLmodel").read_text()
                                          .replace("mlflow.sklearn", "acme_flavors.magic")
                                          .replace("sklearn:", "magic:")),
     "no registered flavor can load this model"),
])
def test_missing_artifact_and_unknown_flavor_exit_2(tmp_path, sklearn_model, breakage, expected):
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path)
    breakage(path)
    (tmp_path / "in.json").write_text('{"inputs": [[1, 2, 3, 4]]}')
    proc = run_cli("predict", "-m", str(path), "-i", str(tmp_path / "in.json"), "--env-manager", "local")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert expected in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_extra_pip_requirements_from_a_file(tmp_path, sklearn_model):
    (tmp_path / "extra.txt").write_text("requests==2.31.0\n-c cons.txt\n")
    (tmp_path / "cons.txt").write_text("urllib3<3\n")
    envrepro.save_model(sklearn_model, tmp_path / "model", extra_pip_requirements=str(tmp_path / "extra.txt"))
    assert "requests==2.31.0" in (tmp_path / "model" / "requirements.txt").read_text().splitlines()
    assert (tmp_path / "model" / "constraints.txt").read_text() == "urllib3<3\n"


def test_predict_leaves_the_model_directory_untouched(tmp_path):
    (tmp_path / "lib_helper.py").write_text("def double(x):\n    return [2 * v for v in x]\n")
    (tmp_path / "doubler_model.py").write_text(
        "import envrepro\nfrom lib_helper import double\n\n"
        "class Doubler(envrepro.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n        return double(model_input)\n")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        import doubler_model

        path = tmp_path / "model"
        envrepro.save_model(doubler_model.Doubler(), path, input_example=[1],
                            code_paths=[str(tmp_path / "doubler_model.py"), str(tmp_path / "lib_helper.py")])
    finally:
        sys.path.remove(str(tmp_path))
    before = sorted(str(p.relative_to(path)) for p in path.rglob("*"))
    assert predict(path, [1, 2], env_manager="local") == [2, 4]
    assert sorted(str(p.relative_to(path)) for p in path.rglob("*")) == before
