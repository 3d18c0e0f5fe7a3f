"""envrepro inspect, and reading model directories written by MLflow (made by hand, in MLflow's format)."""

from __future__ import annotations

import json
import pickle

import pytest

import envrepro
from envrepro.model import PROVENANCE_FILE
from tests.conftest import run_cli
from tests.mlflow_format import write_mlflow_sklearn_model

MLFLOW_1_MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    data: model.pkl
    env: conda.yaml
    loader_module: mlflow.sklearn
    python_version: 3.7.6
  sklearn:
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 0.23.2
mlflow_version: 1.11.0
run_id: abc
utc_time_created: '2020-10-01 08:00:00.000000'
"""

MLFLOW_1_CONDA = """\
channels:
- defaults
dependencies:
- python=3.7.6
- scikit-learn=0.23.2
- pip
- pip:
  - mlflow
  - cloudpickle==1.6.0
name: mlflow-env
"""


def _mlflow2_model(root, sklearn_model=None):
    pickled = pickle.dumps({"placeholder": True})
    if sklearn_model is not None:
        import cloudpickle

        pickled = cloudpickle.dumps(sklearn_model)
    return write_mlflow_sklearn_model(
        root / "mlruns" / "0" / "run" / "artifacts" / "model", python="3.10.13", sklearn="1.3.2", mlflow="2.9.2",
        requirements=["mlflow==2.9.2", "cloudpickle==3.0.0", "scikit-learn==1.3.2"], pickled=pickled,
        build_dependencies=["pip==23.3.1", "setuptools==68.2.2", "wheel==0.41.2"], pip_pin="pip<=23.3.1")


def test_inspect_mlflow2_model(tmp_path):
    path = _mlflow2_model(tmp_path)
    out = run_cli("inspect", "-m", str(path), "--json", check=True)
    report = json.loads(out.stdout)
    assert report["saved_by"] == "MLflow 2.9.2"
    assert report["python_version"] == "3.10.13"
    assert report["requirements"] == ["mlflow==2.9.2", "cloudpickle==3.0.0", "scikit-learn==1.3.2"]
    assert report["channels"] == ["conda-forge"] and report["problems"] == []
    assert report["loader_module"] == "mlflow.sklearn"


def test_inspect_pre_118_model_with_env_string_and_no_requirements(tmp_path):
    path = tmp_path / "old"
    path.mkdir()
    (path / "MLmodel").write_text(MLFLOW_1_MLMODEL)
    (path / "conda.yaml").write_text(MLFLOW_1_CONDA)
    (path / "model.pkl").write_bytes(b"x")
    report = json.loads(run_cli("inspect", "-m", str(path), "--json", check=True).stdout)
    assert report["python_version"] == "3.7.6"
    # scikit-learn is a conda package there: a venv gets its pip equivalent (see tests/test_conda_to_pip.py)
    assert report["requirements"] == ["mlflow", "cloudpickle==1.6.0", "scikit-learn==0.23.2.*"]
    assert report["env_files"] == {"conda": "conda.yaml"}
    assert any("Anaconda channels ['defaults']" in p for p in report["problems"])
    text = run_cli("inspect", "-m", str(path), check=True).stdout
    assert "saved by:     MLflow 1.11.0" in text and "python:       3.7.6" in text


def test_mlflow_sklearn_model_loads_through_our_sklearn_flavor(tmp_path, sklearn_model, iris_like):
    X, _ = iris_like
    path = _mlflow2_model(tmp_path, sklearn_model)
    loaded = envrepro.load_model(path, check_requirements=False)
    assert loaded.flavor == "sklearn"
    assert (loaded.predict(X) == sklearn_model.predict(X)).all()


def test_inspect_why_and_problems(tmp_path, sklearn_model):
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, extra_pip_requirements=["requests==2.31.0"])
    out = run_cli("inspect", "-m", str(path), "--why", check=True).stdout
    assert "  requests==2.31.0\n    - extra_pip_requirements (given by the user)\n" in out
    assert "problems:     none" in out
    (path / "model.pkl").unlink()
    (path / "requirements.txt").write_text("scikit-learn\n")
    report = json.loads(run_cli("inspect", "-m", str(path), "--json", check=True).stdout)
    assert any("pickled_model 'model.pkl' is missing" in p for p in report["problems"])
    assert any("disagree" in p for p in report["problems"])


@pytest.mark.parametrize("breakage, expected", [
    (lambda p: (p / "MLmodel").write_text("flavors: [unclosed\n"), "MLmodel: malformed MLmodel at line"),
    (lambda p: (p / "MLmodel").write_text("just a string\n"), "MLmodel: malformed MLmodel: expected a dict"),
    (lambda p: (p / "MLmodel").write_text("flavors: {}\n"), "malformed MLmodel: no 'flavors' map"),
    (lambda p: (p / "MLmodel").unlink(), "no MLmodel file in this directory"),
    (lambda p: (p / "conda.yaml").write_text("channels: [a\n"), "conda.yaml: malformed conda.yaml at line"),
    (lambda p: (p / "python_env.yaml").write_text("python: [\n"), "python_env.yaml: malformed python_env.yaml"),
    (lambda p: (p / "requirements.txt").write_text("numpy\nbad req!!\n"), "requirements.txt:2: invalid requirement"),
])
def test_bad_input_is_one_clear_line_exit_2(tmp_path, sklearn_model, breakage, expected):
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path)
    breakage(path)
    proc = run_cli("inspect", "-m", str(path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1
    assert expected in proc.stderr and str(path) in proc.stderr


def test_missing_model_dir_and_unknown_flavor(tmp_path):
    proc = run_cli("inspect", "-m", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "model directory not found" in proc.stderr
    path = tmp_path / "odd"
    path.mkdir()
    (path / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: somewhere.else\n"
                                  "    python_version: 3.11.7\n  tensorflow: {}\n")
    report = json.loads(run_cli("inspect", "-m", str(path), "--json", check=True).stdout)
    assert any("no registered flavor loads 'somewhere.else'" in p for p in report["problems"])
    from envrepro.errors import FlavorError

    with pytest.raises(FlavorError, match="no registered flavor can load this model"):
        envrepro.load_model(path)


def test_every_command_has_help():
    import click

    from envrepro.cli import cli

    top = run_cli("--help", check=True).stdout
    assert top.startswith("Usage")
    names = cli.list_commands(click.Context(cli))
    assert {"predict", "serve", "env", "lock", "audit", "verify"} <= set(names)
    for name in names:
        assert name in top, name
        proc = run_cli(name, "--help", check=True)
        assert proc.stdout.startswith(f"Usage: envrepro {name} "), name


SIGNATURE_MLMODEL = """\
flavors:
  python_function:
    env: {{virtualenv: python_env.yaml}}
    loader_module: mlflow.pyfunc.model
    python_model: python_model.pkl
    python_version: 3.10.13
{extra}saved_input_example_info: {{artifact_path: input_example.json, type: dataframe, pandas_orient: split}}
signature:
  inputs: '[{{"type": "double", "name": "a", "required": true}}, {{"type": "long", "name": "b", "required": false}}]'
  outputs: '[{{"type": "tensor", "tensor-spec": {{"dtype": "float64", "shape": [-1]}}}}]'
  params: '[{{"name": "factor", "type": "double", "default": 1.0, "shape": null}}]'
utc_time_created: '2023-12-05 10:11:12.131415'
"""


def _signature_model(path, *, mlflow_version="mlflow_version: 2.9.2\n", requirements=("mlflow==2.9.2",)):
    path.mkdir()
    (path / "MLmodel").write_text(SIGNATURE_MLMODEL.format(extra=mlflow_version))
    (path / "python_model.pkl").write_bytes(b"")
    (path / "input_example.json").write_text('{"columns": ["a", "b"], "data": [[1.5, 2], [3.5, 4], [0, 1]]}')
    (path / "python_env.yaml").write_text("python: 3.10.13\nbuild_dependencies: [pip]\n"
                                          "dependencies: [-r requirements.txt]\n")
    (path / "requirements.txt").write_text("".join(f"{r}\n" for r in requirements))
    return path


def test_inspect_shows_signature_input_example_and_how_it_loads(tmp_path):
    path = _signature_model(tmp_path / "m")
    report = json.loads(run_cli("inspect", "-m", str(path), "--json", check=True).stdout)
    assert [c["name"] for c in report["signature"]["inputs"]] == ["a", "b"]
    assert report["signature"]["params"][0]["default"] == 1.0
    assert report["input_example"] == {"file": "input_example.json", "type": "dataframe", "rows": 3, "exists": True}
    assert report["loads_with"].startswith("MLflow's own loader") and report["problems"] == []
    text = run_cli("inspect", "-m", str(path), check=True).stdout
    assert "signature:    inputs: a (double), b (long, optional); outputs: tensor (float64 [-1]); params: factor " \
           "(double, default 1.0)" in text
    assert "input example: input_example.json (dataframe, 3 rows)" in text


def test_saved_by_mlflow_without_a_version(tmp_path):
    path = _signature_model(tmp_path / "m", mlflow_version="")
    assert json.loads(run_cli("inspect", "-m", str(path), "--json", check=True).stdout)["saved_by"] == \
        "MLflow (version not recorded)"


def test_inspect_finds_what_predict_would_hit(tmp_path):
    """A model only MLflow can load, without mlflow in its requirements; a typo'd flavor key."""
    path = _signature_model(tmp_path / "no-mlflow", requirements=("cloudpickle==3.0.0",))
    report = json.loads(run_cli("inspect", "-m", str(path), "--json", check=True).stdout)
    assert any("only MLflow can load this model" in p and "add mlflow==" in p for p in report["problems"])
    typo = tmp_path / "typo"
    typo.mkdir()
    (typo / "MLmodel").write_text("envrepro_version: 0.1.0\nflavors:\n  python_function:\n    loader_module: "
                                  "mlflow.sklearn\n    python_version: 3.11.7\n  sklern:\n"
                                  "    pickled_model: model.pkl\n")
    report = json.loads(run_cli("inspect", "-m", str(typo), "--json", check=True).stdout)
    assert any("no registered flavor loads 'mlflow.sklearn' (flavors: python_function, sklern)" in p
               for p in report["problems"]), report["problems"]


def test_why_groups_imported_submodules_and_wraps(tmp_path, sklearn_model):
    """A provenance record as older saves wrote it: every imported submodule, in one reason."""
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path)
    sklearn_modules = ["sklearn"] + [f"sklearn.mod{i}.sub" for i in range(300)]
    many = [f"pkg{i}" for i in range(8)]
    record = json.loads((path / PROVENANCE_FILE).read_text())
    for item in record["requirements"]:
        if item["requirement"].startswith("scikit-learn=="):
            item["reasons"] = ["default of flavor sklearn",
                               f"imported while loading the model: {', '.join(sklearn_modules)}",
                               "brings numpy as a dependency (imported while loading the model: numpy, numpy.core, "
                               "numpy.linalg (+64 more); input_example is a numpy array)",
                               f"imported by predict on input_example: {', '.join(many)} (+12 more)"]
    (path / PROVENANCE_FILE).write_text(json.dumps(record))
    out = run_cli("inspect", "-m", str(path), "--why", check=True).stdout
    assert max(len(line) for line in out.splitlines()) <= 100, out
    assert "    - imported while loading the model: sklearn (301 modules)\n" in out
    assert "numpy (67 modules); input_example is a numpy array)" in " ".join(out.split())
    assert ("imported by predict on input_example: pkg0, pkg1, pkg2, pkg3, pkg4 and 3 more packages and 12 more "
            "modules") in " ".join(out.split())
    assert "sklearn.mod1" not in out
    why = json.loads(run_cli("inspect", "-m", str(path), "--json", "--why", check=True).stdout)["why"]
    assert any("sklearn.mod299.sub" in r for r in next(v for k, v in why.items() if k.startswith("scikit-learn")))


def test_terminal_escape_sequences_from_mlmodel_are_shown_escaped(tmp_path):
    path = _mlflow2_model(tmp_path)
    text = (path / "MLmodel").read_text().replace("loader_module: mlflow.sklearn",
                                                  'loader_module: "mlflow.sklearn\\e]0;owned\\a\\e[2J\\nfake: line"')
    (path / "MLmodel").write_text(text)
    out = run_cli("inspect", "-m", str(path), check=True).stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "loader:       mlflow.sklearn\\x1b]0;owned\\x07\\x1b[2J\\nfake: line" in out.splitlines()


def test_pip_given_as_a_string_names_the_file(tmp_path):
    path = _mlflow2_model(tmp_path)
    (path / "conda.yaml").write_text("channels: [conda-forge]\ndependencies:\n- python=3.10.13\n- pip\n"
                                     "- pip: scikit-learn==1.3.2\n")
    proc = run_cli("inspect", "-m", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{path / 'conda.yaml'}: malformed conda.yaml: 'pip' must be a list" in proc.stderr


@pytest.mark.parametrize("file, old, new", [
    ("python_env.yaml", "python: 3.10.13", 'python: "3.11; rm -rf /"'),
    ("MLmodel", "python_version: 3.10.13", 'python_version: "3.11; rm -rf /"'),
])
def test_python_version_with_anything_after_it_is_refused(tmp_path, file, old, new):
    path = _mlflow2_model(tmp_path)
    if file == "MLmodel":  # the version MLmodel records is read when no env file gives one
        (path / "python_env.yaml").unlink()
        (path / "conda.yaml").write_text("channels: [conda-forge]\ndependencies: [pip]\n")
    (path / file).write_text((path / file).read_text().replace(old, new))
    proc = run_cli("inspect", "-m", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stdout
    assert f"{path / file}: malformed Python version '3.11; rm -rf /'" in proc.stderr
