"""Shaping a model's predictions into the UDF's result_type (MLflow's rules), without a Spark session."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from envrepro.errors import EnvreproError

types = pytest.importorskip("pyspark.sql.types")
from envrepro.spark.results import parse_result_type, supported, to_result  # noqa: E402


def test_primitives_take_the_leftmost_column_that_fits():
    frame = pd.DataFrame({"name": ["x", "y"], "big": np.array([1, 2], dtype=np.int64), "score": [0.5, 1.5]})
    assert to_result(frame, types.LongType(), 2).tolist() == [1, 2]
    assert to_result(frame, types.DoubleType(), 2).tolist() == [1.0, 2.0]  # integers are numbers too
    assert to_result(frame, types.StringType(), 2).tolist() == ["x", "y"]
    assert to_result(frame, types.ArrayType(types.DoubleType()), 2).tolist() == [[1.0, 0.5], [2.0, 1.5]]
    with pytest.raises(EnvreproError, match="no values of a type that fits int .*int64"):
        to_result(frame, types.IntegerType(), 2)  # int64 does not fit int32, as in MLflow


def test_arrays_and_one_dimensional_outputs():
    assert to_result(np.array([[1.0, 2.0], [3.0, 4.0]]), types.DoubleType(), 2).tolist() == [1.0, 3.0]
    with pytest.raises(EnvreproError, match="fits boolean"):
        to_result(np.array([0, 1, 1]), types.BooleanType(), 3)  # integers are not booleans
    assert to_result(np.array([True, False]), types.BooleanType(), 2).tolist() == [True, False]
    nested = to_result(np.arange(8.0).reshape(2, 2, 2), types.ArrayType(types.ArrayType(types.DoubleType())), 2)
    assert [[list(inner) for inner in row] for row in nested] == [[[0.0, 1.0], [2.0, 3.0]], [[4.0, 5.0], [6.0, 7.0]]]


def test_structs_take_their_fields_by_name():
    struct = parse_result_type(types.StructType([types.StructField("label", types.StringType()),
                                                 types.StructField("scores", types.ArrayType(types.FloatType()))]))
    out = to_result({"label": ["a", "b"], "scores": [[0.25, 0.75], [1.0, 0.0]], "ignored": [1, 2]}, struct, 2)
    assert list(out.columns) == ["label", "scores"] and out["label"].tolist() == ["a", "b"]
    assert [s.tolist() for s in out["scores"]] == [[0.25, 0.75], [1.0, 0.0]]
    with pytest.raises(EnvreproError, match="no column 'label'"):
        to_result(pd.DataFrame({"other": [1]}), struct, 1)


def test_one_prediction_per_row():
    with pytest.raises(EnvreproError, match="returned 3 predictions for 2 rows"):
        to_result(np.array([1.0, 2.0, 3.0]), types.DoubleType(), 2)


def test_unsupported_types_are_refused_by_name():
    assert supported(types.ArrayType(types.StructType([types.StructField("a", types.LongType())])))
    for bad in (types.MapType(types.StringType(), types.LongType()), types.DateType(), types.BinaryType()):
        assert not supported(bad)
        with pytest.raises(EnvreproError, match=f"result_type {bad.simpleString()} is not supported"):
            parse_result_type(bad)
