from envrepro import PythonModel


class Years(PythonModel):
    def predict(self, context, model_input, params=None):
        from featurize import year_of

        return [year_of(text) for text in model_input]
