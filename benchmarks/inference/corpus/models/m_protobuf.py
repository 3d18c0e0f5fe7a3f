from google.protobuf import struct_pb2

from envrepro import PythonModel


class ProtoStruct(PythonModel):
    def predict(self, context, model_input, params=None):
        message = struct_pb2.Struct()
        message.update({"n": len(model_input)})
        return [message["n"]]
