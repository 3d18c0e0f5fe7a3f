from __future__ import annotations

import json

import pytest
import yaml

import envrepro
from envrepro.errors import ModelFormatError
from tests.conftest import run_python


@pytest.mark.parametrize("fmt", ["cloudpickle", "pickle"])
def test_roundtrip_in_fresh_process(tmp_path, sklearn_model, iris_like, fmt):
    X, _ = iris_like
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, serialization_format=fmt)
    (tmp_path / "X.json").write_text(json.dumps(X.tolist()))
    out = run_python(f"""
        import json, numpy as np, envrepro
        X = np.array(json.load(open({str(tmp_path / 'X.json')!r})))
        print(json.dumps(envrepro.load_model({str(path)!r}).predict(X).tolist()))
    """)
    assert json.loads(out.stdout) == sklearn_model.predict(X).tolist()


def test_records_sklearn_version_and_default_requirements(tmp_path, sklearn_model):
    import sklearn

    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path)
    conf = yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sklearn"]
    assert conf["sklearn_version"] == sklearn.__version__
    assert f"scikit-learn=={sklearn.__version__}" in (path / "requirements.txt").read_text().splitlines()


def test_pipeline_and_custom_estimator_are_detected(tmp_path, iris_like):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    X, y = iris_like
    pipe = make_pipeline(StandardScaler(), DecisionTreeClassifier(random_state=0)).fit(X, y)
    model = envrepro.save_model(pipe, tmp_path / "model")
    assert "sklearn" in model.mlmodel.flavors
    assert (envrepro.load_model(tmp_path / "model").predict(X) == pipe.predict(X)).all()


def test_missing_or_corrupt_artifact(tmp_path, sklearn_model):
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path)
    (path / "model.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ModelFormatError, match="corrupt"):
        envrepro.load_model(path)
    (path / "model.pkl").unlink()
    with pytest.raises(ModelFormatError, match="artifact is missing"):
        envrepro.load_model(path)
