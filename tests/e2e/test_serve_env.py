"""predict and serve *inside* reproduced environments: sklearn, pyfunc with code_paths, an MLflow-format model."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest
import sklearn

import envrepro
from envrepro.pins import pin
from tests.conftest import run_cli
from tests.mlflow_format import write_mlflow_sklearn_model
from tests.serving.helpers import start_server, stop_server

pytestmark = pytest.mark.slow
COLUMNS = list("abcd")
MLFLOW_SKINNY = "mlflow-skinny==3.17.2"


@pytest.fixture(scope="module")
def served_sklearn(tmp_path_factory, sklearn_model, iris_like):
    pd = pytest.importorskip("pandas")
    X, _ = iris_like
    path = tmp_path_factory.mktemp("served") / "sk"
    envrepro.save_model(sklearn_model, path, input_example=pd.DataFrame(X[:2], columns=COLUMNS),
                        extra_pip_requirements=[pin("pandas")])
    server = start_server(path, "--env-manager", "uv", "-q")
    yield server, path
    stop_server(server)


def test_sklearn_served_from_its_uv_env(served_sklearn, sklearn_model, iris_like):
    server, _ = served_sklearn
    X, _ = iris_like
    preds = sklearn_model.predict(X[:3]).tolist()
    split = {"dataframe_split": {"columns": COLUMNS, "data": X[:3].tolist()}}
    records = {"dataframe_records": [dict(zip(COLUMNS, r)) for r in X[:3].tolist()]}
    columns = {"inputs": {c: X[:3, i].tolist() for i, c in enumerate(COLUMNS)}}
    for payload in (split, records, {"instances": records["dataframe_records"]}, columns):
        assert server.invoke(payload) == (200, {"predictions": preds})
    # The signature inferred from the example names a-d: unnamed rows are refused, as by mlflow models serve.
    for unnamed in ({"instances": X[:3].tolist()}, {"inputs": X[:3].tolist()}):
        code, body = server.invoke(unnamed)
        assert code == 400 and body["error_code"] == "INVALID_PARAMETER_VALUE"
    csv = "a,b,c,d\n" + "\n".join(",".join(map(repr, r)) for r in X[:3].tolist())
    assert server.invoke(csv, "text/csv") == (200, {"predictions": preds})
    for bad, status in (("{", 400), ({"inputs": [[1]], "instances": [[1]]}, 400), ({}, 400),
                        ({"dataframe_split": {"columns": ["x"], "data": [[1]]}}, 400)):
        code, body = server.invoke(bad)
        assert code == status and set(body) == {"error_code", "message"}
    assert server.invoke("x", "application/xml")[0] == 415  # unsupported media type, as mlflow models serve
    assert server.invoke({"dataframe_split": {"columns": COLUMNS, "data": X[:1].tolist()}}) == \
        (200, {"predictions": preds[:1]})


def test_env_of_a_running_server_is_not_removed(served_sklearn):
    server, path = served_sklearn
    prefix = run_cli("env", "create", "-m", str(path), "-q", check=True).stdout.strip()
    refused = run_cli("env", "rm", prefix)
    assert refused.returncode == 2 and "being built or used" in refused.stderr
    assert server.request("GET", "/ping")[0] == 200


def test_predict_warm_env_matches(served_sklearn, sklearn_model, iris_like, tmp_path):
    _, path = served_sklearn
    X, _ = iris_like
    (tmp_path / "in.json").write_text(json.dumps({"dataframe_split": {"columns": COLUMNS, "data": X[:5].tolist()}}))
    out = run_cli("predict", "-m", str(path), "-i", str(tmp_path / "in.json"), "-q", check=True)
    assert json.loads(out.stdout) == {"predictions": sklearn_model.predict(X[:5]).tolist()}


PINNED_MODEL = '''
import envrepro

class Versions(envrepro.PythonModel):
    def predict(self, context, model_input, params=None):
        import packaging, yaml
        from helper_mod import tag
        return [tag(packaging.__version__), tag(yaml.__version__)]
'''


def test_envrepro_never_changes_what_the_model_pins(tmp_path):
    """The worker reaches the env without installing into it, and the model's own pins win at run time."""
    (tmp_path / "versions_model.py").write_text(PINNED_MODEL)
    (tmp_path / "helper_mod.py").write_text("def tag(v):\n    return 'v' + v\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import versions_model

        path = tmp_path / "model"
        envrepro.save_model(versions_model.Versions(), path, pip_requirements=[
            pin("cloudpickle"), "packaging==23.2", "pyyaml==6.0.1"],
            code_paths=[str(tmp_path / "versions_model.py"), str(tmp_path / "helper_mod.py")])
    finally:
        sys.path.remove(str(tmp_path))
    (tmp_path / "in.json").write_text('{"inputs": [1]}')
    out = run_cli("predict", "-m", str(path), "-i", str(tmp_path / "in.json"), "-q", check=True)
    assert json.loads(out.stdout) == {"predictions": ["v23.2", "v6.0.1"]}
    prefix = Path(run_cli("env", "create", "-m", str(path), "-q", check=True).stdout.strip())
    listed = subprocess.run(["uv", "pip", "list", "--python", str(prefix / "bin" / "python"), "--format", "json"],
                            capture_output=True, text=True, check=True)
    installed = {d["name"].lower(): d["version"] for d in json.loads(listed.stdout)}
    assert installed["packaging"] == "23.2" and installed["pyyaml"] == "6.0.1"
    assert not {"envrepro", "pluggy", "click", "ruamel-yaml", "py-rattler", "conda-lock"} & set(installed)


def _write_mlflow_model(path: Path, model) -> None:
    """An MLflow 3 sklearn model whose requirements install MLflow itself into the reproduced env."""
    import cloudpickle
    import numpy

    # Saved now, like its pins (MLflow 3.17.2's dependencies did not exist at an older save date).
    saved = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    write_mlflow_sklearn_model(path, python=sys.version.split()[0], sklearn=sklearn.__version__, mlflow="3.17.2",
                               requirements=[MLFLOW_SKINNY, pin("cloudpickle"), f"numpy=={numpy.__version__}",
                                             pin("pandas"), f"scikit-learn=={sklearn.__version__}"],
                               pickled=cloudpickle.dumps(model), utc_time_created=saved)


def test_mlflow_sklearn_model_served_without_importing_mlflow(tmp_path, sklearn_model, iris_like):
    """MLflow's sklearn layout is read by envrepro's own loader: MLflow is in the env but never imported."""
    X, _ = iris_like
    path = tmp_path / "mlflow-model"
    _write_mlflow_model(path, sklearn_model)
    server = start_server(path, "--env-manager", "uv", "-q")
    try:
        preds = sklearn_model.predict(X[:4]).tolist()
        assert server.invoke({"inputs": X[:4].tolist()}) == (200, {"predictions": preds})
        assert server.invoke({"dataframe_split": {"columns": [0, 1, 2, 3], "data": X[:4].tolist()}})[0] == 200
        assert server.invoke("{bad")[0] == 400
    finally:
        stop_server(server)
    from envrepro.launch import load_spec, runtime_dir
    from envrepro.model import ModelDir

    prefix = Path(run_cli("env", "create", "-m", str(path), "-q", check=True).stdout.strip())
    spec = load_spec(ModelDir.open(path))
    assert spec["loader"]["module"] == "envrepro_flavors.inenv.sklearn"
    code = ("import json, sys; sys.path.append(sys.argv[1]); from envrepro_runtime.loading import load; "
            "m = load(json.loads(sys.argv[2])); "
            "print(type(m.raw_model).__module__, 'mlflow' in sys.modules, 'mlflow' in sys.modules or "
            "__import__('importlib.util').util.find_spec('mlflow') is not None)")
    out = subprocess.run([str(prefix / "bin" / "python"), "-I", "-c", code, str(runtime_dir()), json.dumps(spec)],
                         capture_output=True, text=True, check=True)
    module, imported, installed = out.stdout.split()
    assert module.startswith("sklearn.") and (imported, installed) == ("False", "True")


SAVE_WITH_REAL_MLFLOW = '''
import json, sys
import numpy as np, pandas as pd
import mlflow.pyfunc, mlflow.sklearn
from sklearn.tree import DecisionTreeClassifier

rng = np.random.default_rng(3)
X = pd.DataFrame(rng.normal(size=(80, 3)), columns=["x", "y", "z"])
model = DecisionTreeClassifier(random_state=0).fit(X, (X.x > X.z).astype(int))
mlflow.sklearn.save_model(model, sys.argv[1], input_example=X.head(3), serialization_format="cloudpickle")

class Doubler(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return (model_input["x"] * 2).tolist()

mlflow.pyfunc.save_model(sys.argv[2], python_model=Doubler(), input_example=X.head(2))
print(json.dumps({"rows": X.head(5).values.tolist(), "tree": model.predict(X.head(5)).tolist(),
                  "doubled": (X.head(5)["x"] * 2).tolist()}))
'''


def test_models_saved_by_real_mlflow(tmp_path, sklearn_model):
    """Save models with the real MLflow (installed in a reproduced env), then inspect/predict them with envrepro."""
    scaffold = tmp_path / "scaffold"
    _write_mlflow_model(scaffold, sklearn_model)
    prefix = Path(run_cli("env", "create", "-m", str(scaffold), "-q", check=True, timeout=900).stdout.strip())
    saved = subprocess.run([str(prefix / "bin" / "python"), "-c", SAVE_WITH_REAL_MLFLOW, str(tmp_path / "tree"),
                            str(tmp_path / "doubler")], capture_output=True, text=True, timeout=600,
                           cwd=tmp_path)  # MLflow creates ./mlruns when it saves with an input example
    assert saved.returncode == 0, saved.stderr[-3000:]
    expected = json.loads(saved.stdout.strip().splitlines()[-1])
    report = json.loads(run_cli("inspect", "-m", str(tmp_path / "tree"), "--json", check=True).stdout)
    assert report["saved_by"].startswith("MLflow 3.") and report["loader_module"] == "mlflow.sklearn"
    assert any(r.startswith("mlflow") for r in report["requirements"])
    rows = {"dataframe_split": {"columns": ["x", "y", "z"], "data": expected["rows"]}}
    (tmp_path / "in.json").write_text(json.dumps(rows))
    for name, key in (("tree", "tree"), ("doubler", "doubled")):
        out = run_cli("predict", "-m", str(tmp_path / name), "-i", str(tmp_path / "in.json"), "-q", check=True,
                      timeout=900)
        assert json.loads(out.stdout)["predictions"] == pytest.approx(expected[key])


def test_env_in_use_by_predict_is_not_removed(tmp_path):
    class Slow(envrepro.PythonModel):
        def predict(self, context, model_input, params=None):
            import time

            time.sleep(4)
            return model_input

    path = tmp_path / "slow"
    envrepro.save_model(Slow(), path, pip_requirements=[pin("cloudpickle")])
    prefix = run_cli("env", "create", "-m", str(path), "-q", check=True).stdout.strip()
    (tmp_path / "in.json").write_text('{"inputs": [1]}')
    running = subprocess.Popen([sys.executable, "-m", "envrepro.cli", "predict", "-m", str(path), "-i",
                                str(tmp_path / "in.json"), "-q"], stdout=subprocess.PIPE, text=True)
    import time

    time.sleep(2)
    refused = run_cli("env", "rm", prefix)
    assert refused.returncode == 2 and "being built or used" in refused.stderr
    assert json.loads(running.communicate(timeout=120)[0]) == {"predictions": [1]}
    run_cli("env", "rm", prefix, check=True)
    assert not Path(prefix).exists()
