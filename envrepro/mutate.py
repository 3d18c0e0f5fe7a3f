"""Change a saved model's requirements in place (``envrepro update-pip-requirements``).

requirements.txt, the ``pip:`` section of conda.yaml and constraints.txt are updated together and
atomically; conda.yaml is edited with a ruamel.yaml round trip so its comments and layout survive.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Sequence

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .envfiles import read_model_env
from .errors import EnvreproError, RequirementError
from .fsutil import atomic_write_files
from .model import CONSTRAINTS_FILE, PROVENANCE_FILE, REQUIREMENTS_FILE, ModelDir
from .provenance import read_provenance, render_provenance
from .requirements import render_requirements_file, requirement_name, validate_requirement

Operation = Literal["add", "remove"]


@dataclass
class UpdateResult:
    changed: list[str] = field(default_factory=list)     # human-readable changes
    not_found: list[str] = field(default_factory=list)   # names asked to be removed that were absent
    files: list[str] = field(default_factory=list)       # files rewritten


def _parse_args(operation: Operation, items: Sequence[str]) -> dict[str, str]:
    if operation not in ("add", "remove"):
        raise EnvreproError(f"unknown operation {operation!r}", hint="use 'add' or 'remove'")
    if not items:
        raise RequirementError(f"nothing to {operation}", hint="give at least one requirement")
    parsed: dict[str, str] = {}
    for item in items:
        line = validate_requirement(item, source="command line")
        name = requirement_name(line)
        if name is None:
            raise RequirementError(f"{line!r} has no package name", hint="use 'name @ URL' for URL requirements")
        parsed[name] = line
    return parsed


def _apply(lines: list[str], operation: Operation, wanted: dict[str, str]) -> tuple[list[str], list[str]]:
    """New list and the changes made; ``add`` replaces a same-named line in place."""
    out, changes, done = [], [], set()
    for line in lines:
        name = requirement_name(line)
        if name in wanted and name not in done:
            done.add(name)
            if operation == "remove":
                changes.append(f"removed {line}")
                continue
            if line != wanted[name]:
                changes.append(f"replaced {line} with {wanted[name]}")
            out.append(wanted[name])
            continue
        if name in wanted and name in done:
            continue  # a duplicate line for the same package: never keep two
        out.append(line)
    if operation == "add":
        for name, line in wanted.items():
            if name not in done:
                out.append(line)
                changes.append(f"added {line}")
    return out, changes


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _edit_conda(text: str, operation: Operation, wanted: dict[str, str], path: Path) -> str:
    yaml = _yaml()
    data = yaml.load(text)
    # Keep the file's own sequence style: dashes at column 0 (MLflow's) or indented under their key.
    first_item = re.search(r"^[A-Za-z_]+:\s*\n( *)- ", text, re.MULTILINE)
    if first_item is not None and first_item.group(1) == "":
        yaml.indent(mapping=2, sequence=2, offset=0)
    deps = data.get("dependencies")
    if deps is None:
        deps = CommentedSeq()
        data["dependencies"] = deps
    if not isinstance(deps, list):
        raise EnvreproError("malformed conda.yaml: 'dependencies' must be a list", path=path)
    blocks = [d for d in deps if isinstance(d, dict) and "pip" in d]
    remaining = dict(wanted)
    for block in blocks:
        pip = block["pip"] if block["pip"] is not None else CommentedSeq()
        block["pip"] = pip
        for index in range(len(pip) - 1, -1, -1):
            name = requirement_name(str(pip[index]))
            if name in wanted:
                if operation == "remove" or name not in remaining:
                    del pip[index]
                else:
                    pip[index] = wanted[name]
                    remaining.pop(name)
    if operation == "add" and remaining:
        if not blocks:
            if not any(isinstance(d, str) and canonicalize_name(d.split("=")[0].split("<")[0].strip()) == "pip"
                       for d in deps):
                deps.append("pip")
            block = CommentedMap()
            block["pip"] = CommentedSeq()
            deps.append(block)
            blocks = [block]
        for line in remaining.values():
            pip = blocks[-1]["pip"]
            constraint_at = next((i for i, x in enumerate(pip) if str(x).startswith("-c ")), len(pip))
            pip.insert(constraint_at, line)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def _fix_constraints(constraints: list[str], operation: Operation, wanted: dict[str, str]) -> tuple[list[str], list[str]]:
    """A constraint that forbids the version just added would make the env unbuildable: drop it, say so."""
    if operation != "add":
        return constraints, []
    out, changes = [], []
    for line in constraints:
        name = requirement_name(line)
        if name in wanted:
            new = Requirement(wanted[name])
            pinned = [s.version for s in new.specifier if s.operator in ("==", "===")]
            old = Requirement(line)
            if pinned and not old.specifier.contains(pinned[0], prereleases=True):
                changes.append(f"dropped constraint {line} (conflicts with {wanted[name]})")
                continue
        out.append(line)
    return out, changes


def update_pip_requirements(model_path: str | Path, operation: Operation, requirements: Sequence[str]) -> UpdateResult:
    wanted = _parse_args(operation, requirements)  # validate everything before touching the disk
    model = ModelDir.open(model_path)
    env = read_model_env(model)
    # Requirements translated from conda packages stay conda packages in conda.yaml: never written as pip lines.
    pip_requirements = [line for line in env.requirements if line not in env.translated]
    result = UpdateResult()
    new_requirements, result.changed = _apply(pip_requirements, operation, wanted)
    present = {requirement_name(line) for line in pip_requirements}
    result.not_found = [wanted[name] for name in wanted if operation == "remove" and name not in present]
    new_constraints, constraint_changes = _fix_constraints(env.constraints, operation, wanted)
    result.changed += constraint_changes
    if not result.changed:
        return result

    files: dict[Path, str] = {}
    req_path = model.file(REQUIREMENTS_FILE)
    if req_path.exists() or "virtualenv" in env.sources:
        files[req_path] = render_requirements_file(new_requirements)
    conda_path = env.sources.get("conda")
    if conda_path is not None:
        files[conda_path] = _edit_conda(conda_path.read_text(encoding="utf-8"), operation, wanted, conda_path)
    if constraint_changes:
        files[model.file(CONSTRAINTS_FILE)] = render_requirements_file(new_constraints)
    reasons = read_provenance(model.path)
    if reasons is not None:
        by_name = {requirement_name(k) or k: v for k, v in reasons.items()}
        for name, line in wanted.items():
            by_name[name] = ["update-pip-requirements add (given by the user)"]
        files[model.file(PROVENANCE_FILE)] = render_provenance(new_requirements, by_name)
    atomic_write_files(files)
    result.files = [str(p.relative_to(model.path)) for p in files]
    return result
