"""Change a saved model's requirements in place (``envrepro update-pip-requirements``).

requirements.txt, the ``pip:`` section of conda.yaml and constraints.txt are updated together and
atomically; conda.yaml is edited with a ruamel.yaml round trip so its comments and layout survive.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from .envfiles import read_model_env
from .errors import EnvreproError, RequirementError
from .fsutil import atomic_write_files, locked_dir, read_text
from .model import CONSTRAINTS_FILE, PROVENANCE_FILE, REQUIREMENTS_FILE, ModelDir
from .provenance import read_provenance, render_provenance
from .requirements import INCLUDE_LINE, render_requirements_file, requirement_name, validate_requirement
from .yamlio import load_yaml_file, load_yaml_text

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
        if not isinstance(pip, list) or not all(isinstance(x, (str, int, float)) for x in pip):
            raise EnvreproError("malformed conda.yaml: 'pip' must be a list of requirements", path=path,
                                hint="write it as `- pip:` followed by `- name==version` lines")
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


def _fix_constraints(constraints: list[str], operation: Operation,
                     wanted: dict[str, str]) -> tuple[list[str], list[str]]:
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
    """Add or remove requirements in every env file of the model, under the model directory's lock.

    Concurrent updates are serialized (none is lost), and the files are replaced through a journal: an
    update killed between two renames is finished by the next one (see :func:`envrepro.fsutil.locked_dir`).
    """
    wanted = _parse_args(operation, requirements)  # validate everything before touching the disk
    model = ModelDir.open(model_path)
    try:
        with locked_dir(model.path):
            return _update(ModelDir.open(model.path), operation, wanted)  # MLmodel as it is under the lock
    except PermissionError as exc:
        raise EnvreproError(f"cannot update the model: {exc.strerror}", path=exc.filename or model.path,
                            hint="the model directory or its files are read-only; make them writable "
                                 "or work on a copy") from None


def _update(model: ModelDir, operation: Operation, wanted: dict[str, str]) -> UpdateResult:
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
    req_path, constraints_path = _pip_files(model, env.sources.get("virtualenv"))
    if req_path is not None:
        files[req_path] = render_requirements_file(new_requirements)
    conda_path = env.sources.get("conda")
    if conda_path is not None:
        text = read_text(conda_path, what="conda.yaml", root=model.path)
        load_yaml_text(text, path=conda_path, what="conda.yaml")  # no alias bomb reaches ruamel.yaml
        files[conda_path] = _edit_conda(text, operation, wanted, conda_path)
    if constraint_changes:
        files[constraints_path] = render_requirements_file(new_constraints)
    reasons = read_provenance(model.path)
    if reasons is not None:
        by_name = {requirement_name(k) or k: v for k, v in reasons.items()}
        for name in wanted:
            by_name[name] = ["update-pip-requirements add (given by the user)"]
        files[model.file(PROVENANCE_FILE)] = render_provenance(new_requirements, by_name)
    atomic_write_files(files, journal=model.path)
    result.files = [str(p.relative_to(model.path)) for p in files]
    return result


def _pip_files(model: ModelDir, python_env: Path | None) -> tuple[Path | None, Path]:
    """The requirements file to rewrite (None: there is none, conda.yaml holds the pip list) and the
    constraints file: the ones python_env.yaml names with ``-r``/``-c``, else requirements.txt and
    constraints.txt."""
    req_path = model.file(REQUIREMENTS_FILE)
    constraints_path = model.file(CONSTRAINTS_FILE)
    if python_env is None:
        return (req_path if req_path.exists() else None), constraints_path
    deps = load_yaml_file(python_env, what="python_env.yaml", root=model.path).get("dependencies") or []
    includes: dict[str, list[str]] = {"-r": [], "-c": []}
    inline = []
    for dep in deps:
        match = INCLUDE_LINE.match(str(dep).strip())
        if match is None:
            inline.append(str(dep))
        else:
            includes["-c" if match.group(1) in ("-c", "--constraint") else "-r"].append(match.group(2))
    if inline or len(includes["-r"]) != 1 or len(includes["-c"]) > 1:
        where = "inline" if inline else "in no -r file" if not includes["-r"] else "in several -r files"
        raise EnvreproError(f"python_env.yaml lists its requirements {where}: no single file to update",
                            path=python_env, hint="edit the model's env files by hand, or re-save the model")
    req_path = model.inside(includes["-r"][0], "python_env.yaml -r")
    if includes["-c"]:
        constraints_path = model.inside(includes["-c"][0], "python_env.yaml -c")
    return req_path, constraints_path
