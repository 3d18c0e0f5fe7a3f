"""Python versions as models write them: one pattern for "is this a version", one for conda's ``python`` spec."""

from __future__ import annotations

import re

# 3, 3.11, 3.11.7, 3.11.*, 3.13.0rc1, 3.11.7+ -- and nothing after it (so "3.11; rm -rf /" is not 3.11).
_PYTHON_VERSION = re.compile(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.\*|(?:a|b|rc)\d+)?\+?\s*$")
_PYTHON_SPEC = re.compile(r"^python(?:\s+|\s*==?\s*)(\d+(?:\.\d+)*)(?:\.\*)?(?:\s|$)")


def python_release(version: object) -> tuple[int, ...] | None:
    """(3, 11, 7) for "3.11.7"; None unless the whole text is a Python version."""
    match = _PYTHON_VERSION.match(str(version))
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def python_version_from_specs(specs: list[str]) -> str | None:
    """The version in a ``python=3.11.7`` / ``python==3.11`` / ``conda-forge::python 3.10.*`` conda spec."""
    for spec in specs:
        match = _PYTHON_SPEC.match(spec.strip().split("::", 1)[-1])
        if match:
            return match.group(1)
    return None
