from envrepro import PythonModel


class ScaleWithSklearn(PythonModel):
    def predict(self, context, model_input, params=None):
        from sklearn.preprocessing import minmax_scale

        return minmax_scale(model_input).tolist()
