"""envrepro: save ML models with their dependencies, and rebuild those environments exactly."""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import EnvreproError  # noqa: E402
from .load import PyFuncModel, load_model  # noqa: E402
from .python_model import PythonModel, PythonModelContext  # noqa: E402
from .save import save_model  # noqa: E402

__all__ = ["EnvreproError", "PyFuncModel", "PythonModel", "PythonModelContext", "load_model", "save_model",
           "__version__"]
