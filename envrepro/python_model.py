"""The base class for custom Python models (the ``pyfunc`` flavor), shaped like MLflow's.

Defined in the in-environment runtime (``envrepro_runtime.python_model``): a pickled model refers to its base
class by name, and that name must import inside a model's environment where envrepro is not installed.
"""

from envrepro_runtime.python_model import PythonModel, PythonModelContext

__all__ = ["PythonModel", "PythonModelContext"]
