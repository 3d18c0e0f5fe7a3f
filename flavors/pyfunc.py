"""The pyfunc flavor: a user's ``envrepro.PythonModel`` subclass, with optional artifacts.

The layout is MLflow's (``python_model.pkl``, ``artifacts``); ``loader_module`` names envrepro's runtime loader,
which has MLflow's ``_load_pyfunc`` entry point, so MLflow loads these models when envrepro is installed beside it
(MLflow's own ``mlflow.pyfunc.model`` loader expects MLflow's PythonModel class, not a look-alike).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envrepro import __version__
from envrepro.errors import EnvreproError
from envrepro.hookspecs import Flavor, SaveResult, hookimpl
from envrepro.model import PYFUNC
from envrepro.pins import pin
from envrepro.python_model import PythonModel

MODEL_FILE = "python_model.pkl"
RUNTIME_LOADER = "envrepro_flavors.inenv.pyfunc"
ARTIFACTS_DIR = "artifacts"


def can_handle(obj: Any) -> bool:
    return isinstance(obj, PythonModel)


def default_requirements() -> list[str]:
    # The pickle refers to envrepro's PythonModel by name: an environment built from the model's own files
    # (by MLflow, say) needs envrepro to load it. envrepro's own environments get it from the runtime
    # directory instead (see envrepro.requirements.RUNTIME_PROVIDED), so it need not be on the package index.
    return [pin("cloudpickle"), f"envrepro=={__version__}"]


def _copy_artifacts(artifacts: Mapping[str, Any], path: Path) -> dict[str, dict[str, str]]:
    recorded = {}
    for name, source in artifacts.items():
        source_path = Path(os.fspath(source))
        if not source_path.exists():
            raise EnvreproError(f"artifact {name!r} not found", path=source_path)
        target = path / ARTIFACTS_DIR / source_path.name
        if target.exists():
            raise EnvreproError(f"artifacts {name!r} and another entry share the name {source_path.name!r}",
                                path=source_path, hint="rename one of them")
        target.parent.mkdir(exist_ok=True)
        if source_path.is_dir():
            shutil.copytree(source_path, target)
        else:
            shutil.copy2(source_path, target)
        recorded[name] = {"path": f"{ARTIFACTS_DIR}/{source_path.name}"}
    return recorded


def save(obj: Any, path: Path, options: Mapping[str, Any]) -> SaveResult:
    import cloudpickle

    if not isinstance(obj, PythonModel):
        raise EnvreproError(f"the pyfunc flavor saves envrepro.PythonModel instances, not {type(obj).__name__}")
    with open(path / MODEL_FILE, "wb") as fh:
        cloudpickle.dump(obj, fh)
    conf: dict[str, Any] = {"python_model": MODEL_FILE, "cloudpickle_version": cloudpickle.__version__}
    artifacts = options.get("artifacts") or {}
    if artifacts:
        conf["artifacts"] = _copy_artifacts(artifacts, path)
    if options.get("model_config"):
        conf["model_config"] = dict(options["model_config"])
    module = type(obj).__module__
    return SaveResult(flavor_conf=conf, code_modules=(module,) if module != "__main__" else ())


@hookimpl
def envrepro_flavors():
    # MLflow imports the runtime loader too: it has MLflow's _load_pyfunc entry point.
    yield Flavor(name=PYFUNC, loader_module=RUNTIME_LOADER, can_handle=can_handle,
                 default_requirements=default_requirements, save=save, runtime_loader=RUNTIME_LOADER,
                 options=frozenset({"artifacts", "model_config"}), priority=100,
                 aliases=("pyfunc",), description="custom Python models (envrepro.PythonModel subclasses)")
