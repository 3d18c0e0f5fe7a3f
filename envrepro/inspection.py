"""``envrepro inspect``: what a model directory says about itself, and the problems found in it."""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .asof import pinned_names, resolve_as_of
from .conda_to_pip import UNTRANSLATABLE_HINT, describe_untranslatable
from .envfiles import ModelEnv, conda_pip_section, read_model_env
from .errors import EnvreproError, FlavorError, printable
from .fsutil import JOURNAL, read_text
from .model import INPUT_EXAMPLE_FILE, PYFUNC, ModelDir
from .provenance import read_provenance
from .requirements import normalized, requirement_name


@dataclass
class Report:
    path: str
    flavors: list[str]
    loader_module: str | None
    saved_by: str
    python_version: str
    requirements: list[str]
    constraints: list[str]
    channels: list[str]
    code_paths: list[str]
    env_files: dict[str, str]
    problems: list[str] = field(default_factory=list)
    why: dict[str, list[str]] | None = None
    # Conda packages of conda.yaml as uv/virtualenv see them (see envrepro.conda_to_pip).
    translated_from_conda: dict[str, str] = field(default_factory=dict)  # requirement -> conda spec
    untranslatable_conda: dict[str, str] = field(default_factory=dict)   # conda spec -> why
    resolve_as_of: dict[str, Any] = field(default_factory=dict)  # envrepro.asof.ResolveAsOf.to_dict()
    loads_with: str = ""
    signature: dict[str, Any] | None = None  # inputs / outputs / params, decoded from MLmodel's JSON strings
    input_example: dict[str, Any] | None = None  # file, type, rows

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _artifact_problems(model: ModelDir) -> list[str]:
    return [f"flavor {name}: {key} {path.relative_to(model.path).as_posix()!r} is missing from the model directory"
            for name, key, path in model.artifact_paths() if not path.exists()]


def inspect_model(path: str | Path, *, why: bool = False) -> Report:
    model = ModelDir.open(path)
    env = read_model_env(model)
    problems = _artifact_problems(model)
    loader = (model.mlmodel.pyfunc_conf or {}).get("loader_module")
    loads_with, problem = _loads_with(model, env)
    if problem:
        problems.append(problem)
    channels = env.channels
    if "conda" in env.sources and not channels:
        problems.append("conda.yaml has no channels: conda falls back to Anaconda's defaults "
                        "(run `envrepro audit --fix`)")
    from .audit.channels import classify_channel  # the audit's one definition of "an Anaconda channel"

    bad = [c for c in channels if classify_channel(c) is not None]
    if bad:
        problems.append(f"conda.yaml uses Anaconda channels {bad} (run `envrepro audit --fix`)")
    if "conda" in env.sources and "requirements" in env.sources:
        conda_pip = [line for line in conda_pip_section(env.conda, path=env.sources["conda"])
                     if not line.startswith(("-r", "-c"))]
        if normalized(conda_pip) != normalized([r for r in env.requirements if r not in env.translated]):
            problems.append("requirements.txt and the pip section of conda.yaml disagree")
    if env.untranslatable:
        problems.append(f"conda.yaml lists conda packages with no pip equivalent: "
                        f"{describe_untranslatable(env.untranslatable)}; uv/virtualenv environments lack them "
                        f"({UNTRANSLATABLE_HINT.format(model=model.path)})")
    if (model.path / JOURNAL).exists():
        problems.append("an update of the env files was interrupted; the next `envrepro update-pip-requirements` "
                        "on this model finishes it")
    code = model.code_dir
    code_paths = sorted(p.name for p in code.iterdir()) if code else []
    saved_by = _saved_by(model, loader)
    return Report(
        path=str(model.path), flavors=list(model.mlmodel.flavors), loader_module=loader, saved_by=saved_by,
        python_version=env.python_version, requirements=env.requirements, constraints=env.constraints,
        channels=channels, code_paths=code_paths,
        env_files={k: str(v.relative_to(model.path)) for k, v in env.sources.items()},
        problems=problems, why=_why(model, env) if why else None,
        translated_from_conda=env.translated, untranslatable_conda=env.untranslatable,
        resolve_as_of=resolve_as_of(model.mlmodel.utc_time_created).to_dict(), loads_with=loads_with,
        signature=_signature(model), input_example=_input_example(model),
    )


def _saved_by(model: ModelDir, loader: Any) -> str:
    mlmodel = model.mlmodel
    if mlmodel.envrepro_version:
        return f"envrepro {mlmodel.envrepro_version}"
    if mlmodel.mlflow_version:
        return f"MLflow {mlmodel.mlflow_version}"
    if isinstance(loader, str) and loader.startswith("mlflow."):
        return "MLflow (version not recorded)"  # older MLflow releases did not write mlflow_version
    return "unknown"


def _loads_with(model: ModelDir, env: ModelEnv) -> tuple[str, str | None]:
    """How envrepro will load the model, and the problem that stops it, if any (what predict would hit)."""
    from .load import choose_loader

    if PYFUNC not in model.mlmodel.flavors:
        return "nothing", "no python_function flavor: this model cannot be served or predicted generically"
    try:
        choice = choose_loader(model)
    except FlavorError as exc:
        loader = (model.mlmodel.pyfunc_conf or {}).get("loader_module")
        return "nothing", (f"no registered flavor loads {loader!r} (flavors: {', '.join(model.mlmodel.flavors)}); "
                           f"{exc.hint}")
    if choice.flavor is not None:
        return f"{choice.flavor.runtime_loader} (flavor {choice.flavor.name})", None
    text = "MLflow's own loader (mlflow.pyfunc), inside the model's environment"
    if not {"mlflow", "mlflow-skinny"} & {requirement_name(r) for r in env.requirements}:
        return text, (f"only MLflow can load this model (flavors: {', '.join(model.mlmodel.flavors)}) and its "
                      f"requirements do not include mlflow (envrepro update-pip-requirements -m {model.path} add "
                      f"mlflow==<the version that saved it>)")
    return text, None


def _signature(model: ModelDir) -> dict[str, Any] | None:
    """MLmodel's signature, its JSON strings decoded (inputs, outputs, params)."""
    raw = model.mlmodel.extra.get("signature")
    if not isinstance(raw, dict):
        return None
    decoded: dict[str, Any] = {}
    for part in ("inputs", "outputs", "params"):
        value = raw.get(part)
        try:
            decoded[part] = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            decoded[part] = value
    return decoded


def _input_example(model: ModelDir) -> dict[str, Any] | None:
    info = model.mlmodel.saved_input_example_info
    if not isinstance(info, dict):
        return None
    path = model.inside(info.get("artifact_path", INPUT_EXAMPLE_FILE), "saved_input_example_info.artifact_path")
    rows = None
    try:
        payload = json.loads(read_text(path, what="input example", root=model.path))
        if isinstance(payload, dict):
            payload = payload.get("dataframe_split", payload)
            payload = payload.get("data", payload.get("inputs", payload))
        rows = len(payload) if isinstance(payload, list) else None
    except (EnvreproError, ValueError, RecursionError):
        pass
    return {"file": str(path.relative_to(model.path)), "type": info.get("type"), "rows": rows,
            "exists": path.exists()}


def _why(model: ModelDir, env: ModelEnv) -> dict[str, list[str]]:
    reasons = dict(read_provenance(model.path) or {})
    reasons.update({req: [f"translated from conda.yaml (`{spec}`)"] for req, spec in env.translated.items()})
    return reasons


def format_report(report: Report) -> str:
    lines = [
        f"model:        {report.path}",
        f"saved by:     {report.saved_by}",
        f"flavors:      {', '.join(report.flavors)}",
        f"loader:       {report.loader_module}",
        f"loads with:   {report.loads_with}",
        f"python:       {report.python_version}",
        f"resolve as of: {_as_of_text(report.resolve_as_of)}",
        f"channels:     {', '.join(report.channels) or '(none)'}",
        f"env files:    {', '.join(f'{k}={v}' for k, v in report.env_files.items())}",
        f"code paths:   {', '.join(report.code_paths) or '(none)'}",
        f"signature:    {_signature_text(report.signature)}",
        f"input example: {_example_text(report.input_example)}",
        "requirements:",
    ]
    cutoff = report.resolve_as_of.get("cutoff")
    for req in report.requirements:
        lines.append(f"  {req}")
        if report.why is not None:
            why = report.why.get(req, ["no record (saved without envrepro provenance)"])
            if cutoff and not pinned_names([req]):
                why = [*why, f"not pinned: resolves as of {report.resolve_as_of['label']}"]
            for reason in why:
                lines.extend(textwrap.wrap(group_module_lists(reason), WIDTH, initial_indent="    - ",
                                           subsequent_indent="      ", break_on_hyphens=False))
    if report.constraints:
        lines.append("constraints:")
        lines.extend(f"  {c}" for c in report.constraints)
    lines.append("problems:" if report.problems else "problems:     none")
    lines.extend(f"  - {p}" for p in report.problems)
    return "\n".join(printable(line) for line in lines)  # values from MLmodel never reach the terminal raw


WIDTH = 100  # `inspect --why` wraps each reason at this many columns
_MAX_PACKAGES = 5  # packages named in one list of imported modules; the rest are counted
# "label: a, a.b, a.c (+12 more)": the modules a requirement was seen importing, as save_model records them.
_NAME = r"[A-Za-z_]\w*(?:\.\w+)*"
_MODULE_LIST = re.compile(rf"(?<=: )({_NAME}(?:, {_NAME})*)(?: \(\+(\d+) more\))?")


def group_module_lists(reason: str) -> str:
    """Each list of imported modules in ``reason``, grouped under their top-level packages and capped:
    ``sklearn, sklearn._config, ... (+193 more)`` becomes ``sklearn (197 modules)``."""
    def group(match: re.Match[str]) -> str:
        names, hidden = match.group(1).split(", "), int(match.group(2) or 0)
        if len(names) == 1 and not hidden:
            return match.group(0)
        counts: dict[str, int] = {}
        for name in names:
            top = name.split(".")[0]
            counts[top] = counts.get(top, 0) + 1
        # Recorded lists are sorted by depth: once a submodule is shown, every top-level package was (importing
        # a submodule imports its package), so the hidden ones belong to those shown.
        if hidden and len(counts) == 1 and any("." in name for name in names):
            counts[next(iter(counts))] += hidden
            hidden = 0
        shown = [top if n == 1 else f"{top} ({n} modules)" for top, n in list(counts.items())[:_MAX_PACKAGES]]
        more = [f"{len(counts) - _MAX_PACKAGES} more packages"] if len(counts) > _MAX_PACKAGES else []
        more += [f"{hidden} more modules"] if hidden else []
        return ", ".join(shown) + (f" and {' and '.join(more)}" if more else "")

    return _MODULE_LIST.sub(group, reason)


def _columns_text(spec: Any) -> str:
    if not isinstance(spec, list):
        return str(spec)
    parts = []
    for item in spec:
        if not isinstance(item, dict):
            parts.append(str(item))
        elif item.get("type") == "tensor":
            tensor = item.get("tensor-spec") or {}
            parts.append(f"{item.get('name') or 'tensor'} ({tensor.get('dtype')} {tensor.get('shape')})")
        else:
            optional = "" if item.get("required", True) else ", optional"
            default = f", default {item['default']!r}" if "default" in item else ""
            parts.append(f"{item.get('name') or '-'} ({item.get('type')}{optional}{default})")
    return ", ".join(parts)


def _signature_text(signature: dict[str, Any] | None) -> str:
    if not signature:
        return "(none)"
    return "; ".join(f"{part}: {_columns_text(signature[part])}" for part in ("inputs", "outputs", "params")
                     if signature.get(part))


def _example_text(example: dict[str, Any] | None) -> str:
    if not example:
        return "(none)"
    if not example["exists"]:
        return f"{example['file']} (missing)"
    rows = f", {example['rows']} rows" if example["rows"] is not None else ""
    return f"{example['file']} ({example['type']}{rows})"


def _as_of_text(as_of: dict[str, Any]) -> str:
    return f"{as_of.get('label', 'today')} ({as_of.get('why', 'no cutoff')})"


__all__ = ["EnvreproError", "Report", "format_report", "inspect_model"]
