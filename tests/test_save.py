"""save_model: every argument and every error, checked on the files it writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

import envrepro
from envrepro.envfiles import read_model_env
from envrepro.errors import EnvreproError, FlavorError, ModelFormatError, RequirementError
from envrepro.model import ModelDir


def _files(path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in path.iterdir() if p.is_file() and p.suffix != ".pkl"}


def test_layout_and_mlmodel_schema(tmp_path, sklearn_model, iris_like):
    X, _ = iris_like
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, input_example=X[:2], metadata={"owner": "team-a"})
    names = {p.name for p in path.iterdir()}
    assert {"MLmodel", "model.pkl", "conda.yaml", "python_env.yaml", "requirements.txt",
            "input_example.json"} <= names
    assert "constraints.txt" not in names and "code" not in names
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["loader_module"] == "mlflow.sklearn"  # MLflow's loader, so MLflow loads it unaided
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert pyfunc["python_version"].count(".") == 2
    assert mlmodel["flavors"]["sklearn"]["serialization_format"] == "cloudpickle"
    assert mlmodel["flavors"]["sklearn"]["sklearn_version"]
    assert mlmodel["metadata"] == {"owner": "team-a"}
    assert len(mlmodel["model_uuid"]) == 32 and mlmodel["utc_time_created"] and mlmodel["envrepro_version"]
    assert mlmodel["saved_input_example_info"]["type"] == "ndarray"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging leftovers"


def test_three_env_files_agree(tmp_path, sklearn_model):
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, extra_pip_requirements=["requests==2.31.0"])
    reqs = (path / "requirements.txt").read_text().splitlines()
    conda = yaml.safe_load((path / "conda.yaml").read_text())
    python_env = yaml.safe_load((path / "python_env.yaml").read_text())
    assert conda["channels"] == ["conda-forge"] and conda["name"]
    assert f"python={python_env['python']}" in conda["dependencies"]
    assert conda["dependencies"][-1]["pip"] == reqs
    assert python_env["dependencies"] == ["-r requirements.txt"]
    assert [b.split("==")[0] for b in python_env["build_dependencies"]] == ["pip", "setuptools", "wheel"]
    assert any(r.startswith("scikit-learn==") for r in reqs) and "requests==2.31.0" in reqs


def test_extra_pip_requirements_replaces_inferred_pin(tmp_path, sklearn_model):
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, extra_pip_requirements=["scikit-learn>=1.0", "pandas"])
    reqs = (path / "requirements.txt").read_text().splitlines()
    assert [r for r in reqs if r.lower().startswith("scikit")] == ["scikit-learn>=1.0"]
    assert reqs.count("pandas") == 1


def test_pip_requirements_replaces_everything(tmp_path, sklearn_model):
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, pip_requirements=["scikit-learn", "numpy<3"])
    assert (path / "requirements.txt").read_text().splitlines() == ["scikit-learn", "numpy<3"]


def test_requirements_file_with_constraints(tmp_path, sklearn_model):
    (tmp_path / "reqs.txt").write_text("-r more.txt\nscikit-learn\n-c cons.txt\n")
    (tmp_path / "more.txt").write_text("numpy\n")
    (tmp_path / "cons.txt").write_text("numpy<3\n")
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, pip_requirements=str(tmp_path / "reqs.txt"))
    assert (path / "requirements.txt").read_text().splitlines() == ["numpy", "scikit-learn"]
    assert (path / "constraints.txt").read_text().splitlines() == ["numpy<3"]
    python_env = yaml.safe_load((path / "python_env.yaml").read_text())
    assert python_env["dependencies"] == ["-r requirements.txt", "-c constraints.txt"]
    conda = yaml.safe_load((path / "conda.yaml").read_text())
    assert conda["dependencies"][-1]["pip"][-1] == "-c constraints.txt"
    env = read_model_env(ModelDir.open(path))
    assert env.requirements == ["numpy", "scikit-learn"] and env.constraints == ["numpy<3"]


def test_conda_env_file_is_verbatim_and_feeds_requirements(tmp_path, sklearn_model):
    conda_text = ("# team env\nname: custom\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.10.13\n"
                  "  - pip\n  - pip:\n      - scikit-learn==1.3.2\n      - requests\n")
    (tmp_path / "env.yaml").write_text(conda_text)
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, conda_env=str(tmp_path / "env.yaml"))
    assert (path / "conda.yaml").read_text() == conda_text
    assert (path / "requirements.txt").read_text().splitlines() == ["scikit-learn==1.3.2", "requests"]
    assert yaml.safe_load((path / "python_env.yaml").read_text())["python"] == "3.10.13"


def test_conda_env_dict(tmp_path, sklearn_model):
    path = tmp_path / "model"
    conda = {"name": "x", "channels": ["conda-forge"], "dependencies": ["python=3.11", {"pip": ["scikit-learn"]}]}
    envrepro.save_model(sklearn_model, path, conda_env=conda)
    assert yaml.safe_load((path / "conda.yaml").read_text()) == conda


@pytest.mark.parametrize("kwargs", [
    {"pip_requirements": ["a"], "extra_pip_requirements": ["b"]},
    {"pip_requirements": ["a"], "conda_env": {"dependencies": []}},
    {"extra_pip_requirements": ["b"], "conda_env": {"dependencies": []}},
])
def test_conflicting_requirement_arguments(tmp_path, sklearn_model, kwargs):
    with pytest.raises(EnvreproError, match="cannot be used together"):
        envrepro.save_model(sklearn_model, tmp_path / "model", **kwargs)
    assert not (tmp_path / "model").exists()


def test_invalid_requirement_writes_nothing(tmp_path, sklearn_model):
    with pytest.raises(RequirementError, match="invalid requirement"):
        envrepro.save_model(sklearn_model, tmp_path / "model", extra_pip_requirements=["numpy==="])
    assert list(tmp_path.iterdir()) == []


def test_existing_path_is_refused(tmp_path, sklearn_model):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "keep.txt").write_text("x")
    with pytest.raises(ModelFormatError, match="already exists"):
        envrepro.save_model(sklearn_model, tmp_path / "model")
    assert (tmp_path / "model" / "keep.txt").read_text() == "x"


def test_empty_existing_directory_is_accepted(tmp_path, sklearn_model):
    (tmp_path / "model").mkdir()
    envrepro.save_model(sklearn_model, tmp_path / "model")
    assert (tmp_path / "model" / "MLmodel").exists()


def test_failure_during_save_leaves_nothing(tmp_path, sklearn_model):
    with pytest.raises(EnvreproError, match="serialization_format"):
        envrepro.save_model(sklearn_model, tmp_path / "model", serialization_format="joblib")
    assert list(tmp_path.iterdir()) == []


def test_unknown_flavor_and_unsupported_object(tmp_path):
    with pytest.raises(FlavorError, match="unknown flavor 'tensorflow'.*registered flavors"):
        envrepro.save_model(object(), tmp_path / "m", flavor="tensorflow")
    with pytest.raises(FlavorError, match="no registered flavor can save"):
        envrepro.save_model(object(), tmp_path / "m")


def test_pickle_serialization_format(tmp_path, sklearn_model, iris_like):
    X, _ = iris_like
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, serialization_format="pickle")
    assert yaml.safe_load((path / "MLmodel").read_text())["flavors"]["sklearn"]["serialization_format"] == "pickle"
    assert (envrepro.load_model(path).predict(X) == sklearn_model.predict(X)).all()


def test_code_paths_keep_their_own_name(tmp_path, sklearn_model):
    src = tmp_path / "project" / "src"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "utils.py").write_text("def f():\n    return 1\n")
    (tmp_path / "project" / "helper.py").write_text("X = 1\n")
    work = tmp_path / "project" / "notebooks"
    work.mkdir()
    old = os.getcwd()
    os.chdir(work)
    try:
        envrepro.save_model(sklearn_model, tmp_path / "model", code_paths=["../src", "../helper.py"])
    finally:
        os.chdir(old)
    code = tmp_path / "model" / "code"
    assert (code / "src" / "utils.py").exists() and (code / "helper.py").exists()
    mlmodel = yaml.safe_load((tmp_path / "model" / "MLmodel").read_text())
    assert mlmodel["flavors"]["python_function"]["code"] == "code"


def test_code_paths_errors(tmp_path, sklearn_model):
    with pytest.raises(EnvreproError, match="code_paths entry not found"):
        envrepro.save_model(sklearn_model, tmp_path / "m1", code_paths=[str(tmp_path / "missing")])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "utils.py").write_text("")
    (tmp_path / "b" / "utils.py").write_text("")
    with pytest.raises(EnvreproError, match="would both be copied to code/utils.py"):
        envrepro.save_model(sklearn_model, tmp_path / "m2",
                            code_paths=[str(tmp_path / "a" / "utils.py"), str(tmp_path / "b" / "utils.py")])
    with pytest.raises(EnvreproError, match="must be a list"):
        envrepro.save_model(sklearn_model, tmp_path / "m3", code_paths=str(tmp_path / "a"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_input_example_dataframe_roundtrip(tmp_path, sklearn_model, iris_like):
    pd = pytest.importorskip("pandas")
    from envrepro.examples import load_input_example

    X, _ = iris_like
    df = pd.DataFrame(X[:3], columns=["a", "b", "c", "d"])
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, input_example=df)
    info = yaml.safe_load((path / "MLmodel").read_text())["saved_input_example_info"]
    assert info == {"artifact_path": "input_example.json", "type": "dataframe", "pandas_orient": "split"}
    back = load_input_example(path, info)
    assert list(back.columns) == ["a", "b", "c", "d"] and back.shape == (3, 4)


def test_unsupported_input_example(tmp_path, sklearn_model):
    with pytest.raises(ModelFormatError, match="input_example of type"):
        envrepro.save_model(sklearn_model, tmp_path / "m", input_example=object())
    assert not (tmp_path / "m").exists()


# -- concurrent and killed saves ----------------------------------------------------------------------------------

SLOW_SAVE = """
import sys, time
import envrepro
from envrepro.errors import EnvreproError

class Slow(envrepro.PythonModel):
    def __init__(self, tag):
        self.tag = tag
    def __getstate__(self):  # pickling takes a while: saves started together overlap
        time.sleep(float(sys.argv[3]))
        return {"tag": self.tag}
    def predict(self, context, model_input, params=None):
        return self.tag

try:
    envrepro.save_model(Slow(sys.argv[2]), sys.argv[1], pip_requirements=[], metadata={"tag": sys.argv[2]})
except EnvreproError as exc:
    print(exc.format(), file=sys.stderr)
    sys.exit(2)
"""


def _slow_save(path: Path, tag: str, seconds: float):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", SLOW_SAVE, str(path), tag, str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_saves_to_one_new_path_never_both_succeed(tmp_path):
    target = tmp_path / "model"
    procs = {tag: _slow_save(target, tag, 2.0) for tag in ("first", "second")}
    results = {tag: (p.wait(timeout=300), p.communicate()[1]) for tag, p in procs.items()}
    assert sorted(code for code, _ in results.values()) == [0, 2], results
    winner = next(tag for tag, (code, _) in results.items() if code == 0)
    loser_err = next(err for code, err in results.values() if code == 2)
    assert "Traceback" not in loser_err and len(loser_err.strip().splitlines()) == 1
    assert f"{target}: " in loser_err and "another process" in loser_err
    assert ModelDir.open(target).mlmodel.metadata == {"tag": winner}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # the loser's staging copy is gone


def test_a_killed_save_leaves_nothing_the_next_save_does_not_clean(tmp_path, sklearn_model):
    import signal
    import time

    proc = _slow_save(tmp_path / "killed", "x", 60)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".killed.*.partial")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp_path.glob(".killed.*.partial"))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    envrepro.save_model(sklearn_model, tmp_path / "next", pip_requirements=["scikit-learn"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["next"]


@pytest.mark.parametrize("layout", ["self-loop", "link-to-parent", "root"])
def test_code_paths_that_cannot_be_copied_are_one_line(tmp_path, sklearn_model, layout):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "mod.py").write_text("X = 1\n")
    if layout == "self-loop":
        os.symlink("loop", pkg / "loop")
    elif layout == "link-to-parent":
        os.symlink("..", pkg / "up")
    entry = "/" if layout == "root" else str(pkg)
    with pytest.raises(EnvreproError) as info:
        envrepro.save_model(sklearn_model, tmp_path / "m", code_paths=[entry], pip_requirements=["scikit-learn"])
    assert {"self-loop": "symlink loop", "link-to-parent": "a directory that contains it",
            "root": "root directory"}[layout] in info.value.format()
    assert not (tmp_path / "m").exists() and not list(tmp_path.glob(".m.*"))
