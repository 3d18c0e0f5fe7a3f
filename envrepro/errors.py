"""Errors a user can cause. The CLI prints them as one line and exits with ``exit_code``."""

from __future__ import annotations

import os
import re

from envrepro_runtime.limits import EXIT_USER_ERROR

# Characters a terminal acts on instead of showing: C0 controls (tab aside), DEL, C1 controls, and the
# Unicode marks that reorder or separate lines. Values read from a model are shown escaped.
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with terminal control characters escaped (``\\x1b``, ``\\n``...): one line, shown as written."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


# Where a user with no internet is sent: the README section on mirrors, local channels and bundles.
OFFLINE_HELP = 'with no internet, see "Air-gapped and offline sites" in envrepro\'s README'


class EnvreproError(Exception):
    """A problem the user can fix: names the file involved and how to fix it."""

    exit_code = EXIT_USER_ERROR

    def __init__(self, message: str, *, path: str | os.PathLike | None = None, hint: str | None = None):
        self.message = message
        self.path = os.fspath(path) if path is not None else None
        self.hint = hint
        super().__init__(self.format())

    def format(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        if self.hint:
            text += f" ({self.hint})"
        return printable(text)


class ModelFormatError(EnvreproError):
    """A model directory, MLmodel or env file is missing or malformed."""


class RequirementError(EnvreproError):
    """A requirement string or requirements file is invalid."""


class FlavorError(EnvreproError):
    """No flavor, or an unknown flavor, for a model or a Python object."""


class EnvironmentBuildError(EnvreproError):
    """An environment could not be created (unsatisfiable spec, missing interpreter, ...)."""
