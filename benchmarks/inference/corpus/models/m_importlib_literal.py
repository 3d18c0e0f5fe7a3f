import importlib

from envrepro import PythonModel


class InvertsImage(PythonModel):
    """Imports its library by a string given to importlib, inside predict."""

    def predict(self, context, model_input, params=None):
        image = importlib.import_module("PIL.Image")
        picture = image.new("L", (len(model_input), 1))
        return list(picture.size)
