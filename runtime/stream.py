"""``stream``: one long-lived predictor that scores batch after batch sent over a pipe (Spark's UDF uses it).

The host starts ``bootstrap.py --report json stream --spec @FILE`` once and keeps it: the model loads once,
then a batch costs one round trip -- no process start, no HTTP, no JSON for numbers. The process ends when
its stdin closes (the host closed it, or the host died).

Every message is ``<u32 header length><u32 body length>`` (little-endian), then the header (a UTF-8 JSON
object), then the body (bytes):

1. the worker, once the model is loaded: ``{"ok": true, "op": "ready", "python": "3.8.18", "formats": [...],
   "pid": N}``. A load failure ends the process with the usual report line on stderr instead.
2. the host, per batch: ``{"op": "predict", "format": F, "params": {...} | null, ...}`` and the batch, F being
   the first of the worker's ``formats`` that the host writes:

   - ``arrow``: the body is an Arrow IPC stream (one record batch), read as a DataFrame. Offered when the
     environment has pyarrow >= 1.0 and pandas.
   - ``columns``: the header's ``columns`` (``{"name", "enc", "size", "dtype", "shape"}`` each) describe the
     body's parts, one after the other: ``raw`` a numpy buffer of ``dtype`` (numbers, booleans, datetimes: any
     numpy reads it without parsing), ``json`` a JSON list (strings, nulls, nested lists), ``b64`` a JSON list
     of base64 strings (bytes). Read as a DataFrame; offered when the environment has numpy and pandas.
   - ``json``: the body is an MLflow scoring request (``{"inputs": rows}``), parsed as ``predict`` parses it.
     Offered always; the host uses it only when the environment lacks pandas.

   A DataFrame is cast to the signature's types as ``dataframe_split`` input is, then the signature is
   enforced and the model predicts: the same steps, and the same predictions, as ``envrepro predict``.
3. the worker, per batch: ``{"ok": true, "value": V, "columns": [...]}`` and the predictions, in the
   ``columns`` encoding; V is their shape (``frame``, ``series``, ``array``, ``dict`` of columns, or ``json``
   for anything else, as ``to_jsonable`` writes it). Or ``{"ok": false, "report": R, "details": TRACEBACK}``
   with R as :func:`envrepro_runtime.errors.make_report` makes it; the worker then waits for the next batch.

Whatever the model prints goes to stderr: the protocol has stdout to itself.
"""

import base64
import json
import os
import struct
import sys
import traceback

from .bytecode import compile_imported_later
from .errors import PayloadError, make_report, python_version
from .payload import parse_json, to_jsonable
from .scoring import ModelPredictError, predict_parsed

_HEAD = struct.Struct("<II")
RAW_KINDS = "biufcmM"  # numpy dtype kinds sent as raw buffers: bool, ints, floats, complex, timedelta, datetime


# -- framing ---------------------------------------------------------------------------------------------------

def read_message(stream):
    """(header, body) of the next message; None when the stream ended between messages."""
    head = _read_exact(stream, _HEAD.size, at_start=True)
    if head is None:
        return None
    header_size, body_size = _HEAD.unpack(bytes(head))
    header = json.loads(bytes(_read_exact(stream, header_size)).decode("utf-8"))
    return header, _read_exact(stream, body_size)


def _read_exact(stream, size, at_start=False):
    buf = bytearray(size)  # writable: numpy arrays made on it can be changed in place by the model
    view = memoryview(buf)
    got = 0
    while got < size:
        n = stream.readinto(view[got:])
        if not n:
            if got == 0 and at_start:
                return None
            raise EOFError("the stream ended inside a message")
        got += n
    return buf


def write_message(stream, header, parts=()):
    """One message: ``header`` (a JSON object) and ``parts`` (bytes-like objects) as its body."""
    head = json.dumps(header).encode("utf-8")
    views = [memoryview(part) for part in parts]
    stream.write(_HEAD.pack(len(head), sum(v.nbytes for v in views)))
    stream.write(head)
    for view in views:
        if view.nbytes:
            stream.write(view)
    stream.flush()


# -- the columns encoding ----------------------------------------------------------------------------------------

def _numpy_values(values):
    """``values`` as a numpy array of a raw-able dtype, else None (lists, objects, pandas extension arrays)."""
    np = sys.modules.get("numpy")
    if np is None:
        return None
    array = values if isinstance(values, np.ndarray) else getattr(values, "values", None)
    if isinstance(array, np.ndarray) and array.dtype.kind in RAW_KINDS:
        return array
    return None


def _is_missing(cell):
    if cell is None:
        return True
    if type(cell).__name__ in ("NAType", "NaTType"):  # pandas' missing markers, without importing pandas
        return True
    if isinstance(cell, float) or (getattr(cell, "dtype", None) is not None and getattr(cell, "ndim", 1) == 0):
        try:
            return bool(cell != cell)  # NaN, numpy NaN/NaT scalars
        except (TypeError, ValueError):
            return False
    return False


def encode_array(values):
    """(column header without its name, body part) for one column: an ndarray, a pandas Series or a list."""
    array = _numpy_values(values)
    if array is not None:
        np = sys.modules["numpy"]
        data = np.ascontiguousarray(array)
        return ({"enc": "raw", "dtype": data.dtype.str, "shape": list(data.shape), "size": data.nbytes},
                data.reshape(-1).view("u1"))
    cells = values.tolist() if hasattr(values, "tolist") else list(values)
    if any(isinstance(c, (bytes, bytearray)) for c in cells) and \
            all(isinstance(c, (bytes, bytearray)) or _is_missing(c) for c in cells):
        cells = [None if _is_missing(c) else base64.b64encode(bytes(c)).decode("ascii") for c in cells]
        enc = "b64"
    else:
        cells = [None if _is_missing(c) else to_jsonable(c) for c in cells]
        enc = "json"
    data = json.dumps(cells).encode("utf-8")
    return {"enc": enc, "size": len(data)}, data


def _name(name):
    """A column name JSON keeps as it is (str, int, float, bool, None); anything else as its str()."""
    return name if name is None or isinstance(name, (str, int, float, bool)) else str(name)


def encode_columns(names, columns):
    """(column headers, body parts) of several columns."""
    specs, parts = [], []
    for name, values in zip(names, columns):
        spec, part = encode_array(values)
        spec["name"] = _name(name)
        specs.append(spec)
        parts.append(part)
    return specs, parts


def decode_columns(specs, body):
    """The columns of a ``columns``-encoded body: numpy arrays (``raw``) or lists."""
    view = memoryview(body)
    offset = 0
    columns = []
    for spec in specs:
        size = spec["size"]
        chunk = view[offset:offset + size]
        offset += size
        if spec["enc"] == "raw":
            import numpy as np

            dtype = np.dtype(str(spec["dtype"]))
            array = np.frombuffer(chunk, dtype=dtype) if size else np.empty(0, dtype=dtype)
            columns.append(array.reshape(spec["shape"]))
            continue
        cells = json.loads(bytes(chunk).decode("utf-8"))
        if spec["enc"] == "b64":
            cells = [None if c is None else base64.b64decode(c.encode("ascii")) for c in cells]
        columns.append(cells)
    if offset != len(view):
        raise ValueError("the message's body has {} bytes, its columns {}".format(len(view), offset))
    return columns


def make_frame(names, columns, rows):
    """A DataFrame of ``columns`` (duplicate names kept), ``rows`` long even with no columns."""
    import pandas as pd

    if not columns:
        return pd.DataFrame(index=range(rows))
    frame = pd.DataFrame(dict((i, column) for i, column in enumerate(columns)), columns=list(range(len(columns))))
    frame.columns = names
    return frame


def encode_value(value):
    """(reply header, body parts) for whatever a model's predict returned."""
    np = sys.modules.get("numpy")
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        names = list(value.columns)
        specs, parts = encode_columns(names, [value.iloc[:, i] for i in range(len(names))])
        return {"value": "frame", "rows": len(value), "columns": specs}, parts
    if pd is not None and isinstance(value, pd.Series):
        specs, parts = encode_columns([value.name], [value])
        return {"value": "series", "columns": specs}, parts
    if np is not None and isinstance(value, np.ndarray):
        specs, parts = encode_columns([None], [value])
        return {"value": "array", "columns": specs}, parts
    if isinstance(value, dict) and value and all(_is_column(v) for v in value.values()):
        specs, parts = encode_columns(list(value), list(value.values()))
        return {"value": "dict", "columns": specs}, parts
    data = json.dumps(to_jsonable(value)).encode("utf-8")
    return {"value": "json", "columns": [{"enc": "json", "size": len(data), "name": None}]}, [data]


def _is_column(value):
    np = sys.modules.get("numpy")
    return isinstance(value, (list, tuple)) or (np is not None and isinstance(value, np.ndarray)) or \
        type(value).__name__ == "Series"


def decode_value(header, body):
    """The predictions of a reply: DataFrame, Series, ndarray, dict of columns, or JSON values."""
    specs = header["columns"]
    columns = decode_columns(specs, body)
    names = [spec.get("name") for spec in specs]
    kind = header["value"]
    if kind == "json":
        return columns[0]
    if kind == "frame":
        return make_frame(names, columns, header["rows"])
    if kind == "series":
        import pandas as pd

        return pd.Series(columns[0], name=names[0])
    if kind == "array":
        import numpy as np

        return columns[0] if isinstance(columns[0], np.ndarray) else np.asarray(columns[0])
    if kind == "dict":
        return dict(zip(names, columns))
    raise ValueError("unknown value kind {!r}".format(kind))


# -- the worker's side ---------------------------------------------------------------------------------------------

def available_formats():
    """The input formats this environment reads, best first."""
    try:
        import numpy  # noqa: F401
        import pandas  # noqa: F401
    except ImportError:
        return ["json"]
    formats = ["columns", "json"]
    try:
        import pyarrow

        if int(pyarrow.__version__.split(".")[0]) >= 1:
            formats.insert(0, "arrow")
    except Exception:  # absent, or broken against this numpy: the columns encoding does without it
        pass
    return formats


def model_input(header, body, signature):
    """The model's input from one batch message, parsed as ``predict`` parses its requests."""
    kind = header.get("format")
    if kind == "json":
        data, _ = parse_json(bytes(body), signature)
        return data
    if kind == "arrow":
        import pyarrow as pa

        frame = pa.ipc.open_stream(pa.py_buffer(body)).read_all().to_pandas()
    elif kind == "columns":
        specs = header["columns"]
        frame = make_frame([s.get("name") for s in specs], decode_columns(specs, body), header["rows"])
    else:
        raise ValueError("unknown batch format {!r}".format(kind))
    if signature is not None and signature.inputs is not None:
        frame = signature.cast_frame(frame)
    return frame


def _claim_stdio():
    """(input, output) of the protocol; fds 0 and 1 then point at /dev/null and stderr, so a model that reads
    stdin or prints cannot break the stream."""
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout.flush()
    os.dup2(2, 1)
    return proto_in, proto_out


def serve_stream(load_model, whose):
    """Load the model, say so, then answer batches until stdin closes. ``whose(exc)``: "model" or "runtime"."""
    proto_in, proto_out = _claim_stdio()
    model = load_model()
    write_message(proto_out, {"ok": True, "op": "ready", "python": python_version(),
                              "formats": available_formats(), "pid": os.getpid()})
    compiled = False
    while True:
        message = read_message(proto_in)
        if message is None:
            return 0
        header, body = message
        parts = ()
        try:
            data = model_input(header, body, model.signature)
            reply, parts = encode_value(predict_parsed(model, data, header.get("params")))
            reply["ok"] = True
        except PayloadError as exc:
            reply = _failed(make_report("input", "input", exc.message))
        except ModelPredictError as exc:
            reply = _failed(make_report(whose(exc.__cause__), "predict", str(exc)), exc.details)
        except Exception as exc:
            reply = _failed(make_report(whose(exc), "predict", "{}: {}".format(type(exc).__name__, exc)))
        write_message(proto_out, reply, parts)
        if not compiled:
            compile_imported_later()  # the next predictor starts from bytecode
            compiled = True


def _failed(report, details=None):
    return {"ok": False, "report": report, "details": details or traceback.format_exc()}
