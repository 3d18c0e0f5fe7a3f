from envrepro import PythonModel


class JsonViaProtobuf(PythonModel):
    """predict calls a method that imports lazily."""

    def _to_json(self, values):
        from google.protobuf import json_format, struct_pb2

        message = struct_pb2.ListValue()
        message.extend(values)
        return json_format.MessageToJson(message)

    def predict(self, context, model_input, params=None):
        return [self._to_json(list(model_input))]
