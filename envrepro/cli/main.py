"""The ``envrepro`` group: every command, user errors as one line, and a clean exit."""

from __future__ import annotations

import logging
import os
import sys

import click

from .. import __version__
from ..errors import EnvreproError
from .audit import audit
from .bundle import bundle_cmd
from .docker import build_docker, generate_dockerfile
from .envs import env_group
from .lock import lock_cmd
from .models import flavors_cmd, inspect_cmd, update_pip_requirements_cmd
from .run import predict_cmd, serve_cmd
from .verify import verify_cmd


class _Group(click.Group):
    """Turns user errors into one line on stderr and exit code 2; bugs still show a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except EnvreproError as exc:
            click.echo(f"envrepro: error: {exc.format()}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="envrepro")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging.")
def cli(verbose: bool) -> None:
    """Save ML models with their dependencies and rebuild those environments exactly."""
    logging.basicConfig(level=logging.DEBUG if verbose or os.environ.get("ENVREPRO_DEBUG") else logging.WARNING,
                        format="envrepro: %(levelname)s: %(message)s")


for command in (flavors_cmd, inspect_cmd, update_pip_requirements_cmd, env_group, predict_cmd, serve_cmd, lock_cmd,
                audit, generate_dockerfile, build_docker, bundle_cmd, verify_cmd):
    cli.add_command(command)


def main() -> None:
    try:
        cli(prog_name="envrepro")
    except SystemExit as exit_:
        if "rattler" not in sys.modules:
            raise
        # py-rattler's runtime threads can outlive the command (e.g. requests still pending after a failed
        # solve); interpreter finalization then aborts with SIGABRT. Everything is written: leave now.
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        if not isinstance(exit_.code, (int, type(None))):
            print(exit_.code, file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
