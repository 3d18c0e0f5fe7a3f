"""MLflow's scoring protocol: turn a request body into model input, predictions into JSON."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

JSON_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
CONTENT_TYPES = ("application/json", "text/csv")


class PayloadError(Exception):
    """A bad request: answered with ``status`` and a JSON error body."""

    def __init__(self, message: str, *, status: int = 400, error_code: str = "BAD_REQUEST"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code


@dataclass
class Schema:
    """What the model's input example says about valid inputs (columns or width)."""

    columns: list[str] | None = None
    width: int | None = None

    @classmethod
    def from_example(cls, example: Any) -> Schema | None:
        if example is None:
            return None
        if hasattr(example, "columns"):
            return cls(columns=[str(c) for c in example.columns])
        shape = getattr(example, "shape", None)
        if shape is not None and len(shape) == 2:
            return cls(width=int(shape[1]))
        return None

    def conform(self, data: Any) -> Any:
        """``data`` with the example's columns in the example's order; PayloadError when it cannot be."""
        if self.columns is not None and hasattr(data, "columns"):
            got = [str(c) for c in data.columns]
            missing = [c for c in self.columns if c not in got]
            if missing:
                raise PayloadError(f"input is missing columns {missing}; the model expects {self.columns}")
            if got != self.columns:
                data = data[self.columns]
        if self.width is not None and self.columns is None and hasattr(data, "to_numpy"):
            data = data.to_numpy()  # the model was trained on an array: column names would only confuse it
        width = self.width or (len(self.columns) if self.columns else None)
        shape = getattr(data, "shape", None)
        if width is not None and shape is not None and len(shape) == 2 and shape[1] != width:
            raise PayloadError(f"input has {shape[1]} columns; the model expects {width}")
        return data


def _dataframe(payload: Any, orient: str) -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise PayloadError(f"{orient} needs pandas, which this model's environment does not have; "
                           "send 'instances' or 'inputs' instead") from None
    try:
        if orient == "dataframe_split":
            if not isinstance(payload, dict) or "data" not in payload:
                raise PayloadError("dataframe_split must be an object with 'columns' and 'data'")
            return pd.DataFrame(payload["data"], columns=payload.get("columns"), index=payload.get("index"))
        if not isinstance(payload, list) or not all(isinstance(r, dict) for r in payload):
            raise PayloadError("dataframe_records must be a list of objects")
        return pd.DataFrame.from_records(payload)
    except PayloadError:
        raise
    except (ValueError, TypeError) as exc:
        raise PayloadError(f"cannot build a DataFrame from {orient}: {exc}") from None


def _tensor(payload: Any, key: str) -> Any:
    try:
        import numpy as np
    except ImportError:
        return payload
    if isinstance(payload, dict):
        return {k: np.asarray(v) for k, v in payload.items()}
    if isinstance(payload, list) and payload and all(isinstance(r, dict) for r in payload):
        keys = payload[0].keys()
        return {k: np.asarray([r.get(k) for r in payload]) for k in keys}
    try:
        array = np.asarray(payload)
    except ValueError as exc:
        raise PayloadError(f"{key} is not a rectangular array: {exc}") from None
    if array.dtype == object:
        raise PayloadError(f"{key} is not a rectangular array of numbers or strings")
    return array


def parse_json(body: bytes) -> tuple[Any, dict[str, Any] | None]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"malformed JSON: {exc}", error_code="MALFORMED_REQUEST") from None
    if not isinstance(payload, dict):
        raise PayloadError(f"the JSON body must be an object with one of {list(JSON_KEYS)}")
    keys = [k for k in JSON_KEYS if k in payload]
    unknown = sorted(set(payload) - set(JSON_KEYS) - {"params"})
    if len(keys) != 1:
        found = f"found {keys}" if keys else "found none"
        raise PayloadError(f"the JSON body must have exactly one of {list(JSON_KEYS)}; {found}")
    if unknown:
        raise PayloadError(f"unknown keys {unknown} in the JSON body; allowed: {list(JSON_KEYS) + ['params']}")
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise PayloadError("'params' must be an object")
    key = keys[0]
    if key.startswith("dataframe"):
        return _dataframe(payload[key], key), params
    return _tensor(payload[key], key), params


def parse_csv(body: bytes) -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise PayloadError("text/csv needs pandas, which this model's environment does not have") from None
    try:
        return pd.read_csv(io.BytesIO(body))
    except Exception as exc:  # pandas raises a zoo of parser errors
        raise PayloadError(f"malformed CSV: {exc}", error_code="MALFORMED_REQUEST") from None


def parse_request(body: bytes, content_type: str | None) -> tuple[Any, dict[str, Any] | None]:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/json":
        return parse_json(body)
    if kind == "text/csv":
        return parse_csv(body), None
    raise PayloadError(f"unsupported content type {content_type!r}; use one of {list(CONTENT_TYPES)}",
                       error_code="UNSUPPORTED_CONTENT_TYPE")


def to_jsonable(value: Any) -> Any:
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # DataFrame
        return json.loads(value.to_json(orient="records"))
    if hasattr(value, "tolist"):  # ndarray, Series, numpy scalars
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def predictions_json(predictions: Any) -> bytes:
    return json.dumps({"predictions": to_jsonable(predictions)}).encode()


def error_json(error_code: str, message: str) -> bytes:
    return json.dumps({"error_code": error_code, "message": message}).encode()
