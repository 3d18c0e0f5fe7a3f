"""MLflow model signatures, applied to requests the way MLflow 3.x's scoring server and PyFuncModel apply them.

MLmodel's ``signature`` holds three JSON strings: ``inputs`` (a column-based or a tensor-based schema),
``outputs`` (not enforced, by MLflow either) and ``params`` (a ParamSchema). Three moments, as in MLflow:

1. **parsing** (:meth:`Signature.csv_dtypes`, :meth:`Signature.cast_frame`, :meth:`Signature.parse_tensor_input`):
   CSV is read with the schema's dtypes, JSON DataFrames are cast with ``astype`` (a failure is the request's
   ``BAD_REQUEST``), ``instances``/``inputs`` become arrays of the schema's types;
2. **enforcement** (:meth:`Signature.enforce`, before ``predict``): required columns, MLflow's safe conversions
   (int -> long, float -> double, int32 -> double, ...), tensor shapes and dtypes. A failure is
   ``INVALID_PARAMETER_VALUE``; extra columns are dropped, columns are put in the schema's order;
3. **params** (:meth:`Signature.enforce_params`): defaults filled in, safe conversions, unknown names dropped.

The rules were read from MLflow 3.17.2 (``mlflow/models/utils.py``, ``mlflow/utils/proto_json_utils.py``) and
are checked against the real server by ``tests/serving/test_mlflow_parity.py``. Complex column types (Array,
Object, Map, Any) are recognised but not type-checked: their columns only have to be present.
"""

import base64
import json
import logging
import sys

from .errors import ModelLoadError, PayloadError

log = logging.getLogger("envrepro.runtime")

# MLflow DataType name -> numpy dtype name (``to_numpy``); string and binary are object columns in pandas.
NUMPY_TYPES = {"boolean": "bool", "integer": "int32", "long": "int64", "float": "float32", "double": "float64",
               "string": "str", "binary": "bytes", "datetime": "datetime64[ns]"}
PANDAS_OBJECT_TYPES = ("string", "binary")
# A param of the key's type also accepts values of these types (MLflow's _ALLOWED_CONVERSIONS_FOR_PARAMS).
PARAM_CONVERSIONS = {"long": ("integer",), "float": ("integer", "long"), "double": ("integer", "long", "float")}
PYTHON_TYPES = {"boolean": (bool,), "integer": (int,), "long": (int,), "float": (float,), "double": (float,),
                "string": (str,), "binary": (bytes, bytearray)}


def _invalid(message):
    """A request the signature rejects once parsed: MLflow's INVALID_PARAMETER_VALUE (400)."""
    return PayloadError(message, error_code="INVALID_PARAMETER_VALUE")


def _bad_input(message):
    """A request that cannot be parsed against the signature: MLflow's "Invalid input." BAD_REQUEST (400)."""
    return PayloadError("Invalid input. {}".format(message))


class SchemaViolation(Exception):
    """One rule of the input schema broken; worded into an INVALID_PARAMETER_VALUE by :meth:`Signature.enforce`."""


class ColSpec(object):
    def __init__(self, type_, name=None, required=True):
        self.type = type_  # a DataType name, or a dict for Array/Object/Map/Any (not type-checked)
        self.name = name
        self.required = required

    @property
    def is_datatype(self):
        return not isinstance(self.type, dict)

    def numpy_type(self):
        import numpy as np

        return np.dtype(NUMPY_TYPES[self.type])

    def pandas_type(self):
        import numpy as np

        return object if self.type in PANDAS_OBJECT_TYPES else np.dtype(NUMPY_TYPES[self.type])

    def __repr__(self):
        kind = self.type if self.is_datatype else self.type.get("type", "?")
        state = "required" if self.required else "optional"
        return "{}{} ({})".format("" if self.name is None else "{!r}: ".format(self.name), kind, state)


class TensorSpec(object):
    required = True

    def __init__(self, dtype, shape, name=None):
        self.dtype = dtype
        self.shape = tuple(shape)
        self.name = name

    def numpy_type(self):
        import numpy as np

        return np.dtype(self.dtype)

    def __repr__(self):
        text = "Tensor({!r}, {!r})".format(self.dtype, self.shape)
        return text if self.name is None else "{!r}: {}".format(self.name, text)


class ParamSpec(object):
    def __init__(self, name, type_, default, shape=None):
        self.name = str(name)
        self.type = type_
        self.default = default
        self.shape = tuple(shape) if shape is not None else None

    def __repr__(self):
        kind = self.type if not isinstance(self.type, dict) else self.type.get("type", "object")
        text = "{!r}: {} (default: {})".format(self.name, kind, self.default)
        return text + (" (shape: {})".format(self.shape) if self.shape is not None else "")


def _json_list(value, what):
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = json.loads(value)
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError("{} must be a JSON list".format(what))
    return value


def _read_input(entry):
    if entry.get("type") == "tensor":
        info = entry["tensor-spec"]
        return TensorSpec(info["dtype"], info["shape"], entry.get("name"))
    required = entry.get("required", True)
    required = True if required is None else bool(required)
    if entry["type"] in NUMPY_TYPES:
        return ColSpec(entry["type"], entry.get("name"), required)
    complex_type = dict((k, v) for k, v in entry.items() if k not in ("name", "required"))
    return ColSpec(complex_type, entry.get("name"), required)


class Schema(object):
    def __init__(self, inputs):
        if not inputs:
            raise ValueError("an input schema needs at least one input")
        self.inputs = inputs

    @property
    def is_tensor(self):
        return isinstance(self.inputs[0], TensorSpec)

    @property
    def has_names(self):
        return self.inputs[0].name is not None

    def names(self):
        return [spec.name if spec.name is not None else i for i, spec in enumerate(self.inputs)]

    def required_names(self):
        return [spec.name if spec.name is not None else i for i, spec in enumerate(self.inputs) if spec.required]

    def optional_names(self):
        return [spec.name for spec in self.inputs if not spec.required]

    def by_name(self):
        return dict((spec.name, spec) for spec in self.inputs) if self.has_names else {}

    def __repr__(self):
        return repr(self.inputs)


class Signature(object):
    """A model's signature as MLmodel stores it; ``inputs`` and ``params`` may each be None."""

    def __init__(self, inputs=None, params=None):
        self.inputs = inputs
        self.params = params

    @classmethod
    def from_spec(cls, raw):
        """The signature of MLmodel's ``signature`` mapping (values are JSON strings); None when there is none."""
        if not raw:
            return None
        if not isinstance(raw, dict):
            raise ModelLoadError("MLmodel's signature must be a mapping with 'inputs', 'outputs' and 'params'")
        try:
            inputs = _json_list(raw.get("inputs"), "signature inputs")
            params = _json_list(raw.get("params"), "signature params")
            schema = Schema([_read_input(entry) for entry in inputs]) if inputs else None
            param_specs = [_param_spec(p) for p in params] if params else None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelLoadError("malformed signature in MLmodel: {}: {}".format(type(exc).__name__, exc),
                                 hint="fix or remove the signature in MLmodel") from None
        return cls(schema, param_specs)

    def usable(self):
        """Without the data libraries the schema needs, only params are checked (MLflow could not run at all)."""
        if self.inputs is None:
            return self
        try:
            import numpy  # noqa: F401
            if not self.inputs.is_tensor:
                import pandas  # noqa: F401
        except ImportError as exc:
            log.warning("the model's input schema is not enforced: %s is not in its environment", exc.name)
            self.inputs = None
        return self

    # -- 1. parsing ------------------------------------------------------------------------------------------

    def csv_dtypes(self):
        """``dtype=`` for ``pandas.read_csv``, as MLflow's ``parse_csv_input`` passes it; None when not typed."""
        schema = self.inputs
        if schema is None or schema.is_tensor or not all(spec.is_datatype for spec in schema.inputs):
            return None
        return dict(zip(schema.names(), [spec.pandas_type() for spec in schema.inputs]))

    def cast_frame(self, frame):
        """A JSON-built DataFrame cast to the schema's types (MLflow's ``cast_df_types_according_to_schema``)."""
        schema = self.inputs
        if schema is None:
            return frame
        import numpy as np
        import pandas as pd

        columns = list(frame.columns)
        if schema.has_names:
            pairs = zip(schema.names(), schema.inputs)
        elif schema.is_tensor and len(schema.inputs) == 1:
            pairs = [(c, schema.inputs[0]) for c in columns]
        else:
            pairs = zip(columns, schema.inputs)
        string_dtype = getattr(pd, "StringDtype", None)
        for name, spec in pairs:
            if name not in columns:
                continue
            try:
                if isinstance(spec, ColSpec) and not spec.is_datatype:
                    continue  # Array/Object/Map/Any: not converted here
                if isinstance(spec, ColSpec) and spec.type == "binary":
                    frame[name] = frame[name].map(lambda x: base64.decodebytes(bytes(x, "utf8")))
                    continue
                if isinstance(spec, TensorSpec) and len(frame) and isinstance(frame[name].iloc[0], list):
                    continue  # a multi-dimensional column: reshaped by enforce()
                target = spec.pandas_type() if isinstance(spec, ColSpec) else spec.numpy_type()
                if isinstance(spec, ColSpec) and spec.type == "datetime":
                    frame[name] = pd.to_datetime(frame[name])
                    continue
                if target == np.dtype(bytes):
                    frame[name] = frame[name].map(lambda x: bytes(x, "utf8"))
                    continue
                # == on purpose: a numpy object dtype equals `object` without being it
                is_text = target == object or getattr(target, "kind", None) == "U"  # noqa: E721
                if is_text and string_dtype is not None and isinstance(frame[name].dtype, string_dtype):
                    continue  # pandas 3 strings are already strings
                frame[name] = frame[name].astype(target)
            except Exception as exc:
                raise _bad_input("Data is not compatible with model signature. Failed to convert column {} to "
                                 "type '{}'. Error: '{!r}'".format(name, target_name(spec), exc)) from None
        return frame

    def split_frame(self, value):
        """A ``dataframe_split`` of numbers straight to the frame :meth:`cast_frame` would make, or None.

        For a schema of named ``double`` columns only, and exactly those columns: numbers (bool, int, float) in a
        rectangle become one float64 array, which is what building the frame column by column and casting each
        column to float64 gives, value for value, at a fraction of the cost. Anything else (other types, missing,
        extra or repeated columns, None, strings, ragged rows) returns None and takes MLflow's path.
        """
        schema = self.inputs
        columns = value.get("columns") if isinstance(value, dict) else None
        if (schema is None or not schema.has_names or not isinstance(columns, list)
                or any(not isinstance(spec, ColSpec) or spec.type != "double" for spec in schema.inputs)
                or len(set(columns)) != len(columns) or set(columns) != set(schema.names())):
            return None
        import numpy as np
        import pandas as pd

        try:
            array = np.array(value.get("data"))
        except Exception:
            return None
        if array.ndim != 2 or array.shape[1] != len(columns) or array.dtype.kind not in "biuf":
            return None
        try:
            return pd.DataFrame(array.astype(np.float64), columns=columns, index=value.get("index"))
        except Exception:  # a bad index: MLflow's path reports it
            return None

    def parse_tensor_input(self, key, value):
        """``instances``/``inputs`` against the schema (MLflow's ``parse_tf_serving_input``)."""
        if key == "instances" and isinstance(value, list) and value and isinstance(value[0], dict):
            return self._instance_records(value)
        data = self._cast_to_schema(value)
        if key == "instances" and isinstance(data, dict):
            self._check_lengths(data)
        return data

    def _instance_records(self, records):
        import numpy as np

        types = self.inputs.by_name() if self.inputs is not None else {}
        columns = {}
        for record in records:
            if not isinstance(record, dict):
                raise _bad_input("Ensure that the input is a valid JSON-formatted string.\nError: "
                                 "AttributeError(\"'{}' object has no attribute 'items'\")".format(
                                     type(record).__name__))
            for name, cell in record.items():
                columns.setdefault(name, []).append(_convert(cell, types.get(name)))
        data = dict((name, np.array(cells)) for name, cells in columns.items())
        self._check_lengths(data)
        return data

    def _check_lengths(self, data):
        import numpy as np

        arrays = dict((k, v) for k, v in data.items() if isinstance(v, (list, np.ndarray)))
        if self.inputs is not None and self.inputs.has_names:
            typed = set(name for name, spec in self.inputs.by_name().items()
                        if not (isinstance(spec, ColSpec) and not spec.is_datatype
                                and spec.type.get("type") == "array"))
            names = [n for n in self.inputs.required_names() if n in typed and n in arrays]
        else:
            names = list(arrays)
        if names and any(len(arrays[n]) != len(arrays[names[0]]) for n in names[1:]):
            raise _bad_input("The length of values for each input/column name are not the same")

    def _cast_to_schema(self, data):
        schema = self.inputs
        types = schema.by_name() if schema is not None else {}
        if schema is not None:
            if len(types) == 1 and isinstance(data, list) and not any(isinstance(x, dict) for x in data):
                data = {next(iter(types)): data}  # a single named column
            elif not schema.has_names and not (isinstance(data, list) or _is_scalar(data)):
                raise _bad_input("Failed to parse input data. This model contains an un-named  model signature "
                                 "which expects a single n-dimensional array or a single value as input, however, "
                                 "an input of type {} was found.".format(type(data)))
        first = schema.inputs[0] if schema is not None else None
        if isinstance(data, dict):
            return dict((name, _convert(cells, types.get(name))) for name, cells in data.items())
        if isinstance(data, list) and all(isinstance(x, dict) for x in data):
            return [dict((name, _convert(cell, types.get(name))) for name, cell in row.items()) for row in data]
        return _convert(data, first)

    # -- 2. enforcement --------------------------------------------------------------------------------------

    def enforce(self, data):
        """``data`` as the model's schema wants it; PayloadError INVALID_PARAMETER_VALUE when it cannot be."""
        if self.inputs is None:
            return data
        try:
            return _enforce_schema(data, self.inputs)
        except Exception as exc:  # as MLflow: whatever fails here is the input's mismatch with the schema
            reason = str(exc) if isinstance(exc, SchemaViolation) else "{}: {}".format(type(exc).__name__, exc)
            raise _invalid("Failed to enforce schema of data with schema '{}'. Error: {}".format(
                self.inputs, reason)) from None

    # -- 3. params -------------------------------------------------------------------------------------------

    def enforce_params(self, params):
        """The params ``predict`` gets (MLflow's ``_enforce_params_schema``)."""
        if self.params is None:
            if params not in (None, {}):
                log.warning("params are ignored: this model's signature has no params schema (as in MLflow)")
                return {}
            return params
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise _invalid("Parameters must be a dictionary. Got type '{}'.".format(type(params).__name__))
        params = dict((str(k), v) for k, v in params.items())
        known = set(spec.name for spec in self.params)
        unknown = sorted(set(params) - known)
        if unknown:
            log.warning("unrecognized params %s are ignored; the model accepts %s", unknown, sorted(known))
        result = {}
        problems = []
        for spec in self.params:
            if spec.name not in params:
                result[spec.name] = spec.default
                continue
            try:
                result[spec.name] = _validate_param(params[spec.name], spec)
            except Exception as exc:  # MLflow collects every failure of a param's validation
                problems.append((spec.name, "Failed to validate type and shape for {}, error: {}".format(spec, exc)))
        if problems:
            raise _invalid("Invalid parameters found: {!r}".format(sorted(problems)))
        return result


def _param_spec(entry):
    spec = ParamSpec(entry["name"], entry["type"] if entry["type"] != "object" else entry, entry.get("default"),
                     entry.get("shape"))
    if spec.default is not None:
        try:  # MLflow converts defaults as it converts values: 2 for a double is 2.0, a datetime is parsed
            spec.default = _validate_param(spec.default, spec)
        except Exception:
            pass  # MLflow would not have saved it; the raw default is what the model gets
    return spec


def target_name(spec):
    if isinstance(spec, TensorSpec):
        return spec.dtype
    return str(spec.pandas_type())


def _is_scalar(value):
    try:
        import numpy as np

        return bool(np.isscalar(value))
    except ImportError:
        return isinstance(value, (int, float, str, bool, bytes, complex))


def _convert(data, spec):
    """One value or column as ``spec`` wants it (MLflow's ``convert_data_type``); BAD_REQUEST when it cannot be."""
    import numpy as np

    try:
        if spec is None:
            return np.array(data)
        if isinstance(spec, TensorSpec):
            return np.array(data, dtype=spec.numpy_type())
        if spec.is_datatype:
            if isinstance(data, (list, np.ndarray)):
                return np.array(data, spec.numpy_type())
            return np.array([data], spec.numpy_type())[0]
        if spec.type.get("type") == "array":
            return np.array(data)
        return data
    except PayloadError:
        raise
    except Exception as exc:
        raise _bad_input(str(exc)) from None


# -- enforcement, after MLflow's _enforce_schema ----------------------------------------------------------------

def _loaded_pandas(name):
    """pandas' class ``name`` if pandas is imported, else ``()`` (``isinstance(x, ())`` is False).

    Data can only be a pandas object once something imported pandas; a tensor schema needs numpy only, and
    importing pandas for it would fail where it is not installed and cost half a second where it is.
    """
    pd = sys.modules.get("pandas")
    return getattr(pd, name, ()) if pd is not None else ()


def _enforce_schema(data, schema):
    import numpy as np

    if isinstance(data, _loaded_pandas("Series")):
        data = _loaded_pandas("DataFrame")(data)
    if not schema.is_tensor:
        data = _as_frame(data, schema)
    if schema.has_names:
        required = schema.required_names()
        optional = set(schema.optional_names())
        if len(required) == 1 and isinstance(data, np.ndarray):
            data = {required[0]: data}  # a single column: the array is that column
            actual = list(required)
        elif isinstance(data, _loaded_pandas("DataFrame")):
            actual = list(data.columns)
        elif isinstance(data, dict):
            actual = list(data.keys())
        else:
            actual = []
        missing = [name for name in required if name not in actual]
        extra = [name for name in actual if name not in required and name not in optional]
        if missing:
            message = "Model is missing inputs {}.".format(missing)
            if extra:
                message += " Note that there were extra inputs: {}.".format(extra)
            raise SchemaViolation(message)
        if extra:
            log.warning("extra inputs %s are not in the model's signature: they are ignored", extra)
    elif not schema.is_tensor and len(data.columns) < len(schema.inputs):
        raise SchemaViolation(
            "Model inference is missing inputs. The model signature declares {} inputs  but the provided value only "
            "has {} inputs. Note: the inputs were not named in the signature so we can only verify their count."
            .format(len(schema.inputs), len(data.columns)))
    if schema.is_tensor:
        return _enforce_tensor_schema(data, schema)
    return _enforce_columns(data, schema)


def _as_frame(data, schema):
    """Column-based schemas see a DataFrame, whatever the request's format turned into."""
    import numpy as np
    import pandas as pd

    if np.isscalar(data):
        return pd.DataFrame([data])
    if isinstance(data, dict):
        def scalar_or_strings(value):
            return (np.isscalar(value) or value is None
                    or (isinstance(value, list) and all(isinstance(item, str) for item in value)))

        complex_columns = any(not spec.is_datatype and spec.type.get("type") in ("array", "object")
                              for spec in schema.inputs)
        if complex_columns or all(scalar_or_strings(v) for v in data.values()):
            return pd.DataFrame([data])
        try:
            if any(isinstance(v, np.ndarray) and v.ndim > 1 for v in data.values()):
                data = dict((k, v.tolist() if isinstance(v, np.ndarray) and v.ndim > 1 else v)
                            for k, v in data.items())
            return pd.DataFrame(data)
        except Exception as exc:
            raise SchemaViolation("This model contains a column-based signature, which suggests a DataFrame input. "
                                  "There was an error casting the input data to a DataFrame: {}".format(exc)) from None
    if isinstance(data, (list, np.ndarray)):
        return pd.DataFrame(data)
    if not isinstance(data, pd.DataFrame):
        raise SchemaViolation("Expected input to be DataFrame. Found: {}".format(type(data).__name__))
    return data


def _enforce_columns(frame, schema):
    import pandas as pd

    columns = {}
    order = []
    if schema.has_names:
        pairs = [(spec.name, spec) for spec in schema.inputs if spec.name in frame.columns]
    else:
        pairs = list(zip(frame.columns[:len(schema.inputs)], schema.inputs))
    if _already_enforced(frame, pairs):
        return frame
    for name, spec in pairs:
        order.append(name)
        columns[name] = _enforce_datatype(name, frame[name], spec.type) if spec.is_datatype else frame[name]
    return pd.DataFrame(columns, columns=order, index=frame.index)


def _already_enforced(frame, pairs):
    """Whether ``frame`` has exactly these columns, in this order, each of exactly its type's dtype: then
    :func:`_enforce_datatype` returns every column as it is, and the frame rebuilt from them equals ``frame``."""
    import numpy as np

    if [name for name, _ in pairs] != list(frame.columns):
        return False
    for (_, spec), dtype in zip(pairs, frame.dtypes):
        if not spec.is_datatype or spec.type in PANDAS_OBJECT_TYPES or not isinstance(dtype, np.dtype) \
                or dtype != np.dtype(NUMPY_TYPES[spec.type]):
            return False
    return True


def _enforce_datatype(name, values, type_name):
    """One column as MLflow's ``_enforce_mlflow_datatype`` allows: safe upcasts only."""
    import numpy as np
    import pandas as pd

    string_dtype = getattr(pd, "StringDtype", None)
    is_pd_string = string_dtype is not None and isinstance(values.dtype, string_dtype)
    if values.dtype == object and type_name not in ("binary", "string"):
        values = values.infer_objects()
    if type_name == "string" and (values.dtype == object or is_pd_string):
        return values
    if type_name == "binary" and is_pd_string:
        return values
    target = np.dtype(NUMPY_TYPES[type_name])
    pandas_target = object if type_name in PANDAS_OBJECT_TYPES else target
    if values.dtype == pandas_target or values.dtype == target:
        return values
    kind = getattr(values.dtype, "kind", "O")
    if type_name == "binary" and kind == "S":
        return values
    if type_name == "datetime" and kind == "M":
        try:
            return values.astype(np.dtype("datetime64[ns]"))
        except TypeError as exc:
            raise SchemaViolation("Please ensure that the input data of datetime column only contains "
                                  "timezone-naive datetime objects. Error: {}".format(exc)) from None
    if type_name == "datetime" and values.dtype == object:
        try:
            return values.astype(np.dtype("datetime64[ns]"), errors="raise")
        except (ValueError, TypeError):
            raise SchemaViolation("Failed to convert column {} from type {} to {}.".format(name, values.dtype,
                                                                                          type_name)) from None
    if type_name == "boolean" and values.dtype == object:
        return values  # None must not become False
    if kind == target.kind:
        upcast = values.dtype.itemsize <= target.itemsize
    elif kind == "u" and target.kind == "i":
        upcast = values.dtype.itemsize < target.itemsize
    elif kind in ("i", "u") and target == np.float64:
        upcast = values.dtype.itemsize <= 6
    else:
        upcast = False
    if upcast:
        return values.astype(target, errors="raise")
    if values.dtype == np.int64 and target in (np.float32, np.float64) and \
            all(pd.isnull(x) or x in (0, 1) for x in values):
        return values.astype(target, errors="raise")  # MLflow lets 0/1 long columns through as floats
    hint = ""
    if values.dtype == np.float64 and target.kind in ("i", "u") and values.hasnans and \
            all(pd.isnull(x) or int(x) == x for x in values):
        hint = (" Hint: the type mismatch is likely caused by missing values. Integer columns in python can not "
                "represent missing values and are therefore encoded as floats.")
    raise SchemaViolation("Incompatible input types for column {}. Can not safely convert {} to {}.{}".format(
        name, values.dtype, target, hint))


def _clean_dtype(dtype):
    import numpy as np

    if dtype.char == "U":
        return np.dtype("str")
    if dtype.char == "S":
        return np.dtype("bytes")
    return dtype


def _enforce_tensor(values, spec):
    import numpy as np

    expected_shape = spec.shape
    expected_type = spec.numpy_type()
    actual_shape = values.shape
    actual_type = values.dtype
    if len(expected_shape) == 1 and expected_shape[0] == -1 and expected_type == np.dtype("O"):
        return values
    if len(expected_shape) > 1 and -1 in expected_shape[1:] and len(actual_shape) == 1 and \
            actual_type == np.dtype("O"):
        return values  # a ragged array
    if len(expected_shape) != len(actual_shape) or any(
            e != -1 and e != a for e, a in zip(expected_shape, actual_shape)):
        raise SchemaViolation("Shape of input {} does not match expected shape {}.".format(
            actual_shape, expected_shape))
    if _clean_dtype(actual_type) != expected_type:
        raise SchemaViolation("dtype of input {} does not match expected dtype {}".format(actual_type,
                                                                                         expected_type))
    return values


def _reshape_column(name, series, spec):
    import numpy as np

    label = "input " + str(name) if name is not None else "the unnamed input"
    if spec.shape[0] != -1 or -1 in spec.shape[1:]:
        raise SchemaViolation("For pandas dataframe input, the first dimension of shape must be a variable "
                              "dimension and other dimensions must be fixed, but in model signature the shape of "
                              "{} is {}.".format(label, spec.shape))
    first = series.iloc[0]
    if np.isscalar(first):
        if spec.shape in ((-1,), (-1, 1)):
            return _enforce_tensor(np.array(series, dtype=spec.numpy_type()).reshape(spec.shape), spec)
        raise SchemaViolation("The input pandas dataframe column '{}' contains scalar values, which requires the "
                              "shape to be (-1,) or (-1, 1), but got tensor spec shape of {}.".format(
                                  name, spec.shape))
    if isinstance(first, (list, np.ndarray)):
        try:
            array = np.vstack(series.tolist()).reshape(spec.shape)
            if isinstance(first, list):
                array = array.astype(spec.numpy_type())
        except ValueError:
            array = None
        if array is None or len(array) != len(series):
            raise SchemaViolation("The value in the Input DataFrame column '{}' could not be converted to the "
                                  "expected shape of: '{}'.".format(name, spec.shape))
        return array
    raise SchemaViolation("Because the model signature requires tensor spec input, the input pandas dataframe "
                          "values should be either scalar value, python list containing scalar values or numpy "
                          "array containing scalar values, other types are not supported.")


def _enforce_tensor_schema(data, schema):
    import numpy as np

    frame_type = _loaded_pandas("DataFrame")

    if schema.has_names:
        if isinstance(data, dict):
            result = {}
            for spec in schema.inputs:
                if not isinstance(data[spec.name], np.ndarray):
                    raise SchemaViolation("This model contains a tensor-based model signature with input names, "
                                          "which suggests a dictionary input mapping input name to a numpy array, "
                                          "but a dict with value type {} was found.".format(type(data[spec.name])))
                result[spec.name] = _enforce_tensor(data[spec.name], spec)
            return result
        if isinstance(data, frame_type):
            return dict((spec.name, _reshape_column(spec.name, data[spec.name], spec)) for spec in schema.inputs)
        raise SchemaViolation("This model contains a tensor-based model signature with input names, which suggests "
                              "a dictionary input mapping input name to tensor, or a pandas DataFrame input "
                              "containing columns mapping input name to flattened list value from tensor, but an "
                              "input of type {} was found.".format(type(data)))
    spec = schema.inputs[0]
    if isinstance(data, frame_type):
        if data.empty:
            raise SchemaViolation("Input DataFrame is empty.")
        if len(data.columns) == 1:
            return _reshape_column(None, data[data.columns[0]], spec)
        if spec.shape != (-1, len(data.columns)):
            raise SchemaViolation("This model contains a model signature with an unnamed input. Since the input "
                                  "data is a pandas DataFrame containing multiple columns, the input shape must be "
                                  "of the structure (-1, number_of_dataframe_columns). Instead, the input DataFrame "
                                  "passed had {} columns and an input shape of {}.".format(len(data.columns),
                                                                                           spec.shape))
        return _enforce_tensor(data.to_numpy() if hasattr(data, "to_numpy") else data.values, spec)
    if isinstance(data, np.ndarray):
        return _enforce_tensor(data, spec)
    raise SchemaViolation("This model contains a tensor-based model signature with no input names, which suggests "
                          "a numpy array input or a pandas dataframe input with proper column values, but an input "
                          "of type {} was found.".format(type(data)))


# -- params, after MLflow's ParamSpec.validate_type_and_shape ---------------------------------------------------

def _validate_param(value, spec):
    if spec.shape == (-1,):
        if not isinstance(value, list) or any(isinstance(v, (list, dict)) for v in value):
            raise ValueError("Value must be a 1D array with shape (-1,) for param {}".format(spec))
        return [_param_value(v, spec.type) for v in value]
    if spec.shape is not None:
        raise ValueError("Shape must be None for scalar or dictionary value, or (-1,) for 1D array value")
    if isinstance(spec.type, dict):
        if not isinstance(value, dict):
            raise ValueError("Expected dict for object param, got {}".format(type(value).__name__))
        return value
    return _param_value(value, spec.type)


def _param_value(value, type_name):
    """A scalar param as MLflow's ``_enforce_param_datatype`` converts it (to a Python value)."""
    if value is None:
        return None
    if type_name == "datetime":
        import numpy as np

        try:
            converted = np.datetime64(value).item()
        except ValueError:
            raise ValueError("Failed to convert value `{}` from type `{}` to `DataType.datetime`".format(
                value, type(value))) from None
        if isinstance(converted, int):
            raise ValueError("Failed to convert value to `DataType.datetime`. It must be convertible to "
                             "datetime.date/datetime, got `{}`".format(value))
        return converted
    if isinstance(value, (list, dict)) or not _is_scalar(value):
        raise ValueError("Value must be a scalar for type `DataType.{}`, got `{}`".format(type_name, value))
    python = {"boolean": bool, "integer": int, "long": int, "float": float, "double": float, "string": str,
              "binary": bytes}[type_name]
    if _is_type(value, type_name) or any(_is_type(value, t) for t in PARAM_CONVERSIONS.get(type_name, ())):
        return python(value)
    raise ValueError("Can not safely convert `{}` to `DataType.{}` for value `{}`".format(type(value), type_name,
                                                                                        value))


def _is_type(value, type_name):
    """MLflow's ``DataType.check_type``: the exact Python or numpy type, never a subclass (bool is not int)."""
    types = list(PYTHON_TYPES[type_name])
    try:
        import numpy as np

        types.append(np.dtype(NUMPY_TYPES[type_name]).type)
    except ImportError:
        pass
    return type(value) in types
