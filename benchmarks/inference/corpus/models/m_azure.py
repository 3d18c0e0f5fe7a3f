from envrepro import PythonModel


class AzureTokenShape(PythonModel):
    def predict(self, context, model_input, params=None):
        from azure.core.credentials import AccessToken

        return [AccessToken("t", int(x)).expires_on for x in model_input]
