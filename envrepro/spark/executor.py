"""What runs in Spark's Python workers: batches in, the model's predictions out, through one predictor process.

Each Python worker keeps one :class:`~envrepro.spark.predictor.StreamPredictor` per model for as long as it
lives (Spark reuses its Python workers across tasks, so a second pass over a DataFrame starts nothing). The
predictor's stdin is a pipe from this process: when the worker ends, however it ends, the predictor reads
end-of-file and exits.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pandas as pd

from .predictor import StreamPredictor
from .results import to_result
from .shipping import Shipment, installed_env

_predictors: dict[str, StreamPredictor] = {}
_lock = threading.Lock()


def predictor_for(ship: Shipment) -> StreamPredictor:
    """This worker's predictor for the shipped model, started (and the environment installed) the first time."""
    with _lock:
        predictor = _predictors.get(ship.bundle_id)
        if predictor is None or not predictor.alive:
            env = installed_env(ship)
            predictor = StreamPredictor(env.python, env.model_dir, name=ship.model_name, cache_key=env.cache_key)
            _predictors[ship.bundle_id] = predictor
        return predictor


def score_batches(ship: Shipment, by_position: bool, batches: Iterable[Any]) -> Iterator[pd.Series | pd.DataFrame]:
    """The pandas UDF's body: one result per batch of rows."""
    predictor = None
    for batch in batches:
        args = (batch,) if isinstance(batch, (pd.Series, pd.DataFrame)) else tuple(batch)
        frame = input_frame(args, ship, by_position)
        if len(frame) == 0:
            continue
        if predictor is None:
            predictor = predictor_for(ship)
        yield to_result(predictor.predict(frame, ship.params), ship.result_type, len(frame))


def input_frame(args: tuple[Any, ...], ship: Shipment, by_position: bool) -> pd.DataFrame:
    """The batch as the model's input DataFrame.

    A struct column the user passed (``udf(struct(...))``) arrives as a DataFrame and is sent as it is. Columns
    the user named (``udf("a", "b")``, wrapped into a struct by :class:`~envrepro.spark.udf.ModelUDF`) keep
    their names when they include every column the model requires; otherwise they are named after the
    model's columns in order, as MLflow names them. A single plain column arrives as a Series: named likewise.
    """
    if len(args) == 1 and isinstance(args[0], pd.DataFrame):
        frame = args[0]
        return _by_position(frame, ship) if by_position else frame
    return _by_position(pd.concat([a.reset_index(drop=True) for a in args], axis=1, ignore_index=True), ship)


def _by_position(frame: pd.DataFrame, ship: Shipment) -> pd.DataFrame:
    expected = ship.expected
    names = list(frame.columns)
    if not expected:
        return frame if all(isinstance(n, str) for n in names) else frame.set_axis(
            [str(i) for i in range(len(names))], axis=1)
    if all(name in names for name in ship.required or expected):
        return frame
    frame = frame.iloc[:, :len(expected)]
    return frame.set_axis(list(expected[:frame.shape[1]]), axis=1)
