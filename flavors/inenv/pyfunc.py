"""Load a custom Python model (an ``envrepro.PythonModel`` subclass pickled with cloudpickle) and its artifacts."""

import os

from envrepro_runtime.errors import ModelLoadError
from envrepro_runtime.python_model import PythonModelContext

MODEL_FILE = "python_model.pkl"


class PythonModelPredictor(object):
    def __init__(self, model, context):
        self.raw_model = model
        self.context = context

    def predict(self, data, params=None):
        return self.raw_model.predict(self.context, data, params=params)


def load(model_dir, conf, pyfunc_conf, model_config=None):
    import cloudpickle

    path = os.path.join(model_dir, str(conf.get("python_model") or MODEL_FILE))
    if not os.path.isfile(path):
        raise ModelLoadError("model artifact is missing", path=path, hint="the model directory is incomplete")
    with open(path, "rb") as fh:
        model = cloudpickle.load(fh)
    artifacts = dict((name, os.path.join(model_dir, entry["path"]))
                     for name, entry in (conf.get("artifacts") or {}).items())
    config = dict(conf.get("model_config") or {})
    config.update(model_config or {})
    context = PythonModelContext(artifacts, config)
    model.load_context(context)
    return PythonModelPredictor(model, context)


def _load_pyfunc(data_path, model_config=None):
    """MLflow's entry point: this module is MLmodel's ``loader_module``, so ``mlflow.pyfunc.load_model`` (with
    envrepro installed beside MLflow) calls it with the model directory. MLflow is here, so its MLmodel reader is.
    """
    from mlflow.models import Model

    conf = Model.load(data_path).flavors["python_function"]
    return load(data_path, conf, conf, model_config)
