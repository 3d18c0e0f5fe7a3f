"""The sklearn flavor: any estimator with ``predict``, saved in MLflow's sklearn layout (pickle or cloudpickle).

MLmodel names ``mlflow.sklearn`` as the loader module, so MLflow loads these models with nothing else
installed; envrepro loads them (and MLflow's own sklearn models) with ``envrepro_flavors.inenv.sklearn``.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envrepro.errors import EnvreproError
from envrepro.hookspecs import Flavor, SaveResult, hookimpl
from envrepro.pins import pin

MODEL_FILE = "model.pkl"
FORMATS = ("cloudpickle", "pickle")
RUNTIME_LOADER = "envrepro_flavors.inenv.sklearn"


def can_handle(obj: Any) -> bool:
    module = type(obj).__module__ or ""
    if not callable(getattr(obj, "predict", None)):
        return False
    if module.startswith("sklearn."):
        return True
    try:  # an estimator defined elsewhere (a user's subclass, a Pipeline of them)
        from sklearn.base import BaseEstimator
    except ImportError:
        return False
    return isinstance(obj, BaseEstimator)


def default_requirements() -> list[str]:
    return [pin("scikit-learn"), pin("cloudpickle")]


def _sklearn_version() -> str | None:
    try:
        import sklearn
    except ImportError:
        return None
    return sklearn.__version__


def save(obj: Any, path: Path, options: Mapping[str, Any]) -> SaveResult:
    fmt = options.get("serialization_format", "cloudpickle")
    if fmt not in FORMATS:
        raise EnvreproError(f"unknown serialization_format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    with open(path / MODEL_FILE, "wb") as fh:
        if fmt == "cloudpickle":
            import cloudpickle

            cloudpickle.dump(obj, fh)
        else:
            pickle.dump(obj, fh)
    # MLflow's keys, so MLflow can read these models too.
    conf = {"pickled_model": MODEL_FILE, "sklearn_version": _sklearn_version(), "serialization_format": fmt,
            "code": None}
    return SaveResult(flavor_conf=conf, pyfunc_conf={"model_path": MODEL_FILE, "predict_fn": "predict"})


@hookimpl
def envrepro_flavors():
    yield Flavor(name="sklearn", loader_module="mlflow.sklearn", can_handle=can_handle,
                 default_requirements=default_requirements, save=save, runtime_loader=RUNTIME_LOADER,
                 loads_mlflow_models=True, options=frozenset({"serialization_format"}), priority=10,
                 description="scikit-learn estimators (anything with .predict), pickle or cloudpickle")
