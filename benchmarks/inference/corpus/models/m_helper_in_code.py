from envrepro import PythonModel


class UsesHelper(PythonModel):
    def predict(self, context, model_input, params=None):
        from helpers_special import squash

        return squash(model_input)
