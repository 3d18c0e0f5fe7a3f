"""``load_model``: read a model directory back into something with ``.predict``."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any, Mapping

from .code_paths import add_code_dir_to_path
from .errors import FlavorError, ModelFormatError
from .hookspecs import Flavor, Predictor
from .model import PYFUNC, ModelDir
from .plugins import flavors

log = logging.getLogger(__name__)
_warned: set[str] = set()


class PyFuncModel:
    """A loaded model: ``predict(data, params=None)`` whatever its flavor."""

    def __init__(self, predictor: Predictor, model_dir: ModelDir, flavor_name: str):
        self._predictor = predictor
        self.model_dir = model_dir
        self.flavor = flavor_name

    @property
    def metadata(self):
        return self.model_dir.mlmodel

    def unwrap(self) -> Any:
        return getattr(self._predictor, "raw_model", self._predictor)

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        if params:
            return self._predictor.predict(data, params=params)
        return self._predictor.predict(data)

    def __repr__(self) -> str:
        return f"PyFuncModel(flavor={self.flavor!r}, path={str(self.model_dir.path)!r})"


def _choose_flavor(model: ModelDir) -> tuple[Flavor, dict[str, Any]] | None:
    registered = [f for f, _ in flavors().values()]
    conf = model.mlmodel.pyfunc_conf or {}
    loader = conf.get("loader_module")
    for flavor in registered:
        if loader and flavor.loader_module == loader and flavor.name in model.mlmodel.flavors:
            return flavor, model.mlmodel.flavors[flavor.name]
    # A model written by another tool (MLflow's sklearn/pytorch) whose own flavor entry we understand.
    for flavor in registered:
        if flavor.name != PYFUNC and flavor.name in model.mlmodel.flavors:
            return flavor, model.mlmodel.flavors[flavor.name]
    return None


def _warn_mismatches(model: ModelDir) -> None:
    key = str(model.path.resolve())
    if key in _warned:
        return
    _warned.add(key)
    from .envfiles import read_model_env
    from .envs.local_engine import check_environment

    try:
        requirements = read_model_env(model).requirements
    except ModelFormatError:
        return  # the same error surfaces, with its file named, from whatever reads the env next
    mismatches = check_environment(requirements)
    if mismatches:
        log.warning("%s: the current environment does not match the model's recorded requirements: %s. "
                    "Use `envrepro predict --env-manager uv` to run it in its own environment.",
                    model.path, "; ".join(str(m) for m in mismatches))


def load_model(model_uri: str | os.PathLike, *, check_requirements: bool = True) -> PyFuncModel:
    model = ModelDir.open(Path(model_uri))
    if check_requirements:
        _warn_mismatches(model)
    add_code_dir_to_path(model.code_dir)
    loader = (model.mlmodel.pyfunc_conf or {}).get("loader_module")
    from_mlflow = isinstance(loader, str) and loader.startswith("mlflow.")
    if from_mlflow and importlib.util.find_spec("mlflow") is not None:
        return _load_with_mlflow(model, loader)  # MLflow's own loader, installed by the model's requirements
    chosen = _choose_flavor(model)
    if chosen is not None:
        flavor, conf = chosen
        return PyFuncModel(flavor.load(model.path, conf), model, flavor.name)
    if from_mlflow:
        return _load_with_mlflow(model, loader)
    raise FlavorError(
        f"no registered flavor can load this model (flavors: {', '.join(model.mlmodel.flavors)}, "
        f"loader_module: {loader})", path=model.path / "MLmodel",
        hint="install the plugin that provides it; `envrepro flavors` lists what is registered",
    )


def _load_with_mlflow(model: ModelDir, loader: str) -> PyFuncModel:
    try:
        mlflow_pyfunc = importlib.import_module("mlflow.pyfunc")
    except ImportError:
        raise FlavorError(
            f"this model was saved by MLflow (loader {loader}) and MLflow is not installed here",
            path=model.path / "MLmodel",
            hint="run it in its own environment: envrepro predict -m MODEL --env-manager uv",
        ) from None
    return PyFuncModel(mlflow_pyfunc.load_model(str(model.path)), model, PYFUNC)
