"""The benchmark corpus: model scenarios with their ground-truth requirements.

Ground truth follows one convention for every tool (docs/inference.md): the *top-level* distributions the
model needs beyond the serving tool itself, with the extras it needs; a distribution that another listed one
depends on is not listed (numpy under scikit-learn), and the flavor's serializer (cloudpickle) is listed.

``build(ctx)`` returns the keyword arguments for the tool's save call. Model classes live in ``models/``
(imported from a per-tool copy whose ``PythonModel`` base is the tool's own) and travel in ``code_paths``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODELS = Path(__file__).resolve().parent / "models"
PLUGIN_DIST = Path(__file__).resolve().parent / "plugin_dist"  # installed into the benchmark venv
IRIS = "iris_logreg"


@dataclass(frozen=True)
class Scenario:
    name: str
    flavor: str                     # "pyfunc" | "sklearn" | "pytorch"
    expected: frozenset[str]        # canonical names, extras as name[extra]
    what: str                       # the situation it exercises
    build: Callable[[Context], dict[str, Any]]


@dataclass
class Context:
    models_dir: Path                # the per-tool copy of models/
    work: Path                      # scratch directory for artifacts

    def module(self, name: str):
        return importlib.import_module(name)

    def code(self, *names: str) -> list[str]:
        return [str(self.models_dir / n) for n in names]


def _xy():
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.random((40, 4))
    return X, (X[:, 0] > 0.5).astype(int)


def _pyfunc(module: str, cls: str, example: Any, *extra_code: str) -> Callable[[Context], dict[str, Any]]:
    def build(ctx: Context) -> dict[str, Any]:
        model = getattr(ctx.module(module), cls)()
        kwargs = {"model": model, "code_paths": ctx.code(f"{module}.py", *extra_code)}
        if example is not None:
            kwargs["input_example"] = example
        return kwargs
    return build


def _sklearn_ndarray(ctx: Context) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    X, y = _xy()
    return {"model": LogisticRegression().fit(X, y), "input_example": X[:3]}


def _sklearn_dataframe(ctx: Context) -> dict[str, Any]:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _xy()
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    return {"model": make_pipeline(StandardScaler(), LogisticRegression()).fit(df, y), "input_example": df[:3]}


def _sklearn_code_helper(ctx: Context) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    helpers = ctx.module("helpers_transform")
    X, y = _xy()
    model = make_pipeline(FunctionTransformer(helpers.logit_features), LogisticRegression()).fit(X, y)
    return {"model": model, "input_example": X[:3], "code_paths": ctx.code("helpers_transform.py")}


def _joblib_artifact(ctx: Context) -> dict[str, Any]:
    import joblib
    from sklearn.linear_model import LogisticRegression

    X, y = _xy()
    path = ctx.work / "estimator.joblib"
    joblib.dump(LogisticRegression().fit(X, y), path)
    model = ctx.module("m_joblib_artifact").WrapsPickledEstimator()
    return {"model": model, "input_example": X[:2].tolist(), "code_paths": ctx.code("m_joblib_artifact.py"),
            "artifacts": {"estimator": str(path)}}


def _torch(module: str, cls: str) -> Callable[[Context], dict[str, Any]]:
    def build(ctx: Context) -> dict[str, Any]:
        import numpy as np

        model = getattr(ctx.module(module), cls)()
        return {"model": model, "input_example": np.ones((2, 4), dtype=np.float32),
                "code_paths": ctx.code(f"{module}.py")}
    return build


def _iris(ctx: Context) -> dict[str, Any]:
    """The issue's reference model: envrepro.save_model(clf, p, input_example=X.head(3))."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    return {"model": LogisticRegression(max_iter=200).fit(X, y), "input_example": X.head(3)}


def _set_output_pandas(ctx: Context) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = _xy()
    model = make_pipeline(StandardScaler(), LogisticRegression()).set_output(transform="pandas").fit(X, y)
    return {"model": model, "input_example": X[:3]}


def _sklearn_function(module: str, function: str) -> Callable[[Context], dict[str, Any]]:
    def build(ctx: Context) -> dict[str, Any]:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer

        X, y = _xy()
        transform = FunctionTransformer(getattr(ctx.module(module), function))
        return {"model": make_pipeline(transform, LogisticRegression()).fit(X, y), "input_example": X[:3],
                "code_paths": ctx.code(f"{module}.py")}
    return build


def _sklearn_lambda(ctx: Context) -> dict[str, Any]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X, y = _xy()
    model = make_pipeline(FunctionTransformer(lambda A: np.log1p(A)), LogisticRegression()).fit(X, y)
    return {"model": model, "input_example": X[:3]}


def _holding(cls: str, make: Callable[[Context], Any], example: Any, *extra_code: str,
             ) -> Callable[[Context], dict[str, Any]]:
    """A pyfunc model from m_holds_objects built around a library object."""
    def build(ctx: Context) -> dict[str, Any]:
        model = getattr(ctx.module("m_holds_objects"), cls)(make(ctx))
        return {"model": model, "input_example": example, "code_paths": ctx.code("m_holds_objects.py", *extra_code)}
    return build


def _array(ctx: Context) -> Any:
    import numpy as np

    return np.arange(3.0)


def _table(ctx: Context) -> Any:
    import pandas as pd

    return pd.DataFrame({"key": ["a", "b", "c"], "value": [1.0, 2.5, 4.0]})


def _sparse(ctx: Context) -> Any:
    import scipy.sparse

    return scipy.sparse.identity(3, format="csr")


def _estimator(ctx: Context) -> Any:
    from sklearn.linear_model import LinearRegression

    X, y = _xy()
    return LinearRegression().fit(X[:, :2], y)


def _zone(ctx: Context) -> Any:
    from dateutil import tz

    return tz.tzoffset("CET", 3600)


def _mask(ctx: Context) -> Any:
    from PIL import Image

    return Image.new("L", (4, 4))


def _year_of(ctx: Context) -> Any:
    return ctx.module("featurize").year_of


def _entry_point(cls: str) -> Callable[[Context], dict[str, Any]]:
    def build(ctx: Context) -> dict[str, Any]:
        model = getattr(ctx.module("m_entry_point"), cls)()
        return {"model": model, "input_example": [1.0, 3.0, 2.0], "code_paths": ctx.code("m_entry_point.py")}
    return build


def _local_class(ctx: Context) -> dict[str, Any]:
    return {"model": ctx.module("m_local_class").make_model(), "input_example": [1.0, 2.0]}


_CP = "cloudpickle"
SCENARIOS: list[Scenario] = [
    Scenario("sklearn_ndarray", "sklearn", frozenset({"scikit-learn", _CP}),
             "sklearn estimator, ndarray example (numpy/scipy/joblib are scikit-learn's)", _sklearn_ndarray),
    Scenario("sklearn_dataframe", "sklearn", frozenset({"scikit-learn", _CP, "pandas"}),
             "sklearn pipeline fed a DataFrame", _sklearn_dataframe),
    Scenario("sklearn_code_helper", "sklearn", frozenset({"scikit-learn", _CP}),
             "sklearn pipeline calling a function from a helper in code/ (scipy comes with scikit-learn)",
             _sklearn_code_helper),
    Scenario("numpy_module_level", "pyfunc", frozenset({_CP, "numpy"}),
             "import at module level", _pyfunc("m_numpy_toplevel", "NumpyMean", [[1.0, 2.0], [3.0, 4.0]])),
    Scenario("pandas_in_predict", "pyfunc", frozenset({_CP, "pandas"}),
             "import inside predict", _pyfunc("m_pandas_in_predict", "PandasSum", [1.0, 2.0, 3.0])),
    Scenario("yaml_in_load_context", "pyfunc", frozenset({_CP, "pyyaml"}),
             "import inside load_context (yaml is also envrepro's own dependency)",
             _pyfunc("m_yaml_in_load_context", "YamlConfigured", [1.0, 2.0])),
    Scenario("helper_in_code", "pyfunc", frozenset({_CP, "scipy"}),
             "import via a helper module in code/",
             _pyfunc("m_helper_in_code", "UsesHelper", [0.1, 0.2], "helpers_special.py")),
    Scenario("namespace_protobuf", "pyfunc", frozenset({_CP, "protobuf"}),
             "namespace package google.* (google.protobuf)",
             _pyfunc("m_protobuf", "ProtoStruct", [1.0, 2.0])),
    Scenario("namespace_google_rpc", "pyfunc", frozenset({_CP, "googleapis-common-protos"}),
             "namespace package google.* owned by another distribution (google.rpc)",
             _pyfunc("m_google_rpc", "RpcStatus", [1.0, 2.0])),
    Scenario("namespace_azure", "pyfunc", frozenset({_CP, "azure-core"}),
             "namespace package azure.* (azure.core)", _pyfunc("m_azure", "AzureTokenShape", [1.0, 2.0])),
    Scenario("renamed_pillow", "pyfunc", frozenset({_CP, "pillow"}),
             "renamed distribution PIL -> pillow", _pyfunc("m_pillow", "ImageSize", [3.0, 4.0])),
    Scenario("renamed_opencv", "pyfunc", frozenset({_CP, "opencv-python-headless"}),
             "renamed distribution cv2 -> opencv-python-headless",
             _pyfunc("m_opencv", "Blur", [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])),
    Scenario("renamed_sklearn_in_pyfunc", "pyfunc", frozenset({_CP, "scikit-learn"}),
             "renamed distribution sklearn -> scikit-learn, inside a pyfunc",
             _pyfunc("m_sklearn_inside", "ScaleWithSklearn", [[1.0, 2.0], [3.0, 5.0]])),
    Scenario("extra_requests_socks", "pyfunc", frozenset({_CP, "requests[socks]"}),
             "an extra: PySocks comes from requests[socks]",
             _pyfunc("m_requests_socks", "ProxiedClient", [1.0, 2.0])),
    Scenario("conditional_branch", "pyfunc", frozenset({_CP, "scipy"}),
             "import in a branch only large inputs take", _pyfunc("m_conditional", "SparseForBigInputs", [1.0, 2.0])),
    Scenario("error_path", "pyfunc", frozenset({_CP, "pillow"}),
             "lazy import in an error path", _pyfunc("m_error_path", "RendersOnError", [1.0, 2.0])),
    Scenario("no_input_example", "pyfunc", frozenset({_CP, "pandas"}),
             "no input example: predict never runs", _pyfunc("m_no_example", "NoExample", None)),
    Scenario("joblib_artifact", "pyfunc", frozenset({_CP, "scikit-learn"}),
             "estimator unpickled from an artifact in load_context (joblib comes with scikit-learn)",
             _joblib_artifact),
    Scenario("package_helper_renamed", "pyfunc", frozenset({_CP, "python-dateutil"}),
             "helper package in code/ with a relative import; dateutil -> python-dateutil",
             _pyfunc("m_package_helper", "Years", ["2024-01-02"], "featurize")),
    Scenario("tool_deps_used_by_model", "pyfunc", frozenset({_CP, "pyyaml", "packaging"}),
             "the model itself imports yaml and packaging (envrepro's own dependencies)",
             _pyfunc("m_envrepro_deps_used", "VersionGate", [2.0, 3.0])),
    Scenario("torch_plain", "pytorch", frozenset({"torch", _CP, "numpy"}),
             "pytorch model (numpy: the input example is an ndarray)", _torch("t_torch_plain", "TinyNet")),
    Scenario("torch_conditional_scipy", "pytorch", frozenset({"torch", _CP, "numpy", "scipy"}),
             "pytorch model, scipy only for huge batches", _torch("t_torch_numpy_branch", "ClippedNet")),
    Scenario("torch_numpy_module_level", "pytorch", frozenset({"torch", _CP, "numpy"}),
             "pytorch model importing numpy at module level", _torch("t_torch_numpy_toplevel", "NumpyNormalized")),
    # The reference model (also timed best of 3 on its own, see run.py).
    Scenario(IRIS, "sklearn", frozenset({"scikit-learn", _CP, "pandas"}),
             "iris LogisticRegression, input_example=X.head(3) (a DataFrame)", _iris),
    # What defeats a purely static answer.
    Scenario("importlib_literal", "pyfunc", frozenset({_CP, "pillow"}),
             "importlib.import_module('PIL.Image') inside predict (a string, renamed distribution)",
             _pyfunc("m_importlib_literal", "InvertsImage", [1.0, 2.0])),
    Scenario("importlib_computed", "pyfunc", frozenset({_CP, "scipy"}),
             "importlib.import_module of a name computed when the model was built",
             _pyfunc("m_importlib_computed", "ConfiguredBackend", [0.5, 1.0])),
    Scenario("dunder_import_attribute", "pyfunc", frozenset({_CP, "pyyaml"}),
             "__import__ of a module name held in an attribute", _pyfunc("m_dunder_import", "DumpsYaml", [1.0])),
    Scenario("lazy_nested_function", "pyfunc", frozenset({_CP, "python-dateutil"}),
             "lazy import in a function defined inside predict",
             _pyfunc("m_lazy_nested", "ParsesDates", ["2024-03-02"])),
    Scenario("lazy_in_method", "pyfunc", frozenset({_CP, "protobuf"}),
             "lazy import in a method predict calls (google.protobuf)",
             _pyfunc("m_lazy_method", "JsonViaProtobuf", [1.0, 2.0])),
    Scenario("library_imports_by_name", "sklearn", frozenset({"scikit-learn", _CP, "pandas"}),
             "set_output(transform='pandas'): scikit-learn imports pandas lazily, by name, at predict",
             _set_output_pandas),
    Scenario("entry_point_plugin", "pyfunc", frozenset({_CP, "corpus-scalers"}),
             "plugin loaded through importlib.metadata.entry_points at predict",
             _entry_point("PluginScaled")),
    Scenario("entry_point_pickled", "pyfunc", frozenset({_CP, "corpus-scalers"}),
             "a plugin's function, found through entry points at build time, inside the pickle",
             _entry_point("HoldsPlugin")),
    Scenario("pickled_function_local_module", "sklearn", frozenset({"scikit-learn", _CP, "python-dateutil"}),
             "sklearn pipeline pickling a function from a module outside site-packages that imports dateutil",
             _sklearn_function("helpers_dates", "months_apart")),
    Scenario("pickled_function_local_package", "pyfunc", frozenset({_CP, "python-dateutil"}),
             "pickled reference to a function of a local package (relative import of dateutil)",
             _holding("FeaturizeRef", _year_of, ["2024-01-02"], "featurize")),
    Scenario("lambda_by_value", "sklearn", frozenset({"scikit-learn", _CP}),
             "a lambda in an sklearn pipeline: cloudpickle carries its code by value", _sklearn_lambda),
    Scenario("local_class_by_value", "pyfunc", frozenset({_CP, "pyyaml"}),
             "a model class defined inside a function (by value) importing yaml in predict", _local_class),
    Scenario("numpy_in_pickle", "pyfunc", frozenset({_CP, "numpy"}),
             "a numpy array attribute; the code never imports numpy", _holding("WeightsArray", _array, [1.0])),
    Scenario("pandas_in_pickle", "pyfunc", frozenset({_CP, "pandas[pyarrow]"}),
             "a pandas DataFrame attribute, never imported by the code; pandas 3 stores its strings in pyarrow "
             "when installed, so the pickle needs pyarrow too",
             _holding("LookupTable", _table, [0.0, 2.0])),
    Scenario("scipy_sparse_in_pickle", "pyfunc", frozenset({_CP, "scipy"}),
             "a scipy.sparse matrix attribute", _holding("SparseProjection", _sparse, [1.0])),
    Scenario("sklearn_in_pyfunc_pickle", "pyfunc", frozenset({_CP, "scikit-learn"}),
             "a fitted estimator attribute of a pyfunc model; the code never imports sklearn",
             _holding("WrapsEstimator", _estimator, [0.2, 0.7])),
    Scenario("dateutil_in_pickle", "pyfunc", frozenset({_CP, "python-dateutil"}),
             "a dateutil tzinfo attribute", _holding("Timezoned", _zone, [1.0])),
    Scenario("pillow_in_pickle", "pyfunc", frozenset({_CP, "pillow"}),
             "a PIL image attribute", _holding("MaskedImage", _mask, [1.0])),
]
