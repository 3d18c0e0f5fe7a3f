"""Load a whole ``torch.nn.Module`` saved by ``torch.save``, on the CPU (or on ENVREPRO_TORCH_DEVICE)."""

import os

from envrepro_runtime.errors import ModelLoadError

MODEL_FILE = "model.pth"


class TorchPredictor(object):
    def __init__(self, model, device):
        self.raw_model = model
        self.device = device

    def predict(self, data, params=None):
        import numpy as np
        import torch

        if hasattr(data, "to_numpy"):
            data = data.to_numpy()
        tensor = data if isinstance(data, torch.Tensor) else torch.as_tensor(np.asarray(data, dtype=np.float32))
        with torch.no_grad():
            out = self.raw_model(tensor.to(self.device))
        return out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else out


def load(model_dir, conf, pyfunc_conf):
    import torch

    data_dir = os.path.join(model_dir, str(conf.get("model_data") or "data"))
    artifact = os.path.join(data_dir, MODEL_FILE) if os.path.isdir(data_dir) else data_dir
    if not os.path.isfile(artifact):
        raise ModelLoadError("model artifact is missing", path=artifact, hint="the model directory is incomplete")
    device = os.environ.get("ENVREPRO_TORCH_DEVICE", "cpu")
    try:
        model = torch.load(artifact, map_location=device, weights_only=False)
    except TypeError:  # torch < 1.13 has no weights_only (and never restricted unpickling)
        model = torch.load(artifact, map_location=device)
    model.eval()
    return TorchPredictor(model, device)


def _load_pyfunc(data_path, model_config=None):
    """MLflow's entry point (this module is MLmodel's ``loader_module``): called with the model directory."""
    from mlflow.models import Model

    flavors = Model.load(data_path).flavors
    return load(data_path, flavors["pytorch"], flavors["python_function"])
