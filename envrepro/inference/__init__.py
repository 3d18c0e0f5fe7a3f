"""Dependency inference: which pip requirements a saved model needs.

This first version returns the flavor's default requirements; the full inference (subprocess load +
predict on the input example, static reading of the model's code) lives in this package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..hookspecs import Flavor
from ..requirements import requirement_name


@dataclass
class Inferred:
    requirements: list[str]
    reasons: dict[str, list[str]] = field(default_factory=dict)  # canonical name -> why
    warnings: list[str] = field(default_factory=list)
    # Local directories/files the model imports that code_paths missed; only with infer_code_paths=True.
    code_paths_to_add: list[Path] = field(default_factory=list)


def infer_requirements(model_dir: Path, flavor: Flavor, *, code_modules: Sequence[str] = (),
                       has_input_example: bool = False, code_paths: Sequence[object] = (),
                       infer_code_paths: bool = False, timeout: float = 120.0) -> Inferred:
    defaults = flavor.default_requirements()
    reasons = {requirement_name(line) or line: [f"default of flavor {flavor.name}"] for line in defaults}
    return Inferred(requirements=list(defaults), reasons=reasons)
