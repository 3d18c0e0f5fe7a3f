"""Build a conda environment with an external conda, mamba or micromamba, only when the user asks.

Chosen with ``--conda-exe PATH`` or ``ENVREPRO_CONDA_EXE``; never required (rattler is the default).
All three tools accept the same ``create -y -p PREFIX --override-channels -c URL ... SPEC ...`` command line,
so envrepro passes the channels it resolved itself (mirror map applied, ``defaults`` never implied) and
installs the pip part afterwards with the prefix's own python, reading every ``pip:`` block.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from ..asof import stamp
from ..errors import EnvironmentBuildError
from .conda_spec import CondaEnvSpec
from .pip_install import run_tool
from .progress import Progress
from .rattler_engine import install_pip_part

CONDA_EXE_ENV = "ENVREPRO_CONDA_EXE"


def resolve_conda_exe(conda_exe: str | os.PathLike | None = None) -> Path | None:
    """The external conda to use: the explicit argument, else ``ENVREPRO_CONDA_EXE``, else None (use rattler)."""
    chosen = os.fspath(conda_exe) if conda_exe else os.environ.get(CONDA_EXE_ENV) or None
    if not chosen:
        return None
    found = shutil.which(chosen) if os.sep not in chosen else (chosen if Path(chosen).is_file() else None)
    if found is None:
        source = "--conda-exe" if conda_exe else CONDA_EXE_ENV
        raise EnvironmentBuildError(f"conda executable {chosen!r} (from {source}) not found",
                                    hint="give the full path to conda, mamba or micromamba, or drop the option "
                                         "to use the built-in engine")
    return Path(found)


def tool_kind(exe: Path) -> str:
    name = exe.name.lower().removesuffix(".exe").removesuffix(".bat")
    for kind in ("micromamba", "mamba", "conda"):
        if kind in name:
            return kind
    return "conda"


def create_command(exe: Path, spec: CondaEnvSpec, prefix: str | os.PathLike, *,
                   channel_alias: Mapping[str, str] | None = None, quiet: bool = False) -> list[str]:
    cmd = [os.fspath(exe), "create", "--yes", "--prefix", os.fspath(prefix), "--override-channels"]
    for url in spec.resolved_channels(channel_alias):
        cmd += ["--channel", url]
    if quiet:
        cmd.append("--quiet")
    return cmd + spec.resolved_specs(channel_alias)


def create_conda_prefix_external(spec: CondaEnvSpec, prefix: str | os.PathLike, *, conda_exe: str | os.PathLike,
                                 channel_alias: Mapping[str, str] | None = None, quiet: bool = False,
                                 pip_override: Sequence[str] = (), exclude_newer: datetime | None = None) -> None:
    """Create ``prefix`` with an external conda-like tool, then install the pip part.

    conda, mamba and micromamba have no upload-date cutoff: with ``exclude_newer`` only the pip part gets it
    (a warning says so).
    """
    exe = resolve_conda_exe(conda_exe)
    assert exe is not None
    if exclude_newer is not None:
        logging.getLogger(__name__).warning(
            "%s cannot resolve as of a date: its conda packages resolve as of today (the pip part as of %s); "
            "drop --conda-exe to use the built-in engine, which can", tool_kind(exe), stamp(exclude_newer))
    progress = Progress(quiet=quiet)
    cmd = create_command(exe, spec, prefix, channel_alias=channel_alias, quiet=not progress.enabled)
    progress.step(f"creating the conda environment with {tool_kind(exe)} ({exe})")
    run_tool(cmd, progress, failure=f"{tool_kind(exe)} could not create the environment",
             hint=f"run `{' '.join(cmd[:2])} ...` yourself to see why, or drop --conda-exe to use the built-in engine")
    if not Path(prefix).is_dir():
        raise EnvironmentBuildError(f"{exe} reported success but did not create {prefix}")
    install_pip_part(spec, prefix, pip_override=pip_override, quiet=quiet, exclude_newer=exclude_newer)
