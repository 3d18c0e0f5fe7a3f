from envrepro import PythonModel


class WrapsPickledEstimator(PythonModel):
    def load_context(self, context):
        import joblib

        self.estimator = joblib.load(context.artifacts["estimator"])

    def predict(self, context, model_input, params=None):
        return self.estimator.predict(model_input).tolist()
