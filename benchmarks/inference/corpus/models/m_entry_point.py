from importlib.metadata import entry_points

from envrepro import PythonModel


class PluginScaled(PythonModel):
    """Loads a scaler plugin by name from an entry-point group at predict time."""

    def __init__(self, scaler="minmax"):
        self.scaler = scaler

    def predict(self, context, model_input, params=None):
        (plugin,) = entry_points(group="corpus.scalers", name=self.scaler)
        return plugin.load()(list(model_input))


class HoldsPlugin(PythonModel):
    """The plugin's function, looked up when the model is built, travels in the pickle."""

    def __init__(self, scaler="minmax"):
        (plugin,) = entry_points(group="corpus.scalers", name=scaler)
        self.scale = plugin.load()

    def predict(self, context, model_input, params=None):
        return self.scale(list(model_input))
