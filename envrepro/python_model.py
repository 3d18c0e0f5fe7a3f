"""The base class for custom Python models (the ``pyfunc`` flavor), shaped like MLflow's."""

from __future__ import annotations

from typing import Any, Mapping


class PythonModelContext:
    """What ``load_context`` receives: the model's artifacts as local paths."""

    def __init__(self, artifacts: Mapping[str, str], model_config: Mapping[str, Any] | None = None):
        self.artifacts = dict(artifacts)
        self.model_config = dict(model_config or {})

    def __repr__(self) -> str:
        return f"PythonModelContext(artifacts={self.artifacts!r})"


class PythonModel:
    """Subclass this, implement ``predict``; optionally ``load_context`` to read artifacts once at load."""

    def load_context(self, context: PythonModelContext) -> None:
        """Called once after loading, before any ``predict``."""

    def predict(self, context: PythonModelContext, model_input: Any, params: Mapping[str, Any] | None = None) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement predict(context, model_input, params=None)")
