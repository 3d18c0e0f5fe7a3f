"""What a model accepts: read from its saved input example, applied to every request before ``predict``."""

import json
import os

from .errors import ModelLoadError, PayloadError

INPUT_EXAMPLE_FILE = "input_example.json"


def read_input_example(model_dir, info):
    """The saved input example as the model expects it (DataFrame, ndarray, dict or list); None when absent."""
    if not info:
        return None
    path = os.path.join(model_dir, str(info.get("artifact_path", INPUT_EXAMPLE_FILE)))
    try:
        with open(path, "rb") as fh:
            payload = json.loads(fh.read().decode("utf-8"))
    except (IOError, OSError) as exc:
        missing = getattr(exc, "errno", None) == 2
        raise ModelLoadError("input example named in MLmodel is missing" if missing
                             else "cannot read the input example: {}".format(exc), path=path) from None
    except ValueError as exc:
        raise ModelLoadError("malformed input example: {}".format(exc), path=path) from None
    kind = info.get("type")
    if kind == "dataframe":
        import pandas as pd

        if isinstance(payload, dict) and "dataframe_split" in payload:  # MLflow >= 2.20 writes the serving form
            payload = payload["dataframe_split"]
        return pd.DataFrame(payload.get("data", []), columns=payload.get("columns"))
    if kind == "ndarray":
        import numpy as np

        return np.asarray(payload["inputs"] if isinstance(payload, dict) and "inputs" in payload else payload)
    return payload


class ExampleSchema(object):
    """Columns (a DataFrame example) or a width (a 2-D array example) that every input must match."""

    def __init__(self, columns=None, width=None):
        self.columns = columns
        self.width = width

    @classmethod
    def from_example(cls, example):
        if example is None:
            return None
        if hasattr(example, "columns"):
            return cls(columns=[str(c) for c in example.columns])
        shape = getattr(example, "shape", None)
        if shape is not None and len(shape) == 2:
            return cls(width=int(shape[1]))
        return None

    def conform(self, data):
        """``data`` with the example's columns in the example's order; PayloadError when it cannot be."""
        if self.columns is not None and hasattr(data, "columns"):
            got = [str(c) for c in data.columns]
            missing = [c for c in self.columns if c not in got]
            if missing:
                raise PayloadError("input is missing columns {}; the model expects {}".format(missing, self.columns))
            if got != self.columns:
                data = data[self.columns]
        if self.width is not None and self.columns is None and hasattr(data, "to_numpy"):
            data = data.to_numpy()  # the model was trained on an array: column names would only confuse it
        width = self.width or (len(self.columns) if self.columns else None)
        shape = getattr(data, "shape", None)
        if width is not None and shape is not None and len(shape) == 2 and shape[1] != width:
            raise PayloadError("input has {} columns; the model expects {}".format(shape[1], width))
        return data
