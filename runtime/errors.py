"""Failures inside the model's environment, sorted by whose they are.

The worker reports every failure to the host as one JSON line (see :func:`report_line`), so the host can
say whether the *input*, the *model* or *envrepro's runtime* failed, and on which Python.
"""

import json
import platform
import re

REPORT_PREFIX = "envrepro-runtime-report: "


class WorkerError(Exception):
    """Base class; ``kind`` is "input" (the request or file), "model" (loading or predicting) or "runtime"."""

    kind = "runtime"

    def __init__(self, message, status=400, error_code="BAD_REQUEST"):
        super(WorkerError, self).__init__(message)
        self.message = message
        self.status = status
        self.error_code = error_code


class PayloadError(WorkerError):
    """A bad request or input file: answered with ``status`` and a JSON error body."""

    kind = "input"


class ModelLoadError(WorkerError):
    """The model directory is not loadable as it stands: an artifact is missing or corrupt, a loader is absent.

    The user fixes these in the model directory or its requirements, so they are reported as they are.
    """

    kind = "format"

    def __init__(self, message, path=None, hint=None):
        super(ModelLoadError, self).__init__(message, status=503, error_code="MODEL_NOT_LOADED")
        self.path = path
        self.hint = hint


def python_version():
    return platform.python_version()


def report_line(kind, stage, message, hint=None, path=None):
    """The last line the worker writes to stderr when it fails (read by the host)."""
    return REPORT_PREFIX + json.dumps(make_report(kind, stage, message, hint=hint, path=path))


def make_report(kind, stage, message, hint=None, path=None):
    """A failure as the host reads it (see :func:`describe`): whose it was, when, and on which Python."""
    report = {"kind": kind, "stage": stage, "message": message, "python": python_version()}
    if hint:
        report["hint"] = hint
    if path:
        report["path"] = path
    return report


def parse_report(stderr_text):
    """The report in a worker's stderr, or None (the runtime died before it could write one)."""
    for line in reversed(stderr_text.splitlines()):
        if line.startswith(REPORT_PREFIX):
            try:
                return json.loads(line[len(REPORT_PREFIX):])
            except ValueError:
                return None
    return None


def describe(report, model_name="MODEL"):
    """(message, hint) for a report, in the words the user sees: whose fault it was, and on which Python."""
    python = report.get("python", "?")
    message = report.get("message", "")
    kind = report.get("kind")
    hint = report.get("hint")
    if kind in ("input", "format"):
        return message, hint
    if kind == "runtime":
        return ("envrepro's runtime failed in the model's environment (Python {}): {}".format(python, message),
                "this is envrepro's bug, not the model's: please report it with the output of -v")
    stage = {"load": "to load", "predict": "while predicting", "serve": "while serving"}.get(report.get("stage"))
    missing = re.search(r"No module named '([^']+)'", message)
    if hint is None and missing:
        module = missing.group(1).split(".")[0]
        hint = ("the recorded requirements miss {!r}: retry with --pip-requirements-override <package>, then "
                "record it: envrepro update-pip-requirements -m {} add <package>==<version>".format(module, model_name))
    text = "the model failed {}in its environment (Python {}): {}".format(stage + " " if stage else "", python, message)
    return text, hint or "run with -v for the full traceback"
