"""Two-way compatibility with the real MLflow 3.17.2: MLflow loads, predicts and serves envrepro's models.

(The other direction, envrepro running models saved by MLflow, is tested in tests/e2e/test_serve_env.py and
tests/e2e/test_old_models.py.)
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import envrepro
from tests.conftest import SKLEARN_COLUMNS, run_cli

pytestmark = pytest.mark.slow

LOAD_AND_PREDICT = """
import json, sys
import pandas as pd
import mlflow.pyfunc
model = mlflow.pyfunc.load_model(sys.argv[1])
frame = pd.DataFrame(json.loads(sys.argv[2]), columns=json.loads(sys.argv[3]))
out = model.predict(frame)
print(json.dumps(out.tolist() if hasattr(out, "tolist") else list(out)))
"""

DOUBLER = '''
import envrepro


class Doubler(envrepro.PythonModel):
    def load_context(self, context):
        with open(context.artifacts["factor"]) as fh:
            self.factor = float(fh.read())

    def predict(self, context, model_input, params=None):
        return [self.factor * v for v in model_input["a"]]
'''


@pytest.fixture(scope="module")
def rows(iris_like):
    X, _ = iris_like
    return X[:5].tolist()


@pytest.fixture(scope="module")
def pyfunc_dir(tmp_path_factory):
    """An envrepro pyfunc model whose class lives in a module shipped in code/, with an artifact."""
    import sys

    import pandas as pd

    root = tmp_path_factory.mktemp("pyfunc")
    (root / "doubler.py").write_text(DOUBLER)
    (root / "factor.txt").write_text("2.5")
    sys.path.insert(0, str(root))
    try:
        import doubler

        path = root / "model"
        envrepro.save_model(doubler.Doubler(), path, artifacts={"factor": str(root / "factor.txt")},
                            code_paths=[str(root / "doubler.py")],
                            input_example=pd.DataFrame([[1.0, 2.0, 3.0, 4.0]], columns=SKLEARN_COLUMNS))
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("doubler", None)
    return path


def test_mlflow_loads_envrepro_sklearn_model_with_nothing_else(real_mlflow, saved_sklearn_dir, sklearn_model, rows):
    proc = real_mlflow.run(LOAD_AND_PREDICT, str(saved_sklearn_dir), json.dumps(rows), json.dumps(SKLEARN_COLUMNS))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == sklearn_model.predict(rows).tolist()
    native = real_mlflow.run("import sys, mlflow.sklearn; print(type(mlflow.sklearn.load_model(sys.argv[1])).__name__)",
                             str(saved_sklearn_dir))
    assert native.returncode == 0 and native.stdout.strip() == type(sklearn_model).__name__, native.stderr[-2000:]
    has_envrepro = real_mlflow.run("import importlib.util as u; print(u.find_spec('envrepro_runtime') is None)")
    assert has_envrepro.stdout.strip() == "True", "this venv must not have envrepro"


def test_mlflow_models_predict_and_serve_an_envrepro_model(real_mlflow, saved_sklearn_dir, sklearn_model, rows,
                                                           tmp_path):
    expected = sklearn_model.predict(rows).tolist()
    payload = json.dumps({"dataframe_split": {"columns": SKLEARN_COLUMNS, "data": rows}})
    (tmp_path / "in.json").write_text(payload)
    proc = real_mlflow.mlflow_cli("models", "predict", "-m", str(saved_sklearn_dir), "-i", str(tmp_path / "in.json"),
                                  "-t", "json", "--env-manager", "local", "-o", str(tmp_path / "out.json"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "out.json").read_text()) == {"predictions": expected}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(real_mlflow.python.parent / "mlflow"), "models", "serve", "-m",
                               str(saved_sklearn_dir), "--env-manager", "local", "-p", str(port)],
                              env=real_mlflow.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=payload.encode(),
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as response:
                    assert json.loads(response.read()) == {"predictions": expected}
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read().decode()[-3000:]
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_mlflow_loads_envrepro_pyfunc_model_beside_envrepro(real_mlflow, pyfunc_dir, rows):
    """The pickle refers to envrepro's PythonModel: MLflow needs envrepro installed, and the model says so."""
    requirements = (pyfunc_dir / "requirements.txt").read_text().splitlines()
    assert f"envrepro=={envrepro.__version__}" in requirements
    args = (str(pyfunc_dir), json.dumps(rows), json.dumps(SKLEARN_COLUMNS))
    proc = real_mlflow.run(LOAD_AND_PREDICT, *args, envrepro=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.splitlines()[-1]) == pytest.approx([2.5 * r[0] for r in rows])
    without = real_mlflow.run(LOAD_AND_PREDICT, *args)
    assert without.returncode != 0 and "No module named 'envrepro" in without.stderr


def test_envrepro_builds_the_pyfunc_env_without_envrepro_on_the_index(pyfunc_dir, rows, tmp_path):
    """envrepro==VERSION is recorded, but envrepro's own builds never ask the index for it."""
    (tmp_path / "in.json").write_text(json.dumps({"dataframe_split": {"columns": SKLEARN_COLUMNS, "data": rows}}))
    out = run_cli("predict", "-m", str(pyfunc_dir), "-i", str(tmp_path / "in.json"), "--env-manager", "uv", "-q",
                  check=True, timeout=900)
    assert json.loads(out.stdout)["predictions"] == pytest.approx([2.5 * r[0] for r in rows])
    prefix = Path(run_cli("env", "create", "-m", str(pyfunc_dir), "--env-manager", "uv", "-q", check=True).stdout
                  .strip())
    assert not list((prefix / "lib").glob("python*/site-packages/envrepro*"))


SAVE_SKOPS = """
import json, sys
import numpy as np, pandas as pd
import mlflow.sklearn
from sklearn.linear_model import LogisticRegression
X = pd.DataFrame(np.random.default_rng(1).normal(size=(40, 3)), columns=["x", "y", "z"])
model = LogisticRegression().fit(X, (X.x > 0).astype(int))
mlflow.sklearn.save_model(model, sys.argv[1], serialization_format="skops", input_example=X.head(2))
print(json.dumps({"rows": X.head(6).values.tolist(), "predictions": model.predict(X.head(6)).tolist()}))
"""


def test_skops_models_saved_by_mlflow(real_mlflow, tmp_path):
    saved = real_mlflow.run(SAVE_SKOPS, str(tmp_path / "skops-model"))
    assert saved.returncode == 0, saved.stderr[-3000:]
    expected = json.loads(saved.stdout.splitlines()[-1])
    assert (tmp_path / "skops-model" / "model.skops").exists()
    (tmp_path / "in.json").write_text(json.dumps({"dataframe_split": {"columns": ["x", "y", "z"],
                                                                      "data": expected["rows"]}}))
    out = run_cli("predict", "-m", str(tmp_path / "skops-model"), "-i", str(tmp_path / "in.json"), "--env-manager",
                  "uv", "-q", check=True, timeout=900)
    assert json.loads(out.stdout) == {"predictions": expected["predictions"]}
    # Without skops (the test interpreter has none) the error says what to install, not "corrupt".
    pytest.importorskip("sklearn")
    local = run_cli("predict", "-m", str(tmp_path / "skops-model"), "-i", str(tmp_path / "in.json"),
                    "--env-manager", "local")
    assert local.returncode == 2 and "skops" in local.stderr and "corrupt" not in local.stderr
    assert "Traceback" not in local.stderr
