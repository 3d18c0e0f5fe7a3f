"""Command-line options shared by modules of the CLI (kept apart so cli.py and cli_lock.py both import it)."""

from __future__ import annotations

import click

from .errors import EnvreproError


def _check_as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A bad --resolve-as-of is one line and exit 2, before anything is read or built."""
    if value is not None:
        from .asof import parse_as_of

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
