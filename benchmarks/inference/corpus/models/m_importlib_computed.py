import importlib

from envrepro import PythonModel


class ConfiguredBackend(PythonModel):
    """The backend module's name is data, computed when the model is built: no reader can know it."""

    def __init__(self, family="scipy", part="special"):
        self.backend = ".".join([family, part])

    def predict(self, context, model_input, params=None):
        backend = importlib.import_module(self.backend)
        return [float(backend.expit(x)) for x in model_input]
