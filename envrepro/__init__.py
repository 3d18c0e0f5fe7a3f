"""envrepro: save ML models with their dependencies, and rebuild those environments exactly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public names are imported on first use, so `import envrepro` (and every CLI command) stays fast.
_LAZY = {
    "EnvreproError": ".errors",
    "PyFuncModel": ".load",
    "load_model": ".load",
    "PythonModel": ".python_model",
    "PythonModelContext": ".python_model",
    "save_model": ".save",
    "create_env": ".environments",
    "predict": ".predict",
}

if TYPE_CHECKING:
    from .environments import create_env
    from .errors import EnvreproError
    from .load import PyFuncModel, load_model
    from .predict import predict
    from .python_model import PythonModel, PythonModelContext
    from .save import save_model


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'envrepro' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = ["EnvreproError", "PyFuncModel", "PythonModel", "PythonModelContext", "create_env", "load_model",
           "predict", "save_model", "__version__"]
