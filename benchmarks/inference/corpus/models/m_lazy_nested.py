from envrepro import PythonModel


class ParsesDates(PythonModel):
    """The import sits in a function defined inside predict."""

    def predict(self, context, model_input, params=None):
        def month(text):
            from dateutil import parser

            return parser.parse(text).month

        return [month(text) for text in model_input]
