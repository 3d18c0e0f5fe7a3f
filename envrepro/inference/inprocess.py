"""Load the staged model and predict on its input example in the saving process, watching what it imports.

Used when reading the model settled its requirements (``certain``): the model's classes and libraries are
already imported here, so this costs milliseconds where the capture subprocess pays every import again. It
loads the model the way the capture does (the flavor's runtime loader on the staged directory, the input
example read back from its file) and turns the prediction into the same JSON record
(``_bootstrap.output_record``), so ``envrepro verify`` compares against the same thing.

What it imports is watched too: every ``import`` statement (``builtins.__import__``), every
``importlib.import_module`` call, and every module new in ``sys.modules`` afterwards. A module the reading
did not account for means the reading was not enough, and the caller falls back to the capture.

Like the capture's, the model's prints, warnings and log records are not the saving process's output: they
are dropped.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import io
import logging
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class InProcessRun:
    imported: dict[str, str | None] = field(default_factory=dict)  # module -> file, imported while loading/predicting
    model_class: tuple[str, str] | None = None
    output: dict | None = None
    error: str | None = None


@contextlib.contextmanager
def _watching_imports(seen: set[str]) -> Iterator[None]:
    before = set(sys.modules)
    original_import = builtins.__import__
    original_import_module = importlib.import_module

    def watched_import(name, globals=None, locals=None, fromlist=(), level=0):
        module = original_import(name, globals, locals, fromlist, level)
        if not level:  # relative imports stay inside one package
            seen.add(name)
            seen.update(f"{name}.{item}" for item in fromlist or () if isinstance(item, str))
        return module

    def watched_import_module(name, package=None):
        module = original_import_module(name, package)
        seen.add(module.__name__)
        return module

    builtins.__import__ = watched_import
    importlib.import_module = watched_import_module
    disabled = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # handlers keep the original streams: redirecting them is not enough
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        builtins.__import__ = original_import
        importlib.import_module = original_import_module
        logging.disable(disabled)
        seen.update(set(sys.modules) - before)


def run_here(model_dir: Path, *, predict: bool) -> InProcessRun:
    from envrepro_runtime.schema import read_input_example

    from ..launch import load_spec
    from ..model import ModelDir
    from ._bootstrap import output_record

    run = InProcessRun()
    stage = "load"
    seen: set[str] = set()
    try:
        spec = load_spec(ModelDir.open(model_dir))
        loader = spec["loader"]
        if loader["kind"] != "flavor":
            run.error = "not a flavor's model"
            return run
        module = importlib.import_module(loader["module"])  # envrepro's loader: not the model's import
        example = read_input_example(spec["model_dir"], spec.get("input_example")) if predict else None
        with _watching_imports(seen):
            predictor = module.load(spec["model_dir"], dict(loader.get("conf") or {}),
                                    dict(loader.get("pyfunc_conf") or {}))
            raw = getattr(predictor, "raw_model", predictor)
            run.model_class = (type(raw).__module__, type(raw).__qualname__)
            if predict:
                stage = "predict"
                prediction = predictor.predict(example)
    except Exception as exc:  # noqa: BLE001 - the caller falls back to the capture, which reports it
        run.error = f"{stage}: {type(exc).__name__}: {str(exc)[:300]}"
        return run
    finally:
        run.imported = {name: _file(name) for name in sorted(seen) if name in sys.modules}
    if predict:
        run.output = output_record(prediction)
    return run


def _file(name: str) -> str | None:
    file = getattr(sys.modules.get(name), "__file__", None)
    return file if isinstance(file, str) else None
