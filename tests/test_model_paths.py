"""Every path MLmodel names stays inside the model directory (symlinks followed): env files, code, artifacts,
the input example, the recorded lock. Otherwise one line naming MLmodel and the value, exit 2, nothing touched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from envrepro.errors import ModelFormatError
from envrepro.launch import load_spec
from envrepro.model import ModelDir
from tests.conftest import run_cli
from tests.mlflow_format import write_placeholder_model


@pytest.fixture
def model(tmp_path) -> Path:
    return write_placeholder_model(tmp_path / "model", ["mlflow==2.9.2", "scikit-learn==1.3.2"])


def edit_mlmodel(model: Path, edit) -> None:
    data = yaml.safe_load((model / "MLmodel").read_text())
    edit(data)
    (model / "MLmodel").write_text(yaml.safe_dump(data))


def assert_one_line_naming(proc, model: Path, value: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"{model / 'MLmodel'}:" in proc.stderr and repr(value) in proc.stderr
    assert "outside the model directory" in proc.stderr


@pytest.mark.parametrize("where", ["relative", "absolute", "symlink"])
def test_update_pip_requirements_never_writes_an_env_file_outside(model, tmp_path, where):
    outside = tmp_path / "outside" / "x.yaml"
    outside.parent.mkdir()
    original = (model / "conda.yaml").read_text()
    outside.write_text(original)
    value = {"relative": "../outside/x.yaml", "absolute": str(outside), "symlink": "linked.yaml"}[where]
    if where == "symlink":
        os.symlink(outside, model / "linked.yaml")
    edit_mlmodel(model, lambda d: d["flavors"]["python_function"]["env"].update(conda=value))
    proc = run_cli("update-pip-requirements", "-m", str(model), "add", "pandas==2.2.2")
    assert_one_line_naming(proc, model, value)
    assert outside.read_text() == original and sorted(p.name for p in outside.parent.iterdir()) == ["x.yaml"]
    assert "pandas" not in (model / "requirements.txt").read_text()


def test_virtualenv_file_outside_is_refused_by_every_reader(model, tmp_path):
    (tmp_path / "python_env.yaml").write_text((model / "python_env.yaml").read_text())
    edit_mlmodel(model, lambda d: d["flavors"]["python_function"]["env"].update(virtualenv="../python_env.yaml"))
    for command in (["inspect"], ["env", "create", "--env-manager", "uv"], ["lock", "--pip-only"]):
        assert_one_line_naming(run_cli(*command, "-m", str(model)), model, "../python_env.yaml")


def test_code_outside_is_neither_listed_nor_put_on_sys_path(model):
    edit_mlmodel(model, lambda d: d["flavors"]["python_function"].update(code="/etc"))
    assert_one_line_naming(run_cli("inspect", "-m", str(model)), model, "/etc")
    with pytest.raises(ModelFormatError, match="outside the model directory"):
        load_spec(ModelDir.open(model))  # the worker's code_dirs: what predict and serve put on sys.path


def test_code_dir_symlinked_out_of_the_model_is_refused(model, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", model / "code")
    with pytest.raises(ModelFormatError, match="code/ is a symlink out of the model directory"):
        load_spec(ModelDir.open(model))


@pytest.mark.parametrize("flavor, key, value", [
    ("sklearn", "pickled_model", "../../secret.pkl"),
    ("python_function", "model_path", "/etc/passwd"),
    ("python_function", "artifacts", {"weights": {"path": "../weights.bin"}}),
])
def test_artifact_paths_outside_are_refused(model, flavor, key, value):
    edit_mlmodel(model, lambda d: d["flavors"][flavor].update({key: value}))
    shown = value if isinstance(value, str) else "../weights.bin"
    assert_one_line_naming(run_cli("inspect", "-m", str(model)), model, shown)
    with pytest.raises(ModelFormatError, match="outside the model directory"):
        load_spec(ModelDir.open(model))


def test_input_example_outside_is_refused(model):
    edit_mlmodel(model, lambda d: d.update(saved_input_example_info={"artifact_path": "/etc/passwd",
                                                                      "type": "json_object"}))
    assert_one_line_naming(run_cli("inspect", "-m", str(model)), model, "/etc/passwd")
    with pytest.raises(ModelFormatError, match="outside the model directory"):
        load_spec(ModelDir.open(model))


def test_recorded_lock_outside_is_refused(model):
    edit_mlmodel(model, lambda d: d.update(envrepro_lock="/etc/passwd"))
    proc = run_cli("lock", "-m", str(model), "--check")
    assert_one_line_naming(proc, model, "/etc/passwd")
    assert "root:" not in proc.stderr


def test_mlmodel_itself_symlinked_out_of_the_model_is_refused(model, tmp_path):
    (tmp_path / "elsewhere.yaml").write_text((model / "MLmodel").read_text())
    (model / "MLmodel").unlink()
    os.symlink(tmp_path / "elsewhere.yaml", model / "MLmodel")
    proc = run_cli("inspect", "-m", str(model))
    assert proc.returncode == 2 and "MLmodel is a symlink out of the model directory" in proc.stderr
