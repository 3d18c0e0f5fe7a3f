"""The three dependency files (requirements.txt, python_env.yaml, conda.yaml): write them, read them back.

They always agree: they are rendered from one :class:`ModelEnv`, and every command reads a model's
environment through :func:`read_model_env`.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .conda_to_pip import CondaTranslation, translate_conda_dependencies
from .envs.conda_spec import conda_document
from .errors import ModelFormatError
from .model import CONDA_FILE, CONSTRAINTS_FILE, DEFAULT_CHANNEL, PYTHON_ENV_FILE, REQUIREMENTS_FILE, ModelDir
from .pyversion import python_release, python_version_from_specs
from .requirements import expand_lines, read_requirements_file, render_requirements_file, validate_requirement
from .yamlio import dump_yaml, load_yaml_file

DEFAULT_ENV_NAME = "envrepro-env"
_BUILD_TOOLS = ("pip", "setuptools", "wheel")


def current_python_version() -> str:
    return platform.python_version()


def pinned_build_dependencies() -> list[str]:
    """pip, setuptools and wheel pinned to the versions installed here (unpinned when absent)."""
    from importlib import metadata  # only when saving: reading a model must not pay for it
    pins = []
    for name in _BUILD_TOOLS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


@dataclass
class ModelEnv:
    """A model's recorded environment, whichever files it came from."""

    python_version: str
    requirements: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    build_dependencies: list[str] = field(default_factory=list)
    conda: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)
    # When the venv reads conda.yaml (no python_env.yaml): its conda packages that were added to
    # ``requirements`` (requirement -> original conda spec), and those with no pip equivalent (spec -> why).
    translated: dict[str, str] = field(default_factory=dict)
    untranslatable: dict[str, str] = field(default_factory=dict)

    @property
    def channels(self) -> list[str]:
        channels = self.conda.get("channels")
        return [str(c) for c in channels] if isinstance(channels, list) else []


def default_conda_env(python_version: str, requirements: list[str], constraints: list[str]) -> dict[str, Any]:
    pip_lines = list(requirements) + ([f"-c {CONSTRAINTS_FILE}"] if constraints else [])
    pip_version = next((p.split("==")[1] for p in pinned_build_dependencies() if p.startswith("pip==")), None)
    deps: list[Any] = [f"python={python_version}", f"pip<={pip_version}" if pip_version else "pip"]
    if pip_lines:
        deps.append({"pip": pip_lines})
    return {"name": DEFAULT_ENV_NAME, "channels": [DEFAULT_CHANNEL], "dependencies": deps}


def render_env_files(env: ModelEnv) -> dict[str, str]:
    """File name → text for the model directory."""
    deps = [f"-r {REQUIREMENTS_FILE}"] + ([f"-c {CONSTRAINTS_FILE}"] if env.constraints else [])
    python_env = {"python": env.python_version, "build_dependencies": env.build_dependencies, "dependencies": deps}
    files = {
        CONDA_FILE: dump_yaml(env.conda),
        PYTHON_ENV_FILE: dump_yaml(python_env),
        REQUIREMENTS_FILE: render_requirements_file(env.requirements),
    }
    if env.constraints:
        files[CONSTRAINTS_FILE] = render_requirements_file(env.constraints)
    return files


def conda_pip_section(conda: dict[str, Any], *, path: Path | None = None) -> list[str]:
    """All pip requirements listed in conda.yaml, across every ``pip:`` block (conda reads only one)."""
    return conda_document(conda, where=path).pip_lines


def check_python_version(version: str, *, path: Path | None) -> str:
    if python_release(version) is None:
        raise ModelFormatError(f"malformed Python version {version!r}", path=path,
                               hint="write a version such as 3.11.7 or 3.11")
    return version.strip()


def conda_python_version(conda: dict[str, Any]) -> str | None:
    return python_version_from_specs([d for d in conda.get("dependencies") or [] if isinstance(d, str)])


def read_conda_yaml(path: Path, *, root: Path | None = None) -> dict[str, Any]:
    """A conda.yaml (a model's when ``root`` is its directory, which the file must then be inside)."""
    conda = load_yaml_file(path, what="conda.yaml", root=root)
    conda_document(conda, where=path)  # the shape rules the conda engine applies, checked once, here too
    return conda


def _split_pip_lines(lines: list[str], base: Path, source: Path) -> tuple[list[str], list[str]]:
    expanded = expand_lines(lines, base, source=source, root=base)
    return expanded.requirements, expanded.constraints


def read_model_env(model: ModelDir) -> ModelEnv:
    """Read a model's environment the way MLflow does, from whichever files it has."""
    conda_path = model.env_path("conda")
    venv_path = model.env_path("virtualenv")
    sources: dict[str, Path] = {}
    conda: dict[str, Any] = {}
    if conda_path is not None and conda_path.exists():
        conda = read_conda_yaml(conda_path, root=model.path)
        sources["conda"] = conda_path
    elif conda_path is not None and "conda" in model.mlmodel.env_file_names():
        raise ModelFormatError("conda.yaml named in MLmodel is missing", path=conda_path,
                               hint="restore the file or re-save the model")

    requirements: list[str] = []
    constraints: list[str] = []
    translation = CondaTranslation()
    python_version: str | None = None
    build_dependencies: list[str] = []
    if venv_path is not None and venv_path.exists():
        python_env = load_yaml_file(venv_path, what="python_env.yaml", root=model.path)
        sources["virtualenv"] = venv_path
        python_version = str(python_env.get("python") or "") or None
        if python_version is not None:
            python_version = check_python_version(python_version, path=venv_path)
        build = python_env.get("build_dependencies") or []
        deps = python_env.get("dependencies") or []
        if not isinstance(build, list) or not isinstance(deps, list):
            raise ModelFormatError("malformed python_env.yaml: build_dependencies and dependencies must be lists",
                                   path=venv_path)
        build_dependencies = [validate_requirement(str(b), source=venv_path) for b in build]
        requirements, constraints = _split_pip_lines([str(d) for d in deps], model.path, venv_path)
    else:
        req_path = model.file(REQUIREMENTS_FILE)
        if req_path.exists():
            parsed = read_requirements_file(req_path, root=model.path)
            requirements, constraints = parsed.requirements, parsed.constraints
            sources["requirements"] = req_path
        elif conda:
            requirements, constraints = _split_pip_lines(conda_pip_section(conda, path=conda_path), model.path,
                                                         conda_path or model.path)
        build_dependencies = ["pip", "setuptools", "wheel"]
        if conda:  # MLflow 1.x lists packages as conda packages: a venv installs their pip equivalents
            translation = translate_conda_dependencies(conda.get("dependencies") or [], covered=requirements)
            requirements = requirements + list(translation.translated)
    if (model.path / REQUIREMENTS_FILE).exists():
        sources.setdefault("requirements", model.path / REQUIREMENTS_FILE)

    recorded = str((model.mlmodel.pyfunc_conf or {}).get("python_version") or "") or None
    python_version = (python_version or conda_python_version(conda)
                      or (check_python_version(recorded, path=model.path / "MLmodel") if recorded else None))
    if python_version is None:
        raise ModelFormatError("cannot tell which Python this model needs: no python_env.yaml, no python in "
                               "conda.yaml, no python_version in MLmodel", path=model.path)
    if not conda:
        conda = default_conda_env(python_version, requirements, constraints)
    return ModelEnv(python_version=python_version, requirements=requirements, constraints=constraints,
                    build_dependencies=build_dependencies, conda=conda, sources=sources,
                    translated=translation.translated, untranslatable=translation.untranslatable)
