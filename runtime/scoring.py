"""One scoring request, from body to response: shared by ``predict`` (once) and the HTTP server (per request).

Statuses and error codes follow ``mlflow models serve``: a bad request is 400 (``BAD_REQUEST`` when it cannot be
parsed, ``INVALID_PARAMETER_VALUE`` when it breaks the signature), an unsupported content type 415, and an
exception raised by the model while predicting is 400 ``BAD_REQUEST`` (MLflow blames the input); an
MlflowException keeps the status and code MLflow gives it.
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

    status = 400
    error_code = "BAD_REQUEST"


def _mlflow_error(exc):
    """(status, error_code) of an MlflowException (MLflow's PyFuncModel raises them), else None.

    Recognised by shape, not imported: the runtime never imports MLflow for this.
    """
    code = getattr(exc, "error_code", None)
    status = getattr(exc, "get_http_status_code", None)
    if not isinstance(code, str) or not callable(status) or \
            not any(cls.__name__ == "MlflowException" for cls in type(exc).__mro__):
        return None
    try:
        return int(status()), code
    except Exception:
        return None


def score(model, body, content_type):
    """Predictions for ``body`` as JSON bytes; PayloadError for a bad request, ModelPredictError for the model."""
    data, params = parse_request(body, content_type, model.signature)
    return predictions_json(predict_parsed(model, data, params))


def predict_parsed(model, data, params):
    """The model's predictions for parsed input (signature checks first); the errors of :func:`score`."""
    data = model.conform(data)
    params = model.conform_params(params)
    try:
        predictions = model.predict(data, params=params)
    except Exception as exc:
        mlflow_error = _mlflow_error(exc)
        if mlflow_error is not None and mlflow_error[0] < 500:  # MLflow blames the request: so do we
            raise PayloadError(getattr(exc, "message", str(exc)), status=mlflow_error[0],
                               error_code=mlflow_error[1]) from None
        error = ModelPredictError("{}: {}".format(type(exc).__name__, exc))
        error.details = traceback.format_exc()
        if mlflow_error is not None:
            error.status, error.error_code = mlflow_error
        raise error from exc  # the worker reads __cause__ to tell the model's failure from the runtime's
    return predictions


def invocation(model, body, content_type):
    """The HTTP response for one ``POST /invocations``."""
    try:
        return Response(200, score(model, body, content_type))
    except PayloadError as exc:
        return Response(exc.status, error_json(exc.error_code, exc.message))
    except ModelPredictError as exc:
        log.error("predict failed: %s", exc.details)
        return Response(exc.status, error_json(exc.error_code, "Encountered an unexpected error while evaluating "
                                               "the model: {}".format(exc)))
