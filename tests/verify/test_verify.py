"""The recorded output (save_model) and `envrepro verify` against it: match, mismatch with a diff, tolerances,
models without a record, and the comparison itself."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

import envrepro
from envrepro.verify import compare
from tests.conftest import run_cli
from tests.mlflow_format import write_mlflow_sklearn_model

pd = pytest.importorskip("pandas")


def _record(model: Path) -> dict:
    return json.loads((model / "envrepro_output_example.json").read_text())


def test_save_records_the_output_on_the_input_example(saved_sklearn_dir, sklearn_model, iris_like):
    X, _ = iris_like
    record = _record(saved_sklearn_dir)
    assert record["predictions"] == sklearn_model.predict(X[:2]).tolist()
    assert "envrepro_output_example: envrepro_output_example.json" in (saved_sklearn_dir / "MLmodel").read_text()


@pytest.mark.parametrize("given", ["pip_requirements", "conda_env"])
def test_output_is_recorded_when_requirements_are_given(given, tmp_path, sklearn_model, iris_like):
    """No inference runs then: a capture runs for the output alone."""
    import sklearn

    X, _ = iris_like
    reqs = [f"scikit-learn=={sklearn.__version__}"]
    env = {"pip_requirements": reqs} if given == "pip_requirements" else {
        "conda_env": {"channels": ["conda-forge"], "dependencies": ["python=3.11", {"pip": reqs}]}}
    path = tmp_path / "m"
    envrepro.save_model(sklearn_model, path, input_example=X[:3], **env)
    assert _record(path)["predictions"] == sklearn_model.predict(X[:3]).tolist()


def test_an_output_that_is_not_json_is_not_recorded(tmp_path, caplog):
    class Odd(envrepro.PythonModel):
        def predict(self, context, model_input, params=None):
            return [object()]

    with caplog.at_level("WARNING"):
        envrepro.save_model(Odd(), tmp_path / "m", input_example=[1], pip_requirements=["cloudpickle"])
    assert not (tmp_path / "m" / "envrepro_output_example.json").exists()
    assert "envrepro_output_example" not in (tmp_path / "m" / "MLmodel").read_text()
    assert "output on input_example is not recorded" in caplog.text and "not JSON-able" in caplog.text


def test_verify_matches_the_recorded_output(saved_sklearn_dir):
    proc = run_cli("verify", "-m", str(saved_sklearn_dir), "--env-manager", "local")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("verified: this Python (")
    assert "reproduces the output recorded when the model was saved: 2 values match" in lines[0]


def test_verify_mismatch_exits_1_with_a_readable_diff(saved_sklearn_dir, tmp_path):
    model = tmp_path / "m"
    shutil.copytree(saved_sklearn_dir, model)
    record = _record(model)
    truth = record["predictions"]
    record["predictions"] = [1 - truth[0], truth[1]]  # the model was recorded predicting otherwise
    (model / "envrepro_output_example.json").write_text(json.dumps(record))
    proc = run_cli("verify", "-m", str(model), "--env-manager", "local")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("MISMATCH: this Python") and "differs from the output recorded" in lines[0]
    assert "at 1 of 2 values" in lines[0]
    assert lines[1] == f"  predictions[0]: expected {1 - truth[0]}, got {truth[0]}  (off by 1)"
    as_json = json.loads(run_cli("verify", "-m", str(model), "--env-manager", "local", "--json").stdout)
    assert as_json["ok"] is False and as_json["differences"] == [
        {"path": "predictions[0]", "expected": 1 - truth[0], "actual": truth[0], "note": "off by 1"}]
    assert as_json["actual"] == truth


def test_tolerances_decide_what_counts_as_the_same(tmp_path):
    class Scores(envrepro.PythonModel):
        def predict(self, context, model_input, params=None):
            return [x / 3 for x in model_input]

    model = tmp_path / "m"
    envrepro.save_model(Scores(), model, input_example=[1.0, 2.0], pip_requirements=["cloudpickle"])
    record = _record(model)
    assert record["predictions"] == [1 / 3, 2 / 3]
    record["predictions"] = [v * (1 + 1e-9) for v in record["predictions"]]  # a last-bits difference
    (model / "envrepro_output_example.json").write_text(json.dumps(record))
    assert run_cli("verify", "-m", str(model), "--env-manager", "local").returncode == 0
    strict = run_cli("verify", "-m", str(model), "--env-manager", "local", "--rtol", "0", "--atol", "0")
    assert strict.returncode == 1 and "relative 1e-09" in strict.stdout


def test_a_model_without_a_record_needs_another_reference(tmp_path, sklearn_model, iris_like):
    import cloudpickle
    import sklearn

    X, _ = iris_like
    model = write_mlflow_sklearn_model(tmp_path / "mlflow-model", python="3.11.7", sklearn=sklearn.__version__,
                                       mlflow="2.14.1", requirements=[f"scikit-learn=={sklearn.__version__}"],
                                       pickled=cloudpickle.dumps(sklearn_model))
    proc = run_cli("verify", "-m", str(model), "--env-manager", "local")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert "has no input example" in proc.stderr or "no recorded output" in proc.stderr
    _add_input_example(model, X[:3])
    proc = run_cli("verify", "-m", str(model), "--env-manager", "local")
    assert proc.returncode == 2 and "no recorded output to verify against" in proc.stderr
    assert "--against" in proc.stderr and "--expected" in proc.stderr
    (tmp_path / "expected.json").write_text(json.dumps({"predictions": sklearn_model.predict(X[:3]).tolist()}))
    proc = run_cli("verify", "-m", str(model), "--env-manager", "local", "--expected", str(tmp_path / "expected.json"))
    assert proc.returncode == 0 and f"reproduces the predictions in {tmp_path / 'expected.json'}" in proc.stdout
    proc = run_cli("verify", "-m", str(model), "--env-manager", "local", "--against", "local")
    assert proc.returncode == 0 and "this Python" in proc.stdout
    proc = run_cli("verify", "-m", str(model), "--against", "nowhere")
    assert proc.returncode == 2 and "--against takes an env manager" in proc.stderr


def _add_input_example(model: Path, rows) -> None:
    """As MLflow 2.x logs an input example: input_example.json (split orient) and saved_input_example_info."""
    (model / "input_example.json").write_text(json.dumps({"columns": [0, 1, 2, 3], "data": rows.tolist()}))
    with open(model / "MLmodel", "a") as fh:
        fh.write("saved_input_example_info:\n  artifact_path: input_example.json\n  pandas_orient: split\n"
                 "  type: dataframe\n")


def test_input_needs_a_reference_for_it(saved_sklearn_dir, tmp_path):
    # named columns: the shared model's signature names them
    (tmp_path / "in.json").write_text(json.dumps({"dataframe_split": {"columns": ["a", "b", "c", "d"],
                                                                      "data": [[0, 0, 0, 0]]}}))
    proc = run_cli("verify", "-m", str(saved_sklearn_dir), "--env-manager", "local", "-i", str(tmp_path / "in.json"))
    assert proc.returncode == 2 and "the recorded output is for the input example" in proc.stderr
    proc = run_cli("verify", "-m", str(saved_sklearn_dir), "--env-manager", "local", "-i", str(tmp_path / "in.json"),
                   "--against", "local")
    assert proc.returncode == 0 and "1 values match" in proc.stdout


def test_compare_walks_json_values():
    assert compare([1, 2.0, "a", None, True], [1, 2.0, "a", None, True]).ok
    assert compare({"a": [1.0, float("nan")]}, {"a": [1.0 + 1e-12, float("nan")]}).ok
    result = compare({"a": [1, 2], "b": "x", "c": 1}, {"a": [1, 2, 3], "b": "y", "d": 1})
    notes = {d.path: d.note for d in result.differences}
    assert notes == {'predictions["a"]': "lengths differ", 'predictions["b"]': "",
                     'predictions["c"]': "missing from the reproduction", 'predictions["d"]': "not in the reference"}
    assert compare([True], [1]).differences[0].note == "bool vs number"
    assert compare([1.0], [math.inf]).differences[0].path == "predictions[0]"
    assert not compare([0.0], [1e-8], atol=0, rtol=0).ok and compare([0.0], [1e-8], atol=1e-7).ok
