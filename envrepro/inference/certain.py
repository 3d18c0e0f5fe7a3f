"""When reading the model settles its requirements, so the capture subprocess is not needed.

The capture subprocess (``capture``) is the authority: it imports everything the model imports, in a clean
interpreter. But for most models everything it would find is already written down:

- the artifact's pickle names every module unpickling imports (``pickled``);
- the model's own code (``code/``) names every module it imports, unless it imports by a computed name;
- what libraries import is theirs: pruned as their dependencies, or optional.

The answer is **certain** when none of the doubts below holds; then the model is loaded and run on its input
example in the saving process instead (``inprocess``), which must succeed and import nothing that the reading
did not account for. Any doubt sends the model to the capture (docs/inference.md, "When the capture runs").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..model import CODE_DIR, PYFUNC, MLmodel
from .inprocess import InProcessRun
from .mapping import ModuleResolver
from .pickled import scan_artifact
from .static import StaticImport, read_doubts

# Reconstructors of code carried by value (a lambda, a class defined in __main__): code nobody can read first.
_BY_VALUE = {"cloudpickle": {"_make_function", "_make_skeleton_class", "_make_skeleton_enum", "_builtin_type",
                             "_function_setstate", "_class_setstate", "subimport", "dynamic_subimport",
                             "_make_cell", "_make_empty_cell", "_make_code"},
             "dill": None}  # None: every name
# Globals that import, or run code, by a name or payload given as data.
_RUNNING = {"importlib": None, "pkgutil": None, "runpy": None, "pkg_resources": None, "marshal": None,
            "pickle": None, "_pickle": None, "types": {"CodeType", "FunctionType", "ModuleType"},
            "builtins": {"__import__", "eval", "exec", "compile"}}


def _artifact(mlmodel: MLmodel, model_dir: Path) -> tuple[Path | None, str | None]:
    """The pickle that holds the model, for the flavors whose layout envrepro writes; else why not."""
    flavors = mlmodel.flavors
    if "sklearn" in flavors:
        conf = flavors["sklearn"] or {}
        if conf.get("serialization_format", "pickle") not in ("pickle", "cloudpickle"):
            return None, f"serialization format {conf.get('serialization_format')!r} is not a pickle"
        return model_dir / str(conf.get("pickled_model") or "model.pkl"), None
    if "pytorch" in flavors:
        data = model_dir / str((flavors["pytorch"] or {}).get("model_data") or "data")
        return (data / "model.pth" if data.is_dir() else data), None
    if set(flavors) == {PYFUNC} and (flavors[PYFUNC] or {}).get("python_model"):
        conf = flavors[PYFUNC]
        if conf.get("artifacts"):
            return None, "it has artifacts, which its code reads in ways only running it shows"
        return model_dir / str(conf["python_model"]), None
    return None, f"envrepro does not read the artifact of flavor(s) {', '.join(flavors)}"


def code_names(code_dir: Path) -> frozenset[str]:
    """Top-level module names ``code/`` provides (it is first on sys.path, so they win over installed ones)."""
    if not code_dir.is_dir():
        return frozenset()
    return frozenset(p.stem if p.suffix == ".py" else p.name for p in code_dir.iterdir()
                     if (p.suffix == ".py" and p.is_file()) or (p.is_dir() and p.name.isidentifier()))


def _listed(module: str, name: str, table: Mapping[str, set[str] | None]) -> bool:
    top = module.split(".")[0]
    if top not in table:
        return False
    names = table[top]
    return names is None or name in names


@dataclass
class Reading:
    """What the artifact and the model's code say, and the doubts that reading leaves."""

    pickled: dict[str, list[str]] = field(default_factory=dict)  # distribution -> modules the pickle names
    artifact: str = ""
    doubts: list[str] = field(default_factory=list)


def read_model(model_dir: Path, model: Any, resolver: ModuleResolver, code_imports: Sequence[StaticImport],
               ) -> Reading:
    """Read the staged model: its pickle's globals, its own code's imports; note every doubt."""
    reading = Reading()
    doubts = reading.doubts
    mlmodel = MLmodel.load(model_dir / "MLmodel")
    provided = code_names(model_dir / CODE_DIR)
    path, why_not = _artifact(mlmodel, model_dir)
    if path is None:
        doubts.append(why_not or "no artifact")
        return reading
    reading.artifact = path.name
    if model is None:
        doubts.append("the model object is not at hand")
    elif _overrides_load_context(model):
        doubts.append(f"{type(model).__name__}.load_context runs setup code (artifacts, connections) that only "
                      f"running it shows, and that the saving process should not run")
    names = scan_artifact(path)
    if names.unreadable:
        doubts.append(f"{path.name}: {names.unreadable}")
    by_value = [f"{module}.{name}" for module, name in names.globals if _listed(module, name, _BY_VALUE)]
    if by_value:
        doubts.append(f"{path.name} carries code by value ({', '.join(by_value[:3])}): nobody can read it first")
    for module, name in names.globals:
        top = module.split(".")[0]
        if _listed(module, name, _BY_VALUE):
            continue
        elif _listed(module, name, _RUNNING):
            doubts.append(f"{path.name} calls {module}.{name} while unpickling (imports or runs code by name)")
        elif module == "__main__" or top == "__mp_main__":
            doubts.append(f"{path.name} refers to {module}.{name}, which no other process can import")
        elif top in provided:
            continue  # the model's own code under code/: read below
        else:
            resolution = resolver.resolve(module)
            if resolution.kind == "dist" and resolution.distribution:
                reading.pickled.setdefault(resolution.distribution, []).append(module)
                if resolution.editable:
                    doubts.append(f"{path.name} refers to {module}, from {resolution.distribution} installed in "
                                  f"editable mode")
            elif resolution.kind not in ("stdlib", "excluded"):
                doubts.append(f"{path.name} refers to module {module!r}, which no installed distribution and "
                              f"nothing under code/ provides")
    for found in code_imports:
        if found.module.split(".")[0] in provided:
            continue
        resolution = resolver.resolve(found.module)
        if resolution.kind in ("stdlib", "excluded") or (resolution.kind == "dist" and not resolution.editable):
            continue
        doubts.append(f"{_short(found.file)}:{found.line} imports {found.module!r}, which "
                      + ("is installed in editable mode" if resolution.editable
                         else "no installed distribution and nothing under code/ provides"))
    for file in sorted((model_dir / CODE_DIR).rglob("*.py")) if provided else ():
        doubts += [f"{_short(d.file)}:{d.line}: {d.what}" for d in read_doubts(file)]
    reading.doubts = list(dict.fromkeys(doubts))
    return reading


def _overrides_load_context(model: Any) -> bool:
    from envrepro_runtime.python_model import PythonModel

    own = getattr(type(model), "load_context", None)
    return own is not None and own is not getattr(PythonModel, "load_context", None)


def _short(file: str) -> str:
    parts = Path(file).parts
    return "/".join(parts[parts.index(CODE_DIR):]) if CODE_DIR in parts else Path(file).name


def run_doubts(run: InProcessRun, accounted: Iterable[str], resolver: ModuleResolver,
               provided: frozenset[str]) -> list[str]:
    """What loading and predicting here imported that the reading did not account for."""
    if run.error:
        return [f"loading or predicting in this process failed ({run.error})"]
    accounted = set(accounted)
    doubts = []
    for module, file in run.imported.items():
        if module.split(".")[0] in provided:
            continue
        resolution = resolver.resolve(module, file)
        if resolution.kind == "dist" and resolution.distribution not in accounted:
            doubts.append(f"running it imported {module} ({resolution.distribution}), which reading it did not "
                          f"find")
        elif resolution.kind == "local":
            doubts.append(f"running it imported local module {module} from {file}, outside code/")
    return doubts
