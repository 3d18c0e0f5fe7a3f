"""update-pip-requirements: consistent, atomic, comment-preserving edits of a saved model."""

from __future__ import annotations

import tempfile

import pytest
import yaml

import envrepro
from envrepro.envfiles import read_model_env
from envrepro.errors import RequirementError
from envrepro.model import ModelDir
from envrepro.mutate import update_pip_requirements
from tests.conftest import run_cli

CONDA_WITH_COMMENTS = """\
# Environment for the churn model -- owned by team A
name: churn
channels:
  - conda-forge  # mirrored internally
dependencies:
  - python=3.11.7
  - pip
  - pip:
      - scikit-learn==1.3.2  # keep in sync with training
      - numpy==1.26.4
"""


@pytest.fixture
def model(tmp_path, sklearn_model):
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, extra_pip_requirements=["numpy==1.26.4"])
    return path


def _snapshot(path):
    return {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}


def test_add_new_and_replace_existing(model):
    proc = run_cli("update-pip-requirements", "-m", str(model), "add", "pandas==2.2.2", "numpy==2.0.0", check=True)
    assert "added pandas==2.2.2" in proc.stdout and "replaced numpy==1.26.4 with numpy==2.0.0" in proc.stdout
    reqs = (model / "requirements.txt").read_text().splitlines()
    assert reqs.count("numpy==2.0.0") == 1 and "numpy==1.26.4" not in reqs and reqs[-1] == "pandas==2.2.2"
    conda = yaml.safe_load((model / "conda.yaml").read_text())
    assert conda["dependencies"][-1]["pip"] == reqs
    env = read_model_env(ModelDir.open(model))
    assert env.requirements == reqs
    why = run_cli("inspect", "-m", str(model), "--why", check=True).stdout
    assert "  pandas==2.2.2\n    - update-pip-requirements add" in why


def test_remove_and_remove_absent(model):
    before = _snapshot(model)
    proc = run_cli("update-pip-requirements", "-m", str(model), "remove", "tensorflow", check=True)
    assert "tensorflow is not in the model's requirements" in proc.stderr
    assert _snapshot(model) == before
    run_cli("update-pip-requirements", "-m", str(model), "remove", "NumPy", check=True)
    reqs = (model / "requirements.txt").read_text()
    assert "numpy" not in reqs
    assert "numpy" not in (model / "conda.yaml").read_text()


def test_invalid_requirement_is_rejected_before_writing(model):
    before = _snapshot(model)
    proc = run_cli("update-pip-requirements", "-m", str(model), "add", "pandas==2.2.2", "not valid!!")
    assert proc.returncode == 2 and "invalid requirement 'not valid!!'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _snapshot(model) == before


def test_comments_and_layout_of_conda_yaml_survive(tmp_path, sklearn_model):
    (tmp_path / "env.yaml").write_text(CONDA_WITH_COMMENTS)
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, conda_env=str(tmp_path / "env.yaml"))
    update_pip_requirements(path, "add", ["scikit-learn==1.4.0", "pandas==2.2.2"])
    text = (path / "conda.yaml").read_text()
    expected = CONDA_WITH_COMMENTS.replace("scikit-learn==1.3.2", "scikit-learn==1.4.0") + "      - pandas==2.2.2\n"
    assert text == expected
    assert (path / "requirements.txt").read_text().splitlines() == [
        "scikit-learn==1.4.0", "numpy==1.26.4", "pandas==2.2.2"]


def test_conflicting_constraint_is_dropped_and_reported(tmp_path, sklearn_model):
    (tmp_path / "c.txt").write_text("numpy<2\nscipy<2\n")
    path = tmp_path / "model"
    envrepro.save_model(sklearn_model, path, extra_pip_requirements=["numpy==1.26.4", f"-c {tmp_path / 'c.txt'}"])
    result = update_pip_requirements(path, "add", ["numpy==2.1.0"])
    assert "dropped constraint numpy<2 (conflicts with numpy==2.1.0)" in result.changed
    assert (path / "constraints.txt").read_text() == "scipy<2\n"


def test_old_mlflow_model_with_only_conda_yaml(tmp_path):
    path = tmp_path / "old"
    path.mkdir()
    (path / "MLmodel").write_text("flavors:\n  python_function:\n    env: conda.yaml\n    loader_module: "
                                  "mlflow.sklearn\n    python_version: 3.7.6\nmlflow_version: 1.11.0\n")
    (path / "conda.yaml").write_text("channels:\n- defaults\ndependencies:\n- python=3.7.6\n- pip:\n  - mlflow\n"
                                     "- pip:\n  - cloudpickle==1.6.0\nname: mlflow-env\n")
    update_pip_requirements(path, "add", ["cloudpickle==2.0.0", "scikit-learn==0.23.2"])
    assert not (path / "requirements.txt").exists()
    conda = yaml.safe_load((path / "conda.yaml").read_text())
    assert conda["dependencies"][1]["pip"] == ["mlflow"]
    assert conda["dependencies"][2]["pip"] == ["cloudpickle==2.0.0", "scikit-learn==0.23.2"]
    assert (path / "conda.yaml").read_text().startswith("channels:\n- defaults\n")


def test_failure_mid_write_leaves_old_files(model, monkeypatch):
    before = _snapshot(model)
    real = tempfile.mkstemp
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", flaky)
    with pytest.raises(OSError, match="disk full"):
        update_pip_requirements(model, "add", ["pandas==2.2.2"])
    assert _snapshot(model) == before
    assert not [p for p in model.iterdir() if p.name.endswith(".tmp")]


def test_nothing_to_do_and_bad_operation(model):
    with pytest.raises(RequirementError, match="nothing to add"):
        update_pip_requirements(model, "add", [])
    assert run_cli("update-pip-requirements", "-m", str(model), "frobnicate", "x").returncode == 2
    numpy_line = "numpy==1.26.4"
    assert update_pip_requirements(model, "add", [numpy_line]).changed == []


# -- concurrency, crashes, and what the env files really name ----------------------------------------------------

@pytest.fixture
def mlflow_model(tmp_path):
    from tests.mlflow_format import write_placeholder_model

    return write_placeholder_model(tmp_path / "mlflow-model")


def _pip_lists(model):
    reqs = (model / "requirements.txt").read_text().splitlines()
    conda = yaml.safe_load((model / "conda.yaml").read_text())
    return reqs, next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))


def test_concurrent_updates_lose_nothing(mlflow_model):
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import sys
        from envrepro.mutate import update_pip_requirements
        for i in range(10):
            update_pip_requirements(sys.argv[1], "add", [f"pkg{sys.argv[2]}x{i}==1.0"])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(mlflow_model), str(n)]) for n in range(4)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    reqs, pip = _pip_lists(mlflow_model)
    added = {f"pkg{n}x{i}==1.0" for n in range(4) for i in range(10)}
    assert added <= set(reqs) and reqs == pip  # all 40 additions, and both files agree


def test_an_update_killed_between_renames_is_finished_by_the_next(mlflow_model):
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import os, signal, sys
        real = os.replace
        def replace(src, dst):  # SIGKILL right after requirements.txt is renamed into place
            real(src, dst)
            if str(dst).endswith("requirements.txt"):
                os.kill(os.getpid(), signal.SIGKILL)
        os.replace = replace
        from envrepro.mutate import update_pip_requirements
        update_pip_requirements(sys.argv[1], "add", ["pandas==2.2.2"])
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(mlflow_model)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == -9, proc.stderr
    reqs, pip = _pip_lists(mlflow_model)
    assert "pandas==2.2.2" in reqs and "pandas==2.2.2" not in pip  # killed half-way, as intended
    again = run_cli("update-pip-requirements", "-m", str(mlflow_model), "add", "pandas==2.2.2", check=True)
    assert "nothing to change" in again.stdout
    reqs, pip = _pip_lists(mlflow_model)
    assert reqs == pip and "pandas==2.2.2" in pip
    assert not [p.name for p in mlflow_model.iterdir() if p.name.startswith(".")]


def test_the_requirements_file_python_env_names_is_the_one_edited(mlflow_model):
    (mlflow_model / "reqs").mkdir()
    (mlflow_model / "reqs" / "prod.txt").write_text("scikit-learn==1.3.2\n")
    (mlflow_model / "requirements.txt").unlink()
    env = yaml.safe_load((mlflow_model / "python_env.yaml").read_text())
    env["dependencies"] = ["-r reqs/prod.txt"]
    (mlflow_model / "python_env.yaml").write_text(yaml.safe_dump(env))
    proc = run_cli("update-pip-requirements", "-m", str(mlflow_model), "add", "pandas==2.2.2", check=True)
    assert "reqs/prod.txt" in proc.stdout and not (mlflow_model / "requirements.txt").exists()
    assert (mlflow_model / "reqs" / "prod.txt").read_text() == "scikit-learn==1.3.2\npandas==2.2.2\n"
    assert "pandas==2.2.2" in read_model_env(ModelDir.open(mlflow_model)).requirements


@pytest.mark.parametrize("pip", ['"scikit-learn==1.3.2"', "{scikit-learn: 1.3.2}"])
def test_pip_section_that_is_not_a_list_is_one_line(mlflow_model, pip):
    (mlflow_model / "conda.yaml").write_text(f"channels: [conda-forge]\ndependencies:\n- python=3.11.7\n- pip\n"
                                             f"- pip: {pip}\n")
    proc = run_cli("update-pip-requirements", "-m", str(mlflow_model), "add", "pandas==2.2.2")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{mlflow_model / 'conda.yaml'}: malformed conda.yaml: 'pip' must be a list" in proc.stderr
    assert "pandas" not in (mlflow_model / "requirements.txt").read_text()


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="needs root: the write bits of the directory are "
                                                              "honoured even for root")
def test_read_only_model_directory_is_one_line(mlflow_model):
    before = _snapshot(mlflow_model)
    mlflow_model.chmod(0o555)
    try:
        proc = run_cli("update-pip-requirements", "-m", str(mlflow_model), "add", "pandas==2.2.2")
    finally:
        mlflow_model.chmod(0o755)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "read-only" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert _snapshot(mlflow_model) == before
