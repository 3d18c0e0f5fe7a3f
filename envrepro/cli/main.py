"""The ``envrepro`` group: every command, user errors as one line, and a clean exit."""

from __future__ import annotations

import importlib
import logging
import os
import sys

import click

from .. import __version__
from ..errors import EnvreproError

# Each command's module, imported only when that command runs (or for --help): `envrepro predict` is on a warm
# predict's critical path, and importing every command's engines (audit, docker, lock, bundle) first cost it ~40 ms.
_COMMANDS = {
    "audit": ("audit", "audit"),
    "build-docker": ("docker", "build_docker"),
    "bundle": ("bundle", "bundle_cmd"),
    "env": ("envs", "env_group"),
    "flavors": ("models", "flavors_cmd"),
    "generate-dockerfile": ("docker", "generate_dockerfile"),
    "inspect": ("models", "inspect_cmd"),
    "lock": ("lock", "lock_cmd"),
    "predict": ("run", "predict_cmd"),
    "serve": ("run", "serve_cmd"),
    "update-pip-requirements": ("models", "update_pip_requirements_cmd"),
    "verify": ("verify", "verify_cmd"),
}


class _Group(click.Group):
    """Loads commands lazily; turns user errors into one line on stderr and exit code 2 (bugs still show a
    traceback)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module, attribute = _COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(f".{module}", __package__), attribute)
        return command

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
