from envrepro import PythonModel


class NoExample(PythonModel):
    def predict(self, context, model_input, params=None):
        import pandas as pd

        return pd.DataFrame(model_input).mean()
