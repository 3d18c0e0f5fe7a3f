"""``envrepro lock``: write, check or render a model's conda-lock.yml (see docs/locking.md)."""

from __future__ import annotations

import sys

import click

from ..errors import EnvreproError
from .options import CHANNEL_ALIAS, QUIET, RESOLVE_AS_OF, alias_map


@click.command("lock")
@click.option("-m", "--model", "model_path", required=True, type=click.Path(), help="Model directory.")
@click.option("-p", "--platform", "platforms", multiple=True, metavar="SUBDIR",
              help="Target platform (repeatable). Default: linux-64, osx-arm64, win-64; "
                   "with --render: this machine's.")
@click.option("-o", "--output", type=click.Path(), default=None,
              help="Where to write: the lock (default MODEL/conda-lock.yml), or with --render the rendered "
                   "file (default stdout).")
@click.option("--lockfile", type=click.Path(), default=None,
              help="Lock to --check or --render (default: the one MLmodel records, else MODEL/conda-lock.yml).")
@click.option("--check", is_flag=True,
              help="Exit 1 if the model's environment no longer matches the lock's input hash (for CI); "
                   "exit 3 for a lock made by conda-lock, whose hash envrepro cannot check.")
@click.option("--render", type=click.Choice(["explicit", "env"]), default=None,
              help="Print one platform of the lock as conda's @EXPLICIT list or as an environment.yml "
                   "(as `conda-lock render` does).")
@click.option("--dev-dependencies/--no-dev-dependencies", "dev", default=True,
              help="With --render: include the 'dev' category (default: yes, as conda-lock).")
@click.option("-e", "--extras", multiple=True, metavar="CATEGORY",
              help="With --render: also include this category of a conda-lock lock (repeatable).")
@click.option("--pip-only", is_flag=True,
              help="Lock python_env.yaml/requirements.txt (what --env-manager uv/virtualenv builds) instead of "
                   "conda.yaml.")
@click.option("--virtual-package", "virtual_packages", multiple=True, metavar="[SUBDIR:]__NAME=VERSION",
              help="Override an assumed virtual package, e.g. __cuda=12.4 or linux-64:__glibc=2.17 "
                   "(empty VERSION removes it; repeatable).")
@click.option("--conda-exe", type=click.Path(), default=None,
              help="Solve with conda-lock and this conda/mamba/micromamba instead of the embedded engine.")
@CHANNEL_ALIAS
@click.option("--no-record", is_flag=True, help="Do not record the lock's path in MLmodel.")
@RESOLVE_AS_OF
@QUIET
def lock_cmd(model_path: str, platforms: tuple[str, ...], output: str | None, lockfile: str | None, check: bool,
             render: str | None, dev: bool, extras: tuple[str, ...], pip_only: bool,
             virtual_packages: tuple[str, ...], conda_exe: str | None, channel_aliases: tuple[str, ...],
             no_record: bool, resolve_as_of: str | None, quiet: bool) -> None:
    """Lock a model's environment for several platforms (conda-lock's conda-lock.yml format).

    \b
    envrepro lock -m my-model -p linux-64 -p osx-arm64 -p win-64
    envrepro lock -m my-model --check          # exit 1 when the lock is out of date, 3 when not checkable
    envrepro lock -m my-model --render explicit -p linux-64 -o explicit.txt
    envrepro env create -m my-model --from-lock
    """
    from .. import lock as api

    if check and render:
        raise EnvreproError("--check and --render cannot be combined")
    if check:
        result = api.check_lock(model_path, lockfile)
        click.echo(result.describe(), err=not result.ok)
        sys.exit({"current": 0, "stale": 1, "not checkable": 3}[result.status])
    if render:
        if len(platforms) > 1:
            raise EnvreproError("--render takes one -p platform", hint="run it once per platform")
        text = api.render_model_lock(model_path, render, platforms[0] if platforms else None,  # type: ignore[arg-type]
                                     lockfile=lockfile, dev=dev, extras=extras, output=output)
        if not output:
            click.echo(text, nl=False)
        return
    path = api.lock_model(model_path, platforms, output, channel_alias=alias_map(channel_aliases),
                          conda_exe=conda_exe, quiet=quiet, virtual_packages=virtual_packages, pip_only=pip_only,
                          record=not no_record, resolve_as_of=resolve_as_of)
    click.echo(f"wrote {path}")
