"""Load a model from a *load spec*: the JSON description the host makes after parsing MLmodel.

A load spec (a dict; the host builds it in ``envrepro/launch.py``)::

    {"protocol": 1,
     "model_dir": "/abs/model",                 # the model directory
     "code_dirs": ["/abs/model/code"],          # put first on sys.path (the model's own modules win)
     "loader": {"kind": "flavor",               # a flavor's in-environment loader module ...
                "module": "envrepro_flavors.inenv.sklearn",
                "flavor": "sklearn", "conf": {...}, "pyfunc_conf": {...}},
            or {"kind": "mlflow"},              # ... or MLflow's own loader (MLflow is in the environment)
     "input_example": {...} | null,             # MLmodel's saved_input_example_info
     "signature": {"inputs": "<json>", ...} | null}  # MLmodel's signature, as MLflow wrote it

A flavor's loader module defines ``load(model_dir, conf, pyfunc_conf)`` returning an object with
``predict(data, params=None)`` (and, by convention, the original model as ``raw_model``).
"""

import importlib
import logging
import sys

from .errors import ModelLoadError
from .schema import ExampleSchema, read_input_example
from .signature import Signature


def add_code_dirs(code_dirs):
    """The model's ``code/`` goes first on sys.path, so its modules shadow same-named installed ones."""
    for entry in reversed(list(code_dirs or ())):
        if entry in sys.path:
            sys.path.remove(entry)
        sys.path.insert(0, entry)


def _flavor_predictor(spec, loader):
    try:
        module = importlib.import_module(loader["module"])
    except ImportError as exc:
        if getattr(exc, "name", None) and loader["module"].startswith(exc.name):
            raise ModelLoadError("the loader {} of flavor {!r} is not in this environment".format(
                loader["module"], loader.get("flavor")),
                hint="install the plugin that provides the flavor into the model's requirements") from None
        raise
    return module.load(spec["model_dir"], dict(loader.get("conf") or {}), dict(loader.get("pyfunc_conf") or {}))


def _mlflow_predictor(spec):
    try:
        import mlflow.pyfunc
    except ImportError as exc:
        if getattr(exc, "name", "") not in ("mlflow", "mlflow.pyfunc"):
            raise  # MLflow is there but one of its own imports failed: that is the model environment's error
        raise ModelLoadError(
            "this model was saved by MLflow with a flavor envrepro does not load itself ({}), and MLflow is not "
            "installed in its environment".format(spec.get("flavors") or "unknown"),
            hint="add mlflow to the model's requirements (envrepro update-pip-requirements -m MODEL add "
                 "mlflow==<the version that saved it>)") from None
    return mlflow.pyfunc.load_model(spec["model_dir"])


class LoadedModel(object):
    """A loaded model: ``predict(data, params=None)`` whatever its flavor, inputs checked as MLflow checks them.

    A model with a signature gets MLflow's rules (:mod:`envrepro_runtime.signature`); one without keeps
    envrepro's input-example checks, and its params are passed through (MLflow would drop them).
    """

    def __init__(self, predictor, spec, example=None):
        self.predictor = predictor
        self.spec = spec
        self.example = example
        # Parsing uses the signature whoever loads the model (MLflow's scoring server does it, not PyFuncModel);
        # enforcement is ours only for the "flavor" loaders: MLflow's PyFuncModel enforces it itself.
        self.signature = Signature.from_spec(spec.get("signature"))
        if self.signature is not None:
            self.signature = self.signature.usable()
        self.enforces = spec["loader"]["kind"] != "mlflow"
        has_inputs = self.signature is not None and self.signature.inputs is not None
        self.schema = ExampleSchema.from_example(example) if self.enforces and not has_inputs else None

    @property
    def raw_model(self):
        return getattr(self.predictor, "raw_model", self.predictor)

    def conform(self, data):
        if self.enforces and self.signature is not None and self.signature.inputs is not None:
            return self.signature.enforce(data)
        return self.schema.conform(data) if self.schema is not None else data

    def conform_params(self, params):
        if not self.enforces:
            return params
        if self.signature is not None:
            return self.signature.enforce_params(params)
        if params is not None and not isinstance(params, dict):
            logging.getLogger("envrepro.runtime").warning("ignoring params that are not an object: %r", params)
            return None
        return params

    def predict(self, data, params=None):
        if params:
            return self.predictor.predict(data, params=params)
        return self.predictor.predict(data)


def load(spec, with_example=True):
    """The model described by ``spec``; ModelLoadError for what the user can fix, anything else is the model's."""
    add_code_dirs(spec.get("code_dirs"))
    loader = spec["loader"]
    if loader["kind"] == "flavor":
        predictor = _flavor_predictor(spec, loader)
    elif loader["kind"] == "mlflow":
        predictor = _mlflow_predictor(spec)
    else:
        raise ValueError("unknown loader kind {!r} in the load spec".format(loader["kind"]))
    example = None
    if with_example:
        try:
            example = read_input_example(spec["model_dir"], spec.get("input_example"))
        except Exception as exc:  # an unreadable example disables the input checks; it must not stop the model
            logging.getLogger("envrepro.runtime").warning("ignoring the input example: %s", exc)
    return LoadedModel(predictor, spec, example)
