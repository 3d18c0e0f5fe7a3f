from envrepro import PythonModel


class PandasSum(PythonModel):
    def predict(self, context, model_input, params=None):
        import pandas as pd

        return pd.Series(model_input).sum()
