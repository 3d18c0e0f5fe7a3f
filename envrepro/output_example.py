"""The model's output on its input example, recorded when it is saved (``envrepro_output_example.json``).

The capture subprocess that infers requirements already loads the saved model and predicts on the example
(``envrepro.inference``); its output, as JSON, is kept beside the model and named in MLmodel
(``envrepro_output_example: envrepro_output_example.json``; MLflow keeps MLmodel keys it does not know, so it
still loads the model). ``envrepro verify`` predicts on the example in a rebuilt environment and compares.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from pathlib import Path
from typing import Any

from .errors import ModelFormatError
from .model import MLmodel, ModelDir

OUTPUT_EXAMPLE_FILE = "envrepro_output_example.json"
MLMODEL_KEY = "envrepro_output_example"
log = logging.getLogger(__name__)


def record_output(model_dir: Path, mlmodel: MLmodel, captured: dict[str, Any] | None) -> bool:
    """Write the captured output into ``model_dir`` and name it in ``mlmodel``; False (with a warning) when
    there is none. ``captured`` is the capture's ``{"value": ...}`` or ``{"error": ...}``; None runs a capture
    first (the requirements were given, so inference did not run one)."""
    if captured is None:
        captured = _capture(model_dir)
    if "value" not in captured:
        log.warning("the model's output on input_example is not recorded (%s): `envrepro verify` will need "
                    "--against or --expected for this model", captured.get("error", "no output"))
        return False
    record = {"predictions": captured["value"], "python_version": platform.python_version()}
    (model_dir / OUTPUT_EXAMPLE_FILE).write_text(json.dumps(record) + "\n", encoding="utf-8")
    mlmodel.extra[MLMODEL_KEY] = OUTPUT_EXAMPLE_FILE
    return True


def _capture(model_dir: Path) -> dict[str, Any]:
    from .inference import TIMEOUT_ENV_VAR
    from .inference.capture import capture_imports

    capture = capture_imports(model_dir, predict=True, timeout=float(os.environ.get(TIMEOUT_ENV_VAR) or 120))
    if capture.error:
        return {"error": f"predicting on it in a clean subprocess failed: {capture.error}"}
    return capture.output or {"error": "no output"}


def recorded_output(model: ModelDir) -> tuple[bool, Any]:
    """(True, output) when the model recorded its output on its input example, else (False, None)."""
    name = model.mlmodel.extra.get(MLMODEL_KEY)
    if not name:
        return False, None
    path = model.path / str(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelFormatError(f"the recorded output named in MLmodel cannot be read: {exc.strerror}", path=path,
                               hint=f"restore it, or remove '{MLMODEL_KEY}' from MLmodel") from None
    except ValueError as exc:
        raise ModelFormatError(f"malformed recorded output: {exc}", path=path) from None
    if not isinstance(data, dict) or "predictions" not in data:
        raise ModelFormatError("malformed recorded output: no 'predictions'", path=path)
    return True, data["predictions"]
