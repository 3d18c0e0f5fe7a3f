"""Runs inside the capture subprocess: load the staged model, predict on its example, record the imports.

The parent hands over the load spec (``envrepro.launch.load_spec``), so the child imports only the
in-environment runtime (standard library) and the flavor's runtime loader, not envrepro's host package and
its dependencies: that is most of what the child used to spend before the model's own imports.

Attribution: the runtime, the flavor's loader and the input example (pandas or numpy) are imported *before* a
snapshot of ``sys.modules``. After it, two things count: modules that appear in ``sys.modules`` (whoever
imported them, the model caused it), and import statements executed by code that is not part of that
snapshot (so a model that itself does ``import numpy`` is recorded even though the example loaded numpy).
The result goes to a JSON file, never stdout: model code may print.
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


def output_record(prediction: Any) -> dict[str, Any]:
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
    by_name: dict[str, list[list[Any]]] = {}  # module -> importlib.import_module calls that asked for it
    stage = ["setup"]
    try:
        import importlib

        from envrepro_runtime.loading import load
        from envrepro_runtime.schema import read_input_example

        load_spec = spec["load_spec"]
        loader = load_spec["loader"]
        if loader["kind"] == "flavor":  # the chosen runtime loader's module-level imports are envrepro's
            importlib.import_module(loader["module"])
        import envrepro.python_model  # noqa: F401 - PythonModel's module imports it: envrepro's, not the model's
        example = None
        if spec.get("predict"):
            example = read_input_example(load_spec["model_dir"], load_spec.get("input_example"))
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

        original_import_module = importlib.import_module

        def recording_import_module(name, package=None):
            module = original_import_module(name, package)
            try:
                frame = sys._getframe(1)
                importer = frame.f_globals.get("__name__") or "?"
                # a package importing its own modules by name (lazy submodules) says nothing about who needs it
                if id(frame.f_globals) not in infra and importer.partition(".")[0] != module.__name__.partition(".")[0]:
                    site = [importer, frame.f_code.co_filename, frame.f_lineno]
                    sites = by_name.setdefault(module.__name__, [])
                    if len(sites) < 8 and site not in sites:
                        sites.append(site)
            except Exception:  # recording must never change what the model sees
                pass
            return module

        result["timings"]["setup"] = time.perf_counter() - started
        builtins.__import__ = recording_import
        importlib.import_module = recording_import_module
        try:
            stage[0] = "load"
            model = load(load_spec, with_example=False)
            for name in set(sys.modules) - baseline:
                recorded.setdefault(name, "load")
            raw = model.raw_model
            result["model_class"] = [type(raw).__module__, type(raw).__qualname__]
            result["timings"]["load"] = time.perf_counter() - started
            if example is not None:
                stage[0] = "predict"
                predicted.append(model.predict(example))
                result["timings"]["predict"] = time.perf_counter() - started
        finally:
            builtins.__import__ = original_import
            importlib.import_module = original_import_module
    except BaseException as exc:  # noqa: BLE001 - every failure is reported to the parent, which warns
        result["error"] = _describe(exc, stage[0])
    finally:
        for name in set(sys.modules) - baseline if "baseline" in locals() else ():
            recorded.setdefault(name, stage[0])
        stdlib = sys.stdlib_module_names
        result["modules"] = {name: [where, _module_file(name), importers.get(name, [])]
                             for name, where in recorded.items() if name.split(".")[0] not in stdlib}
        result["first"] = first
        result["by_name"] = by_name
        if predicted:  # after the modules are listed: turning it into JSON may import (pandas' to_json)
            result["output"] = output_record(predicted[0])
        result["timings"]["total"] = time.perf_counter() - started
        with open(spec["output"], "w", encoding="utf-8") as fh:
            json.dump(result, fh)
        sys.stdout.flush()
        sys.stderr.flush()
        # Skip interpreter teardown: it can be slow (torch) or hang on threads the model started.
        os._exit(0)
