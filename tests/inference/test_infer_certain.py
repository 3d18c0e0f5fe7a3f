"""When reading the model settles its requirements (no capture subprocess), and every case that must fall back.

"Certain" models are saved with the capture subprocess made impossible (Popen raises): a test passes only if
nothing was started. Fallback models are saved with a spy on the capture: it must have run, and its answer
(what only running the model shows) must be in the requirements.
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import pickletools
import textwrap
import zipfile
from pathlib import Path

import pytest
from infer_helpers import make_dist
from packaging.requirements import Requirement

import envrepro
import envrepro.inference as inference
from envrepro.inference import capture as capture_module
from envrepro.inference.pickled import scan_artifact, scan_stream
from envrepro.inference.static import read_doubts

PYFUNC = "from envrepro import PythonModel\n\n"


def _names(path: Path) -> set[str]:
    return {line.split("==")[0].split("[")[0].lower() for line in (path / "requirements.txt").read_text().split()}


def _why(path: Path) -> dict[str, list[str]]:
    record = json.loads((path / "envrepro_requirements.json").read_text())
    # by name, extras dropped: pandas 3 with pyarrow installed pickles its strings as pyarrow (pandas[pyarrow])
    return {Requirement(item["requirement"]).name.lower(): item["reasons"] for item in record["requirements"]}


def _output(path: Path):
    return json.loads((path / "envrepro_output_example.json").read_text())["predictions"]


@pytest.fixture
def no_subprocess(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a capture subprocess was started: {args[0] if args else kwargs}")

    monkeypatch.setattr(capture_module.subprocess, "Popen", refuse)


@pytest.fixture
def capture_spy(monkeypatch, caplog):
    calls: list[Path] = []
    real = inference.capture_imports

    def spy(model_dir, **kwargs):
        calls.append(Path(model_dir))
        return real(model_dir, **kwargs)

    monkeypatch.setattr(inference, "capture_imports", spy)
    caplog.set_level(logging.DEBUG, logger="envrepro.inference")
    return calls


def _because(caplog) -> str:
    return " ".join(r.getMessage() for r in caplog.records if "running the capture subprocess" in r.getMessage())


# --- certain: nothing is started ---------------------------------------------------------------------------

def test_sklearn_estimator_is_settled_by_its_pickle(tmp_path, sklearn_model, iris_like, no_subprocess):
    pd = pytest.importorskip("pandas")
    X, _ = iris_like
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, input_example=pd.DataFrame(X[:3], columns=list("abcd")))
    assert _names(path) == {"scikit-learn", "cloudpickle", "pandas"}
    why = _why(path)
    assert any("named in the model's pickle (model.pkl): sklearn.linear_model" in r for r in why["scikit-learn"])
    assert any("brings numpy" in r and "named in the model's pickle" in r for r in why["scikit-learn"]), why
    # The output is computed in this process, from the staged artifact, as the capture would have.
    assert _output(path) == sklearn_model.predict(X[:3]).tolist()


def test_pyfunc_with_literal_imports_in_code_is_settled(tmp_path, user_module, no_subprocess):
    module, file = user_module(PYFUNC + textwrap.dedent("""
        import yaml

        class Literal(PythonModel):
            def predict(self, context, model_input, params=None):
                from packaging.version import Version
                if len(model_input) > 1000:
                    import numpy
                return [str(Version(str(x))) for x in model_input]
    """))
    path = tmp_path / "model"
    envrepro.save_model(module.Literal(), path, input_example=[1, 2], code_paths=[file])
    assert _names(path) == {"cloudpickle", "envrepro", "pyyaml", "packaging", "numpy"}
    assert _output(path) == ["1", "2"]


def test_library_objects_held_by_a_pyfunc_model_are_settled_by_its_pickle(tmp_path, user_module, no_subprocess):
    pd = pytest.importorskip("pandas")
    module, file = user_module(PYFUNC + textwrap.dedent("""
        class Lookup(PythonModel):
            def __init__(self, table):
                self.table = table

            def predict(self, context, model_input, params=None):
                return [float(self.table["value"].iloc[int(i)]) for i in model_input]
    """))
    path = tmp_path / "model"
    envrepro.save_model(module.Lookup(pd.DataFrame({"value": [1.5, 2.5]})), path, input_example=[1, 0],
                        code_paths=[file])
    assert _names(path) == {"cloudpickle", "envrepro", "pandas"}  # the model's code never imports pandas
    assert any("named in the model's pickle (python_model.pkl): pandas" in r for r in _why(path)["pandas"])
    assert _output(path) == [2.5, 1.5]


def test_given_requirements_record_the_output_without_a_subprocess(tmp_path, sklearn_model, iris_like,
                                                                   no_subprocess):
    X, _ = iris_like
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, input_example=X[:2], pip_requirements=["scikit-learn"])
    assert _output(path) == sklearn_model.predict(X[:2]).tolist()


def test_the_in_process_run_keeps_the_models_prints_warnings_and_logs_to_itself(tmp_path, user_module, capsys,
                                                                                no_subprocess, recwarn, caplog):
    module, file = user_module(PYFUNC + textwrap.dedent("""
        import logging
        import warnings

        class Noisy(PythonModel):
            def predict(self, context, model_input, params=None):
                print("predicting!")
                warnings.warn("noisy model")
                logging.getLogger("noisy").warning("model log line")
                return model_input
    """))
    caplog.set_level(logging.DEBUG)
    envrepro.save_model(module.Noisy(), tmp_path / "model", input_example=[1], code_paths=[file])
    assert "predicting!" not in capsys.readouterr().out
    assert not [w for w in recwarn if "noisy model" in str(w.message)]
    assert "model log line" not in caplog.text
    assert "reading the model settled" in caplog.text  # envrepro's own logging is back on afterwards
    assert logging.root.manager.disable == logging.NOTSET


# --- doubts: the capture must run, and finds what reading cannot -------------------------------------------

def test_a_cloudpickled_lambda_falls_back(tmp_path, iris_like, capture_spy, caplog):
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = iris_like
    model = make_pipeline(FunctionTransformer(lambda a: a * 2), LogisticRegression()).fit(X, y)
    path = tmp_path / "model"
    envrepro.save_model(model, path, input_example=X[:2])
    assert capture_spy and "carries code by value" in _because(caplog)
    assert _names(path) == {"scikit-learn", "cloudpickle"}
    assert _output(path) == model.predict(X[:2]).tolist()


def test_a_library_that_imports_by_name_at_predict_falls_back(tmp_path, iris_like, capture_spy, caplog):
    """sklearn's set_output(transform="pandas") imports pandas through importlib when it predicts: neither the
    pickle nor any code of the model names pandas (the example is an ndarray)."""
    pytest.importorskip("pandas")
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris_like
    model = make_pipeline(StandardScaler().set_output(transform="pandas"), LogisticRegression()).fit(X, y)
    path = tmp_path / "model"
    envrepro.save_model(model, path, input_example=X[:2])
    assert capture_spy and "running it imported pandas" in _because(caplog)
    assert "pandas" in _names(path)


def test_a_library_lazy_import_outside_its_dependencies_falls_back(tmp_path, user_module, fake_site,
                                                                   capture_spy, caplog):
    make_dist(fake_site, "lazylib", "1.0", files={"lazylib.py": "def render(x):\n    import otherlib\n"
                                                                "    return otherlib.VALUE + x\n"})
    make_dist(fake_site, "otherlib", "2.0", files={"otherlib.py": "VALUE = 10\n"})
    module, file = user_module(PYFUNC + textwrap.dedent("""
        import lazylib

        class UsesLazy(PythonModel):
            def predict(self, context, model_input, params=None):
                return [lazylib.render(x) for x in model_input]
    """))
    path = tmp_path / "model"
    envrepro.save_model(module.UsesLazy(), path, input_example=[1], code_paths=[file])
    assert capture_spy and "otherlib" in _because(caplog)
    assert {"lazylib", "otherlib"} <= _names(path)
    assert _output(path) == [11]


@pytest.mark.parametrize("body, doubt", [
    ("""
    class M(PythonModel):
        def __init__(self):
            self.backend = "yaml"

        def predict(self, context, model_input, params=None):
            import importlib
            lib = importlib.import_module(self.backend)
            return [lib.safe_dump(x).strip() for x in model_input]
    """, "import_module() of a name computed at run time"),
    ("""
    class M(PythonModel):
        def predict(self, context, model_input, params=None):
            from importlib.metadata import entry_points
            found = [ep for ep in entry_points(group="envrepro_test.none")]
            import yaml
            return [yaml.safe_dump(x).strip() for x in model_input]
    """, "entry_points() loads or runs code chosen at run time"),
    ("""
    try:
        import yaml
    except ImportError:
        yaml = None

    class M(PythonModel):
        def predict(self, context, model_input, params=None):
            return [yaml.safe_dump(x).strip() for x in model_input]
    """, "guarded by except ImportError"),
    ("""
    class M(PythonModel):
        def load_context(self, context):
            import yaml
            self.dump = yaml.safe_dump

        def predict(self, context, model_input, params=None):
            return [self.dump(x).strip() for x in model_input]
    """, "M.load_context runs setup code"),
])
def test_what_reading_cannot_settle_falls_back(tmp_path, user_module, capture_spy, caplog, body, doubt):
    module, file = user_module(PYFUNC + textwrap.dedent(body))
    path = tmp_path / "model"
    envrepro.save_model(module.M(), path, input_example=[1], code_paths=[file])
    assert capture_spy and doubt in _because(caplog), _because(caplog)
    assert "pyyaml" in _names(path), "the capture sees what the model imports"
    assert _output(path) == ["1\n..."]


def test_artifacts_fall_back(tmp_path, user_module, capture_spy, caplog):
    data = tmp_path / "table.json"
    data.write_text("[3]")
    module, file = user_module(PYFUNC + textwrap.dedent("""
        class M(PythonModel):
            def predict(self, context, model_input, params=None):
                import json
                return json.load(open(context.artifacts["table"])) + list(model_input)
    """))
    path = tmp_path / "model"
    envrepro.save_model(module.M(), path, input_example=[1], code_paths=[file], artifacts={"table": data})
    assert capture_spy and "it has artifacts" in _because(caplog)
    assert _output(path) == [3, 1]


def test_an_import_nothing_provides_falls_back(tmp_path, user_module, capture_spy, caplog):
    module, file = user_module(PYFUNC + textwrap.dedent("""
        class M(PythonModel):
            def predict(self, context, model_input, params=None):
                if model_input == "never":
                    import not_installed_anywhere_xyz
                return model_input
    """))
    envrepro.save_model(module.M(), tmp_path / "model", input_example=[1], code_paths=[file])
    assert capture_spy and "'not_installed_anywhere_xyz', which no installed distribution" in _because(caplog)


# --- the pickle reader --------------------------------------------------------------------------------------

class _Local:
    pass


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_protocol_names_its_globals_through_the_memo(protocol):
    from collections import OrderedDict

    data = pickle.dumps([OrderedDict(), OrderedDict(), _Local, io.BytesIO, b"x" * 100_000], protocol=protocol)
    found = scan_stream(io.BytesIO(data))
    assert found.unreadable is None
    assert ("collections", "OrderedDict") in found.globals and (__name__, "_Local") in found.globals
    assert ("_io", "BytesIO") in found.globals or ("io", "BytesIO") in found.globals


def test_python2_names_are_mapped_like_the_unpickler_does():
    found = scan_stream(io.BytesIO(b"ccopy_reg\n_reconstructor\n."))
    assert found.globals == [("copyreg", "_reconstructor")]


def test_what_the_reader_refuses(tmp_path):
    ext = scan_stream(io.BytesIO(b"\x80\x02\x82\x01."))  # EXT1: a global by registry code, not by name
    assert "extension registry" in (ext.unreadable or "")
    computed = pickletools.optimize(pickle.dumps(_Local, protocol=4))
    computed = computed.replace(b"\x93", b"N\x93", 1)  # STACK_GLOBAL on a value that is not a string
    assert "computed strings" in (scan_stream(io.BytesIO(computed)).unreadable or "")
    assert "not a pickle" in (scan_stream(io.BytesIO(b"\xff\xfe")).unreadable or "")
    twice = tmp_path / "two.pkl"
    twice.write_bytes(pickle.dumps(1) + pickle.dumps(2))
    assert "more than one pickle" in (scan_artifact(twice).unreadable or "")


def test_a_torch_style_zip_is_read_through_its_data_pkl(tmp_path):
    path = tmp_path / "model.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(_Local, protocol=2))
        archive.writestr("archive/data/0", b"\0" * 64)
    assert scan_artifact(path).globals == [(__name__, "_Local")]


# --- the code reader ----------------------------------------------------------------------------------------

def test_doubts_in_code_and_what_is_not_one(tmp_path):
    file = tmp_path / "m.py"
    file.write_text(textwrap.dedent("""
        import contextlib
        import importlib
        import joblib as jl
        from pickle import loads

        def f(name, blob):
            importlib.import_module("yaml")        # literal: read statically, no doubt
            importlib.import_module(name)
            __import__(name + "x")
            exec("import yaml")
            jl.load("x.joblib")
            loads(blob)
            with contextlib.suppress(ImportError):
                import ujson
            model.eval()                          # torch's Module.eval, not the builtin
            df.eval("a + b")
    """))
    found = {(d.line, d.what.split(" ")[0]) for d in read_doubts(file)}
    assert found == {(9, "import_module()"), (10, "__import__()"), (11, "exec()"), (12, "joblib.load()"),
                     (13, "pickle.loads()"), (15, "an")}, found
