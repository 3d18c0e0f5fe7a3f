"""Real HTTP on loopback against `envrepro serve` (local env manager: the server code, not env building)."""

from __future__ import annotations

import json

import pytest

import envrepro
from tests.serving.helpers import start_server, stop_server

COLUMNS = ["a", "b", "c", "d"]

PYFUNC_SOURCE = '''
import envrepro
from helpers_pkg.scaling import scale

class Scorer(envrepro.PythonModel):
    def predict(self, context, model_input, params=None):
        rows = model_input.values if hasattr(model_input, "columns") else model_input
        rows = rows.tolist() if hasattr(rows, "tolist") else rows
        if rows and rows[0] and rows[0][0] == 666:
            raise RuntimeError("the number of the beast")
        factor = (params or {}).get("factor", 1)
        return [scale(sum(row), factor) for row in rows]
'''


@pytest.fixture(scope="module")
def sklearn_dir(saved_sklearn_dir):
    return saved_sklearn_dir

@pytest.fixture(scope="module")
def sklearn_server(sklearn_dir):
    server = start_server(sklearn_dir, "--env-manager", "local", "--max-request-bytes", "4096")
    yield server
    stop_server(server)


@pytest.fixture(scope="module")
def expected(sklearn_model, iris_like):
    X, _ = iris_like
    return X[:3], sklearn_model.predict(X[:3]).tolist()


def _still_serving(server, rows, preds):
    status, body = server.invoke({"dataframe_split": {"columns": COLUMNS, "data": rows.tolist()}})
    assert status == 200 and body == {"predictions": preds}


def test_ping_health_version(sklearn_server):
    assert sklearn_server.request("GET", "/ping")[0] == 200
    assert sklearn_server.request("GET", "/health")[0] == 200
    status, body = sklearn_server.request("GET", "/version")
    assert status == 200 and body.decode() == envrepro.__version__
    status, body = sklearn_server.request("GET", "/nope")
    assert status == 404 and json.loads(body)["error_code"] == "NOT_FOUND"


def test_every_payload_format(sklearn_server, expected):
    rows, preds = expected
    split = {"dataframe_split": {"columns": COLUMNS, "data": rows.tolist()}}
    records = {"dataframe_records": [dict(zip(COLUMNS, r)) for r in rows.tolist()]}
    # The model's signature (inferred from its DataFrame example) names columns a-d: the tensor formats send
    # them by name, as records or as columns. Unnamed rows are refused, as `mlflow models serve` refuses them.
    columns = {"inputs": {c: [r[i] for r in rows.tolist()] for i, c in enumerate(COLUMNS)}}
    for payload in (split, records, {"instances": records["dataframe_records"]}, columns,
                    {"inputs": records["dataframe_records"]}, {**split, "params": {"ignored": 1}}):
        status, body = sklearn_server.invoke(payload)
        assert (status, body) == (200, {"predictions": preds}), payload
    for unnamed in ({"instances": rows.tolist()}, {"inputs": rows.tolist()}):
        status, body = sklearn_server.invoke(unnamed)
        assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "Model is missing inputs ['a', 'b', 'c', 'd']" in body["message"]
    csv = ",".join(COLUMNS) + "\n" + "\n".join(",".join(map(repr, r)) for r in rows.tolist()) + "\n"
    assert sklearn_server.invoke(csv, "text/csv") == (200, {"predictions": preds})
    assert sklearn_server.invoke(json.dumps(split), "application/json; charset=utf-8")[0] == 200


def test_columns_are_reordered_to_the_example(sklearn_server, expected):
    rows, preds = expected
    records = [dict(reversed(list(zip(COLUMNS, r)))) for r in rows.tolist()]
    assert sklearn_server.invoke({"dataframe_records": records}) == (200, {"predictions": preds})


@pytest.mark.parametrize("payload, content_type, status, message", [
    ("{not json", "application/json", 400, "malformed JSON"),
    ({"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]}, "application/json", 400, "exactly one of"),
    ({"data": [[1, 2, 3, 4]]}, "application/json", 400, "exactly one of"),
    ({"dataframe_split": {"columns": ["a", "b", "x", "y"], "data": [[1, 2, 3, 4]]}}, "application/json", 400,
     "Model is missing inputs ['c', 'd']"),
    ({"dataframe_records": [{"a": "one", "b": 2, "c": 3, "d": 4}]}, "application/json", 400,
     "Failed to convert column a"),
    ({"instances": [[1, 2, 3, 4]]}, "application/json", 400, "Model is missing inputs"),
    ("a,b,c,d\n1,2,3,4\n", "text/plain", 415, "unsupported content type"),  # 415, as mlflow models serve
    ("", "text/csv", 400, "malformed CSV"),
    ({"inputs": [[0.0] * 4] * 200}, "application/json", 413, "over the limit of 4096 bytes"),
])
def test_errors_are_json_and_server_keeps_serving(sklearn_server, expected, payload, content_type, status, message):
    got_status, body = sklearn_server.invoke(payload, content_type)
    assert got_status == status
    assert set(body) == {"error_code", "message"} and message in body["message"]
    _still_serving(sklearn_server, *expected)


@pytest.fixture(scope="module")
def pyfunc_server(tmp_path_factory):
    pytest.importorskip("pandas")
    import importlib
    import sys

    root = tmp_path_factory.mktemp("pyfunc-src")
    (root / "helpers_pkg").mkdir()
    (root / "helpers_pkg" / "__init__.py").write_text("")
    (root / "helpers_pkg" / "scaling.py").write_text("def scale(x, factor):\n    return x * factor\n")
    (root / "scorer_model.py").write_text(PYFUNC_SOURCE)
    sys.path.insert(0, str(root))
    try:
        module = importlib.import_module("scorer_model")
        path = root.parent / "pyfunc-model"
        envrepro.save_model(module.Scorer(), path,
                            code_paths=[str(root / "helpers_pkg"), str(root / "scorer_model.py")])
    finally:
        sys.path.remove(str(root))
    server = start_server(path, "--env-manager", "local", "--workers", "2")
    yield server
    stop_server(server)


def test_pyfunc_with_code_paths_params_and_model_error(pyfunc_server):
    assert pyfunc_server.invoke({"inputs": [[1, 2], [3, 4]]}) == (200, {"predictions": [3, 7]})
    assert pyfunc_server.invoke({"inputs": [[1, 2]], "params": {"factor": 10}}) == (200, {"predictions": [30]})
    status, body = pyfunc_server.invoke({"inputs": [[666, 1]]})
    # As `mlflow models serve`: an exception in predict is the input's fault, 400 BAD_REQUEST.
    assert status == 400 and body["error_code"] == "BAD_REQUEST" and "the number of the beast" in body["message"]
    assert pyfunc_server.invoke({"inputs": [[1, 1]]}) == (200, {"predictions": [2]})


def test_many_requests_across_workers(pyfunc_server):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: pyfunc_server.invoke({"inputs": [[i, 1]]}), range(64)))
    assert results == [(200, {"predictions": [i + 1]}) for i in range(64)]
