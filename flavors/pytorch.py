"""The pytorch flavor: a whole ``torch.nn.Module``, loaded on the CPU by default. torch is optional."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from envrepro.errors import EnvreproError
from envrepro.hookspecs import Flavor, SaveResult, hookimpl
from envrepro.pins import pin, public_version

DATA_DIR = "data"
MODEL_FILE = "model.pth"
RUNTIME_LOADER = "envrepro_flavors.inenv.pytorch"


def can_handle(obj: Any) -> bool:
    # Check by class ancestry names first, so a process that never imported torch pays nothing.
    if not any(cls.__module__.startswith("torch") for cls in type(obj).__mro__):
        return False
    import torch

    return isinstance(obj, torch.nn.Module)


def default_requirements() -> list[str]:
    return [pin("torch"), pin("cloudpickle")]


def save(obj: Any, path: Path, options: Mapping[str, Any]) -> SaveResult:
    try:
        import torch
    except ImportError:
        raise EnvreproError("the pytorch flavor needs torch installed", hint="pip install torch") from None
    (path / DATA_DIR).mkdir()
    torch.save(obj, path / DATA_DIR / MODEL_FILE)
    version, local = public_version(torch.__version__)
    conf = {"model_data": DATA_DIR, "pytorch_version": version}
    if local:
        conf["pytorch_local_version"] = local
    module = type(obj).__module__
    return SaveResult(flavor_conf=conf, code_modules=(module,) if module != "__main__" else ())


@hookimpl
def envrepro_flavors():
    # MLflow imports the runtime loader too (with envrepro installed beside it): it has _load_pyfunc.
    yield Flavor(name="pytorch", loader_module=RUNTIME_LOADER, can_handle=can_handle,
                 default_requirements=default_requirements, save=save, runtime_loader=RUNTIME_LOADER,
                 options=frozenset({"device"}), priority=20,
                 description="PyTorch nn.Module (whole-module save, CPU load by default)")
