"""One scoring request, from body to response: shared by ``predict`` (once) and the HTTP server (per request).

Statuses and error codes follow ``mlflow models serve``: a bad request is 400, an unsupported content type 415,
and an exception raised by the model while predicting is 400 ``BAD_REQUEST`` (MLflow blames the input).
"""

import logging
import traceback

from .errors import PayloadError
from .payload import JSON, error_json, parse_request, predictions_json

log = logging.getLogger("envrepro.runtime")


class Response(object):
    __slots__ = ("status", "body", "content_type")

    def __init__(self, status, body, content_type=JSON):
        self.status = status
        self.body = body
        self.content_type = content_type


class ModelPredictError(Exception):
    """The model raised while predicting (``__cause__`` is what it raised)."""


def score(model, body, content_type):
    """Predictions for ``body`` as JSON bytes; PayloadError for a bad request, ModelPredictError for the model."""
    data, params = parse_request(body, content_type)
    data = model.conform(data)
    try:
        return predictions_json(model.predict(data, params=params))
    except Exception as exc:
        error = ModelPredictError("{}: {}".format(type(exc).__name__, exc))
        error.__cause__ = exc
        error.details = traceback.format_exc()
        raise error


def invocation(model, body, content_type):
    """The HTTP response for one ``POST /invocations``."""
    try:
        return Response(200, score(model, body, content_type))
    except PayloadError as exc:
        return Response(exc.status, error_json(exc.error_code, exc.message))
    except ModelPredictError as exc:
        log.error("predict failed: %s", exc.details)
        return Response(400, error_json("BAD_REQUEST", "Encountered an unexpected error while evaluating the model: "
                                        "{}".format(exc)))
