"""Per-platform conda solve for a lock: the embedded engine (py-rattler), or conda-lock's own solver.

conda-lock is used only when the user points envrepro at a conda/mamba/micromamba binary (``conda_exe``):
conda-lock needs one to solve, envrepro's embedded engine does not.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ..envs.conda_spec import CondaEnvSpec
from ..envs.external_conda import resolve_conda_exe
from ..envs.rattler_engine import solve_conda_spec
from ..envs.virtual_packages import to_rattler
from ..errors import EnvironmentBuildError
from ..lockfile import LockedPackage, read_lockfile
from ..yamlio import dump_yaml


def solve_platform(spec: CondaEnvSpec, platform: str, virtual_packages: Mapping[str, str], *,
                   channel_alias: Mapping[str, str] | None = None, quiet: bool = True,
                   exclude_newer: datetime | None = None, gateway: Any | None = None) -> list[LockedPackage]:
    """Solve ``spec``'s conda part for ``platform`` with rattler; returns the locked conda packages.

    ``gateway``: a repodata gateway shared by the platforms of one lock (see ``conda_gateway``)."""
    records = solve_conda_spec(spec, channel_alias=channel_alias, platform=platform,
                               virtual_packages=to_rattler(virtual_packages), quiet=quiet,
                               exclude_newer=exclude_newer, gateway=gateway)
    return [record_to_locked(record, platform) for record in records]


def record_to_locked(record: Any, platform: str) -> LockedPackage:
    name = record.name.normalized
    if not record.md5:
        # conda-lock's format requires md5 for conda packages (its parser rejects the file otherwise).
        raise EnvironmentBuildError(f"the channel gives no md5 for {name} ({record.url})",
                                    hint="re-index the channel (e.g. `rattler-index`, `conda index`)")
    return LockedPackage(
        name=name, version=str(record.version), manager="conda", platform=platform, url=str(record.url),
        md5=record.md5.hex(), sha256=record.sha256.hex() if record.sha256 else None,
        dependencies=depends_to_map(record.depends), build=str(record.build),
    )


def depends_to_map(depends: list[str]) -> dict[str, str]:
    """``['python >=3.8', 'tinydep']`` → ``{'python': '>=3.8', 'tinydep': ''}`` (conda-lock's shape)."""
    out: dict[str, str] = {}
    for dep in depends:
        name, _, rest = dep.strip().partition(" ")
        rest = rest.strip()
        if name in out and rest:
            out[name] = f"{out[name]},{rest}" if out[name] else rest
        else:
            out.setdefault(name, rest)
    return out


# -- conda-lock's own solver ---------------------------------------------------------------------------
def solve_with_conda_lock(spec: CondaEnvSpec, platforms: list[str], conda_exe: str | os.PathLike, *,
                          channel_alias: Mapping[str, str] | None = None,
                          virtual_packages: Mapping[str, Mapping[str, str]] | None = None,
                          quiet: bool = True) -> list[LockedPackage]:
    """Run ``conda-lock lock --conda EXE`` on the resolved spec; returns its packages (conda and pip)."""
    exe = resolve_conda_exe(conda_exe)
    assert exe is not None
    if importlib.util.find_spec("conda_lock") is None:
        raise EnvironmentBuildError("--conda-exe makes conda-lock solve, and conda-lock is not installed",
                                    hint="pip install 'envrepro[conda]', or drop --conda-exe")
    with tempfile.TemporaryDirectory(prefix="envrepro-conda-lock-") as tmp:
        env_file = Path(tmp) / "environment.yml"
        deps: list[Any] = list(spec.resolved_specs(channel_alias))
        if spec.pip_requirements:
            deps.append({"pip": list(spec.pip_requirements)})
        env_file.write_text(dump_yaml({"channels": spec.resolved_channels(channel_alias), "dependencies": deps}),
                            encoding="utf-8")
        cmd = conda_lock_command(env_file, Path(tmp) / "conda-lock.yml", platforms, exe,
                                 virtual_packages=virtual_packages, vpkg_file=Path(tmp) / "virtual-packages.yml")
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=quiet, text=True, cwd=tmp)
        if proc.returncode != 0:
            tail = " | ".join(line.strip() for line in ((proc.stderr or "") + (proc.stdout or "")).splitlines()[-6:])
            why = tail or f"exit {proc.returncode}"
            raise EnvironmentBuildError(f"conda-lock could not lock the environment: {why}",
                                        path=spec.source, hint="drop --conda-exe to use the built-in engine")
        return read_lockfile(Path(tmp) / "conda-lock.yml").packages


def conda_lock_command(env_file: Path, lock_file: Path, platforms: list[str], exe: Path, *,
                       virtual_packages: Mapping[str, Mapping[str, str]] | None, vpkg_file: Path) -> list[str]:
    cmd = [sys.executable, "-m", "conda_lock", "lock", "--conda", os.fspath(exe), "-f", os.fspath(env_file),
           "--lockfile", os.fspath(lock_file), "--kind", "lock"]
    for platform in platforms:
        cmd += ["-p", platform]
    if virtual_packages:
        # conda-lock's --virtual-package-spec format: subdirs: {platform: {packages: {name: version}}}
        subdirs = {p: {"packages": dict(v)} for p, v in virtual_packages.items()}
        vpkg_file.write_text(dump_yaml({"subdirs": subdirs}), encoding="utf-8")
        cmd += ["--virtual-package-spec", os.fspath(vpkg_file)]
    return cmd
