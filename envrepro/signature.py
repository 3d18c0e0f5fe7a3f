"""Model signatures in MLflow's MLmodel form, inferred from an input example or given by the user.

MLmodel stores ``signature: {inputs: '<json>', outputs: '<json>', params: '<json>'}``; MLflow reads it with
``ModelSignature.from_dict`` and envrepro's runtime enforces it (``envrepro_runtime.signature``). Inference
follows MLflow's rules for the examples whose schema is unambiguous: a DataFrame gives named columns (a column
with missing values is optional), a numpy array an unnamed tensor whose first dimension is variable. Lists and
dicts get no signature: MLflow would turn them into DataFrames, and envrepro's models receive them as JSON.
Outputs are not inferred (that needs the model loaded); a ``signature=`` given by the user may have them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from envrepro_runtime.errors import ModelLoadError
from envrepro_runtime.signature import Signature

from .errors import EnvreproError

log = logging.getLogger(__name__)
KEYS = ("inputs", "outputs", "params")


class _NoInference(Exception):
    """The example's schema cannot be inferred the way MLflow would: no signature is written."""


def _numpy_type(dtype: Any) -> str:
    """MLflow's DataType name for a numpy (or pandas extension) dtype, as ``_infer_numpy_dtype`` maps it."""
    kind, size = dtype.kind, dtype.itemsize
    if kind == "b":
        return "boolean"
    if kind in "iu":
        if size < 4 or (kind == "i" and size == 4):
            return "integer"
        if size < 8 or (kind == "i" and size == 8):
            return "long"
    if kind == "f" and size <= 8:
        return "float" if size <= 4 else "double"
    if kind == "U":
        return "string"
    if kind == "S":
        return "binary"
    if kind == "M":
        return "datetime"
    raise _NoInference(f"dtype {dtype}")


def _column_type(column: Any) -> str:
    if column.dtype.kind == "O":
        column = column.infer_objects()
    if column.dtype.kind != "O":
        return _numpy_type(column.dtype)
    values = [v for v in column.tolist() if v is not None and v == v]  # v != v: NaN
    if values and all(isinstance(v, str) for v in values):
        return "string"
    if values and all(isinstance(v, (bytes, bytearray)) for v in values):
        return "binary"
    raise _NoInference(f"column {column.name!r} holds {sorted({type(v).__name__ for v in values}) or 'nothing'}")


def _name(name: Any) -> Any:
    name = name.item() if hasattr(name, "item") else name
    return name if isinstance(name, (str, int)) else str(name)


def _clean_tensor_dtype(dtype: Any) -> str:
    """MLflow keeps no size in flexible dtypes: '<U5' is 'str', '|S3' is 'bytes'."""
    return {"U": "str", "S": "bytes"}.get(dtype.char, dtype.name)


def _infer_inputs(example: Any) -> list[dict[str, Any]] | None:
    kind = type(example).__module__.split(".")[0] + "." + type(example).__name__
    if kind == "pandas.DataFrame":
        return [{"type": _column_type(example[column]), "name": _name(column),
                 "required": not bool(example[column].isna().any())} for column in example.columns]
    if kind == "numpy.ndarray":
        if example.dtype.kind == "O" or example.ndim == 0:
            raise _NoInference(f"an array of dtype {example.dtype} and shape {example.shape}")
        return [{"type": "tensor", "tensor-spec": {"dtype": _clean_tensor_dtype(example.dtype),
                                                   "shape": [-1, *example.shape[1:]]}}]
    return None


def infer_signature(example: Any) -> dict[str, str | None] | None:
    """MLmodel's ``signature`` for ``example``; None when MLflow's rules give none envrepro can stand by."""
    try:
        inputs = _infer_inputs(example)
    except _NoInference as exc:
        log.warning("no signature written: cannot infer a schema from the input example (%s); pass "
                    "signature= to save_model to give one", exc)
        return None
    if inputs is None:
        return None
    return {"inputs": json.dumps(inputs), "outputs": None, "params": None}


def _as_json(value: Any, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list):
        return json.dumps(value)
    raise EnvreproError(f"signature[{key!r}] must be a JSON string or a list, not {type(value).__name__}",
                        hint="pass MLflow's form: {'inputs': '[...]', 'outputs': '[...]', 'params': '[...]'} or "
                             "an mlflow.models.ModelSignature")


def coerce_signature(signature: Any) -> dict[str, str | None]:
    """A user's ``signature=`` (MLflow's dict form, or an object with ``to_dict()``) in MLmodel's form."""
    if hasattr(signature, "to_dict") and not isinstance(signature, dict):
        signature = signature.to_dict()
    if not isinstance(signature, dict):
        raise EnvreproError(f"signature must be a dict or an mlflow ModelSignature, not {type(signature).__name__}")
    unknown = sorted(set(signature) - set(KEYS))
    if unknown:
        raise EnvreproError(f"unknown keys {unknown} in signature", hint=f"a signature has only {list(KEYS)}")
    result = {key: _as_json(signature.get(key), key) for key in KEYS}
    try:
        Signature.from_spec(result)  # what the runtime cannot read must not be written
    except ModelLoadError as exc:
        raise EnvreproError(exc.message.replace(" in MLmodel", " given to save_model"),
                            hint="see MLflow's ModelSignature.to_dict() for the format") from None
    return result


def resolve_signature(signature: Any, input_example: Any) -> dict[str, str | None] | None:
    """What ``save_model`` writes: the given signature, none (``signature=False``), or one inferred."""
    if signature is False:
        return None
    if signature is not None:
        return coerce_signature(signature)
    return infer_signature(input_example) if input_example is not None else None
