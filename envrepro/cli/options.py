"""Options and parameter types shared by the commands."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from ..errors import EnvreproError

ENV_MANAGERS = ["uv", "virtualenv", "conda", "local"]  # envrepro.environments.ENV_MANAGERS, without importing it


class ModelOrBundle(click.ParamType):
    """A model directory, or a bundle file: unpacked (once, verified) and replaced by its model directory."""

    name = "MODEL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = os.fspath(value)
        if not os.path.isfile(text):
            return text  # a directory (or a missing path: the command names it)
        from ..bundle import is_bundle, open_bundle

        if not is_bundle(text):
            return text
        quiet = bool(ctx is not None and ctx.params.get("quiet"))
        return str(open_bundle(text, quiet=quiet).model_dir)


MODEL = ModelOrBundle()
MODEL_HELP = "Model directory, or a bundle file (envrepro bundle)."


def _check_as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A bad --resolve-as-of is one line and exit 2, before anything is read or built."""
    if value is not None:
        from ..asof import parse_as_of

        try:
            parse_as_of(value)
        except EnvreproError as exc:
            click.echo(f"envrepro: error: {exc.format()}", err=True)
            ctx.exit(exc.exit_code)
    return value


RESOLVE_AS_OF = click.option(
    "--resolve-as-of", "resolve_as_of", metavar="DATE|now", default=None, callback=_check_as_of,
    help="Resolve what the model leaves unpinned as of DATE (ISO date or datetime, UTC) or 'now' "
         "[default: the model's save time, for models older than 7 days; also ENVREPRO_RESOLVE_AS_OF].")

CHANNEL_ALIAS = click.option(
    "--channel-alias", "channel_aliases", multiple=True, metavar="NAME=URL",
    help="Map a channel to a mirror URL or local path, e.g. conda-forge=file:///mirror (repeatable).")

QUIET = click.option("-q", "--quiet", is_flag=True, help="No progress output.")


def env_options(*, env_prefix: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Options shared by every command that builds a model's environment (``--env-prefix`` for those that
    can run in one built earlier)."""
    options = [
        click.option("--env-manager", type=click.Choice(ENV_MANAGERS), default=None,
                     help="How to rebuild the model's environment [default: uv when installed, else virtualenv]."),
        click.option("--pip-requirements-override", "overrides", multiple=True, metavar="REQ",
                     help="Install REQ on top of the model's requirements (repeatable); the model is unchanged."),
        click.option("--conda-exe", type=click.Path(), default=None,
                     help="Use this conda/mamba/micromamba instead of the embedded engine (also ENVREPRO_CONDA_EXE)."),
        CHANNEL_ALIAS,
        RESOLVE_AS_OF,
        QUIET,
    ]
    if env_prefix:
        options.append(click.option("--env-prefix", type=click.Path(), default=None,
                                    help="Run in an environment built earlier at this path (no build)."))

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def alias_map(items: tuple[str, ...]) -> dict[str, str] | None:
    from ..environments import parse_channel_aliases

    return parse_channel_aliases(items) or None


def engine_options(conda_exe: str | None, aliases: tuple[str, ...], resolve_as_of: str | None) -> dict[str, Any]:
    """The engine keyword arguments of create_env for the shared options that were given."""
    options: dict[str, Any] = {}
    if conda_exe:
        options["conda_exe"] = conda_exe
    if aliases:
        options["channel_alias"] = alias_map(aliases)
    if resolve_as_of is not None:
        options["resolve_as_of"] = resolve_as_of
    return options
