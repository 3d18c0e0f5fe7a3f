"""The models made by tests/old_mlflow.py are what those old MLflow releases wrote, and predict as recorded."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from tests import old_mlflow
from tests.old_mlflow import COLUMNS, RECIPES, SCORING_ROWS, OldModel

ALL = list(RECIPES)
SKLEARN = ["mlflow117_py38_sklearn", "mlflow1x_py36_sklearn", "conda_only_sklearn"]
LINEAR_PYFUNC = ["mlflow117_py38_pyfunc", "mlflow1x_py36_pyfunc"]
MLFLOW1 = [name for name in ALL if RECIPES[name].env.mlflow.startswith("1.")]


@pytest.fixture
def old(request: pytest.FixtureRequest) -> OldModel:
    return request.getfixturevalue(request.param)


def _mlmodel(model: OldModel) -> dict:
    return yaml.safe_load((model.path / "MLmodel").read_text())


def _conda(model: OldModel) -> dict:
    return yaml.safe_load((model.path / "conda.yaml").read_text())


def _pins(model: OldModel) -> dict[str, str]:
    return dict(line.split("==") for line in model.packages)


# -- fast: the machinery, no model built ------------------------------------------------------------------
def test_cache_root_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ENVREPRO_TEST_OLD_MODELS", str(tmp_path / "here"))
    assert old_mlflow.old_models_dir() == tmp_path / "here"
    monkeypatch.delenv("ENVREPRO_TEST_OLD_MODELS")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert old_mlflow.old_models_dir() == tmp_path / "xdg" / "envrepro-test-old-models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert old_mlflow.old_models_dir() == Path.home() / ".cache" / "envrepro-test-old-models"


def test_cache_key_covers_the_recipe_and_its_base() -> None:
    recipe = RECIPES["mlflow117_py38_sklearn"]
    keys = {recipe.key(), replace(recipe, script=recipe.script + "\n").key(),
            replace(recipe, env=replace(recipe.env, saved_at="2021-05-29T00:00:00Z")).key(),
            replace(recipe, env=replace(recipe.env, packages=("mlflow==1.16.0",))).key()}
    assert len(keys) == 4
    derived = RECIPES["conda_only_sklearn"]
    assert derived.key() != replace(derived, base="mlflow1x_py36_sklearn").key()
    assert recipe.key() == RECIPES["mlflow117_py38_sklearn"].key()  # stable within a run


def test_date_mlmodel_rewrites_only_the_creation_time(tmp_path: Path) -> None:
    mlmodel = tmp_path / "MLmodel"
    mlmodel.write_text("flavors:\n  x: {}\nutc_time_created: '2026-01-02 03:04:05.678901'\nmodel_uuid: abc\n")
    old_mlflow.date_mlmodel(mlmodel, "2021-05-28T09:12:45.861302Z")
    assert mlmodel.read_text() == ("flavors:\n  x: {}\nutc_time_created: '2021-05-28 09:12:45.861302'\n"
                                   "model_uuid: abc\n")
    mlmodel.write_text("flavors: {}\n")
    with pytest.raises(ValueError, match="utc_time_created"):
        old_mlflow.date_mlmodel(mlmodel, "2021-05-28T09:12:45Z")


def test_conda_only_moves_pinned_pip_packages_to_conda(tmp_path: Path) -> None:
    (tmp_path / "conda.yaml").write_text(
        "channels:\n- defaults\n- conda-forge\ndependencies:\n- python=3.8.18\n- pip\n- pip:\n  - mlflow\n"
        "  - scikit-learn==0.24.2\n  - cloudpickle==1.6.0\nname: mlflow-env\n")
    old_mlflow.conda_only(tmp_path)
    assert (tmp_path / "conda.yaml").read_text() == (
        "channels:\n- defaults\n- conda-forge\ndependencies:\n- python=3.8.18\n- pip\n- scikit-learn=0.24.2\n"
        "- cloudpickle=1.6.0\nname: mlflow-env\n")


def test_missing_interpreter_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(old_mlflow.MissingPython, match=r"^Python 3\.4\.99 is not installed: pyenv install"):
        old_mlflow.find_python("3.4.99")


def test_command_line_lists_every_model(tmp_path: Path) -> None:
    env = {**os.environ, "ENVREPRO_TEST_OLD_MODELS": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "tests.old_mlflow", "--list"], capture_output=True, text=True,
                          env=env, cwd=Path(__file__).parents[1], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines()] == ALL
    assert all(line.endswith("not built") for line in proc.stdout.splitlines())
    bad = subprocess.run([sys.executable, "-m", "tests.old_mlflow", "--build", "no_such_model"],
                         capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1], timeout=120)
    assert bad.returncode == 2 and "unknown model no_such_model" in bad.stderr


@pytest.mark.slow
def test_a_failed_build_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ENVREPRO_TEST_OLD_MODELS", str(tmp_path))
    env = replace(old_mlflow.PY38, packages=())
    monkeypatch.setitem(RECIPES, "broken", old_mlflow.Recipe("broken", env, "raise SystemExit('no model today')"))
    with pytest.raises(RuntimeError, match="no model today"):
        old_mlflow.get_model("broken")
    assert [p.name for p in tmp_path.iterdir()] == [f".broken-{RECIPES['broken'].key()}.lock"]


# -- slow: each model, built once per machine -------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("old", ALL, indirect=True)
def test_recorded_versions_are_the_recipe(old: OldModel) -> None:
    recipe = RECIPES[old.name]
    assert (old.python_version, old.mlflow_version) == (recipe.env.python, recipe.env.mlflow)
    pins = _pins(old)
    assert pins["mlflow"] == recipe.env.mlflow
    for requirement in recipe.env.packages:
        name, version = requirement.split("==")
        assert pins[name] == version
    assert {"pip", "setuptools", "numpy", "pandas", "cloudpickle"} <= set(pins)


@pytest.mark.slow
@pytest.mark.parametrize("old", ALL, indirect=True)
def test_mlmodel_is_dated_in_its_era(old: OldModel) -> None:
    created = _mlmodel(old)["utc_time_created"]
    saved = dt.datetime.fromisoformat(old.saved_at.replace("Z", "+00:00")).replace(tzinfo=None)
    assert created == str(saved)  # the format MLflow writes: str(datetime.utcnow())
    assert saved.year == {"1.14.1": 2021, "1.17.0": 2021, "2.9.2": 2023}[old.mlflow_version]


@pytest.mark.slow
@pytest.mark.parametrize("old", MLFLOW1, indirect=True)
def test_mlflow1_layout(old: OldModel) -> None:
    mlmodel = _mlmodel(old)
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["env"] == "conda.yaml" and pyfunc["python_version"] == old.python_version
    assert "mlflow_version" not in mlmodel and "model_uuid" not in mlmodel  # later releases add both
    assert not (old.path / "requirements.txt").exists() and not (old.path / "python_env.yaml").exists()
    conda = _conda(old)
    assert conda["channels"] == ["defaults", "conda-forge"] and conda["name"] == "mlflow-env"
    assert conda["dependencies"][:2] == [f"python={old.python_version}", "pip"]
    pins = _pins(old)
    if old.name == "conda_only_sklearn":
        assert conda["dependencies"][2:] == [f"scikit-learn={pins['scikit-learn']}",
                                             f"cloudpickle={pins['cloudpickle']}"]
        return
    pip_section = conda["dependencies"][2]["pip"]
    assert pip_section[0] == "mlflow"  # unpinned: what it means is decided by the model's date
    if old.name in SKLEARN:
        assert pyfunc["loader_module"] == "mlflow.sklearn"
        assert mlmodel["flavors"]["sklearn"]["sklearn_version"] == pins["scikit-learn"]
        assert pip_section[1:] == [f"scikit-learn=={pins['scikit-learn']}", f"cloudpickle=={pins['cloudpickle']}"]
        assert (old.path / "model.pkl").is_file()
    else:
        assert pyfunc["loader_module"] == "mlflow.pyfunc.model"
        assert pyfunc["artifacts"]["weights"]["path"] == "artifacts/weights.json"
        assert pyfunc["cloudpickle_version"] == pins["cloudpickle"]
        assert pip_section[1:] == [f"cloudpickle=={pins['cloudpickle']}"]
        assert json.loads((old.path / "artifacts" / "weights.json").read_text())["columns"] == list(COLUMNS)
        # 3.6's class lives in a module shipped with code_path, 3.8's in __main__ (pickled by value)
        assert (pyfunc.get("code") == "code") == (old.name == "mlflow1x_py36_pyfunc")
        assert (old.path / "code" / "linear_scorer.py").is_file() == (old.name == "mlflow1x_py36_pyfunc")


@pytest.mark.slow
@pytest.mark.parametrize("old", ["mlflow292_py310_pyfunc"], indirect=True)
def test_mlflow292_layout(old: OldModel) -> None:
    mlmodel = _mlmodel(old)
    pyfunc = mlmodel["flavors"]["python_function"]
    assert pyfunc["env"] == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert pyfunc["loader_module"] == "mlflow.pyfunc.model" and mlmodel["mlflow_version"] == "2.9.2"
    assert mlmodel["saved_input_example_info"]["type"] == "dataframe"
    assert [c["name"] for c in json.loads(mlmodel["signature"]["inputs"])] == list(COLUMNS)
    pins = _pins(old)
    requirements = (old.path / "requirements.txt").read_text().split()
    assert requirements[0] == "mlflow==2.9.2"
    assert all(r == f"{r.split('==')[0]}=={pins[r.split('==')[0]]}" for r in requirements)  # all pinned
    assert {"scikit-learn", "cloudpickle", "numpy", "pandas"} <= {r.split("==")[0] for r in requirements}
    python_env = yaml.safe_load((old.path / "python_env.yaml").read_text())
    # MLflow 2.9.2 pins pip (to the pip of the saving env) but leaves setuptools and wheel unpinned.
    assert python_env == {"python": old.python_version, "dependencies": ["-r requirements.txt"],
                          "build_dependencies": [f"pip=={pins['pip']}", "setuptools", "wheel"]}
    conda = _conda(old)
    assert conda["channels"] == ["conda-forge"]
    assert conda["dependencies"][:2] == [f"python={old.python_version}", f"pip<={pins['pip']}"]
    assert conda["dependencies"][2]["pip"] == requirements


@pytest.mark.slow
@pytest.mark.parametrize("old", ALL, indirect=True)
def test_expected_predictions_are_right(old: OldModel) -> None:
    assert len(old.expected) == len(SCORING_ROWS)
    split = json.loads(old.input_json.read_text())["dataframe_split"]
    assert split == {"columns": list(COLUMNS), "data": [list(r) for r in SCORING_ROWS]}
    csv = old.input_csv.read_text().splitlines()
    assert csv[0] == ",".join(COLUMNS) and [tuple(map(float, line.split(","))) for line in csv[1:]] == list(
        SCORING_ROWS)
    if old.name in LINEAR_PYFUNC:  # the model is a known formula: check the old MLflow applied it
        weights = json.loads((old.path / "artifacts" / "weights.json").read_text())
        by_hand = [sum(w * x for w, x in zip(weights["weights"], row)) + weights["bias"] for row in SCORING_ROWS]
        assert old.expected == pytest.approx(by_hand, rel=1e-12)
    else:  # classifiers of the same labels: y = a + b/2 - c > 0 (scored rows are far from the boundary)
        labels = [int(a + 0.5 * b - c > 0) for a, b, c, _ in SCORING_ROWS]
        if old.name == "mlflow292_py310_pyfunc":
            assert all(isinstance(p, float) and 0 < p < 1 for p in old.expected)
            assert [int(p > 0.5) for p in old.expected] == labels
        else:
            assert all(type(p) is int for p in old.expected) and old.expected == labels


@pytest.mark.slow
@pytest.mark.parametrize("old", ALL, indirect=True)
def test_old_venv_reproduces_the_predictions(old: OldModel, old_mlflow_venv, tmp_path: Path) -> None:
    python = old_mlflow_venv(old)
    scored = old_mlflow.score(python, old.path, old.input_json, old.input_csv, tmp_path)
    assert scored["predictions"] == pytest.approx(old.expected, rel=1e-12)
    assert (scored["python_version"], scored["mlflow_version"]) == (old.python_version, old.mlflow_version)
    assert old.unchanged()  # loading it did not write into the model directory


@pytest.mark.slow
@pytest.mark.parametrize("old", ["mlflow117_py38_pyfunc"], indirect=True)
def test_shared_model_is_read_only_and_copies_are_not(old: OldModel, tmp_path: Path) -> None:
    assert not any(p.stat().st_mode & 0o222 for p in [old.path, *old.path.rglob("*")])
    copy = old.copy_to(tmp_path / "mine")
    assert old_mlflow.tree_digest(copy) == old.digest
    (copy / "MLmodel").write_text("changed")
    assert old.unchanged() and (copy / "MLmodel").stat().st_mode & stat.S_IWUSR


@pytest.mark.slow
@pytest.mark.parametrize("old", ["mlflow292_py310_pyfunc"], indirect=True)
def test_mlflow292_needs_period_setuptools(old: OldModel, tmp_path: Path) -> None:
    """The model's pins import with setuptools of its date only: today's has no pkg_resources."""
    pinned = replace(old, packages=tuple(p for p in old.packages if not p.startswith("setuptools==")))
    python = str(old_mlflow.build_venv(pinned, tmp_path / "venv"))
    probe = [python, "-c", "import mlflow; print(mlflow.__version__)"]
    without = subprocess.run(probe, capture_output=True, text=True, timeout=300)
    assert without.returncode == 1 and "No module named 'pkg_resources'" in without.stderr
    uv = old_mlflow.uv_bin()
    subprocess.run([uv, "pip", "install", "-q", "--python", python, "setuptools"], check=True, timeout=600)
    newest = subprocess.run([python, "-c", "import setuptools; print(setuptools.__version__)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert int(newest.split(".")[0]) >= 82  # pkg_resources was removed in setuptools 82.0.0
    latest = subprocess.run(probe, capture_output=True, text=True, timeout=300)
    assert latest.returncode == 1 and "No module named 'pkg_resources'" in latest.stderr
    period = next(p for p in old.packages if p.startswith("setuptools=="))
    subprocess.run([uv, "pip", "install", "-q", "--python", python, period], check=True, timeout=600)
    assert subprocess.run(probe, capture_output=True, text=True, timeout=300).stdout.strip() == "2.9.2"
