"""MLflow's scoring protocol: request bodies into model input, predictions into JSON.

The structural checks (which keys, which shapes) need only the standard library, so the host runs them too,
before it builds an environment: a malformed input file fails in a blink, not after the env has started.
"""

import io
import json

from .errors import PayloadError

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
        raise PayloadError("malformed JSON: {}".format(exc), error_code="MALFORMED_REQUEST")
    except RecursionError:
        raise PayloadError("malformed JSON: nested too deeply", error_code="MALFORMED_REQUEST")
    if not isinstance(payload, dict):
        raise PayloadError("the JSON body must be an object with one of {}".format(list(JSON_KEYS)))
    return payload


def split_json(payload):
    """(format key, its value, params) of a decoded scoring request; PayloadError when it is not one."""
    keys = [k for k in JSON_KEYS if k in payload]
    if len(keys) != 1:
        found = "found {}".format(keys) if keys else "found none"
        raise PayloadError("the JSON body must have exactly one of {}; {}".format(list(JSON_KEYS), found))
    unknown = sorted(set(payload) - set(JSON_KEYS) - {"params"})
    if unknown:
        raise PayloadError("unknown keys {} in the JSON body; allowed: {}".format(
            unknown, list(JSON_KEYS) + ["params"]))
    params = payload.get("params")
    if params is not None and not isinstance(params, dict):
        raise PayloadError("'params' must be an object")
    key = keys[0]
    value = payload[key]
    if key == "dataframe_split" and (not isinstance(value, dict) or "data" not in value):
        raise PayloadError("dataframe_split must be an object with 'columns' and 'data'")
    if key == "dataframe_records" and (not isinstance(value, list) or not all(isinstance(r, dict) for r in value)):
        raise PayloadError("dataframe_records must be a list of objects")
    return key, value, params


def media_type(content_type):
    return (content_type or "").split(";")[0].strip().lower()


def check_request(body, content_type):
    """Structural check of a request body with the standard library only (no pandas, no numpy)."""
    kind = media_type(content_type)
    if kind == JSON:
        split_json(decode_json(body))
    elif kind == CSV:
        _check_csv(body)
    elif kind != PARQUET:
        raise PayloadError("unsupported content type {!r}; use one of {}".format(content_type, list(CONTENT_TYPES)),
                           status=415, error_code="UNSUPPORTED_CONTENT_TYPE")


def _check_csv(body):
    import csv

    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        rows = list(csv.reader(io.StringIO(text)))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PayloadError("malformed CSV: {}".format(exc), error_code="MALFORMED_REQUEST")
    if not rows or not any(rows[0]):
        raise PayloadError("malformed CSV: no header row", error_code="MALFORMED_REQUEST")


def _pandas(what):
    try:
        import pandas as pd
    except ImportError:
        raise PayloadError("{} needs pandas, which this model's environment does not have; "
                           "send 'instances' or 'inputs' instead".format(what))
    return pd


def _dataframe(value, key):
    pd = _pandas(key)
    try:
        if key == "dataframe_split":
            return pd.DataFrame(value["data"], columns=value.get("columns"), index=value.get("index"))
        return pd.DataFrame.from_records(value)
    except (ValueError, TypeError) as exc:
        raise PayloadError("cannot build a DataFrame from {}: {}".format(key, exc))


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
        raise PayloadError("{} is not a rectangular array: {}".format(key, exc))
    if array.dtype == object:
        raise PayloadError("{} is not a rectangular array of numbers or strings".format(key))
    return array


def parse_json(body):
    """(model input, params) of a JSON scoring request."""
    key, value, params = split_json(decode_json(body))
    if key.startswith("dataframe"):
        return _dataframe(value, key), params
    return _tensor(value, key), params


def parse_csv(body):
    pd = _pandas("text/csv")
    try:
        return pd.read_csv(io.BytesIO(body if isinstance(body, bytes) else body.encode("utf-8")))
    except Exception as exc:  # pandas raises a zoo of parser errors
        raise PayloadError("malformed CSV: {}".format(exc), error_code="MALFORMED_REQUEST")


def parse_parquet(body):
    pd = _pandas(PARQUET)
    try:
        return pd.read_parquet(io.BytesIO(body))
    except ImportError as exc:
        raise PayloadError("parquet input needs pyarrow or fastparquet in the model's environment: {}".format(exc))
    except Exception as exc:
        raise PayloadError("malformed parquet: {}".format(exc), error_code="MALFORMED_REQUEST")


def parse_request(body, content_type):
    """(model input, params) of a request body of ``content_type``."""
    kind = media_type(content_type)
    if kind == JSON:
        return parse_json(body)
    if kind == CSV:
        return parse_csv(body), None
    if kind == PARQUET:
        return parse_parquet(body), None
    raise PayloadError("unsupported content type {!r}; use one of {}".format(content_type, list(CONTENT_TYPES)),
                       status=415, error_code="UNSUPPORTED_CONTENT_TYPE")


def to_jsonable(value):
    """Predictions (DataFrame, Series, ndarray, numpy scalars, nested containers) as plain JSON values."""
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # DataFrame
        return json.loads(value.to_json(orient="records"))
    if hasattr(value, "tolist"):  # ndarray, Series, numpy scalars
        return value.tolist()
    if isinstance(value, dict):
        return dict((str(k), to_jsonable(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def predictions_json(predictions):
    return json.dumps({"predictions": to_jsonable(predictions)}).encode("utf-8")


def error_json(error_code, message):
    return json.dumps({"error_code": error_code, "message": message}).encode("utf-8")
