"""Pip requirement lists: parse, validate, read files (``-r``/``-c``), merge by package name."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from .errors import RequirementError
from .fsutil import is_inside, read_text

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


# ``-r FILE`` / ``-c FILE`` (and the long spellings) in a requirements file or an inline list.
INCLUDE_LINE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)$")


def read_requirements_file(path: str | os.PathLike, *, root: str | os.PathLike | None = None,
                           _seen: frozenset[Path] = frozenset()) -> RequirementSet:
    """Read a requirements file, resolving ``-r`` (requirements) and ``-c`` (constraints) includes.

    Only regular files of bounded size are read. With ``root`` (a model directory) the file and every
    file it includes must be inside ``root``; a user's own file may include any file.
    """
    path = Path(path)
    resolved = Path(os.path.realpath(path))
    if resolved in _seen:
        raise RequirementError("requirements files include each other in a loop", path=path)
    text = read_text(path, what="requirements file", root=root, error=RequirementError)
    lines = ((f"{path}:{number}", raw) for number, raw in _logical_lines(text))
    return _expand(lines, path.parent, root=root, seen=_seen | {resolved})


def expand_lines(lines: Sequence[str], base_dir: Path, *, source: str | os.PathLike | None = None,
                 root: str | os.PathLike | None = None) -> RequirementSet:
    """Requirement lines as given inline (a list, a conda ``pip:`` block), with ``-r``/``-c`` files resolved
    against ``base_dir`` (and kept inside ``root``, as :func:`read_requirements_file`)."""
    return _expand(((source, str(line)) for line in lines), base_dir, root=root, seen=frozenset())


def _expand(lines: Iterable[tuple[str | os.PathLike | None, str]], base_dir: Path, *,
            root: str | os.PathLike | None, seen: frozenset[Path]) -> RequirementSet:
    """The one reading of requirement lines: ``-r`` adds a file's requirements (and its constraints),
    ``-c`` adds a file's lines as constraints; every other line must be a valid requirement."""
    result = RequirementSet()
    for where, raw in lines:
        line = _strip_comment(raw)
        if not line:
            continue
        include = INCLUDE_LINE.match(line)
        if include is None:
            result.requirements.append(validate_requirement(line, source=where))
            continue
        flag, target = include.groups()
        if root is not None and not is_inside(root, base_dir / target):
            raise RequirementError(f"{flag} {target} names a file outside the model directory", path=where,
                                   hint="a model's requirements may only include files inside the model")
        child = read_requirements_file(base_dir / target, root=root, _seen=seen)
        if flag in ("-r", "--requirement"):
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
