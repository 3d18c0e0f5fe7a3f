"""Distributed batch scoring on Spark, each model inside its own reproduced environment (docs/spark.md).

:func:`spark_udf` (also ``envrepro.spark_udf``) is called as ``mlflow.pyfunc.spark_udf`` is. Nothing here imports
pyspark until it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

_LAZY = {"spark_udf": ".udf", "ModelUDF": ".udf", "StreamPredictor": ".predictor"}
__getattr__ = lazy_attributes(__name__, _LAZY, globals())

if TYPE_CHECKING:
    from .predictor import StreamPredictor
    from .udf import ModelUDF, spark_udf

__all__ = ["ModelUDF", "StreamPredictor", "spark_udf"]
