from envrepro import PythonModel


class DumpsYaml(PythonModel):
    """__import__ of a name held in an attribute."""

    def __init__(self):
        self.serializer = "yaml"

    def predict(self, context, model_input, params=None):
        serializer = __import__(self.serializer)
        return [serializer.safe_dump({"n": len(model_input)})]
