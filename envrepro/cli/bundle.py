"""``envrepro bundle``, and ``env create --from-bundle`` (docs/bundles.md)."""

from __future__ import annotations

from typing import Any

import click

from .options import CHANNEL_ALIAS, QUIET, alias_map


@click.command("bundle")
@click.option("-m", "--model", "model_path", required=True, type=click.Path(), help="Model directory.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="The bundle file to write (an uncompressed tar, e.g. my-model.tar).")
@click.option("-p", "--platform", "platforms", multiple=True, metavar="SUBDIR",
              help="Platform to carry packages for (repeatable), e.g. linux-64, osx-arm64. Default: this machine's.")
@click.option("--env-manager", type=click.Choice(["uv", "virtualenv", "conda"]), default=None,
              help="The environment the bundle installs: conda (brings its own Python) or a venv "
                   "[default: uv when installed, else virtualenv].")
@CHANNEL_ALIAS
@QUIET
def bundle_cmd(model_path: str, output: str, platforms: tuple[str, ...], env_manager: str | None,
               channel_aliases: tuple[str, ...], quiet: bool) -> None:
    """Write one file with the model, its lock and every package it needs, to install with no network.

    \b
    envrepro bundle -m my-model -o my-model.tar                      # a venv bundle for this platform
    envrepro bundle -m my-model -o my-model.tar --env-manager conda  # carries Python too
    # on the air-gapped machine:
    envrepro env create --from-bundle my-model.tar
    envrepro predict -m my-model.tar -i input.json
    """
    from ..bundle import create_bundle

    summary = create_bundle(model_path, output, platforms=platforms, env_manager=env_manager,
                            channel_alias=alias_map(channel_aliases), quiet=quiet)
    if summary.manifest.lock_note:
        click.echo(f"envrepro: {summary.manifest.lock_note}", err=True)
    click.echo(summary.describe())
    if summary.manifest.lock_kind == "pip":
        click.echo("a venv bundle: the target needs that Python (same minor version) and envrepro with uv or "
                   "virtualenv; a conda bundle (--env-manager conda) carries its own Python")
    click.echo(f"install it with: envrepro env create --from-bundle {output}")


def env_from_bundle(bundle: str, conflicts: dict[str, object], *, env_manager: str | None, prefix: str | None,
                    quiet: bool) -> Any:
    """``env create --from-bundle``: the bundle's environment, installed from its packages only.

    ``conflicts`` are the other options given (name → value): any that is set is refused."""
    from ..bundle import create_env_from_bundle
    from ..errors import EnvreproError

    given = [name for name, value in conflicts.items() if value]
    if given:
        raise EnvreproError(f"--from-bundle installs the bundle's packages only and cannot be combined with "
                            f"{', '.join(given)}", hint="drop them, or build from the model with -m")
    return create_env_from_bundle(bundle, env_manager=env_manager, prefix=prefix, quiet=quiet)
