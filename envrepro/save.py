"""``save_model``: write a complete model directory, or nothing at all."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .code_paths import copy_code_paths
from .envfiles import (
    ModelEnv,
    conda_pip_section,
    conda_python_version,
    current_python_version,
    default_conda_env,
    pinned_build_dependencies,
    read_conda_yaml,
    render_env_files,
)
from .errors import EnvreproError, ModelFormatError
from .examples import save_input_example
from .fsutil import read_text, staging_dir
from .hookspecs import Flavor
from .model import CODE_DIR, CONDA_FILE, MLMODEL, PROVENANCE_FILE, PYFUNC, PYTHON_ENV_FILE, MLmodel, ModelDir
from .output_example import record_output
from .plugins import flavor_for_object, get_flavor
from .provenance import render_provenance
from .requirements import RequirementSet, coerce_requirements, merge_requirements, requirement_name
from .signature import resolve_signature

log = logging.getLogger(__name__)

Requirements = str | os.PathLike | Sequence[str] | None


def _check_exclusive(pip_requirements: Requirements, extra_pip_requirements: Requirements,
                     conda_env: Any) -> None:
    given = [name for name, value in (("pip_requirements", pip_requirements),
                                      ("extra_pip_requirements", extra_pip_requirements),
                                      ("conda_env", conda_env)) if value is not None]
    if len(given) > 1:
        raise EnvreproError(
            f"{' and '.join(given)} cannot be used together",
            hint="pip_requirements replaces the inferred list, extra_pip_requirements adds to it, "
                 "conda_env gives the whole environment: pick one",
        )


def _prepare_target(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ModelFormatError("model path already exists and is not empty", path=path,
                               hint="choose a new path or delete the old model first")
    if path.exists():
        path.rmdir()  # an empty directory is replaced by the staged one


def _conda_env_dict(conda_env: str | os.PathLike | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(conda_env, Mapping):
        return dict(conda_env)
    if isinstance(conda_env, (str, os.PathLike)):
        return read_conda_yaml(Path(conda_env))
    raise EnvreproError(f"conda_env must be a dict or a path to a conda.yaml, not {type(conda_env).__name__}")


def _resolve_flavor(model: Any, flavor: str | None) -> Flavor:
    return get_flavor(flavor) if flavor is not None else flavor_for_object(model)


def _check_options(flavor: Flavor, options: Mapping[str, Any]) -> None:
    unknown = sorted(set(options) - flavor.options)
    if unknown:
        accepted = ", ".join(sorted(flavor.options)) or "none"
        raise EnvreproError(f"unknown option(s) for the {flavor.name} flavor: {', '.join(unknown)}",
                            hint=f"the {flavor.name} flavor accepts: {accepted}")


def save_model(
    model: Any,
    path: str | os.PathLike,
    *,
    flavor: str | None = None,
    input_example: Any = None,
    signature: Any = None,
    pip_requirements: Requirements = None,
    extra_pip_requirements: Requirements = None,
    conda_env: str | os.PathLike | Mapping[str, Any] | None = None,
    code_paths: Sequence[str | os.PathLike] | None = None,
    metadata: Mapping[str, Any] | None = None,
    infer_code_paths: bool = False,
    **flavor_options: Any,
) -> ModelDir:
    """Save ``model`` with its environment into a new directory ``path``.

    Requirements are inferred (flavor defaults plus what the model imports) unless ``pip_requirements``
    (replace), ``extra_pip_requirements`` (add; same name replaces the inferred pin) or ``conda_env``
    (verbatim conda.yaml) say otherwise. Flavor-specific options (``serialization_format``,
    ``artifacts``...) are passed through to the flavor.

    ``signature`` (MLflow's dict form or an ``mlflow.models.ModelSignature``) is written to MLmodel; without
    one it is inferred from a DataFrame or numpy ``input_example`` (``signature=False``: none). Serving
    enforces it as MLflow does.
    """
    _check_exclusive(pip_requirements, extra_pip_requirements, conda_env)
    path = Path(path)
    chosen = _resolve_flavor(model, flavor)
    _check_options(chosen, flavor_options)
    # Parse user input before touching the disk: a bad requirement must not leave anything behind.
    user_pip = coerce_requirements(pip_requirements, argument="pip_requirements")
    user_extra = coerce_requirements(extra_pip_requirements, argument="extra_pip_requirements")
    conda_dict = _conda_env_dict(conda_env) if conda_env is not None else None
    signature_dict = resolve_signature(signature, input_example)
    _prepare_target(path)

    with staging_dir(path, exclusive=True) as tmp:  # two saves to one new path: the second fails, never replaces
        code_names = copy_code_paths(code_paths, tmp / CODE_DIR) if code_paths else []
        result = chosen.save(model, tmp, dict(flavor_options))
        mlmodel = MLmodel.new()
        python_version = current_python_version()
        if conda_dict is not None:
            python_version = conda_python_version(conda_dict) or python_version
        pyfunc_conf: dict[str, Any] = {
            "loader_module": chosen.loader_module,
            "python_version": python_version,
            "env": {"conda": CONDA_FILE, "virtualenv": PYTHON_ENV_FILE},
        }
        if code_names:
            pyfunc_conf["code"] = CODE_DIR
        pyfunc_conf.update(result.pyfunc_conf)
        if chosen.name == PYFUNC:
            mlmodel.flavors[PYFUNC] = {**result.flavor_conf, **pyfunc_conf}
        else:
            mlmodel.flavors[chosen.name] = {**result.flavor_conf, **({"code": CODE_DIR} if code_names else {})}
            mlmodel.flavors[PYFUNC] = pyfunc_conf
        if metadata is not None:
            mlmodel.metadata = dict(metadata)
        if input_example is not None:
            mlmodel.saved_input_example_info = save_input_example(input_example, tmp)
        if signature_dict is not None:
            mlmodel.extra["signature"] = signature_dict
        # MLmodel goes down before inference: the inference subprocess loads the staged model.
        (tmp / MLMODEL).write_text(mlmodel.to_yaml(), encoding="utf-8")

        env, reasons, added_code, output = _build_env(
            tmp, chosen, model, result.code_modules, python_version, user_pip, user_extra, conda_dict,
            pip_given=pip_requirements is not None, has_input_example=input_example is not None,
            code_paths=code_paths, infer_code_paths=infer_code_paths)
        if added_code:
            copy_code_paths(added_code, tmp / CODE_DIR)
            pyfunc_conf["code"] = CODE_DIR
            if chosen.name != PYFUNC:
                mlmodel.flavors[chosen.name]["code"] = CODE_DIR
            (tmp / MLMODEL).write_text(mlmodel.to_yaml(), encoding="utf-8")
        # The output on the input example, for `envrepro verify` (see envrepro/output_example.py).
        if input_example is not None and record_output(tmp, mlmodel, output, model=model):
            (tmp / MLMODEL).write_text(mlmodel.to_yaml(), encoding="utf-8")
        for name, text in render_env_files(env).items():
            if name == CONDA_FILE and conda_dict is not None:
                text = _verbatim_conda(conda_env, text)
            (tmp / name).write_text(text, encoding="utf-8")
        (tmp / PROVENANCE_FILE).write_text(render_provenance(env.requirements, reasons), encoding="utf-8")
    return ModelDir.open(path)


def _verbatim_conda(conda_env: Any, rendered: str) -> str:
    """A conda_env given as a file is copied byte for byte (comments included)."""
    if isinstance(conda_env, (str, os.PathLike)):
        return read_text(conda_env, what="conda_env file")
    return rendered


def _build_env(model_dir: Path, flavor: Flavor, model: Any, code_modules: Sequence[str], python_version: str,
               user_pip: RequirementSet, user_extra: RequirementSet, conda_dict: dict[str, Any] | None, *,
               pip_given: bool, has_input_example: bool, code_paths: Sequence[Any] | None,
               infer_code_paths: bool) -> tuple[ModelEnv, dict[str, list[str]], list[Path], dict | None]:
    """The env files' content, why each requirement is there, code paths to add, and the model's output on
    the input example (None when nothing ran it: the requirements were given)."""
    build = pinned_build_dependencies()
    if conda_dict is not None:
        pip_lines = conda_pip_section(conda_dict)
        requirements = [line for line in pip_lines if not line.strip().startswith(("-c ", "-r "))]
        reasons = {requirement_name(r) or r: ["conda_env (given by the user)"] for r in requirements}
        return ModelEnv(python_version, requirements, [], build, conda_dict), reasons, [], None
    added_code: list[Path] = []
    output = None
    if pip_given:
        requirements, constraints = user_pip.requirements, user_pip.constraints
        reasons = {requirement_name(r) or r: ["pip_requirements (given by the user)"] for r in requirements}
    else:
        from .inference import infer_requirements

        inferred = infer_requirements(model_dir, flavor, model=model, code_modules=code_modules,
                                      has_input_example=has_input_example, code_paths=code_paths or (),
                                      infer_code_paths=infer_code_paths)
        for warning in inferred.warnings:
            log.warning(warning)
        added_code = inferred.code_paths_to_add
        output = inferred.output or ({"error": "predicting on it failed"} if has_input_example else None)
        requirements = merge_requirements(inferred.requirements, user_extra.requirements)
        constraints = user_extra.constraints
        reasons = dict(inferred.reasons)
        for line in user_extra.requirements:
            reasons[requirement_name(line) or line] = ["extra_pip_requirements (given by the user)"]
    conda = default_conda_env(python_version, requirements, constraints)
    return ModelEnv(python_version, requirements, constraints, build, conda), reasons, added_code, output
