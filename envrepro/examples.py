"""Input examples: saved as ``input_example.json`` in MLflow's formats, read back as the original type."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from envrepro_runtime.errors import ModelLoadError
from envrepro_runtime.payload import to_jsonable
from envrepro_runtime.schema import read_input_example

from .errors import ModelFormatError
from .fsutil import check_file
from .model import INPUT_EXAMPLE_FILE


def _cell(value: Any) -> Any:
    """One DataFrame cell as JSON: full float precision (pandas' to_json keeps 10 digits), ISO timestamps."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def save_input_example(example: Any, model_dir: Path) -> dict[str, Any]:
    """Write the example; return MLmodel's ``saved_input_example_info``."""
    kind = type(example).__module__.split(".")[0] + "." + type(example).__name__
    if kind == "pandas.DataFrame":
        payload: Any = {"columns": [_cell(c) for c in example.columns],
                        "data": [[_cell(v) for v in row] for row in example.itertuples(index=False, name=None)]}
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
    if isinstance(info, dict):  # a regular file of bounded size inside the model, before it is read
        check_file(Path(model_dir) / str(info.get("artifact_path", INPUT_EXAMPLE_FILE)), what="input example",
                   root=model_dir)
    try:
        return read_input_example(str(model_dir), info)
    except ModelLoadError as exc:
        raise ModelFormatError(exc.message, path=exc.path) from None
