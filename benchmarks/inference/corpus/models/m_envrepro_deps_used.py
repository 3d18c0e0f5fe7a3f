import yaml

from envrepro import PythonModel


class VersionGate(PythonModel):
    def predict(self, context, model_input, params=None):
        from packaging.version import Version

        return [yaml.safe_dump({"ok": Version(str(v)) > Version("1")}) for v in model_input]
