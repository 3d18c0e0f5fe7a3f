"""Runs inside the capture subprocess: load the staged model, predict on its example, record the imports.

Attribution: everything envrepro's own loader needs (envrepro, its flavor plugins, pluggy, yaml, packaging,
the input-example parser) is imported *before* a snapshot of ``sys.modules``. After it, two things count:
modules that appear in ``sys.modules`` (whoever imported them, the model caused it), and import statements
executed by code that is not part of that snapshot (so a model that itself does ``import yaml`` is recorded
even though yaml was already loaded). The result goes to a JSON file, never stdout: model code may print.
"""

from __future__ import annotations

import builtins
import json
import os
import sys
import time
import traceback
from typing import Any


def _module_file(name: str) -> str | None:
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    return file if isinstance(file, str) else None


def _describe(exc: BaseException, stage: str) -> dict[str, Any]:
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {"stage": stage, "type": type(exc).__name__, "message": str(exc)[:2000],
            "traceback": "".join(lines[-6:])[-3000:]}


_MAX_OUTPUT = 1 << 20  # bytes of JSON: an input example is a few rows, its output is small


def _output(prediction: Any) -> dict[str, Any]:
    """The prediction as JSON values (``{"value": ...}``), recorded beside the model for `envrepro verify`."""
    try:
        from envrepro_runtime.payload import to_jsonable

        value = to_jsonable(prediction)
        size = len(json.dumps(value))
    except Exception as exc:  # noqa: BLE001 - an output that is not JSON is reported, never fatal
        return {"error": f"the output is not JSON-able ({type(exc).__name__}: {str(exc)[:300]})"}
    if size > _MAX_OUTPUT:
        return {"error": f"the output is {size} bytes of JSON, more than the {_MAX_OUTPUT} recorded"}
    return {"value": value}


def main(spec: dict[str, Any]) -> None:
    started = time.perf_counter()
    predicted: list[Any] = []
    result: dict[str, Any] = {"modules": {}, "error": None, "model_class": None, "timings": {}}
    recorded: dict[str, str] = {}  # module name -> stage ("load" | "predict")
    # module name -> up to a few (importer module, importer file, line) sites; lets the parent tell a model's
    # own import from a library's optional one (``try: import x except ImportError``).
    importers: dict[str, list[list[Any]]] = {}
    first: dict[str, list[Any]] = {}  # top-level name -> the import statement that loaded it first
    stage = ["setup"]
    try:
        import importlib
        from pathlib import Path

        import envrepro_runtime.loading  # noqa: F401 - envrepro's loader is not the model's import
        from envrepro.examples import load_input_example
        from envrepro.launch import load_spec
        from envrepro.load import load_model
        from envrepro.model import ModelDir

        model_dir = ModelDir.open(Path(spec["model_dir"]))
        # Choosing the loader imports every flavor plugin, and the chosen runtime loader is imported now: their
        # module-level imports are envrepro's, not the model's.
        loader = load_spec(model_dir)["loader"]
        if loader["kind"] == "flavor":
            importlib.import_module(loader["module"])
        example = None
        if spec.get("predict"):
            example = load_input_example(model_dir.path, model_dir.mlmodel.saved_input_example_info)
        baseline = set(sys.modules)
        infra = {id(vars(m)) for n, m in list(sys.modules.items())
                 if n != "__main__" and getattr(m, "__dict__", None) is not None}
        original_import = builtins.__import__

        def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
            if level:  # a relative import stays inside one package: nothing to attribute
                return original_import(name, globals, locals, fromlist, level)
            scope = globals if globals is not None else sys._getframe(1).f_globals
            if id(scope) in infra:
                return original_import(name, globals, locals, fromlist, level)
            importer = scope.get("__name__") or "?"
            top = name.partition(".")[0]
            if top in sys.modules and importer.partition(".")[0] == top:
                # A package importing its own modules says nothing about who needs it (and this is most of
                # the imports a large library makes: skipping them keeps the capture fast).
                return original_import(name, globals, locals, fromlist, level)
            fresh = top not in sys.modules
            module = original_import(name, globals, locals, fromlist, level)
            try:
                frame = sys._getframe(1)
                targets = [name] + [f"{name}.{item}" for item in fromlist or ()
                                    if isinstance(item, str) and f"{name}.{item}" in sys.modules]
                site = [importer, frame.f_code.co_filename, frame.f_lineno]
                if fresh:
                    first.setdefault(top, site)
                for target in targets:
                    recorded.setdefault(target, stage[0])
                    sites = importers.setdefault(target, [])
                    if len(sites) < 8 and site not in sites:
                        sites.append(site)
            except Exception:  # recording must never change what the model sees
                pass
            return module

        result["timings"]["setup"] = time.perf_counter() - started
        builtins.__import__ = recording_import
        try:
            stage[0] = "load"
            model = load_model(model_dir.path, check_requirements=False)
            for name in set(sys.modules) - baseline:
                recorded.setdefault(name, "load")
            raw = model.unwrap()
            result["model_class"] = [type(raw).__module__, type(raw).__qualname__]
            result["timings"]["load"] = time.perf_counter() - started
            if example is not None:
                stage[0] = "predict"
                predicted.append(model.predict(example))
                result["timings"]["predict"] = time.perf_counter() - started
        finally:
            builtins.__import__ = original_import
    except BaseException as exc:  # noqa: BLE001 - every failure is reported to the parent, which warns
        result["error"] = _describe(exc, stage[0])
    finally:
        for name in set(sys.modules) - baseline if "baseline" in locals() else ():
            recorded.setdefault(name, stage[0])
        stdlib = sys.stdlib_module_names
        result["modules"] = {name: [where, _module_file(name), importers.get(name, [])]
                             for name, where in recorded.items() if name.split(".")[0] not in stdlib}
        result["first"] = first
        if predicted:  # after the modules are listed: turning it into JSON may import (pandas' to_json)
            result["output"] = _output(predicted[0])
        result["timings"]["total"] = time.perf_counter() - started
        with open(spec["output"], "w", encoding="utf-8") as fh:
            json.dump(result, fh)
        sys.stdout.flush()
        sys.stderr.flush()
        # Skip interpreter teardown: it can be slow (torch) or hang on threads the model started.
        os._exit(0)
