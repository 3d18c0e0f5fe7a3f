from envrepro import PythonModel


class RendersOnError(PythonModel):
    def predict(self, context, model_input, params=None):
        try:
            return [float(x) for x in model_input]
        except ValueError:
            from PIL import Image  # only a malformed input reaches this

            return [Image.new("L", (1, 1)).size]
