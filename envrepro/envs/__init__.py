"""Environment engines: conda (py-rattler, or an external conda on request), uv/virtualenv, local.

Inputs are plain data (parsed specs, requirement lists); the CLI and the Python API sit above this package.
See docs/environments.md for the design (cache layout, locking, local test channel).
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

from .cache import CachedEnv, EnvCache, envrepro_home
from .conda_spec import CondaEnvSpec, MultiplePipBlocksWarning, parse_channel_alias, parse_conda_env, resolve_channel
from .external_conda import CONDA_EXE_ENV, create_conda_prefix_external, resolve_conda_exe
from .interpreters import Interpreter, InterpreterVersionWarning, discover_interpreters, find_interpreter
from .local_engine import Mismatch, check_environment
from .pip_install import install_requirements
from .rattler_engine import create_conda_prefix, prefix_python, solve_conda_spec
from .venv_engine import create_venv, default_venv_tool, venv_cache_fields, venv_python


def create_conda_env(spec: CondaEnvSpec, prefix: str | os.PathLike, *,
                     channel_alias: Mapping[str, str] | None = None, conda_exe: str | os.PathLike | None = None,
                     platform: str | None = None, pip_override: Sequence[str] = (), quiet: bool = False) -> None:
    """Build ``spec`` at ``prefix``: external conda when asked (argument or ENVREPRO_CONDA_EXE), else rattler."""
    exe = resolve_conda_exe(conda_exe)
    if exe is not None:
        create_conda_prefix_external(spec, prefix, conda_exe=exe, channel_alias=channel_alias, quiet=quiet,
                                     pip_override=pip_override)
    else:
        create_conda_prefix(spec, prefix, channel_alias=channel_alias, platform=platform, quiet=quiet,
                            pip_override=pip_override)


__all__ = [
    "CONDA_EXE_ENV", "CachedEnv", "CondaEnvSpec", "EnvCache", "Interpreter", "InterpreterVersionWarning",
    "Mismatch", "MultiplePipBlocksWarning", "check_environment", "create_conda_env", "create_conda_prefix",
    "create_conda_prefix_external", "create_venv", "default_venv_tool", "discover_interpreters",
    "envrepro_home", "find_interpreter", "install_requirements", "parse_channel_alias", "parse_conda_env",
    "prefix_python", "resolve_channel", "resolve_conda_exe", "solve_conda_spec", "venv_cache_fields",
    "venv_python",
]
