"""A third-party flavor: models that multiply their input by a factor, stored as JSON."""

import json

from envrepro.hookspecs import Flavor, SaveResult, hookimpl


class EchoModel:
    def __init__(self, factor):
        self.factor = factor

    def predict(self, data):
        return [x * self.factor for x in data]


def _save(obj, path, options):
    (path / "echo.json").write_text(json.dumps({"factor": obj.factor}))
    return SaveResult(flavor_conf={"data": "echo.json"})


def _load(path, conf):
    return EchoModel(json.loads((path / conf["data"]).read_text())["factor"])


@hookimpl
def envrepro_flavors():
    return [Flavor(name="echo", loader_module=__name__, can_handle=lambda o: isinstance(o, EchoModel),
                   default_requirements=lambda: ["envrepro-echo-flavor==0.1.0"], save=_save, load=_load,
                   description="test flavor")]
