"""The pytorch flavor: a whole ``torch.nn.Module``, loaded on the CPU by default. torch is optional."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from envrepro.errors import EnvreproError, ModelFormatError
from envrepro.hookspecs import Flavor, SaveResult, hookimpl
from envrepro.pins import pin, public_version

DATA_DIR = "data"
MODEL_FILE = "model.pth"


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
    unknown = set(options) - {"device"}
    if unknown:
        raise EnvreproError(f"unknown option(s) for the pytorch flavor: {', '.join(sorted(unknown))}")
    (path / DATA_DIR).mkdir()
    torch.save(obj, path / DATA_DIR / MODEL_FILE)
    version, local = public_version(torch.__version__)
    conf = {"model_data": DATA_DIR, "pytorch_version": version}
    if local:
        conf["pytorch_local_version"] = local
    module = type(obj).__module__
    return SaveResult(flavor_conf=conf, code_modules=(module,) if module != "__main__" else ())


class _Predictor:
    def __init__(self, model: Any, device: str):
        self.raw_model = model
        self.device = device

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        import numpy as np
        import torch

        if hasattr(data, "to_numpy"):
            data = data.to_numpy()
        tensor = data if isinstance(data, torch.Tensor) else torch.as_tensor(np.asarray(data, dtype=np.float32))
        with torch.no_grad():
            out = self.raw_model(tensor.to(self.device))
        return out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else out


def load(path: Path, conf: Mapping[str, Any]) -> _Predictor:
    import os

    import torch

    data_dir = path / str(conf.get("model_data") or DATA_DIR)
    artifact = data_dir / MODEL_FILE if data_dir.is_dir() else data_dir
    if not artifact.exists():
        raise ModelFormatError("model artifact is missing", path=artifact, hint="the model directory is incomplete")
    device = os.environ.get("ENVREPRO_TORCH_DEVICE", "cpu")
    model = torch.load(artifact, map_location=device, weights_only=False)
    model.eval()
    return _Predictor(model, device)


@hookimpl
def envrepro_flavors():
    yield Flavor(name="pytorch", loader_module=__name__, can_handle=can_handle,
                 default_requirements=default_requirements, save=save, load=load, priority=20,
                 description="PyTorch nn.Module (whole-module save, CPU load by default)")
