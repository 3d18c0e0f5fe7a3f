"""Environment engines: conda (py-rattler, or an external conda on request), uv/virtualenv, local.

Inputs are plain data (parsed specs, requirement lists); the CLI and the Python API sit above this package.
See docs/environments.md for the design (cache layout, locking, local test channel).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

# Names are imported on first use: the warm path of `env create` must not pay for the conda engine.
_LAZY = {
    "CachedEnv": ".cache", "EnvCache": ".cache",
    "CondaEnvSpec": ".conda_spec", "MultiplePipBlocksWarning": ".conda_spec", "parse_channel_alias": ".conda_spec",
    "parse_conda_env": ".conda_spec", "resolve_channel": ".conda_spec",
    "CONDA_EXE_ENV": ".external_conda", "create_conda_prefix_external": ".external_conda",
    "resolve_conda_exe": ".external_conda",
    "Interpreter": ".interpreters", "InterpreterVersionWarning": ".interpreters",
    "discover_interpreters": ".interpreters", "find_interpreter": ".interpreters",
    "Mismatch": ".local_engine", "check_environment": ".local_engine",
    "install_requirements": ".pip_install",
    "create_conda_prefix": ".rattler_engine", "solve_conda_spec": ".rattler_engine",
    "create_venv": ".venv_engine", "default_venv_tool": ".venv_engine", "venv_cache_fields": ".venv_engine",
    "prefix_python": ".prefix",
    "envrepro_home": "..home",
}

if TYPE_CHECKING:
    from datetime import datetime

    from .conda_spec import CondaEnvSpec


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


def create_conda_env(spec: CondaEnvSpec, prefix: str | os.PathLike, *,
                     channel_alias: Mapping[str, str] | None = None, conda_exe: str | os.PathLike | None = None,
                     platform: str | None = None, pip_override: Sequence[str] = (), quiet: bool = False,
                     exclude_newer: datetime | None = None) -> None:
    """Build ``spec`` at ``prefix``: external conda when asked (argument or ENVREPRO_CONDA_EXE), else rattler.

    ``exclude_newer`` (UTC): what is not pinned resolves as of then (see :mod:`envrepro.asof`).
    """
    from .external_conda import create_conda_prefix_external, resolve_conda_exe
    from .rattler_engine import create_conda_prefix

    exe = resolve_conda_exe(conda_exe)
    if exe is not None:
        create_conda_prefix_external(spec, prefix, conda_exe=exe, channel_alias=channel_alias, quiet=quiet,
                                     pip_override=pip_override, exclude_newer=exclude_newer)
    else:
        create_conda_prefix(spec, prefix, channel_alias=channel_alias, platform=platform, quiet=quiet,
                            pip_override=pip_override, exclude_newer=exclude_newer)


__all__ = [
    "CONDA_EXE_ENV", "CachedEnv", "CondaEnvSpec", "EnvCache", "Interpreter", "InterpreterVersionWarning",
    "Mismatch", "MultiplePipBlocksWarning", "check_environment", "create_conda_env", "create_conda_prefix",
    "create_conda_prefix_external", "create_venv", "default_venv_tool", "discover_interpreters",
    "envrepro_home", "find_interpreter", "install_requirements", "parse_channel_alias", "parse_conda_env",
    "prefix_python", "resolve_channel", "resolve_conda_exe", "solve_conda_spec", "venv_cache_fields",
]
