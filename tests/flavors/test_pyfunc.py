from __future__ import annotations

import json

import pytest
import yaml

import envrepro
from envrepro.errors import EnvreproError
from tests.conftest import run_python

MODEL_SOURCE = '''
import envrepro

class Scaler(envrepro.PythonModel):
    def load_context(self, context):
        with open(context.artifacts["factor"]) as fh:
            self.factor = float(fh.read())

    def predict(self, context, model_input, params=None):
        offset = (params or {}).get("offset", 0)
        return [x * self.factor + offset for x in model_input]
'''


@pytest.fixture
def scaler_module(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    (src / "scaler_model.py").write_text(MODEL_SOURCE)
    monkeypatch.syspath_prepend(str(src))
    import importlib

    return importlib.import_module("scaler_model"), src / "scaler_model.py"


def test_roundtrip_with_artifacts_and_code_paths(tmp_path, scaler_module):
    module, source = scaler_module
    (tmp_path / "factor.txt").write_text("3")
    path = tmp_path / "model"
    envrepro.save_model(module.Scaler(), path, artifacts={"factor": tmp_path / "factor.txt"},
                        code_paths=[str(source)], input_example=[1, 2])
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    assert list(mlmodel["flavors"]) == ["python_function"]
    assert mlmodel["flavors"]["python_function"]["artifacts"] == {"factor": {"path": "artifacts/factor.txt"}}
    assert (path / "artifacts" / "factor.txt").read_text() == "3"
    # A fresh process that has never seen src/: the class comes from code/ in the model.
    out = run_python(f"""
        import json, envrepro
        m = envrepro.load_model({str(path)!r})
        print(json.dumps([m.predict([1, 2]), m.predict([1], params={{"offset": 10}})]))
    """, cwd=tmp_path)
    assert json.loads(out.stdout) == [[3.0, 6.0], [13.0]]


def test_pyfunc_alias_and_missing_artifact(tmp_path, scaler_module):
    module, _ = scaler_module
    with pytest.raises(EnvreproError, match="artifact 'factor' not found"):
        envrepro.save_model(module.Scaler(), tmp_path / "m", flavor="pyfunc",
                            artifacts={"factor": tmp_path / "nope.txt"})
    assert not (tmp_path / "m").exists()


def test_class_defined_in_main_is_pickled_by_value(tmp_path):
    path = tmp_path / "model"
    run_python(f"""
        import envrepro
        class Doubler(envrepro.PythonModel):
            def predict(self, context, model_input, params=None):
                return [2 * x for x in model_input]
        envrepro.save_model(Doubler(), {str(path)!r})
    """)
    out = run_python(f"import envrepro; print(envrepro.load_model({str(path)!r}).predict([4]))")
    assert out.stdout.strip() == "[8]"
