"""The UDF's ``result_type``: parsing and checking it on the driver, shaping predictions into it on executors.

The rules are those of ``mlflow.pyfunc.spark_udf`` (MLflow 3.17.2), so a UDF moves from MLflow to envrepro
without changing its output:

- a primitive type (``int``, ``long``, ``float``, ``double``, ``boolean``, ``string``): the leftmost column
  of the predictions (as a DataFrame) that fits the type, converted to it; ``string`` converts any column;
- ``array<primitive>``: every column that fits, one array per row (a 2-D output becomes one array per row);
- ``array<array<...>>`` and arrays of structs: the model's output taken as nested values;
- a struct: one field per output column of that name (a dict of columns, or a DataFrame).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import EnvreproError

PRIMITIVES = ("int", "long", "float", "double", "boolean", "string")
_NUMPY = {"IntegerType": np.int32, "LongType": np.int64, "FloatType": np.float32, "DoubleType": np.float64,
          "BooleanType": np.bool_, "StringType": np.str_}
_PYTHON = {"IntegerType": int, "LongType": int, "FloatType": float, "DoubleType": float, "BooleanType": bool,
           "StringType": str}
_SUPPORTED_HINT = ("use int, long, float, double, boolean, string, an array of them, an array of arrays, or a struct "
                   "of these (e.g. 'label string, score double')")


def parse_result_type(result_type: Any) -> Any:
    """A pyspark DataType from a DataType or a DDL string ("double", "array<float>", "a long, b string")."""
    from pyspark.sql.types import DataType

    if isinstance(result_type, DataType):
        parsed = result_type
    elif isinstance(result_type, str):
        from pyspark.sql.functions import udf

        try:  # parsed by Spark itself, as pyspark parses a UDF's returnType string
            parsed = udf(lambda x: x, returnType="boolean" if result_type == "bool" else result_type).returnType
        except Exception as exc:
            raise EnvreproError(f"cannot parse result_type {result_type!r}: {_first_line(exc)}",
                                hint=_SUPPORTED_HINT) from None
    else:
        raise EnvreproError(f"result_type must be a Spark type string or a pyspark DataType, not "
                            f"{type(result_type).__name__}", hint=_SUPPORTED_HINT)
    if not supported(parsed):
        raise EnvreproError(f"result_type {parsed.simpleString()} is not supported", hint=_SUPPORTED_HINT)
    return parsed


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def supported(data_type: Any) -> bool:
    from pyspark.sql.types import ArrayType, StructType

    if type(data_type).__name__ in _NUMPY:
        return True
    if isinstance(data_type, ArrayType):
        return supported(data_type.elementType)
    if isinstance(data_type, StructType):
        return all(supported(field.dataType) for field in data_type.fields)
    return False


def to_result(result: Any, result_type: Any, rows: int) -> pd.Series | pd.DataFrame:
    """The model's predictions for ``rows`` rows as the UDF returns them: a Series, or a DataFrame for a struct."""
    from pyspark.sql.types import ArrayType, StructType

    if isinstance(result, dict):
        result = {k: list(v) if isinstance(v, (np.ndarray, pd.Series, tuple)) else v for k, v in result.items()}
    if isinstance(result_type, ArrayType) and isinstance(result_type.elementType, (ArrayType, StructType)):
        out: pd.Series | pd.DataFrame = pd.Series(_array_values(result, result_type))
    elif isinstance(result_type, StructType):
        out = _struct_frame(pd.DataFrame(result), result_type)
    else:
        out = _primitive(result, result_type)
    if len(out) != rows:
        raise EnvreproError(f"the model returned {len(out)} predictions for {rows} rows",
                            hint="a Spark UDF needs one prediction per row")
    return out


def _primitive(result: Any, result_type: Any) -> pd.Series:
    from pyspark.sql.types import ArrayType

    frame = result if isinstance(result, pd.DataFrame) else (
        pd.DataFrame([result]) if np.isscalar(result) else pd.DataFrame(result))
    element = result_type.elementType if isinstance(result_type, ArrayType) else result_type
    name = type(element).__name__
    if name == "StringType":
        frame = frame.map(str) if hasattr(frame, "map") else frame.applymap(str)
    else:
        kept = [c for c in range(frame.shape[1]) if _fits(frame.iloc[:, c].dtype, name)]
        if not kept:
            raise EnvreproError(f"the model's output has no values of a type that fits {element.simpleString()} "
                                f"(its columns: {', '.join(str(t) for t in frame.dtypes)})",
                                hint="ask for result_type='string' (or an array of strings), or a type that fits")
        frame = frame.iloc[:, kept].astype(_NUMPY[name])
    if isinstance(result_type, ArrayType):
        return pd.Series(frame.to_numpy().tolist())
    return frame.iloc[:, 0].reset_index(drop=True)


def _fits(dtype: Any, type_name: str) -> bool:
    """Whether a column of ``dtype`` converts to the Spark type without losing values (MLflow's choice)."""
    kind, size = getattr(dtype, "kind", "O"), getattr(dtype, "itemsize", 0)
    if type_name == "IntegerType":
        return (kind == "i" and size <= 4) or (kind == "u" and size <= 2)
    if type_name == "LongType":
        return (kind == "i") or (kind == "u" and size <= 4)
    if type_name in ("FloatType", "DoubleType"):
        return kind in "iuf"
    return kind == "b"  # BooleanType


def _array_values(values: Any, array_type: Any) -> Any:
    """Nested values as an array column wants them (None for a missing array)."""
    from pyspark.sql.types import ArrayType, StructType

    element = array_type.elementType
    if type(element).__name__ in _NUMPY:
        return None if _missing(values) else np.array(values, dtype=_NUMPY[type(element).__name__])
    if isinstance(element, ArrayType):
        return [_array_values(v, element) for v in values]
    if isinstance(element, StructType):
        return [_struct_value(v, element) for v in values]
    raise EnvreproError(f"unsupported array element type {element.simpleString()}", hint=_SUPPORTED_HINT)


def _struct_frame(frame: pd.DataFrame, struct_type: Any) -> pd.DataFrame:
    from pyspark.sql.types import ArrayType, StructType

    columns: dict[str, Any] = {}
    for field in struct_type.fields:
        if field.name not in frame.columns:
            raise EnvreproError(f"the model's output has no column {field.name!r} for the result_type's field "
                                f"(its columns: {', '.join(map(str, frame.columns))})",
                                hint="name the struct's fields after the model's output columns")
        values, data_type = frame[field.name], field.dataType
        if isinstance(data_type, ArrayType):
            values = pd.Series([_array_values(v, data_type) for v in values])
        elif isinstance(data_type, StructType):
            values = pd.Series([_struct_value(v, data_type) for v in values])
        elif not all(_missing(v) for v in values):
            values = values.astype(_NUMPY[type(data_type).__name__])
        columns[field.name] = values.reset_index(drop=True)
    return pd.DataFrame(columns)


def _struct_value(value: Any, struct_type: Any) -> dict[str, Any] | None:
    """One struct cell from a dict (or an object with the fields as attributes)."""
    from pyspark.sql.types import ArrayType, StructType

    if value is None:
        return None
    out = {}
    for field in struct_type.fields:
        cell = value.get(field.name) if isinstance(value, dict) else getattr(value, field.name, None)
        data_type = field.dataType
        if isinstance(data_type, ArrayType):
            out[field.name] = _array_values(cell, data_type)
        elif isinstance(data_type, StructType):
            out[field.name] = _struct_value(cell, data_type)
        else:
            out[field.name] = None if _missing(cell) else _PYTHON[type(data_type).__name__](cell)
    return out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
