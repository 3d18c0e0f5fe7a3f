from envrepro import PythonModel


class RpcStatus(PythonModel):
    def predict(self, context, model_input, params=None):
        from google.rpc import status_pb2

        return [status_pb2.Status(code=len(model_input)).code]
