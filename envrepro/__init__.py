"""envrepro: save ML models with their dependencies, and rebuild those environments exactly."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes
from .version import __version__

# Public names are imported on first use, so `import envrepro` (and every CLI command) stays fast.
_LAZY = {
    "EnvreproError": ".errors",
    "PyFuncModel": ".load",
    "load_model": ".load",
    "PythonModel": ".python_model",
    "PythonModelContext": ".python_model",
    "save_model": ".save",
    "create_env": ".environments",
    "predict": ".predicting",
    "spark_udf": ".spark.udf",  # pyspark only when it is called
}

if TYPE_CHECKING:
    from .environments import create_env
    from .errors import EnvreproError
    from .load import PyFuncModel, load_model
    from .predicting import predict
    from .python_model import PythonModel, PythonModelContext
    from .save import save_model
    from .spark.udf import spark_udf


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))


__all__ = ["EnvreproError", "PyFuncModel", "PythonModel", "PythonModelContext", "create_env", "load_model",
           "predict", "save_model", "spark_udf", "__version__"]
