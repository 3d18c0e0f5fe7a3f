"""The in-environment runtime on every Python from 3.6 to 3.13: compile, predict (JSON, CSV; answered by a resident
predictor), serve, stream.

Each Python gets a real venv (uv) with the data libraries of a different age, or none, so the runtime's
contract (runtime/__init__.py) is checked where it matters: pandas 0.25 + numpy 1.16 on 3.6, no pandas at
all on 3.8 and 3.12, numpy 2 + pandas 3 on 3.11, pyarrow on 3.9 and 3.11 (the stream's Arrow input). The model
is a pyfunc whose class lives in the model's ``code/`` and subclasses ``envrepro.PythonModel`` -- which, in
these environments, is the runtime's stub.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.serving.helpers import start_server, stop_server

pytestmark = pytest.mark.slow

# minor version -> what the venv gets besides cloudpickle (None: no numpy, no pandas)
DATA_LIBS: dict[str, list[str] | None] = {
    "3.6": ["numpy==1.16.6", "pandas==0.25.3"],
    "3.7": ["numpy", "pandas"],
    "3.8": None,
    "3.9": ["numpy", "pandas", "pyarrow"],
    "3.10": ["numpy<2", "pandas<2"],
    "3.11": ["numpy>=2", "pandas>=3", "pyarrow"],
    "3.12": None,
    "3.13": ["numpy", "pandas"],
}
COLUMNS = ["a", "b", "c", "d"]
ROWS = [[1.0, 2.0, 3.0, 4.0], [0.5, -1.0, 0.0, 2.0]]
WEIGHTS = [1, 2, 3, 4]
EXPECTED = [sum(w * x for w, x in zip(WEIGHTS, row)) for row in ROWS]

LINMODEL = '''\
import envrepro  # the runtime's stub inside these environments: envrepro is not installed there


class Linear(envrepro.PythonModel):
    def __init__(self, weights):
        self.weights = weights

    def predict(self, context, model_input, params=None):
        rows = model_input
        if hasattr(rows, "columns"):
            rows = rows.values
        if hasattr(rows, "tolist"):
            rows = rows.tolist()
        if rows and rows[0][0] == 666:
            raise ValueError("the number of the beast")
        scale = (params or {}).get("scale", 1)
        return [scale * sum(w * x for w, x in zip(self.weights, row)) for row in rows]
'''


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A pyfunc model written by hand, its pickle at protocol 2 so that every Python 3 reads it."""
    path = tmp_path_factory.mktemp("matrix") / "linear-model"
    (path / "code").mkdir(parents=True)
    (path / "code" / "linmodel.py").write_text(LINMODEL)
    (path / "MLmodel").write_text(textwrap.dedent("""\
        envrepro_version: 0.1.0
        flavors:
          python_function:
            code: code
            loader_module: envrepro_flavors.inenv.pyfunc
            python_model: python_model.pkl
            python_version: 3.6.15
        model_uuid: 0123456789abcdef0123456789abcdef
        utc_time_created: '2026-11-30 00:00:00.000000'
    """))
    sys.path.insert(0, str(path / "code"))
    try:
        import linmodel

        (path / "python_model.pkl").write_bytes(pickle.dumps(linmodel.Linear(WEIGHTS), protocol=2))
    finally:
        sys.path.remove(str(path / "code"))
        sys.modules.pop("linmodel", None)
    return path


@pytest.fixture(scope="module")
def signed_model_dir(model_dir, tmp_path_factory) -> Path:
    """``model_dir`` with an MLflow signature: columns a-d (double) and a ``scale`` param (long, default 1)."""
    path = tmp_path_factory.mktemp("matrix-signed") / "signed-model"
    shutil.copytree(model_dir, path)
    inputs = json.dumps([{"type": "double", "name": c, "required": True} for c in COLUMNS])
    params = json.dumps([{"name": "scale", "type": "long", "default": 1, "shape": None}])
    with open(path / "MLmodel", "a") as fh:
        fh.write(f"signature:\n  inputs: '{inputs}'\n  outputs: null\n  params: '{params}'\n")
    return path


@pytest.fixture(scope="module", params=list(DATA_LIBS))
def env(request, tmp_path_factory) -> tuple[str, Path, bool]:
    """(minor version, venv prefix, has pandas) for one Python of the matrix."""
    from envrepro.envs.interpreters import find_interpreter
    from envrepro.envs.pip_install import find_uv
    from envrepro.errors import EnvironmentBuildError

    minor = request.param
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            interpreter = find_interpreter(minor)
        except EnvironmentBuildError as exc:
            pytest.skip(f"Python {minor} is not on this machine: {exc.message}")
    prefix = tmp_path_factory.mktemp(f"py{minor}") / "venv"
    uv = find_uv()
    subprocess.run([uv, "venv", "-q", "--python", str(interpreter.path), str(prefix)], check=True)
    libs = DATA_LIBS[minor]
    subprocess.run([uv, "pip", "install", "-q", "--python", str(prefix / "bin" / "python"), "cloudpickle",
                    *(libs or [])], check=True)
    return minor, prefix, libs is not None


def _python_version(prefix: Path) -> str:
    return subprocess.run([str(prefix / "bin" / "python"), "-c", "import platform; print(platform.python_version())"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_runtime_compiles_and_starts(env):
    from envrepro.launch import runtime_dir

    minor, prefix, _ = env
    files = [str(p) for p in runtime_dir().rglob("*.py")]
    check = ("import sys\nfor f in sys.argv[1:]:\n    compile(open(f, 'rb').read(), f, 'exec')\n"
             "import platform; print(platform.python_version())")
    out = subprocess.run([str(prefix / "bin" / "python"), "-I", "-c", check, *files], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(minor + ".")
    usage = subprocess.run([str(prefix / "bin" / "python"), "-I", "-B", str(runtime_dir() / "bootstrap.py"),
                            "predict", "--help"], capture_output=True, text=True)
    assert usage.returncode == 0 and "--spec" in usage.stdout, usage.stderr


def test_predict_json_and_csv(env, model_dir, tmp_path):
    minor, prefix, has_pandas = env
    payload = ({"dataframe_split": {"columns": COLUMNS, "data": ROWS}} if has_pandas else {"inputs": ROWS})
    (tmp_path / "in.json").write_text(json.dumps(payload))
    out = run_cli("predict", "-m", str(model_dir), "-i", str(tmp_path / "in.json"), "--env-prefix", str(prefix),
                  check=True)
    assert json.loads(out.stdout) == {"predictions": EXPECTED}
    assert len(_residents(prefix / "bin" / "python")) == 1, "the predict left its resident predictor"
    (tmp_path / "in.csv").write_text(",".join(COLUMNS) + "\n" + "\n".join(",".join(map(str, r)) for r in ROWS))
    proc = run_cli("predict", "-m", str(model_dir), "-i", str(tmp_path / "in.csv"), "--env-prefix", str(prefix))
    if has_pandas:
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"predictions": EXPECTED}
    else:
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "text/csv needs pandas" in proc.stderr and str(tmp_path / "in.csv") in proc.stderr
    assert len(_residents(prefix / "bin" / "python")) == 1, "the CSV predict was answered by the same resident"


def _residents(python: Path) -> list[int]:
    """The pids of resident predictors (envrepro_runtime.resident) running on ``python``: not their forks (a
    request's child; a bytecode compiler, waited for first, since a request child's outlives it)."""
    from envrepro_runtime.bytecode import wait_for_compiler

    wait_for_compiler(python.parent.parent, timeout=60)
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
            if argv and argv[0] == bytes(python) and b"resident" in argv:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    return [pid for pid, parent in parents.items() if parent not in parents]


def test_model_failure_names_the_model_and_the_python(env, model_dir, tmp_path):
    minor, prefix, _ = env
    (tmp_path / "in.json").write_text(json.dumps({"inputs": [[666, 0, 0, 0]]}))
    proc = run_cli("predict", "-m", str(model_dir), "-i", str(tmp_path / "in.json"), "--env-prefix", str(prefix))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    version = _python_version(prefix)
    assert (f"the model failed while predicting in its environment (Python {version}): ValueError: the number of "
            "the beast") in proc.stderr


def test_runtime_failure_is_envrepro_s_not_the_model_s(env, model_dir):
    """A broken load spec fails inside envrepro's own code: the report says so, with the Python version."""
    from envrepro.launch import explain_failure, load_spec, worker_command
    from envrepro.model import ModelDir

    _, prefix, _ = env
    spec = load_spec(ModelDir.open(model_dir))
    spec["loader"] = {"kind": "no-such-kind"}
    proc = subprocess.run(worker_command(prefix / "bin" / "python", "predict", spec), input=b'{"inputs": [[1]]}',
                          capture_output=True)
    error = explain_failure(proc.stderr.decode(), "m", proc.returncode)
    assert type(error).__name__ == "RuntimeFailure", error
    assert f"envrepro's runtime failed in the model's environment (Python {_python_version(prefix)})" in str(error)


def test_serve_ping_and_invocations(env, model_dir):
    _, prefix, has_pandas = env
    server = start_server(model_dir, "--env-prefix", str(prefix))
    try:
        status, body = server.request("GET", "/ping")
        assert status == 200 and json.loads(body) == {"status": "ok"}
        assert server.invoke({"inputs": ROWS}) == (200, {"predictions": EXPECTED})
        assert server.invoke({"inputs": ROWS, "params": {"scale": 2}}) == (200, {"predictions": [2 * e for e in
                                                                                                   EXPECTED]})
        csv = ",".join(COLUMNS) + "\n" + "\n".join(",".join(map(str, r)) for r in ROWS)
        status, body = server.invoke(csv, "text/csv")
        if has_pandas:
            assert (status, body) == (200, {"predictions": EXPECTED})
        else:
            assert status == 400 and "text/csv needs pandas" in body["message"]
        status, body = server.invoke({"inputs": [[666, 0, 0, 0]]})
        assert status == 400 and "the number of the beast" in body["message"]
        assert server.invoke({"inputs": ROWS}) == (200, {"predictions": EXPECTED})  # still serving
    finally:
        stop_server(server)


def test_serve_enforces_the_signature(env, signed_model_dir):
    """MLflow's signature rules with the pandas and numpy of each age; without them, only params are checked."""
    _, prefix, has_pandas = env
    server = start_server(signed_model_dir, "--env-prefix", str(prefix))
    try:
        rows = {"dataframe_split": {"columns": COLUMNS, "data": ROWS}} if has_pandas else {"inputs": ROWS}
        scaled = {**rows, "params": {"scale": 2}}
        assert server.invoke(scaled) == (200, {"predictions": [2 * e for e in EXPECTED]})
        status, body = server.invoke({**scaled, "params": {"scale": 1.5}})
        assert status == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE" and "scale" in body["message"]
        if not has_pandas:
            assert server.invoke({"inputs": ROWS}) == (200, {"predictions": EXPECTED})
            return
        shuffled = {"dataframe_split": {"columns": ["extra", *reversed(COLUMNS)],
                                        "data": [[9, *reversed(row)] for row in ROWS]}}
        assert server.invoke(shuffled) == (200, {"predictions": EXPECTED})
        assert server.invoke({"dataframe_records": [dict(zip(COLUMNS, [1, 2, 3, 4]))]}) == (200, {"predictions": [30]})
        csv = ",".join(COLUMNS) + "\n" + "\n".join(",".join(map(str, r)) for r in ROWS)
        assert server.invoke(csv, "text/csv") == (200, {"predictions": EXPECTED})
        for bad, code in (({"dataframe_records": [dict(zip(COLUMNS, ["one", 2, 3, 4]))]}, "BAD_REQUEST"),
                          ({"dataframe_split": {"columns": COLUMNS[:3], "data": [[1, 2, 3]]}},
                           "INVALID_PARAMETER_VALUE"),
                          ({"inputs": ROWS}, "INVALID_PARAMETER_VALUE")):
            status, body = server.invoke(bad)
            assert (status, body["error_code"]) == (400, code), body
    finally:
        stop_server(server)


def test_stream_scores_batch_after_batch(env, signed_model_dir):
    """One long-lived predictor: Arrow input where pyarrow is, the columns encoding where only numpy and pandas
    are, JSON rows where neither is; a model error answers one batch, and the next is scored again."""
    import pandas as pd

    from envrepro.errors import EnvreproError
    from envrepro.spark.predictor import StreamPredictor

    minor, prefix, has_pandas = env
    predictor = StreamPredictor(prefix / "bin" / "python", signed_model_dir)
    try:
        assert predictor.python_version == _python_version(prefix)
        arrow = "pyarrow" in (DATA_LIBS[minor] or [])
        assert predictor.format == ("arrow" if arrow else "columns" if has_pandas else "json")
        frame = pd.DataFrame(ROWS, columns=COLUMNS)
        assert predictor.predict(frame) == EXPECTED
        assert predictor.predict(frame, {"scale": 2}) == [2 * e for e in EXPECTED]
        if has_pandas:  # the signature picks the columns by name, as for predict
            assert predictor.predict(frame[list(reversed(COLUMNS))].assign(extra=9)) == EXPECTED
        with pytest.raises(EnvreproError) as info:
            predictor.predict(pd.DataFrame([[666, 0, 0, 0]], columns=COLUMNS))
        assert str(info.value).startswith(f"the model failed while predicting in its environment (Python "
                                          f"{predictor.python_version}): ValueError: the number of the beast")
        with pytest.raises(EnvreproError, match="INVALID_PARAMETER_VALUE|scale"):
            predictor.predict(frame, {"scale": 1.5})
        assert predictor.predict(frame.iloc[:1]) == EXPECTED[:1]
    finally:
        predictor.close()
    assert predictor.proc.returncode == 0
