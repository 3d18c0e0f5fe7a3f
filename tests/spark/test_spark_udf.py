"""envrepro.spark_udf on real Spark (local[2], then a standalone cluster): the same predictions as `envrepro
predict`, over several partitions, for envrepro's and MLflow's models and a Python 3.8 MLflow 1.x model run
from this Python 3.11 driver; a model's error is the task's error; executors install from the bundle offline."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import envrepro
from envrepro.bundle.origin import MANIFEST_NAME
from envrepro.errors import EnvreproError
from tests.conftest import SKLEARN_COLUMNS, run_cli, run_python

pytestmark = pytest.mark.slow

SCORER = '''
import json, sys
import envrepro
import pandas as pd


class Scorer(envrepro.PythonModel):
    """Two outputs per row (a label and a score), a `scale` param, and an error for a = 666."""

    def predict(self, context, model_input, params=None):
        if (model_input["a"] == 666).any():
            raise ValueError("the number of the beast")
        scale = (params or {}).get("scale", 1.0)
        return pd.DataFrame({"label": ["pos" if a > 0 else "neg" for a in model_input["a"]],
                             "score": scale * (model_input["a"] + 2 * model_input["b"])})


signature = {"inputs": json.dumps([{"type": "double", "name": "a", "required": True},
                                   {"type": "double", "name": "b", "required": True}]),
             "outputs": None,
             "params": json.dumps([{"name": "scale", "type": "double", "default": 1.0, "shape": None}])}
envrepro.save_model(Scorer(), sys.argv[1], signature=signature, pip_requirements=sys.argv[2:])
'''

# The real MLflow 3.17.2 saves an sklearn Pipeline with an input example (so a signature), pinned to this
# interpreter's packages (the environment then needs no MLflow: envrepro's sklearn flavor loads it).
MLFLOW_SAVE = '''
import sys
import numpy as np, pandas as pd
import mlflow.sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

rng = np.random.default_rng(7)
X = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
y = (X.a - X.c > 0).astype(int)
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
mlflow.sklearn.save_model(model, sys.argv[1], input_example=X.head(3), pip_requirements=sys.argv[2:])
'''


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    frame = pd.DataFrame(rng.normal(size=(240, 4)).round(6), columns=SKLEARN_COLUMNS)
    return frame.assign(id=range(len(frame)))


def predict_cli(model: str | Path, frame: pd.DataFrame, tmp: Path) -> list:
    """`envrepro predict` on the same rows: the reference the UDF must equal."""
    payload = {"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}
    (tmp / "in.json").write_text(json.dumps(payload))
    out = run_cli("predict", "-m", str(model), "-i", str(tmp / "in.json"), check=True, timeout=900)
    return json.loads(out.stdout)["predictions"]


def scored(spark, frame: pd.DataFrame, column, partitions: int = 4) -> list:
    """The UDF's column over ``frame`` split into ``partitions`` partitions, in ``frame``'s row order."""
    df = spark.createDataFrame(frame).repartition(partitions)
    assert df.rdd.getNumPartitions() == partitions
    return [r.p for r in df.withColumn("p", column).select("id", "p").orderBy("id").collect()]


def _pins(*names: str) -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in names]


@pytest.fixture(scope="module")
def scorer_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scorer") / "model"
    script = path.parent / "save.py"
    script.write_text(SCORER)
    run_python(f"import runpy, sys; sys.argv = ['save.py', {str(path)!r}, *{_pins('pandas', 'cloudpickle')!r}]; "
               f"runpy.run_path({str(script)!r}, run_name='__main__')")
    return path


@pytest.fixture(scope="module")
def mlflow_model(real_mlflow, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mlflow-saved") / "model"
    proc = real_mlflow.run(MLFLOW_SAVE, str(path), *_pins("scikit-learn", "numpy", "pandas", "cloudpickle"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return path


@pytest.fixture(scope="module")
def sklearn_reference(saved_sklearn_dir, rows, tmp_path_factory) -> list:
    return predict_cli(saved_sklearn_dir, rows[SKLEARN_COLUMNS], tmp_path_factory.mktemp("ref"))


@pytest.fixture(scope="module")
def mlflow_reference(mlflow_model, rows, tmp_path_factory) -> list:
    return predict_cli(mlflow_model, rows[SKLEARN_COLUMNS], tmp_path_factory.mktemp("ref"))


def test_envrepro_sklearn_model_in_every_call_form(spark, saved_sklearn_dir, rows, sklearn_reference):
    from pyspark.sql.functions import col, struct

    udf = envrepro.spark_udf(spark, saved_sklearn_dir, result_type="long")
    assert scored(spark, rows, udf("a", "b", "c", "d")) == sklearn_reference
    assert scored(spark, rows, udf()) == sklearn_reference  # the signature's columns
    assert scored(spark, rows, udf(struct("d", "c", "b", "a")), partitions=3) == sklearn_reference  # by name
    renamed = rows.rename(columns=dict(zip(SKLEARN_COLUMNS, ["w", "x", "y", "z"])))
    assert scored(spark, renamed, udf(col("w"), "x", "y", "z")) == sklearn_reference  # by position, as MLflow
    doubles = envrepro.spark_udf(spark, saved_sklearn_dir)  # result_type "double" by default
    assert scored(spark, rows, doubles()) == [float(p) for p in sklearn_reference]
    from_bundle = envrepro.spark_udf(spark, udf.bundle, result_type="long")  # a bundle file is a model_uri too
    assert from_bundle.ship.bundle_id == udf.ship.bundle_id
    assert scored(spark, rows, from_bundle("a", "b", "c", "d")) == sklearn_reference
    with pytest.raises(EnvreproError, match="cannot install"):
        envrepro.spark_udf(spark, udf.bundle, env_manager="conda")


def test_mlflow_saved_model(spark, mlflow_model, rows, mlflow_reference):
    udf = envrepro.spark_udf(spark, mlflow_model)  # "double"
    assert scored(spark, rows, udf()) == mlflow_reference
    assert scored(spark, rows, udf("a", "b", "c", "d"), partitions=5) == mlflow_reference


def test_python38_mlflow1_model_from_a_python311_driver(spark, mlflow117_py38_sklearn, tmp_path, request):
    old = mlflow117_py38_sklearn
    split = json.loads(old.input_json.read_text())["dataframe_split"]
    frame = pd.DataFrame(split["data"] * 20, columns=split["columns"])
    frame["id"] = range(len(frame))
    udf = envrepro.spark_udf(spark, old.path, result_type="long")
    got = scored(spark, frame, udf(), partitions=3)
    assert got == old.expected * 20  # what MLflow 1.17 itself predicted, in its own Python 3.8 venv
    assert got == predict_cli(udf.bundle, frame[split["columns"]], tmp_path)  # and `envrepro predict` of the bundle
    installed = _installed(spark, request, udf)
    version = subprocess.run([installed["python"], "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == old.python_version and sys.version_info[:2] != (3, 8)


def _installed(spark, request, udf) -> dict:
    """The environment the executors installed the UDF's bundle into (the marker they share)."""
    from envrepro.home import envrepro_home

    local = spark.sparkContext.master.startswith("local")
    home = envrepro_home() if local else request.getfixturevalue("standalone_cluster").executor_home
    return json.loads((home / "spark" / "installed" / f"{udf.ship.bundle_id}.json").read_text())


def test_structs_arrays_and_params(spark, scorer_model, rows):
    frame = rows[["a", "b", "id"]]
    udf = envrepro.spark_udf(spark, scorer_model, result_type="label string, score double", params={"scale": 2.0})
    got = scored(spark, frame, udf())
    assert [(r.label, r.score) for r in got] == [("pos" if a > 0 else "neg", 2.0 * (a + 2 * b))
                                                 for a, b in zip(frame.a, frame.b)]
    arrays = envrepro.spark_udf(spark, scorer_model, result_type="array<double>")
    assert scored(spark, frame, arrays("a", "b")) == [[a + 2 * b] for a, b in zip(frame.a, frame.b)]
    strings = envrepro.spark_udf(spark, scorer_model, result_type="string")
    assert scored(spark, frame, strings()) == ["pos" if a > 0 else "neg" for a in frame.a]


def test_a_model_error_is_the_task_error(spark, scorer_model, rows):
    udf = envrepro.spark_udf(spark, scorer_model, result_type="score double")
    bad = rows[["a", "b", "id"]].copy()
    bad.loc[100, "a"] = 666.0
    with pytest.raises(Exception) as info:
        scored(spark, bad, udf())
    message = str(info.value)
    version = ".".join(map(str, sys.version_info[:3]))
    assert (f"the model failed while predicting in its environment (Python {version}): ValueError: the number of "
            "the beast") in message
    assert "BrokenPipe" not in message and "Broken pipe" not in message
    good = scored(spark, rows[["a", "b", "id"]], udf())  # the predictors go on
    assert [r.score for r in good] == [a + 2 * b for a, b in zip(rows.a, rows.b)]


def test_driver_side_errors_are_one_line(spark, scorer_model, saved_sklearn_dir, tmp_path):
    with pytest.raises(EnvreproError, match="result_type map<string,int> is not supported"):
        envrepro.spark_udf(spark, scorer_model, result_type="map<string,int>")
    with pytest.raises(EnvreproError, match="params do not fit the model's signature.*scale"):
        envrepro.spark_udf(spark, scorer_model, params={"scale": "big"})
    with pytest.raises(EnvreproError, match="env_manager='local' is not one"):
        envrepro.spark_udf(spark, scorer_model, env_manager="local")
    unnamed = tmp_path / "unnamed"
    run_python(f"import envrepro, pickle; envrepro.save_model(pickle.load(open("
               f"{str(next(saved_sklearn_dir.glob('*.pkl')))!r}, 'rb')), {str(unnamed)!r})")
    with pytest.raises(EnvreproError, match="the model names no input columns"):
        envrepro.spark_udf(spark, unnamed)()


def test_executors_install_each_bundle_once_with_no_network(spark, request):
    """On the standalone cluster the executors have their own ENVREPRO_HOME and a dead proxy for any HTTP:
    every environment above was installed there from the shipped bundles, once each."""
    if spark.sparkContext.master.startswith("local"):
        pytest.skip("local mode: the executors share the driver's installation")
    home = request.getfixturevalue("standalone_cluster").executor_home
    markers = sorted((home / "spark" / "installed").glob("*.json"))
    assert len(markers) == 4  # the envrepro, MLflow, MLflow 1.x and scorer models
    for marker in markers:
        installed = json.loads(marker.read_text())
        assert Path(installed["python"]).is_file() and str(home) in installed["python"]
        assert Path(installed["model_dir"]).is_relative_to(home / "bundles")
    # Spark untars a shipped ".tar" beside it on every machine: envrepro's shipped bundles must not be one.
    assert not list((home.parent / "work").rglob(MANIFEST_NAME))
