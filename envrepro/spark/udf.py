"""``envrepro.spark_udf``: a Spark pandas UDF that predicts inside the model's own reproduced environment.

On the driver: the model's bundle is made (or reused), checked and shipped; the result type and params are
checked. On the executors: each Python worker installs the environment once (see :mod:`.shipping`) and
streams its batches to one long-lived predictor (see :mod:`.executor`). See docs/spark.md.

No ``from __future__ import annotations`` here: pyspark reads the UDF's type hints at run time.
"""

import logging
from typing import Any, Iterator, Tuple, Union  # noqa: UP035 -- pyspark's type-hint reader knows these forms only

import pandas as pd

from ..errors import EnvreproError
from .executor import score_batches
from .shipping import Shipment

log = logging.getLogger(__name__)
# typing's Iterator/Tuple/Union, not tuple or |: pyspark infers the UDF's kind from its hints and knows only these.
_Batches = Iterator[Tuple[Union[pd.Series, pd.DataFrame], ...]]  # noqa: UP006, UP007


class ModelUDF:
    """What :func:`spark_udf` returns. Call it as MLflow's: ``udf("a", "b")``, ``udf(col("a"), ...)``,
    ``udf(struct("a", "b"))``, or ``udf()`` for the model's own input columns."""

    def __init__(self, ship: Shipment, bundle: str):
        self.ship = ship
        self.bundle = bundle  # the bundle shipped to the executors
        self.result_type = ship.result_type
        self._by_position = _pandas_udf(ship, by_position=True)
        self._as_is = _pandas_udf(ship, by_position=False)

    def __call__(self, *columns: Any) -> Any:
        from pyspark.sql.functions import col, struct

        if not columns:
            expected = self.ship.expected
            if not expected:
                raise EnvreproError("the model names no input columns (no signature with column names, no "
                                    "DataFrame input example), so the UDF cannot choose them",
                                    hint="name the columns to score: udf('a', 'b') or udf(struct('a', 'b'))")
            if self.ship.required is not None and len(self.ship.required) < len(expected):
                raise EnvreproError("the model's signature has optional columns, so the UDF cannot choose the "
                                    "columns to score", hint="name them: udf('a', 'b') or udf(struct('a', 'b'))")
            return self._by_position(struct(*[col(f"`{name}`") for name in expected]))
        if len(columns) == 1 and not isinstance(columns[0], str):
            return self._as_is(columns[0])  # a struct arrives as a DataFrame, a plain column as a Series
        return self._by_position(struct(*columns))  # the struct keeps the columns' names


def _pandas_udf(ship: Shipment, by_position: bool) -> Any:
    from pyspark.sql.functions import pandas_udf
    from pyspark.sql.types import StructType

    out = pd.DataFrame if isinstance(ship.result_type, StructType) else pd.Series

    def predict(batches: _Batches) -> Iterator[out]:  # type: ignore[valid-type]
        return score_batches(ship, by_position, batches)

    return pandas_udf(predict, returnType=ship.result_type)  # type: ignore[call-overload]


def spark_udf(spark: Any, model_uri: Any, result_type: Any = "double", env_manager: str | None = None,
              params: dict[str, Any] | None = None) -> ModelUDF:
    """A Spark UDF that predicts with the model inside its reproduced environment, on every executor.

    ``model_uri``: a model directory (envrepro's or MLflow's, any version) or a bundle file. ``result_type``: a
    Spark type string or DataType (primitives, arrays, structs; see :mod:`.results`). ``env_manager``: "uv",
    "virtualenv" or "conda" (the bundle's kind; default uv when installed). ``params``: passed to the model's
    predict, checked against its signature's params here.

    The environment is locked and bundled once on the driver (with a package index) and shipped to the
    executors, which install it with no network, once per machine.
    """
    from ..bundle import open_bundle
    from ..launch import load_spec
    from ..model import ModelDir
    from .results import parse_result_type
    from .shipping import driver_bundle, installed_env, shipped_copy

    context = _spark_context(spark)
    if env_manager == "local":
        raise EnvreproError("envrepro's Spark UDF always predicts in the model's reproduced environment; "
                            "env_manager='local' is not one",
                            hint="use uv, virtualenv or conda (or mlflow.pyfunc.spark_udf for no isolation)")
    data_type = parse_result_type(result_type)
    bundle = driver_bundle(model_uri, env_manager)
    opened = open_bundle(bundle, quiet=True)
    model = ModelDir.open(opened.model_dir)
    load_spec(model)  # a model no flavor loads fails here, not in every task
    signature = _signature(model)
    expected, required = _input_columns(model, signature)
    local = str(context.master).startswith("local")
    name = str(model_uri)
    shipped = bundle if local else shipped_copy(bundle, opened.root.name)
    ship = Shipment(bundle_id=opened.root.name, file_name=shipped.name, driver_path=str(bundle), local=local,
                    model_name=name, result_type=data_type, params=_check_params(signature, params, name),
                    expected=expected, required=required)
    if local:
        installed_env(ship)  # the executors share this machine: they find it installed
    else:
        context.addFile(str(shipped))
    return ModelUDF(ship, str(bundle))


def _spark_context(spark: Any) -> Any:
    try:
        return spark.sparkContext
    except Exception:  # Spark Connect sessions have none
        raise EnvreproError("envrepro's Spark UDF needs a classic SparkSession (with a SparkContext); Spark "
                            "Connect sessions cannot ship files to executors",
                            hint="create the session with SparkSession.builder.master(...)") from None


def _signature(model: Any) -> Any:
    from envrepro_runtime.errors import ModelLoadError
    from envrepro_runtime.signature import Signature

    try:
        return Signature.from_spec(model.mlmodel.extra.get("signature"))
    except ModelLoadError as exc:
        raise EnvreproError(exc.message, path=model.path / "MLmodel", hint=exc.hint) from None


def _input_columns(model: Any, signature: Any) -> tuple[list[Any] | None, list[Any] | None]:
    """(the model's input columns in order, the required ones): from its signature, else its input example."""
    if signature is not None and signature.inputs is not None and signature.inputs.has_names:
        return signature.inputs.names(), signature.inputs.required_names()
    from envrepro_runtime.schema import read_input_example

    try:
        example = read_input_example(str(model.path), model.mlmodel.saved_input_example_info)
    except Exception:  # an unreadable example only costs the naming help
        return None, None
    if hasattr(example, "columns"):
        names = [str(c) for c in example.columns]
        return names, names
    return None, None


def _check_params(signature: Any, params: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """``params`` as given, after the checks the model's environment will make (so they fail here, once)."""
    if not params:
        return params
    if signature is None or signature.params is None:
        log.warning("%s: params are ignored: the model's signature has no params schema (as in MLflow)", name)
        return None
    from envrepro_runtime.errors import PayloadError

    try:
        signature.enforce_params(params)
    except PayloadError as exc:
        raise EnvreproError(f"params do not fit the model's signature: {exc.message}", path=name) from None
    return params
