"""save_model end to end: the real capture subprocess, real files, every error path of inference."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from infer_helpers import make_dist

import envrepro
from envrepro.errors import EnvreproError
from envrepro.inference import TIMEOUT_ENV_VAR

PYFUNC = "from envrepro import PythonModel\n\n"


def pyfunc(source: str) -> str:
    return PYFUNC + textwrap.dedent(source)


def _reqs(path: Path) -> list[str]:
    return (path / "requirements.txt").read_text().splitlines()


def _names(path: Path) -> set[str]:
    return {line.split("==")[0].split("[")[0].lower() for line in _reqs(path)}


def _why(path: Path) -> dict[str, list[str]]:
    record = json.loads((path / "envrepro_requirements.json").read_text())
    return {item["requirement"].split("==")[0].lower(): item["reasons"] for item in record["requirements"]}


def _version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


def test_loader_imports_do_not_leak_and_flavor_default_is_kept(tmp_path, user_module):
    module, file = user_module(pyfunc("""
        class Plain(PythonModel):
            def predict(self, context, model_input, params=None):
                return [x + 1 for x in model_input]
    """))
    path = tmp_path / "model"
    envrepro.save_model(module.Plain(), path, input_example=[1, 2], code_paths=[file])
    # envrepro's own runtime dependencies (pluggy, yaml, packaging, click, ruamel) are not the model's; envrepro
    # itself is (the pickle refers to envrepro's PythonModel), as the pyfunc flavor's default.
    assert _reqs(path) == [f"cloudpickle=={_version('cloudpickle')}", f"envrepro=={envrepro.__version__}"]
    assert _why(path)["cloudpickle"][0] == "default of flavor python_function"
    assert _why(path)["envrepro"][0] == "default of flavor python_function"


def test_imports_in_load_context_and_predict_with_reasons(tmp_path, user_module):
    module, file = user_module(pyfunc("""
        class UsesYaml(PythonModel):
            def load_context(self, context):
                import yaml  # envrepro's loader imported yaml already: still the model's requirement
                self.n = yaml.safe_load("n: 2")["n"]

            def predict(self, context, model_input, params=None):
                from packaging.version import Version
                import numpy as np
                return np.asarray(model_input).tolist()
    """))
    path = tmp_path / "model"
    envrepro.save_model(module.UsesYaml(), path, input_example=[1, 2], code_paths=[file])
    # envrepro is listed but brings nothing: its own builds take it from the runtime, not the index.
    assert _names(path) == {"cloudpickle", "envrepro", "pyyaml", "packaging", "numpy"}
    why = _why(path)
    assert any("imported while loading the model: yaml" in r for r in why["pyyaml"]), why
    assert any("imported by predict on input_example" in r and "packaging" in r for r in why["packaging"])
    proc = subprocess.run([sys.executable, "-m", "envrepro.cli", "inspect", "-m", str(path), "--why"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "imported by predict on input_example" in proc.stdout and "default of flavor" in proc.stdout


def test_branch_not_reached_is_found_by_reading_the_code(tmp_path, user_module):
    module, file = user_module(pyfunc("""
        class Branchy(PythonModel):
            def predict(self, context, model_input, params=None):
                if len(model_input) > 1000:
                    import yaml
                return model_input
    """))
    path = tmp_path / "model"
    envrepro.save_model(module.Branchy(), path, input_example=[1], code_paths=[file])
    assert "pyyaml" in _names(path)
    assert any("read statically" in r and ".py:" in r for r in _why(path)["pyyaml"])


def test_class_pickled_by_value_scans_its_defining_module(tmp_path, user_module):
    import cloudpickle

    module, _ = user_module(pyfunc("""
        import pytest  # module-level noise the class never uses

        class ByValue(PythonModel):
            def predict(self, context, model_input, params=None):
                if model_input == "never":
                    import yaml
                return model_input
    """))
    cloudpickle.register_pickle_by_value(module)
    try:
        path = tmp_path / "model"
        envrepro.save_model(module.ByValue(), path, input_example=[1])
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    assert _names(path) == {"cloudpickle", "envrepro", "pyyaml"}, "pytest is not reachable from the class"


def test_helper_in_code_paths_is_read(tmp_path, user_module):
    helper = tmp_path / "helpers_x.py"
    helper.write_text("def f(x):\n    if x is None:\n        import yaml\n    return x\n")
    module, file = user_module(pyfunc("""
        class UsesHelper(PythonModel):
            def predict(self, context, model_input, params=None):
                from helpers_x import f
                return f(model_input)
    """))
    path = tmp_path / "model"
    envrepro.save_model(module.UsesHelper(), path, input_example=[1], code_paths=[file, helper])
    assert "pyyaml" in _names(path)
    assert list(path.rglob("__pycache__")) == [], "the capture subprocess wrote bytecode into the model"


def test_dataframe_example_lists_pandas_and_sklearn_deps_are_pruned(tmp_path, sklearn_model, iris_like):
    pd = pytest.importorskip("pandas")
    X, _ = iris_like
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, input_example=pd.DataFrame(X[:2]))
    assert _names(path) == {"scikit-learn", "cloudpickle", "pandas"}, _reqs(path)
    assert any("DataFrame" in r for r in _why(path)["pandas"])
    assert any("brings numpy" in r for r in _why(path)["scikit-learn"]), "the pruned numpy is explained"


def test_fake_distributions_renamed_namespace_extra_and_local_label(tmp_path, user_module, fake_site, caplog,
                                                                    monkeypatch):
    from envrepro import pins

    monkeypatch.setattr(pins, "_noted", set())
    make_dist(fake_site, "Renamed-Dist", "2.0", files={"rnmod/__init__.py": ""}, top_level=["rnmod"])
    make_dist(fake_site, "nsq-alpha", "1.1", files={"nsq/alpha/__init__.py": ""}, top_level=["nsq"])
    make_dist(fake_site, "nsq-beta", "1.2", files={"nsq/beta/__init__.py": ""}, top_level=["nsq"])
    make_dist(fake_site, "webclient", "3.0", files={"webclient/__init__.py": ""}, top_level=["webclient"],
              extras=["socks"], requires=["sockslib; extra == 'socks'"])
    make_dist(fake_site, "sockslib", "0.9", files={"sockslib.py": ""})
    make_dist(fake_site, "gpu-thing", "1.4.0+cu121", files={"gputhing.py": ""})
    module, file = user_module(pyfunc("""
        import rnmod
        from nsq import beta

        class Fancy(PythonModel):
            def predict(self, context, model_input, params=None):
                import webclient, sockslib, gputhing
                return model_input
    """))
    path = tmp_path / "model"
    with caplog.at_level(logging.INFO):
        envrepro.save_model(module.Fancy(), path, input_example=[1], code_paths=[file])
    reqs = _reqs(path)
    assert "Renamed-Dist==2.0" in reqs
    assert "nsq-beta==1.2" in reqs and not any(r.startswith("nsq-alpha") for r in reqs)
    assert "webclient[socks]==3.0" in reqs and not any(r.startswith("sockslib") for r in reqs)
    assert "gpu-thing==1.4.0" in reqs
    assert "+cu121" in caplog.text and "--extra-index-url" in caplog.text
    assert any("extra [socks]" in r for r in _why(path)["webclient[socks]"])


def test_editable_install_warns(tmp_path, user_module, fake_site, caplog):
    project = tmp_path / "devproject"
    (project / "devlib").mkdir(parents=True)
    (project / "devlib" / "__init__.py").write_text("VALUE = 1\n")
    make_dist(fake_site, "devlib", "0.3.0", files={"__editable__.devlib-0.3.0.pth": ""},
              editable_url=project.as_uri())
    (fake_site / "__editable__.devlib-0.3.0.pth").write_text(str(project) + "\n")
    sys.path.insert(0, str(project))  # what the .pth does at startup
    try:
        module, file = user_module(pyfunc("""
            class Dev(PythonModel):
                def predict(self, context, model_input, params=None):
                    import devlib
                    return model_input
        """))
        path = tmp_path / "model"
        with caplog.at_level(logging.WARNING):
            envrepro.save_model(module.Dev(), path, input_example=[1], code_paths=[file])
    finally:
        sys.path.remove(str(project))
    assert "devlib==0.3.0" in _reqs(path)
    assert "editable/development mode" in caplog.text and "devlib" in caplog.text


def test_load_failure_warns_and_falls_back_to_defaults(tmp_path, user_module, caplog):
    module, file = user_module(pyfunc("""
        class Broken(PythonModel):
            def load_context(self, context):
                raise RuntimeError("artifact server unreachable")

            def predict(self, context, model_input, params=None):
                return model_input
    """))
    path = tmp_path / "model"
    with caplog.at_level(logging.WARNING):
        envrepro.save_model(module.Broken(), path, input_example=[1], code_paths=[file])
    assert _names(path) == {"cloudpickle", "envrepro"}
    assert "could not load the model" in caplog.text and "artifact server unreachable" in caplog.text
    assert "fall back to the defaults" in caplog.text


def test_predict_failure_warns_and_keeps_what_load_found(tmp_path, user_module, caplog):
    module, file = user_module(pyfunc("""
        import yaml

        class BadPredict(PythonModel):
            def predict(self, context, model_input, params=None):
                raise ValueError("wrong shape")
    """))
    path = tmp_path / "model"
    with caplog.at_level(logging.WARNING):
        envrepro.save_model(module.BadPredict(), path, input_example=[1], code_paths=[file])
    assert "could not predict on input_example" in caplog.text and "wrong shape" in caplog.text
    assert _names(path) == {"cloudpickle", "envrepro", "pyyaml"}


def test_timeout_warns(tmp_path, user_module, caplog, monkeypatch):
    module, file = user_module(pyfunc("""
        class Slow(PythonModel):
            def load_context(self, context):
                import time
                time.sleep(60)

            def predict(self, context, model_input, params=None):
                return model_input
    """))
    monkeypatch.setenv(TIMEOUT_ENV_VAR, "3")
    path = tmp_path / "model"
    with caplog.at_level(logging.WARNING):
        envrepro.save_model(module.Slow(), path, input_example=[1], code_paths=[file])
    assert "timed out after 3s" in caplog.text
    assert _names(path) == {"cloudpickle", "envrepro"}


def test_uncovered_local_module_fails_naming_module_and_fix(tmp_path, user_module):
    module, file = user_module(pyfunc("""
        class NotShipped(PythonModel):
            def predict(self, context, model_input, params=None):
                return model_input
    """))
    path = tmp_path / "model"
    with pytest.raises(EnvreproError) as err:
        envrepro.save_model(module.NotShipped(), path, input_example=[1])
    text = str(err.value)
    assert f"local module {module.__name__!r}" in text and "code_paths does not cover" in text
    assert file.name in text and "infer_code_paths=True" in text
    assert not path.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".model")]


@pytest.fixture
def src_project(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "__init__.py").write_text("")
    (project / "src" / "utils.py").write_text("def double(x):\n    return [2 * v for v in x]\n")
    (project / "train.py").write_text(PYFUNC + (
        "from src.utils import double\n\n\n"
        "class UsesSrc(PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n"
        "        return double(model_input)\n"))
    monkeypatch.chdir(project)
    monkeypatch.syspath_prepend(str(project))
    import importlib

    importlib.invalidate_caches()
    for name in ("train", "src", "src.utils"):
        sys.modules.pop(name, None)
    module = importlib.import_module("train")
    yield project, module
    for name in ("train", "src", "src.utils"):
        sys.modules.pop(name, None)


def test_code_paths_at_the_wrong_depth_fails_with_the_working_value(tmp_path, src_project):
    project, module = src_project
    with pytest.raises(EnvreproError) as err:
        envrepro.save_model(module.UsesSrc(), tmp_path / "model", input_example=[1],
                            code_paths=["train.py", "src/utils.py"])
    text = str(err.value)
    assert "wrong depth" in text and "'src/utils.py'" in text and "'src.utils'" in text
    assert "code_paths=['train.py', 'src']" in text


def test_infer_code_paths_adds_them_and_the_model_loads_elsewhere(tmp_path, src_project):
    project, module = src_project
    path = tmp_path / "model"
    envrepro.save_model(module.UsesSrc(), path, input_example=[1], infer_code_paths=True)
    assert (path / "code" / "src" / "utils.py").exists() and (path / "code" / "train.py").exists()
    # A fresh interpreter elsewhere, without the project on sys.path, loads and predicts.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run([sys.executable, "-c", f"import envrepro; print(envrepro.load_model({str(path)!r})"
                           f".predict([1, 2]))"], cwd=elsewhere, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[2, 4]"


def test_pytorch_model_pins_without_local_label(tmp_path, user_module, caplog, monkeypatch):
    torch = pytest.importorskip("torch")
    from envrepro import pins

    monkeypatch.setattr(pins, "_noted", set())  # the note is logged once per process
    np = pytest.importorskip("numpy")
    module, file = user_module("""
        import torch

        class TinyNet(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.linear = torch.nn.Linear(3, 1)

            def forward(self, x):
                if x.shape[0] > 10_000:
                    import scipy.signal
                return self.linear(x)
    """, prefix="net")
    path = tmp_path / "model"
    with caplog.at_level(logging.INFO):
        envrepro.save_model(module.TinyNet(), path, input_example=np.ones((2, 3), dtype=np.float32),
                            code_paths=[file])
    reqs = _reqs(path)
    public = torch.__version__.split("+")[0]
    assert reqs[0] == f"torch=={public}"
    names = _names(path)
    assert {"torch", "cloudpickle"} <= names
    assert "numpy" in names or "scipy" in names, "the ndarray example needs numpy (scipy brings it)"
    if "scipy" in sys.modules or _installed("scipy"):
        assert "scipy" in _names(path), "the branch only huge batches take is read statically"
    if "+" in torch.__version__:
        assert "local build" in caplog.text


def _installed(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True
