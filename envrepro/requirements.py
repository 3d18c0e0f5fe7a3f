"""Pip requirement lists: parse, validate, read files (``-r``/``-c``), merge by package name."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .errors import RequirementError

# Lines pip accepts that are not PEP 508 requirements: kept verbatim.
_PASSTHROUGH = re.compile(r"^(-e\s|--editable\s|git\+|hg\+|svn\+|bzr\+|https?://|file:|\./|\.\./|/)")
_OPTION = re.compile(r"^--?[a-zA-Z]")


# Distributions every environment envrepro builds already has: the runtime directory on its sys.path provides
# envrepro's in-environment part (``PythonModel`` for pickled pyfunc models). A model may record them so that
# environments built by other tools (MLflow) install them; envrepro never asks a package index for them.
RUNTIME_PROVIDED = frozenset({"envrepro"})


def installable(lines: Sequence[str]) -> list[str]:
    """``lines`` without the requirements the runtime provides (see RUNTIME_PROVIDED)."""
    return [line for line in lines if requirement_name(line) not in RUNTIME_PROVIDED]


@dataclass
class RequirementSet:
    """Requirements and constraints, in order, as pip reads them."""

    requirements: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)


def requirement_name(line: str) -> str | None:
    """Canonical project name of a requirement line, or None for a URL/path/option line."""
    line = line.strip()
    if _PASSTHROUGH.match(line) or _OPTION.match(line):
        egg = re.search(r"#egg=([A-Za-z0-9_.\-]+)", line)
        return canonicalize_name(egg.group(1)) if egg else None
    try:
        return canonicalize_name(Requirement(line).name)
    except InvalidRequirement:
        return None


def validate_requirement(line: str, *, source: str | os.PathLike | None = None) -> str:
    """Return the stripped line, or raise RequirementError naming the source."""
    text = line.strip()
    if not text:
        raise RequirementError("empty requirement", path=source)
    if _PASSTHROUGH.match(text):
        return text
    if _OPTION.match(text):
        raise RequirementError(
            f"option line {text!r} is not a requirement", path=source,
            hint="put pip options in pip.conf or PIP_* variables; -r/-c are only allowed in files",
        )
    try:
        Requirement(text)
    except InvalidRequirement as exc:
        raise RequirementError(
            f"invalid requirement {text!r}: {str(exc).splitlines()[0]}", path=source,
            hint="use PEP 508 syntax, e.g. 'scikit-learn==1.5.2' or 'requests[socks]>=2'",
        ) from None
    return text


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buffer:
            start = number
        line = raw.strip() if buffer else raw.rstrip()
        if line.endswith("\\"):
            buffer += line[:-1].rstrip() + " "
            continue
        yield start, buffer + line
        buffer = ""
    if buffer:
        yield start, buffer


def _strip_comment(line: str) -> str:
    # pip treats ' #' (whitespace then hash) or a leading '#' as a comment; '#egg=' inside URLs stays.
    if line.lstrip().startswith("#"):
        return ""
    return re.split(r"\s+#", line, maxsplit=1)[0].strip()


def read_requirements_file(path: str | os.PathLike, *, _seen: frozenset[Path] = frozenset()) -> RequirementSet:
    """Read a requirements file, resolving ``-r`` (requirements) and ``-c`` (constraints) includes."""
    path = Path(path)
    resolved = path.resolve()
    if resolved in _seen:
        raise RequirementError("requirements files include each other in a loop", path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RequirementError("requirements file not found", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RequirementError(f"cannot read requirements file: {exc}", path=path) from None
    result = RequirementSet()
    seen = _seen | {resolved}
    for number, raw in _logical_lines(text):
        line = _strip_comment(raw)
        if not line:
            continue
        where = f"{path}:{number}"
        include = re.match(r"^(-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)$", line)
        if include:
            flag, target = include.groups()
            child = read_requirements_file(path.parent / target, _seen=seen)
            if flag in ("-r", "--requirement"):
                result.requirements.extend(child.requirements)
            else:
                child_constraints = child.requirements + child.constraints
                result.constraints.extend(child_constraints)
                continue
            result.constraints.extend(child.constraints)
            continue
        result.requirements.append(validate_requirement(line, source=where))
    return result


def expand_lines(lines: Sequence[str], base_dir: Path, *, source: str | os.PathLike | None = None) -> RequirementSet:
    """Requirement lines as given inline (a list, a conda ``pip:`` block), with ``-r``/``-c`` files resolved
    against ``base_dir``: ``-r`` adds requirements (and their constraints), ``-c`` adds constraints."""
    result = RequirementSet()
    for line in lines:
        text = _strip_comment(str(line))
        if not text:
            continue
        include = re.match(r"^(-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)$", text)
        if include is None:
            result.requirements.append(validate_requirement(text, source=source))
            continue
        child = read_requirements_file(base_dir / include.group(2))
        if include.group(1) in ("-r", "--requirement"):
            result.requirements.extend(child.requirements)
            result.constraints.extend(child.constraints)
        else:
            result.constraints.extend(child.requirements + child.constraints)
    return result


def coerce_requirements(value: str | os.PathLike | Sequence[str] | None, *, argument: str) -> RequirementSet:
    """Accept a list of requirement strings or a path to a requirements file (MLflow's contract)."""
    if value is None:
        return RequirementSet()
    if isinstance(value, (str, os.PathLike)):
        return read_requirements_file(value)
    if not isinstance(value, (list, tuple)):
        raise RequirementError(f"{argument} must be a list of strings or a path to a requirements file, "
                               f"not {type(value).__name__}")
    for item in value:
        if not isinstance(item, str):
            raise RequirementError(f"{argument} entries must be strings, got {item!r}")
    return expand_lines(value, Path.cwd(), source=argument)


def merge_requirements(base: Sequence[str], extra: Sequence[str]) -> list[str]:
    """``base`` with ``extra`` appended; an extra naming a package already in ``base`` replaces it in place."""
    extra_by_name = {}
    unnamed_extra = []
    for line in extra:
        name = requirement_name(line)
        if name is None:
            unnamed_extra.append(line)
        else:
            extra_by_name[name] = line
    merged: list[str] = []
    used: set[str] = set()
    for line in base:
        name = requirement_name(line)
        if name in extra_by_name:
            if name not in used:
                merged.append(extra_by_name[name])
                used.add(name)
            continue
        merged.append(line)
    merged.extend(line for name, line in extra_by_name.items() if name not in used)
    merged.extend(line for line in unnamed_extra if line not in merged)
    return dedupe(merged)


def dedupe(lines: Iterable[str]) -> list[str]:
    """Drop repeated lines and repeated package names (first wins)."""
    out: list[str] = []
    names: set[str] = set()
    for line in lines:
        name = requirement_name(line)
        if line in out or (name is not None and name in names):
            continue
        if name is not None:
            names.add(name)
        out.append(line)
    return out


def normalized(lines: Iterable[str]) -> list[str]:
    """A canonical, sorted form for hashing: whitespace, name case and order do not matter."""
    result = []
    for line in lines:
        text = line.strip()
        try:
            req = Requirement(text)
        except InvalidRequirement:
            result.append(text)
            continue
        name = canonicalize_name(req.name)
        extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
        spec = ",".join(sorted(str(s) for s in req.specifier))
        marker = f"; {req.marker}" if req.marker else ""
        url = f" @ {req.url}" if req.url else ""
        result.append(f"{name}{extras}{url}{spec}{marker}")
    return sorted(set(result))


def render_requirements_file(lines: Sequence[str]) -> str:
    return "".join(f"{line}\n" for line in lines)
