"""The model's output on its input example, recorded when it is saved (``envrepro_output_example.json``).

Inferring requirements already loads the saved model and predicts on the example (``envrepro.inference``: in
the saving process when reading the model settled its requirements, else in the capture subprocess); that
output, as JSON, is kept beside the model and named in MLmodel
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
from .model import CODE_DIR, MLmodel, ModelDir

OUTPUT_EXAMPLE_FILE = "envrepro_output_example.json"
MLMODEL_KEY = "envrepro_output_example"
log = logging.getLogger(__name__)


def record_output(model_dir: Path, mlmodel: MLmodel, captured: dict[str, Any] | None, *, model: Any = None) -> bool:
    """Write the captured output into ``model_dir`` and name it in ``mlmodel``; False (with a warning) when
    there is none. ``captured`` is ``{"value": ...}`` or ``{"error": ...}``; None predicts first (the
    requirements were given, so inference did not): in this process when the same rule as inference's says
    it is safe (``envrepro.inference.certain``; ``model`` is the object being saved), else in a subprocess."""
    if captured is None:
        captured = _capture(model_dir, model)
    if "value" not in captured:
        log.warning("the model's output on input_example is not recorded (%s): `envrepro verify` will need "
                    "--against or --expected for this model", captured.get("error", "no output"))
        return False
    record = {"predictions": captured["value"], "python_version": platform.python_version()}
    (model_dir / OUTPUT_EXAMPLE_FILE).write_text(json.dumps(record) + "\n", encoding="utf-8")
    mlmodel.extra[MLMODEL_KEY] = OUTPUT_EXAMPLE_FILE
    return True


def _capture(model_dir: Path, model: Any) -> dict[str, Any]:
    from .inference import TIMEOUT_ENV_VAR
    from .inference.capture import capture_imports
    from .inference.certain import read_model
    from .inference.inprocess import run_here
    from .inference.mapping import ModuleResolver
    from .inference.static import scan_code_dir

    reading = read_model(model_dir, model, ModuleResolver(), scan_code_dir(model_dir / CODE_DIR))
    if not reading.doubts:
        run = run_here(model_dir, predict=True)
        if run.error is None and run.output is not None:
            return run.output

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
