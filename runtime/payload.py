"""MLflow's scoring protocol: request bodies into model input, predictions into JSON.

The structural checks (which keys, which shapes) need only the standard library, so the host runs them too,
before it builds an environment: a malformed input file fails in a blink, not after the env has started.
"""

import base64
import datetime
import io
import json
import logging

from .errors import PayloadError

log = logging.getLogger("envrepro.runtime")

JSON_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
JSON = "application/json"
CSV = "text/csv"
PARQUET = "application/vnd.apache.parquet"
CONTENT_TYPES = (JSON, CSV, PARQUET)


def decode_json(body):
    """The JSON object of a request; PayloadError when it is not valid JSON or not an object."""
    try:
        payload = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError("malformed JSON: {}".format(exc)) from None
    except RecursionError:
        raise PayloadError("malformed JSON: nested too deeply") from None
    if not isinstance(payload, dict):
        raise PayloadError("the JSON body must be an object with one of {}; received {}".format(
            list(JSON_KEYS), "a list" if isinstance(payload, list) else type(payload).__name__))
    return payload


def split_json(payload):
    """(format key, its value, params) of a decoded scoring request; PayloadError when it is not one.

    As ``mlflow models serve``: other top-level keys are ignored, and ``params`` is checked later, against the
    model's signature (a model without a params schema ignores it, whatever it is).
    """
    keys = [k for k in JSON_KEYS if k in payload]
    if len(keys) != 1:
        found = "found {}".format(keys) if keys else "found none"
        raise PayloadError("the JSON body must have exactly one of {}; {}".format(list(JSON_KEYS), found))
    unknown = sorted(set(payload) - set(JSON_KEYS) - {"params"})
    if unknown:
        log.debug("ignoring unknown keys %s in the JSON body", unknown)
    key = keys[0]
    value = payload[key]
    if key == "dataframe_split":
        if not isinstance(value, dict):
            raise PayloadError("dataframe_split must be an object with 'data' and optionally 'columns' and 'index'")
        if "data" not in value or set(value) - {"columns", "data", "index"}:
            raise PayloadError("dataframe_split must have 'data' and optionally 'columns' and 'index'; got {}"
                               .format(sorted(value)))
    if key == "dataframe_records" and not isinstance(value, list):
        raise PayloadError("dataframe_records must be a list of records")
    return key, value, payload.get("params")


def content_type_parts(content_type):
    """(media type, charset, other parameters) of a Content-Type header."""
    parts = [p.strip() for p in (content_type or "").split(";")]
    options = dict((k.strip().lower(), v.strip()) for k, _, v in (p.partition("=") for p in parts[1:] if p))
    charset = options.pop("charset", "utf-8").strip('"').lower()
    return parts[0].lower(), charset, sorted(options)


def check_content_type(content_type):
    """The media type of a request; 415 for what ``mlflow models serve`` answers 415 to."""
    kind, charset, others = content_type_parts(content_type)
    if charset != "utf-8":
        raise PayloadError("the scoring server only supports UTF-8, not charset {}".format(charset), status=415,
                           error_code="UNSUPPORTED_CONTENT_TYPE")
    if others:
        raise PayloadError("unrecognized content type parameters: {}".format(", ".join(others)), status=415,
                           error_code="UNSUPPORTED_CONTENT_TYPE")
    if kind not in CONTENT_TYPES:
        raise PayloadError("unsupported content type {!r}; use one of {}".format(content_type, list(CONTENT_TYPES)),
                           status=415, error_code="UNSUPPORTED_CONTENT_TYPE")
    return kind


def check_request(body, content_type):
    """Structural check of a request body with the standard library only (no pandas, no numpy)."""
    kind = check_content_type(content_type)
    if kind == JSON:
        split_json(decode_json(body))
    elif kind == CSV:
        _check_csv(body)


def _check_csv(body):
    import csv

    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        rows = list(csv.reader(io.StringIO(text)))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PayloadError("malformed CSV: {}".format(exc)) from None
    if not rows or not any(rows[0]):
        raise PayloadError("malformed CSV: no header row")


def _pandas(what):
    try:
        import pandas as pd
    except ImportError:
        raise PayloadError("{} needs pandas, which this model's environment does not have; "
                           "send 'instances' or 'inputs' instead".format(what)) from None
    return pd


def _dataframe(value, key):
    pd = _pandas(key)
    try:
        if key == "dataframe_split":
            return pd.DataFrame(value["data"], columns=value.get("columns"), index=value.get("index"))
        return pd.DataFrame(data=value)
    except Exception as exc:  # pandas raises ValueError, TypeError, AssertionError... for what it cannot frame
        raise PayloadError("cannot build a DataFrame from {}: {}".format(key, exc)) from None


def _tensor(value, key):
    try:
        import numpy as np
    except ImportError:
        return value
    if isinstance(value, dict):
        return dict((k, np.asarray(v)) for k, v in value.items())
    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        keys = list(value[0].keys())
        return dict((k, np.asarray([r.get(k) for r in value])) for k in keys)
    try:
        array = np.asarray(value)
    except ValueError as exc:
        raise PayloadError("{} is not a rectangular array: {}".format(key, exc)) from None
    if array.dtype == object:
        raise PayloadError("{} is not a rectangular array of numbers or strings".format(key))
    return array


def parse_json(body, signature=None):
    """(model input, params) of a JSON scoring request; a signature casts the input to its types, as MLflow."""
    key, value, params = split_json(decode_json(body))
    inputs = signature.inputs if signature is not None else None
    if key.startswith("dataframe"):
        if key == "dataframe_split" and inputs is not None:
            _pandas(key)
            frame = signature.split_frame(value)
            if frame is not None:
                return frame, params
        frame = _dataframe(value, key)
        return (signature.cast_frame(frame) if inputs is not None else frame), params
    if inputs is not None:
        return signature.parse_tensor_input(key, value), params
    return _tensor(value, key), params


def parse_csv(body, signature=None):
    pd = _pandas("text/csv")
    dtypes = signature.csv_dtypes() if signature is not None else None
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise PayloadError("malformed CSV: {}".format(exc)) from None
    try:
        return pd.read_csv(io.StringIO(text), dtype=dtypes) if dtypes else pd.read_csv(io.StringIO(text))
    except Exception as exc:  # pandas raises a zoo of parser errors
        raise PayloadError("malformed CSV: {}".format(exc)) from None


def parse_parquet(body):
    pd = _pandas(PARQUET)
    try:
        return pd.read_parquet(io.BytesIO(body))
    except ImportError as exc:
        raise PayloadError("parquet input needs pyarrow or fastparquet in the model's environment: {}".format(
            exc)) from None
    except Exception as exc:
        raise PayloadError("malformed parquet: {}".format(exc)) from None


def parse_request(body, content_type, signature=None):
    """(model input, params) of a request body of ``content_type``, read against the model's signature if any."""
    kind = check_content_type(content_type)
    if kind == JSON:
        return parse_json(body, signature)
    if kind == CSV:
        return parse_csv(body, signature), None
    return parse_parquet(body), None


def to_jsonable(value):
    """Predictions as plain JSON values, as MLflow's scoring server writes them.

    DataFrames and Series become lists of records (a Series is a one-column frame), arrays lists, numpy
    scalars Python ones, timestamps ISO strings, bytes base64.
    """
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # DataFrame
        return to_jsonable(value.to_dict(orient="records"))
    if hasattr(value, "to_frame") and hasattr(value, "index"):  # Series
        return to_jsonable(value.to_frame().to_dict(orient="records"))
    if isinstance(value, (bytes, bytearray)):
        return base64.encodebytes(bytes(value)).decode("ascii")
    if isinstance(value, (datetime.date, datetime.time)):  # pandas.Timestamp is a datetime
        return value.isoformat()
    if hasattr(value, "tolist"):  # ndarray, numpy scalar
        if not getattr(value, "ndim", 0):
            return to_jsonable(value.item() if hasattr(value, "item") else value.tolist())
        if getattr(value, "dtype", None) is not None and value.dtype.kind in "OS":
            return [to_jsonable(v) for v in value.tolist()]  # objects and bytes, element by element
        return value.tolist()
    if isinstance(value, dict):
        return dict((k if isinstance(k, (str, int, float, bool)) or k is None else str(k), to_jsonable(v))
                    for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def predictions_json(predictions):
    return json.dumps({"predictions": to_jsonable(predictions)}).encode("utf-8")


def error_json(error_code, message):
    return json.dumps({"error_code": error_code, "message": message}).encode("utf-8")
