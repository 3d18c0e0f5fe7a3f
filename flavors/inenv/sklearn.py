"""Load a scikit-learn model in MLflow's sklearn layout: pickle, cloudpickle or skops."""

import os
import pickle

from envrepro_runtime.errors import ModelLoadError

FORMATS = ("cloudpickle", "pickle", "skops")


class SklearnPredictor(object):
    def __init__(self, model, predict_fn="predict"):
        self.raw_model = model
        self._predict = getattr(model, predict_fn)

    def predict(self, data, params=None):
        return self._predict(data)


def _skops_load(path, trusted):
    try:
        import skops.io
    except ImportError:
        raise ModelLoadError("this model is saved in the skops format and skops is not installed in its environment",
                             path=path, hint="add skops to the model's requirements") from None
    # MLflow's rule: only the types the model's MLmodel lists as trusted (skops_trusted_types) are accepted.
    return skops.io.load(path, trusted=list(trusted or []))


def load(model_dir, conf, pyfunc_conf):
    fmt = conf.get("serialization_format") or "pickle"  # MLflow's default when the key is absent
    if fmt not in FORMATS:
        raise ModelLoadError("unknown serialization_format {!r} in MLmodel".format(fmt),
                             path=os.path.join(model_dir, "MLmodel"), hint="use one of " + ", ".join(FORMATS))
    name = conf.get("pickled_model") or pyfunc_conf.get("model_path") or ("model.skops" if fmt == "skops" else
                                                                           "model.pkl")
    path = os.path.join(model_dir, name)
    if not os.path.isfile(path):
        raise ModelLoadError("model artifact is missing", path=path, hint="the model directory is incomplete")
    if fmt == "skops":
        model = _skops_load(path, conf.get("skops_trusted_types"))
    else:
        try:
            with open(path, "rb") as fh:
                if fmt == "cloudpickle":
                    import cloudpickle

                    model = cloudpickle.load(fh)
                else:
                    model = pickle.load(fh)
        except (pickle.UnpicklingError, EOFError) as exc:
            raise ModelLoadError("model artifact is corrupt: {}".format(exc), path=path) from None
    return SklearnPredictor(model, pyfunc_conf.get("predict_fn") or "predict")
