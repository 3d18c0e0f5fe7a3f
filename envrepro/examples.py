"""Input examples: saved as ``input_example.json`` in MLflow's formats, read back as the original type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import ModelFormatError
from .model import INPUT_EXAMPLE_FILE
from .serving.payload import to_jsonable


def save_input_example(example: Any, model_dir: Path) -> dict[str, Any]:
    """Write the example; return MLmodel's ``saved_input_example_info``."""
    kind = type(example).__module__.split(".")[0] + "." + type(example).__name__
    if kind == "pandas.DataFrame":
        payload = json.loads(example.to_json(orient="split", index=False, date_format="iso"))
        info = {"artifact_path": INPUT_EXAMPLE_FILE, "type": "dataframe", "pandas_orient": "split"}
    elif kind == "numpy.ndarray":
        payload = {"inputs": example.tolist()}
        info = {"artifact_path": INPUT_EXAMPLE_FILE, "type": "ndarray", "format": "tf-serving"}
    elif isinstance(example, dict):
        payload = to_jsonable(example)
        info = {"artifact_path": INPUT_EXAMPLE_FILE, "type": "json_object"}
    elif isinstance(example, (list, tuple)):
        payload = to_jsonable(list(example))
        info = {"artifact_path": INPUT_EXAMPLE_FILE, "type": "json_list"}
    else:
        raise ModelFormatError(
            f"input_example of type {type(example).__name__} is not supported",
            hint="use a pandas DataFrame, numpy array, dict or list",
        )
    (model_dir / INPUT_EXAMPLE_FILE).write_text(json.dumps(payload), encoding="utf-8")
    return info


def load_input_example(model_dir: Path, info: dict[str, Any] | None) -> Any:
    """The example as the model expects it (DataFrame, ndarray, dict or list); None when absent."""
    if not info:
        return None
    path = model_dir / str(info.get("artifact_path", INPUT_EXAMPLE_FILE))
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFormatError("input example named in MLmodel is missing", path=path) from None
    except (OSError, ValueError) as exc:
        raise ModelFormatError(f"malformed input example: {exc}", path=path) from None
    kind = info.get("type")
    if kind == "dataframe":
        import pandas as pd

        if isinstance(payload, dict) and "dataframe_split" in payload:  # MLflow >= 2.20 serving format
            payload = payload["dataframe_split"]
        return pd.DataFrame(payload.get("data", []), columns=payload.get("columns"))
    if kind == "ndarray":
        import numpy as np

        return np.asarray(payload["inputs"] if isinstance(payload, dict) and "inputs" in payload else payload)
    return payload
