"""The ``envrepro`` command line. Thin: parses arguments, calls the Python API, prints results."""

from __future__ import annotations

import json
import logging
import os
import sys

import click

from . import __version__
from .errors import EnvreproError


class _Group(click.Group):
    """Turns user errors into one line on stderr and exit code 2; bugs still show a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except EnvreproError as exc:
            click.echo(f"envrepro: error: {exc.format()}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["--help"]})
@click.version_option(__version__, prog_name="envrepro")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging.")
def cli(verbose: bool) -> None:
    """Save ML models with their dependencies and rebuild those environments exactly."""
    logging.basicConfig(level=logging.DEBUG if verbose or os.environ.get("ENVREPRO_DEBUG") else logging.WARNING,
                        format="envrepro: %(levelname)s: %(message)s")


@cli.command("flavors")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def flavors_cmd(as_json: bool) -> None:
    """List registered flavors and plugins (disable one with ENVREPRO_DISABLE_PLUGINS=name)."""
    from .plugins import flavors, list_plugins

    registered = flavors()
    rows = [{"flavor": name, "plugin": plugin, "loader_module": flavor.loader_module,
             "aliases": list(flavor.aliases), "default_requirements": flavor.default_requirements(),
             "description": flavor.description} for name, (flavor, plugin) in sorted(registered.items())]
    plugins = [{"plugin": p.name, "module": p.module, "distribution": p.distribution, "disabled": p.disabled,
                "error": p.error} for p in list_plugins()]
    if as_json:
        click.echo(json.dumps({"flavors": rows, "plugins": plugins}, indent=2))
        return
    click.echo(f"{'FLAVOR':<16} {'PLUGIN':<12} DEFAULT REQUIREMENTS")
    for row in rows:
        click.echo(f"{row['flavor']:<16} {row['plugin']:<12} {' '.join(row['default_requirements'])}")
    for p in plugins:
        if p["disabled"]:
            click.echo(f"(plugin {p['plugin']} from {p['distribution']} is disabled by ENVREPRO_DISABLE_PLUGINS)")
        if p["error"]:
            click.echo(f"(plugin {p['plugin']} from {p['distribution']} failed to load: {p['error']})", err=True)


@cli.command("inspect")
@click.option("-m", "--model", "model_path", required=True, type=click.Path(), help="Model directory.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--why", is_flag=True, help="Show why each requirement is there.")
def inspect_cmd(model_path: str, as_json: bool, why: bool) -> None:
    """Show a model's flavors, Python, requirements, channels, code paths and problems."""
    from .inspection import format_report, inspect_model

    report = inspect_model(model_path, why=why)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else format_report(report))


@cli.command("update-pip-requirements")
@click.option("-m", "--model", "model_path", required=True, type=click.Path(), help="Model directory.")
@click.argument("operation", type=click.Choice(["add", "remove"]))
@click.argument("requirements", nargs=-1, required=True)
def update_pip_requirements_cmd(model_path: str, operation: str, requirements: tuple[str, ...]) -> None:
    """Add or remove pip requirements of a saved model in place.

    \b
    envrepro update-pip-requirements -m my-model add "pandas==2.2.2" "pyarrow>=15"
    envrepro update-pip-requirements -m my-model remove scikit-learn
    """
    from .mutate import update_pip_requirements

    result = update_pip_requirements(model_path, operation, list(requirements))  # type: ignore[arg-type]
    for change in result.changed:
        click.echo(change)
    for missing in result.not_found:
        click.echo(f"{missing} is not in the model's requirements: nothing to remove", err=True)
    if result.files:
        click.echo(f"updated {', '.join(result.files)} in {model_path}")
    elif not result.not_found:
        click.echo("nothing to change")


def main() -> None:
    cli(prog_name="envrepro")


if __name__ == "__main__":
    main()
