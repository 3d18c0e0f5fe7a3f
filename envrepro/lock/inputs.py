"""What gets locked: a model's environment spec, read once and normalized, and its per-platform input hash.

Two kinds:

- ``conda``: the model's conda.yaml (or the one envrepro would write for it): channels, conda specs, the
  pip part. Solved per platform; the pip part resolved on top of the solved python.
- ``pip``: python_env.yaml + requirements.txt (+ constraints.txt), what the uv/virtualenv managers build.
  Only the pip packages are locked; the lock records the Python version to create the venv with.

The input hash (conda-lock's ``metadata.content_hash``, one per platform) covers the normalized spec, not
file text: reordering, whitespace and ``=``-vs-``.*`` spellings do not change it; any requirement does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..envfiles import read_model_env
from ..envs.conda_spec import CondaEnvSpec, parse_conda_env
from ..model import ModelDir
from ..requirements import installable, normalized

HASH_SCHEMA = 1  # bump when the meaning of the hashed fields changes
LockKind = Literal["conda", "pip"]


@dataclass(frozen=True)
class LockInput:
    kind: LockKind
    model_dir: Path
    source: Path  # the file the spec came from (conda.yaml, python_env.yaml, requirements.txt or MLmodel)
    python_version: str
    pip_requirements: tuple[str, ...]
    pip_constraints: tuple[str, ...]
    conda: CondaEnvSpec | None = None
    build_dependencies: tuple[str, ...] = ()

    def hashed_fields(self, platform: str, virtual_packages: Mapping[str, str]) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "schema": HASH_SCHEMA, "kind": self.kind, "platform": platform,
            "pip_requirements": normalized(self.pip_requirements),
            "pip_constraints": normalized(self.pip_constraints),
            "virtual_packages": dict(sorted(virtual_packages.items())),
        }
        if self.conda is not None:
            # Channels as declared (order is priority): a mirror given with --channel-alias is where the
            # packages came from, not what was asked for, so `lock --check` needs no mirror flags.
            fields["channels"] = list(self.conda.channels)
            fields["conda_specs"] = sorted(self.conda.conda_specs)
        else:
            fields["python"] = self.python_version
            fields["build_dependencies"] = normalized(self.build_dependencies)
        return fields

    def content_hash(self, platform: str, virtual_packages: Mapping[str, str]) -> str:
        blob = json.dumps(self.hashed_fields(platform, virtual_packages), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def read_lock_input(model: ModelDir, kind: LockKind = "conda") -> LockInput:
    """The model's environment as the lock sees it."""
    env = read_model_env(model)
    if kind == "pip":
        source = env.sources.get("virtualenv") or env.sources.get("requirements") or model.path / "MLmodel"
        return LockInput(kind="pip", model_dir=model.path, source=source, python_version=env.python_version,
                         pip_requirements=tuple(installable(env.requirements)), pip_constraints=tuple(env.constraints),
                         build_dependencies=tuple(env.build_dependencies))
    conda_path = env.sources.get("conda")
    spec = (parse_conda_env(conda_path, root=model.path) if conda_path is not None
            else parse_conda_env(env.conda, base_dir=model.path, root=model.path))
    return LockInput(kind="conda", model_dir=model.path, source=conda_path or model.path / "MLmodel",
                     python_version=spec.python_version or env.python_version,
                     pip_requirements=tuple(installable(spec.pip_requirements)),
                     pip_constraints=spec.pip_constraints, conda=spec)
