"""Signatures: what save_model writes (read back by the real MLflow), and the runtime's rules, in process."""

from __future__ import annotations

import json

import pytest

import envrepro
from envrepro.errors import EnvreproError
from envrepro.model import ModelDir
from envrepro.signature import infer_signature
from envrepro_runtime.errors import PayloadError
from envrepro_runtime.signature import Signature

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")


def _inputs(signature):
    return json.loads(signature["inputs"])


def test_dataframe_example_gives_named_columns_optional_where_missing():
    frame = pd.DataFrame({"i32": np.array([1, 2], dtype=np.int32), "i64": [1, 2], "f32": np.array([1, 2], "float32"),
                          "f64": [0.5, None], "s": ["x", "y"], "flag": [True, False],
                          "when": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    assert _inputs(infer_signature(frame)) == [
        {"type": "integer", "name": "i32", "required": True}, {"type": "long", "name": "i64", "required": True},
        {"type": "float", "name": "f32", "required": True}, {"type": "double", "name": "f64", "required": False},
        {"type": "string", "name": "s", "required": True}, {"type": "boolean", "name": "flag", "required": True},
        {"type": "datetime", "name": "when", "required": True}]


def test_array_example_gives_an_unnamed_tensor_and_lists_give_nothing(caplog):
    assert _inputs(infer_signature(np.ones((2, 3, 4), dtype=np.float32))) == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3, 4]}}]
    assert _inputs(infer_signature(np.array([["a", "bc"]])))[0]["tensor-spec"]["dtype"] == "str"
    assert infer_signature([1, 2]) is None and infer_signature({"a": 1}) is None
    assert infer_signature(pd.DataFrame({"mixed": [1, "a"]})) is None
    assert "pass signature= to save_model" in caplog.text


def test_given_signature_is_normalised_and_checked_before_anything_is_written(tmp_path, sklearn_model):
    given = {"inputs": [{"type": "double", "name": "a"}], "params": [{"name": "k", "type": "long", "default": 1}]}
    envrepro.save_model(sklearn_model, tmp_path / "m", signature=given)
    written = ModelDir.open(tmp_path / "m").mlmodel.extra["signature"]
    assert written == {"inputs": json.dumps(given["inputs"]), "outputs": None, "params": json.dumps(given["params"])}
    envrepro.save_model(sklearn_model, tmp_path / "none", input_example=pd.DataFrame({"a": [1.0]}), signature=False)
    assert "signature" not in ModelDir.open(tmp_path / "none").mlmodel.extra
    for bad, message in (({"inputs": [{"type": "tensor"}]}, "malformed signature given to save_model"),
                         ({"input": "[]"}, "unknown keys ['input'] in signature"),
                         ("[]", "signature must be a dict")):
        with pytest.raises(EnvreproError, match=message.replace("[", r"\[")):
            envrepro.save_model(sklearn_model, tmp_path / "bad", signature=bad)
        assert not (tmp_path / "bad").exists()


def _signature(inputs, params=None):
    return Signature.from_spec({"inputs": json.dumps(inputs), "params": json.dumps(params) if params else None})


COLUMNS = [{"type": "double", "name": "x"}, {"type": "long", "name": "n"},
           {"type": "string", "name": "s", "required": False}]


def test_columns_are_selected_ordered_and_safely_converted():
    signature = _signature(COLUMNS)
    frame = pd.DataFrame({"extra": [0], "n": np.array([3], dtype=np.int32), "x": np.array([1.5], dtype=np.float32)})
    out = signature.enforce(frame)
    assert list(out.columns) == ["x", "n"]  # optional s absent, extra dropped, schema order
    assert out["x"].dtype == np.float64 and out["n"].dtype == np.int64
    assert signature.enforce(pd.DataFrame({"x": [1, 0], "n": [1, 2]}))["x"].tolist() == [1.0, 0.0]  # 0/1 longs


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"x": [1.0]}), "Model is missing inputs ['n']."),
    (pd.DataFrame({"x": [1.0], "n": [1.5]}), "Can not safely convert float64 to int64."),
    (pd.DataFrame({"x": [1.0, 2.0], "n": [1.0, None]}), "Hint: the type mismatch is likely caused by missing values"),
    (pd.DataFrame({"x": [7], "n": [1]}), "Can not safely convert int64 to float64."),
])
def test_unsafe_columns_are_invalid_parameter_values(frame, message):
    with pytest.raises(PayloadError) as caught:
        _signature(COLUMNS).enforce(frame)
    assert caught.value.status == 400 and caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert message in caught.value.message


def test_tensor_shapes_and_dtypes():
    signature = _signature([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}])
    rows = signature.parse_tensor_input("inputs", [[1, 2]])
    assert rows.dtype == np.float32 and signature.enforce(rows).shape == (1, 2)
    for bad, message in ((np.ones((1, 3), np.float32), "does not match expected shape (-1, 2)"),
                         (np.ones((1, 2), np.float64), "dtype of input float64 does not match expected dtype float32")):
        with pytest.raises(PayloadError, match=message.replace("(", r"\(").replace(")", r"\)")):
            signature.enforce(bad)
    with pytest.raises(PayloadError) as caught:
        signature.parse_tensor_input("inputs", {"x": [1.0]})
    assert caught.value.error_code == "BAD_REQUEST" and "un-named" in caught.value.message


def test_params_defaults_conversions_and_errors():
    signature = _signature(COLUMNS, [{"name": "factor", "type": "double", "default": 2},
                                     {"name": "tags", "type": "string", "default": ["a"], "shape": [-1]},
                                     {"name": "k", "type": "long", "default": 3}])
    assert signature.enforce_params(None) == {"factor": 2.0, "tags": ["a"], "k": 3}
    assert signature.enforce_params({"factor": 3, "unknown": 1}) == {"factor": 3.0, "tags": ["a"], "k": 3}
    for bad, message in (({"factor": True}, "Can not safely convert `<class 'bool'>`"),
                         ({"k": 1.5}, "Can not safely convert `<class 'float'>` to `DataType.long`"),
                         ({"tags": "a"}, "1D array"), (3, "Parameters must be a dictionary. Got type 'int'.")):
        with pytest.raises(PayloadError) as caught:
            signature.enforce_params(bad)
        assert caught.value.error_code == "INVALID_PARAMETER_VALUE" and message in caught.value.message
    assert _signature(COLUMNS).enforce_params({"ignored": 1}) == {}  # no params schema: MLflow drops them


@pytest.mark.slow
def test_mlflow_reads_what_envrepro_writes(real_mlflow, tmp_path, sklearn_model, iris_like):
    X, _ = iris_like
    frame = pd.DataFrame(X[:3], columns=list("abcd")).assign(n=[1, 2, 3], s=["x", None, "z"])
    frame.to_pickle(tmp_path / "frame.pkl")
    envrepro.save_model(sklearn_model, tmp_path / "frame", input_example=frame, pip_requirements=["scikit-learn"])
    envrepro.save_model(sklearn_model, tmp_path / "array", input_example=X[:2].astype(np.float32),
                        pip_requirements=["scikit-learn"])
    given = {"inputs": json.dumps([{"type": "double", "name": "a", "required": True}]),
             "params": json.dumps([{"name": "k", "type": "long", "default": 3, "shape": None}])}
    envrepro.save_model(sklearn_model, tmp_path / "given", signature=given, pip_requirements=["scikit-learn"])
    code = """
import json, sys
import numpy as np, pandas as pd
from mlflow.models import Model, infer_signature
root = sys.argv[1]
out = {name: Model.load(root + "/" + name).signature.to_dict() for name in ("frame", "array", "given")}
out["mlflow-frame"] = infer_signature(pd.read_pickle(root + "/frame.pkl")).to_dict()
out["mlflow-array"] = infer_signature(np.asarray(json.loads(sys.argv[2]), dtype=np.float32)).to_dict()
print(json.dumps(out))
"""
    proc = real_mlflow.run(code, str(tmp_path), json.dumps(X[:2].tolist()))
    assert proc.returncode == 0, proc.stderr[-3000:]
    read = json.loads(proc.stdout.splitlines()[-1])
    assert json.loads(read["frame"]["inputs"]) == json.loads(read["mlflow-frame"]["inputs"])
    assert json.loads(read["array"]["inputs"]) == json.loads(read["mlflow-array"]["inputs"])
    assert json.loads(read["given"]["params"]) == json.loads(given["params"])
    assert [c["name"] for c in json.loads(read["frame"]["inputs"])] == ["a", "b", "c", "d", "n", "s"]
