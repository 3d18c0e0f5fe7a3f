"""Which loader a model needs (:func:`choose_loader`), and ``load_model`` in the current process.

The same choice and the same loader code serve both places a model is loaded: here, in the user's process,
and inside the model's own environment (through the load spec, see :mod:`envrepro.launch`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import FlavorError, ModelFormatError
from .hookspecs import Flavor
from .model import PYFUNC, ModelDir
from .plugins import flavors

log = logging.getLogger(__name__)
_warned: set[str] = set()


@dataclass(frozen=True)
class LoaderChoice:
    """A registered flavor's runtime loader, or (``flavor`` None) MLflow's own loader."""

    flavor: Flavor | None
    key: str | None = None  # the MLmodel flavor key whose conf the loader gets
    conf: Mapping[str, Any] | None = None
    pyfunc_conf: Mapping[str, Any] | None = None

    def spec(self) -> dict[str, Any]:
        if self.flavor is None:
            return {"kind": "mlflow"}
        return {"kind": "flavor", "module": self.flavor.runtime_loader, "flavor": self.flavor.name,
                "conf": dict(self.conf or {}), "pyfunc_conf": dict(self.pyfunc_conf or {})}


def choose_loader(model: ModelDir) -> LoaderChoice:
    """The loader for ``model``.

    1. A registered flavor named by one of MLmodel's flavor keys, when envrepro saved the model or the
       flavor reads MLflow's layout for that key. ``python_function`` counts only when it is the model's
       only flavor (otherwise it is the generic entry every model has).
    2. MLflow's own loader, for a model MLflow saved (``loader_module: mlflow.*``) with no such flavor.
    3. A registered flavor whose ``loader_module`` is the model's (a plugin's model saved by another tool).

    A model envrepro saved whose flavor key no registered flavor knows (a typo, a missing plugin) is an error.
    """
    mlmodel = model.mlmodel
    registered = {flavor.name: flavor for flavor, _ in flavors().values()}
    pyfunc_conf = mlmodel.pyfunc_conf or {}
    loader = pyfunc_conf.get("loader_module")
    saved_by_envrepro = mlmodel.envrepro_version is not None
    keys = [k for k in mlmodel.flavors if k != PYFUNC] or [k for k in mlmodel.flavors if k == PYFUNC]
    for key in keys:
        flavor = registered.get(key)
        if flavor is not None and (saved_by_envrepro or flavor.loads_mlflow_models):
            return LoaderChoice(flavor, key, mlmodel.flavors[key], pyfunc_conf)
    if not saved_by_envrepro and isinstance(loader, str) and loader.startswith("mlflow."):
        return LoaderChoice(None)
    for flavor in registered.values():  # not for envrepro's own models: their flavor key says it all (step 1)
        if loader and not saved_by_envrepro and flavor.loader_module == loader:
            key = flavor.name if flavor.name in mlmodel.flavors else PYFUNC
            return LoaderChoice(flavor, key, mlmodel.flavors.get(key, {}), pyfunc_conf)
    raise FlavorError(
        f"no registered flavor can load this model (flavors: {', '.join(mlmodel.flavors)}, loader_module: {loader})",
        path=model.path / "MLmodel", hint=_plugin_hint(),
    )


def _plugin_hint() -> str:
    from .plugins import broken_plugins_note

    note = broken_plugins_note()
    if note:
        return f"a plugin that failed to load may be the one needed: {note}"
    return "install the plugin that provides it; `envrepro flavors` lists what is registered"


class PyFuncModel:
    """A loaded model: ``predict(data, params=None)`` whatever its flavor."""

    def __init__(self, loaded: Any, model_dir: ModelDir, flavor_name: str):
        self._loaded = loaded
        self.model_dir = model_dir
        self.flavor = flavor_name

    @property
    def metadata(self):
        return self.model_dir.mlmodel

    def unwrap(self) -> Any:
        return self._loaded.raw_model

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        return self._loaded.predict(data, params=params)

    def __repr__(self) -> str:
        return f"PyFuncModel(flavor={self.flavor!r}, path={str(self.model_dir.path)!r})"


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
    """Load a model (envrepro's or MLflow's) into this process."""
    from envrepro_runtime.errors import ModelLoadError
    from envrepro_runtime.loading import load

    from .launch import load_spec

    model = ModelDir.open(Path(model_uri))
    if check_requirements:
        _warn_mismatches(model)
    spec = load_spec(model)
    try:
        loaded = load(spec, with_example=False)
    except ModelLoadError as exc:
        raise ModelFormatError(exc.message, path=exc.path or model.path, hint=exc.hint) from None
    return PyFuncModel(loaded, model, spec["loader"].get("flavor") or PYFUNC)
