"""Dependency inference: which pip requirements a saved model needs, and why.

requirements = flavor defaults
             ∪ distributions of the modules the artifact's pickle names (``pickled``)
             ∪ distributions of the imports found by reading the model's own code (``static``)
             ∪ the input example's own library (pandas for a DataFrame, numpy for an ndarray)
             ∪ distributions of the modules imported while the staged model is loaded and run on its
               input example in a clean subprocess (``capture``), unless reading settled it (``certain``:
               then the model is loaded and run in this process instead, ``inprocess``)
then pruned to top-level distributions with the extras they need (``deps``) and pinned to the installed
versions (``envrepro.pins``). Module names map to distributions through installed metadata (``mapping``).
Local modules imported from outside ``code/`` fail the save unless ``infer_code_paths`` (``code_coverage``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..hookspecs import Flavor
from ..model import CODE_DIR, MLmodel
from ..pins import pin
from ..requirements import requirement_name
from .attribution import optional_distributions
from .capture import Capture, CapturedModule, capture_imports
from .certain import code_names, read_model, run_doubts
from .code_coverage import check_code_paths, find_uncovered
from .deps import closure, prune
from .inprocess import run_here
from .mapping import ModuleResolver, editable_root
from .static import StaticImport, scan_code_dir, scan_reachable

log = logging.getLogger(__name__)

_EXAMPLE_LIBRARIES = {"dataframe": ("pandas", "input_example is a pandas DataFrame"),
                      "ndarray": ("numpy", "input_example is a numpy array")}
_MAX_NAMES = 4
TIMEOUT_ENV_VAR = "ENVREPRO_INFERENCE_TIMEOUT"  # seconds for the load + predict subprocess (default 120)


@dataclass
class Inferred:
    requirements: list[str]
    reasons: dict[str, list[str]] = field(default_factory=dict)  # canonical name -> why
    warnings: list[str] = field(default_factory=list)
    # Local directories/files the model imports that code_paths missed; only with infer_code_paths=True.
    code_paths_to_add: list[Path] = field(default_factory=list)
    output: dict | None = None  # the capture's prediction on the input example (see envrepro.output_example)


@dataclass
class _Evidence:
    """Why each distribution was found, before pruning."""

    pickled: dict[str, list[str]] = field(default_factory=dict)
    artifact: str = ""  # the file ``pickled`` was read from
    load: dict[str, list[str]] = field(default_factory=dict)
    predict: dict[str, list[str]] = field(default_factory=dict)
    static: dict[str, list[str]] = field(default_factory=dict)
    example: dict[str, str] = field(default_factory=dict)
    editable: set[str] = field(default_factory=set)

    def names(self) -> list[str]:
        seen: dict[str, None] = {}
        for source in (self.pickled, self.load, self.predict, self.static, self.example):
            seen.update(dict.fromkeys(source))
        return list(seen)


def _short(modules: list[str]) -> str:
    unique = sorted(set(modules), key=lambda m: (m.count("."), m))
    shown = ", ".join(unique[:_MAX_NAMES])
    return shown + (f" (+{len(unique) - _MAX_NAMES} more)" if len(unique) > _MAX_NAMES else "")


def _reasons_for(name: str, evidence: _Evidence) -> list[str]:
    reasons = []
    if name in evidence.pickled:
        reasons.append(f"named in the model's pickle ({evidence.artifact}): {_short(evidence.pickled[name])}")
    if name in evidence.load:
        reasons.append(f"imported while loading the model: {_short(evidence.load[name])}")
    if name in evidence.predict:
        reasons.append(f"imported by predict on input_example: {_short(evidence.predict[name])}")
    if name in evidence.static:
        reasons.append(f"imported in the model's code (read statically): {_short(evidence.static[name])}")
    if name in evidence.example:
        reasons.append(evidence.example[name])
    return reasons


def _static_imports(code_dir_imports: list[StaticImport], code_modules: Sequence[str],
                    model_class: tuple[str, str] | None) -> list[StaticImport]:
    found = list(code_dir_imports)
    for module_name in code_modules:
        module = sys.modules.get(module_name)
        file = getattr(module, "__file__", None)
        if not file or not str(file).endswith(".py"):
            continue
        qualname = model_class[1] if model_class and model_class[0] == module_name else None
        found.extend(scan_reachable(Path(file), qualname, getattr(module, "__package__", None) or None))
    return found


def _relative_to(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve().parent))
    except ValueError:
        return Path(path).name


def _static_evidence(found: list[StaticImport], resolver: ModuleResolver, code_dir: Path,
                     ) -> tuple[dict[str, list[str]], set[str]]:
    """distribution -> where the model's code imports it; and which of them are editable installs."""
    static: dict[str, list[str]] = {}
    editable: set[str] = set()
    for item in found:
        resolution = resolver.resolve(item.module)
        if resolution.kind == "dist" and resolution.distribution:
            static.setdefault(resolution.distribution, []).append(
                f"{_relative_to(item.file, code_dir)}:{item.line} ({item.module})")
            if resolution.editable:
                editable.add(resolution.distribution)
    return static, editable


def _captured_evidence(capture: Capture, resolver: ModuleResolver, evidence: _Evidence) -> list[tuple[str, str]]:
    """Add what the capture saw loading and predicting; return the local modules it imported (name, file)."""
    local: list[tuple[str, str]] = []
    by_dist: dict[str, list[CapturedModule]] = {}
    for module in capture.modules:
        resolution = resolver.resolve(module.name, module.file)
        if resolution.kind == "dist" and resolution.distribution:
            by_dist.setdefault(resolution.distribution, []).append(module)
            if resolution.editable:
                evidence.editable.add(resolution.distribution)
        elif resolution.kind == "local" and module.file:
            local.append((module.name, module.file))
    optional = optional_distributions(by_dist, capture.first_sites, resolver, capture.by_name)
    for dist, modules in by_dist.items():
        if dist in optional:
            log.debug("not listing %s: only a library's optional import (except ImportError) loaded it", dist)
            continue
        for module in modules:
            target = evidence.predict if module.stage == "predict" else evidence.load
            target.setdefault(dist, []).append(module.name)
    return local


def _capture_warning(capture: Capture, flavor: Flavor) -> str:
    what = {"load": "load the model", "predict": "predict on input_example",
            "timeout": "load and predict", "setup": "start"}.get(capture.failed_stage or "", "load the model")
    return (f"envrepro could not {what} in a clean subprocess ({capture.error}); the requirements fall back to "
            f"the defaults of flavor {flavor.name} plus what reading the model's code finds: check them, or pass "
            f"pip_requirements/extra_pip_requirements")


def infer_requirements(model_dir: Path, flavor: Flavor, *, model: Any = None, code_modules: Sequence[str] = (),
                       has_input_example: bool = False, code_paths: Sequence[str | os.PathLike[str]] = (),
                       infer_code_paths: bool = False, timeout: float = 120.0) -> Inferred:
    """The model's requirements. ``model`` is the object being saved: with it, a model whose requirements
    reading settles (``certain``) is loaded and run here instead of in the capture subprocess."""
    model_dir = Path(model_dir)
    code_dir = model_dir / CODE_DIR
    timeout = float(os.environ.get(TIMEOUT_ENV_VAR) or timeout)
    defaults = flavor.default_requirements()
    default_names = [requirement_name(line) or line for line in defaults]
    reasons: dict[str, list[str]] = {name: [f"default of flavor {flavor.name}"] for name in default_names}
    warnings: list[str] = []
    resolver = ModuleResolver()
    code_dir_imports = scan_code_dir(code_dir)
    evidence = _Evidence()
    if has_input_example:
        info = MLmodel.load(model_dir / "MLmodel").saved_input_example_info or {}
        library = _EXAMPLE_LIBRARIES.get(str(info.get("type")))
        if library and resolver.distribution(library[0]) is not None:
            evidence.example[library[0]] = library[1]
    reading = read_model(model_dir, model, resolver, code_dir_imports)
    evidence.pickled = reading.pickled
    evidence.artifact = reading.artifact
    doubts = list(reading.doubts)
    local: list[tuple[str, str]] = []
    if not doubts:
        run = run_here(model_dir, predict=has_input_example)
        found = _static_imports(code_dir_imports, code_modules, run.model_class)
        evidence.static, evidence.editable = _static_evidence(found, resolver, code_dir)
        named = default_names + evidence.names()
        accounted = set(named) | closure(resolver.distribution, named)
        doubts = run_doubts(run, accounted, resolver, code_names(code_dir))
        output = run.output
    if doubts:
        log.debug("%s: running the capture subprocess, because %s", model_dir.name, "; ".join(doubts))
        capture = capture_imports(model_dir, predict=has_input_example, timeout=timeout)
        local = _captured_evidence(capture, resolver, evidence)
        if capture.error:
            warnings.append(_capture_warning(capture, flavor))
        found = _static_imports(code_dir_imports, code_modules, capture.model_class)
        evidence.static, editable = _static_evidence(found, resolver, code_dir)
        evidence.editable |= editable
        output = capture.output
    else:
        log.debug("%s: reading the model settled its requirements (no capture subprocess)", model_dir.name)

    uncovered = find_uncovered(local, code_dir, code_paths)
    code_paths_to_add: list[Path] = []
    if uncovered and infer_code_paths:
        code_paths_to_add = [item.entry for item in uncovered]
    else:
        check_code_paths(uncovered, code_paths)

    requirements, reasons = _finish(defaults, default_names, reasons, evidence, resolver)
    for name in sorted(evidence.editable & {requirement_name(r) or r for r in requirements}):
        installed = resolver.distribution(name)
        root = editable_root(installed) if installed is not None else None
        warnings.append(f"{name} is installed in editable/development mode (from {root}): the pinned "
                        f"requirement {pin(name)} is not installable elsewhere unless that version is published; "
                        f"publish it, or add it to code_paths, or pass pip_requirements with a path or URL")
    return Inferred(requirements=requirements, reasons=reasons, warnings=warnings,
                    code_paths_to_add=code_paths_to_add, output=output)


def _finish(defaults: list[str], default_names: list[str], reasons: dict[str, list[str]], evidence: _Evidence,
            resolver: ModuleResolver) -> tuple[list[str], dict[str, list[str]]]:
    """Prune to top-level distributions with their extras, pin, and say why each is there."""
    pruned = prune(resolver.distribution, default_names + evidence.names(), protected=default_names)
    requirements: list[str] = []
    for line, name in zip(defaults, default_names):
        extras = tuple(sorted(pruned.extras.get(name, ())))
        requirements.append(pin(name, extras=extras) if extras else line)
    inferred = sorted(n for n in pruned.kept if n not in default_names)
    for name in inferred:
        requirements.append(pin(name, extras=tuple(sorted(pruned.extras.get(name, ())))))
        reasons[name] = _reasons_for(name, evidence)
    for name in default_names:
        reasons[name] = reasons[name] + _reasons_for(name, evidence)
    for dropped, bringer in pruned.dropped.items():
        why = _reasons_for(dropped, evidence)
        if bringer in reasons and why:
            if dropped in pruned.via_extra:
                extra = pruned.via_extra[dropped][1]
                reasons[bringer].append(f"extra [{extra}] kept: it provides {dropped}, which the model needs "
                                        f"({'; '.join(why)})")
            else:
                reasons[bringer].append(f"brings {dropped} as a dependency ({'; '.join(why)})")
    return requirements, reasons
