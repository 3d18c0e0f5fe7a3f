from envrepro import PythonModel


def make_model():
    """A class defined inside a function: cloudpickle carries it by value, so no file holds its code."""

    class LocalYaml(PythonModel):
        def predict(self, context, model_input, params=None):
            import yaml

            return [yaml.safe_dump(list(model_input))]

    return LocalYaml()
