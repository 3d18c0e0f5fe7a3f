"""Write model directories exactly as MLflow lays them out, without needing MLflow installed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: {python}
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: {sklearn}
mlflow_version: {mlflow}
model_uuid: 8d7c1c5e0a3f4c2e9b1d6f0e2a4b6c8d
run_id: 0f1e2d3c4b5a69788796a5b4c3d2e1f0
utc_time_created: '{utc_time_created}'
"""


def write_mlflow_sklearn_model(path: Path, *, python: str, sklearn: str, mlflow: str, requirements: Sequence[str],
                               pickled: bytes, build_dependencies: Sequence[str] = ("pip", "setuptools", "wheel"),
                               pip_pin: str = "pip", utc_time_created: str = "2024-01-05 10:11:12.131415") -> Path:
    """An MLflow 2.x/3.x sklearn model: MLmodel, model.pkl and the three env files, as MLflow writes them.

    ``utc_time_created`` matters: what the model leaves unpinned resolves as of then (envrepro.asof).
    """
    path.mkdir(parents=True)
    (path / "MLmodel").write_text(MLMODEL.format(python=python, sklearn=sklearn, mlflow=mlflow,
                                                 utc_time_created=utc_time_created))
    (path / "model.pkl").write_bytes(pickled)
    (path / "requirements.txt").write_text("".join(f"{r}\n" for r in requirements))
    (path / "python_env.yaml").write_text(f"python: {python}\nbuild_dependencies:\n"
                                          + "".join(f"- {b}\n" for b in build_dependencies)
                                          + "dependencies:\n- -r requirements.txt\n")
    (path / "conda.yaml").write_text(f"channels:\n- conda-forge\ndependencies:\n- python={python}\n- {pip_pin}\n"
                                     "- pip:\n" + "".join(f"  - {r}\n" for r in requirements) + "name: mlflow-env\n")
    return path


def write_placeholder_model(path: Path, requirements: Sequence[str] = ("scikit-learn==1.3.2",)) -> Path:
    """An MLflow 2.9.2 sklearn model for tests that read or edit its files and never load it."""
    import pickle

    return write_mlflow_sklearn_model(path, python="3.11.7", sklearn="1.3.2", mlflow="2.9.2",
                                      requirements=requirements, pickled=pickle.dumps({"placeholder": True}))
