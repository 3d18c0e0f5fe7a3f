"""A third-party flavor: models that multiply their input by a factor, stored as JSON."""

import json

from envrepro.hookspecs import Flavor, SaveResult, hookimpl

from .model import EchoModel

__all__ = ["EchoModel"]


def _save(obj, path, options):
    (path / "echo.json").write_text(json.dumps({"factor": obj.factor}))
    return SaveResult(flavor_conf={"data": "echo.json"})


@hookimpl
def envrepro_flavors():
    return [Flavor(name="echo", loader_module=__name__, can_handle=lambda o: isinstance(o, EchoModel),
                   default_requirements=lambda: ["envrepro-echo-flavor==0.1.0"], save=_save,
                   runtime_loader="envrepro_echo_flavor.load", description="test flavor")]
