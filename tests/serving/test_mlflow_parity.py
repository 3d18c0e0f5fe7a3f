"""Serving parity: `mlflow models serve` 3.17.2 and `envrepro serve`, side by side, answer the same requests alike.

Both servers run on the same model directory in the very same environment (envrepro's with ``--env-prefix``
the real MLflow's venv), and each request of the table goes to both. Compared: the status; the
``error_code`` of every JSON error; the success body, byte for byte; the media type of ``/ping``,
``/health`` and ``/version`` (``application/json``).

Where envrepro differs, on purpose (also in docs/serving.md):

- error *messages* are envrepro's: shorter, without the request's data echoed back, the traceback or
  MLflow's ``sqlstate``/``error_class``/``stack_trace`` keys; an exception in ``predict`` names the exception
  (MLflow's message is generic). The ``error_code`` is the same;
- 415 answers are JSON with ``error_code`` ``UNSUPPORTED_CONTENT_TYPE`` (MLflow: a ``text/plain`` sentence);
- ``/ping`` and ``/health`` answer ``{"status": "ok"}`` (MLflow: a newline), ``/version`` envrepro's version;
- an unknown route is 404 ``NOT_FOUND`` (MLflow: ``{"detail": "Not Found"}``).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

import envrepro
from tests.serving.helpers import Server, start_server, stop_server

pytestmark = pytest.mark.slow

JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"

# One model class, subclassing MLflow's PythonModel in one save and envrepro's in the other.
SCALER = """
class Scaler({base}):
    def predict(self, context, model_input, params=None):
        if float(model_input["a"].iloc[0]) == 666:
            raise ValueError("the number of the beast")
        rows = list(model_input.itertuples())
        if params["mode"] == "sum":
            return [params["factor"] * (r.a + r.b) for r in rows]
        return [params["factor"] * r.a for r in rows]
"""

SAVE_MLFLOW_MODELS = """
import sys
import numpy as np, pandas as pd
import mlflow.pyfunc, mlflow.sklearn
from sklearn.linear_model import LogisticRegression

root = sys.argv[1]
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
X["n"] = rng.integers(0, 5, size=40)
model = LogisticRegression().fit(X, (X.a > 0).astype(int))
mlflow.sklearn.save_model(model, root + "/mlflow-sklearn", input_example=X.head(2), serialization_format="cloudpickle")
""" + SCALER.format(base="mlflow.pyfunc.PythonModel") + """
example = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
mlflow.pyfunc.save_model(root + "/mlflow-pyfunc", python_model=Scaler(),
                         input_example=(example, {"factor": 2.0, "mode": "sum", "k": 3}))
"""

# The same model saved by envrepro, with the signature MLflow infers for it given in MLflow's dict form.
ENVREPRO_SCALER = "import envrepro\n" + SCALER.format(base="envrepro.PythonModel")
SCALER_SIGNATURE = {
    "inputs": json.dumps([{"type": "double", "name": "a", "required": True},
                          {"type": "double", "name": "b", "required": True}]),
    "outputs": json.dumps([{"type": "double", "required": True}]),
    "params": json.dumps([{"name": "factor", "type": "double", "default": 2.0, "shape": None},
                          {"name": "mode", "type": "string", "default": "sum", "shape": None},
                          {"name": "k", "type": "long", "default": 3, "shape": None}]),
}

PARQUET_FRAMES = """
import base64, io, json, sys
import pandas as pd
out = {}
for name, columns in json.loads(sys.argv[1]).items():
    buffer = io.BytesIO()
    pd.DataFrame(columns).to_parquet(buffer)
    out[name] = base64.b64encode(buffer.getvalue()).decode()
print(json.dumps(out))
"""


def _requests(columns: list[str], row: list) -> list[dict]:
    """The table every model answers: (name, method, path, body, content type), for a model with ``columns``
    (all numbers) of which ``row`` is a valid row."""
    records = [dict(zip(columns, row))]
    split = {"dataframe_split": {"columns": columns, "data": [row]}}
    as_ints = dict(zip(columns, [int(abs(v)) + 2 for v in row]))  # not 0/1: MLflow lets 0/1 long columns pass

    def post(name, body, content_type=JSON):
        if not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        return {"name": name, "method": "POST", "path": "/invocations", "body": body, "content_type": content_type}

    return [
        {"name": "ping", "method": "GET", "path": "/ping"},
        {"name": "health", "method": "GET", "path": "/health"},
        {"name": "version", "method": "GET", "path": "/version"},
        {"name": "no such route", "method": "GET", "path": "/nope"},
        post("dataframe_split", split),
        post("dataframe_records", {"dataframe_records": records}),
        post("records with ints for doubles (cast while parsing)", {"dataframe_records": [as_ints]}),
        post("instances as records", {"instances": records}),
        post("inputs as columns", {"inputs": {c: [v] for c, v in zip(columns, row)}}),
        post("inputs as records", {"inputs": records}),
        post("inputs: unnamed rows for named columns", {"inputs": [row]}),
        post("instances: unnamed rows for named columns", {"instances": [row]}),
        post("columns reordered, one extra", {"dataframe_split": {"columns": ["extra", *reversed(columns)],
                                                                  "data": [[9, *reversed(row)]]}}),
        post("unknown top-level key", {**split, "unknown": 1}),
        post("missing column", {"dataframe_split": {"columns": columns[1:], "data": [row[1:]]}}),
        post("string for a double", {"dataframe_records": [{**records[0], columns[0]: "one"}]}),
        post("csv", ",".join(columns) + "\n" + ",".join(map(str, row)) + "\n", CSV),
        post("csv missing column", ",".join(columns[1:]) + "\n" + ",".join(map(str, row[1:])) + "\n", CSV),
        post("csv not a number", ",".join(columns) + "\n" + ",".join(["x", *map(str, row[1:])]) + "\n", CSV),
        {**post("parquet", b"", PARQUET), "parquet": {c: [v] for c, v in zip(columns, row)}},
        {**post("parquet with int64 for doubles", b"", PARQUET), "parquet": {c: [v] for c, v in as_ints.items()}},
        post("parquet garbage", b"PAR1 not parquet", PARQUET),
        post("bad JSON", "{not json"),
        post("JSON list", [row]),
        post("two format keys", {**split, "inputs": [row]}),
        post("no format key", {"data": [row]}),
        post("empty body", ""),
        post("dataframe_split without data", {"dataframe_split": {"columns": columns}}),
        post("dataframe_records not a list", {"dataframe_records": records[0]}),
        post("text/plain", "x", "text/plain"),
        post("charset latin-1", json.dumps(split), "application/json; charset=latin-1"),
        post("charset UTF-8", json.dumps(split), "application/json; charset=UTF-8"),
        post("unknown content-type parameter", json.dumps(split), "application/json; format=pandas-split"),
    ]


def _params_requests(columns: list[str], row: list) -> list[dict]:
    """Params and a model exception, for the Scaler models (factor: double, mode: string, k: long)."""
    split = {"dataframe_split": {"columns": columns, "data": [row]}}

    def post(name, params):
        body = {**split, "params": params} if params != "absent" else split
        return {"name": name, "method": "POST", "path": "/invocations", "body": json.dumps(body),
                "content_type": JSON}

    return [
        post("params: defaults", "absent"),
        post("params: valid", {"factor": 3.0, "mode": "first"}),
        post("params: int for a double", {"factor": 3}),
        post("params: null", None),
        post("params: unknown name (ignored)", {"nope": 1}),
        post("params: string for a double", {"factor": "big"}),
        post("params: float for a long", {"k": 1.5}),
        post("params: bool for a double", {"factor": True}),
        post("params: list for a scalar", {"factor": [1.0]}),
        post("params: not an object", 3),
        {"name": "model raises", "method": "POST", "path": "/invocations", "content_type": JSON,
         "body": json.dumps({"dataframe_split": {"columns": columns, "data": [[666.0, *row[1:]]]}})},
    ]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _mlflow_env(python: Path) -> dict[str, str]:
    # PATH: `mlflow models serve` starts `uvicorn` by name; the pickles need MLflow's explicit consent.
    return {**os.environ, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
            "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def _start_mlflow(python: Path, model: Path) -> Server:
    port = _free_port()
    proc = subprocess.Popen([str(python.parent / "mlflow"), "models", "serve", "-m", str(model), "--env-manager",
                             "local", "-p", str(port)], env=_mlflow_env(python), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    server = Server(proc, "127.0.0.1", port)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if server.request("GET", "/ping")[0] == 200:
                return server
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    proc.kill()
    raise AssertionError(f"mlflow models serve did not start:\n{proc.stderr.read().decode()[-3000:]}")


def _ask(server: Server, request: dict, parquet: dict[str, bytes]) -> tuple[int, str, bytes]:
    import http.client

    body = parquet[request["name"]] if "parquet" in request else request.get("body")
    conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
    headers = {"Content-Type": request["content_type"]} if request.get("content_type") else {}
    conn.request(request["method"], request["path"], body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, (response.getheader("Content-Type") or "").split(";")[0], data


def _error_code(data: bytes) -> str | None:
    try:
        return json.loads(data).get("error_code")
    except (ValueError, AttributeError):
        return None


# Requests whose answers differ in kind, on purpose (see the module docstring): only the status is compared.
STATUS_ONLY = {"no such route", "text/plain", "charset latin-1", "unknown content-type parameter"}
HEALTH = {"ping", "health", "version"}


def _compare(mlflow: Server, ours: Server, requests: list[dict], parquet: dict[str, bytes]) -> list[dict]:
    """Each request to both servers; returns the rows that differ (empty: parity)."""
    rows = []
    for request in requests:
        theirs, mine = _ask(mlflow, request, parquet), _ask(ours, request, parquet)
        row = {"request": request["name"], "mlflow": theirs[0], "envrepro": mine[0]}
        if theirs[0] != mine[0]:
            row["why"] = "status"
        elif request["name"] in HEALTH:
            if (theirs[1], mine[1]) != (JSON, JSON):
                row["why"] = f"content type {theirs[1]} / {mine[1]}"
        elif request["name"] in STATUS_ONLY:
            pass
        elif theirs[0] == 200:
            if theirs[2] != mine[2]:
                row["why"] = f"body {theirs[2][:200]!r} / {mine[2][:200]!r}"
        elif _error_code(theirs[2]) != _error_code(mine[2]) or _error_code(mine[2]) is None:
            row["why"] = f"error_code {_error_code(theirs[2])} / {_error_code(mine[2])}: {mine[2][:300]!r}"
        if "why" in row:
            rows.append(row)
    return rows


@pytest.fixture(scope="module")
def models(real_mlflow, tmp_path_factory) -> dict[str, Path]:
    import sys

    root = tmp_path_factory.mktemp("parity")
    saved = real_mlflow.run(SAVE_MLFLOW_MODELS, str(root))
    assert saved.returncode == 0, saved.stderr[-3000:]
    source = root / "src"
    source.mkdir()
    (source / "parity_scaler.py").write_text(ENVREPRO_SCALER)
    sys.path.insert(0, str(source))
    try:
        import pandas as pd
        import parity_scaler

        envrepro.save_model(parity_scaler.Scaler(), root / "envrepro-pyfunc", signature=SCALER_SIGNATURE,
                            code_paths=[str(source / "parity_scaler.py")],
                            input_example=pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}))
    finally:
        sys.path.remove(str(source))
        sys.modules.pop("parity_scaler", None)
    return {"mlflow-sklearn": root / "mlflow-sklearn", "mlflow-pyfunc": root / "mlflow-pyfunc",
            "envrepro-pyfunc": root / "envrepro-pyfunc", "envrepro-sklearn": root / "envrepro-sklearn"}


@pytest.fixture(scope="module")
def envrepro_sklearn(models, sklearn_model, iris_like) -> Path:
    import pandas as pd

    X, _ = iris_like
    envrepro.save_model(sklearn_model, models["envrepro-sklearn"],
                        input_example=pd.DataFrame(X[:2], columns=["a", "b", "c", "d"]))
    return models["envrepro-sklearn"]


def _parquet_bodies(real_mlflow, requests: list[dict]) -> dict[str, bytes]:
    """Parquet bodies, written by the MLflow venv's pyarrow (the test interpreter has none)."""
    wanted = {r["name"]: r["parquet"] for r in requests if "parquet" in r}
    proc = real_mlflow.run(PARQUET_FRAMES, json.dumps(wanted))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {name: base64.b64decode(data) for name, data in json.loads(proc.stdout.splitlines()[-1]).items()}


def _side_by_side(python: Path, model: Path, requests: list[dict], parquet: dict[str, bytes]) -> list[dict]:
    mlflow = _start_mlflow(python, model)
    try:
        ours = start_server(model, "--env-prefix", str(python.parent.parent), env=_mlflow_env(python))
        try:
            return _compare(mlflow, ours, requests, parquet)
        finally:
            stop_server(ours)
    finally:
        mlflow.proc.terminate()
        mlflow.proc.wait(timeout=30)


def test_mlflow_saved_sklearn_model(real_mlflow, models):
    """MLflow's sklearn model: envrepro loads it with its own loader and enforces the signature itself."""
    requests = _requests(["a", "b", "c", "n"], [1.0, -0.5, 0.25, 3])
    requests.append({"name": "csv: a float for a long", "method": "POST", "path": "/invocations",
                     "content_type": CSV, "body": "a,b,c,n\n1.0,2.0,3.0,1.5\n"})
    requests.append({"name": "params without a params schema (ignored)", "method": "POST",
                     "path": "/invocations", "content_type": JSON,
                     "body": json.dumps({"dataframe_records": [{"a": 1.0, "b": 2.0, "c": 3.0, "n": 1}],
                                         "params": {"x": 1}})})
    assert len(requests) >= 15
    differences = _side_by_side(real_mlflow.python, models["mlflow-sklearn"], requests,
                                _parquet_bodies(real_mlflow, requests))
    assert differences == []


def test_mlflow_saved_pyfunc_with_params(real_mlflow, models):
    """MLflow's pyfunc: envrepro loads it through MLflow (whose PyFuncModel enforces), and parses as MLflow."""
    requests = _requests(["a", "b"], [1.5, 2.0]) + _params_requests(["a", "b"], [1.5, 2.0])
    differences = _side_by_side(real_mlflow.python, models["mlflow-pyfunc"], requests,
                                _parquet_bodies(real_mlflow, requests))
    assert differences == []


def test_envrepro_saved_pyfunc_with_params(real_mlflow, models):
    """envrepro's pyfunc with a params signature: enforced by envrepro's runtime, by MLflow's PyFuncModel there."""
    requests = _requests(["a", "b"], [1.5, 2.0]) + _params_requests(["a", "b"], [1.5, 2.0])
    differences = _side_by_side(real_mlflow.with_envrepro, models["envrepro-pyfunc"], requests,
                                _parquet_bodies(real_mlflow, requests))
    assert differences == []


def test_envrepro_saved_sklearn_with_inferred_signature(real_mlflow, envrepro_sklearn, iris_like):
    X, _ = iris_like
    requests = _requests(["a", "b", "c", "d"], X[5].tolist())
    differences = _side_by_side(real_mlflow.python, envrepro_sklearn, requests, _parquet_bodies(real_mlflow,
                                                                                                  requests))
    assert differences == []
