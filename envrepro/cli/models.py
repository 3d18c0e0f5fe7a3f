"""Commands about a model itself: ``flavors``, ``inspect``, ``update-pip-requirements``."""

from __future__ import annotations

import json

import click

from .options import MODEL, MODEL_HELP


@click.command("flavors")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def flavors_cmd(as_json: bool) -> None:
    """List registered flavors and plugins (disable one with ENVREPRO_DISABLE_PLUGINS=name)."""
    from ..plugins import flavors, list_plugins

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


@click.command("inspect")
@click.option("-m", "--model", "model_path", required=True, type=MODEL, help=MODEL_HELP)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--why", is_flag=True, help="Show why each requirement is there.")
def inspect_cmd(model_path: str, as_json: bool, why: bool) -> None:
    """Show a model's flavors, Python, requirements, channels, code paths and problems."""
    from ..inspection import format_report, inspect_model

    report = inspect_model(model_path, why=why)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else format_report(report))


@click.command("update-pip-requirements")
@click.option("-m", "--model", "model_path", required=True, type=click.Path(), help="Model directory.")
@click.argument("operation", type=click.Choice(["add", "remove"]))
@click.argument("requirements", nargs=-1, required=True)
def update_pip_requirements_cmd(model_path: str, operation: str, requirements: tuple[str, ...]) -> None:
    """Add or remove pip requirements of a saved model in place.

    \b
    envrepro update-pip-requirements -m my-model add "pandas==2.2.2" "pyarrow>=15"
    envrepro update-pip-requirements -m my-model remove scikit-learn
    """
    from ..mutate import update_pip_requirements

    result = update_pip_requirements(model_path, operation, list(requirements))  # type: ignore[arg-type]
    for change in result.changed:
        click.echo(change)
    for missing in result.not_found:
        click.echo(f"{missing} is not in the model's requirements: nothing to remove", err=True)
    if result.files:
        click.echo(f"updated {', '.join(result.files)} in {model_path}")
    elif not result.not_found:
        click.echo("nothing to change")
