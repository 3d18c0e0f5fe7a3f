from envrepro import PythonModel


class YamlConfigured(PythonModel):
    def load_context(self, context):
        import yaml

        self.scale = yaml.safe_load("scale: 3")["scale"]

    def predict(self, context, model_input, params=None):
        return [x * self.scale for x in model_input]
