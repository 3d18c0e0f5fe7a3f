"""``envrepro env``: create (or reuse) a model's environment, and manage the cache of them."""

from __future__ import annotations

import json
import sys

import click

from ..errors import EnvreproError
from .options import MODEL, MODEL_HELP, engine_options, env_options


@click.group("env")
def env_group() -> None:
    """Create and manage the cached environments of models."""


@env_group.command("create")
@click.option("-m", "--model", "model_path", type=MODEL, default=None, help=MODEL_HELP)
@click.option("--from-bundle", type=click.Path(dir_okay=False), default=None,
              help="Install the environment of this bundle from its packages only (no network), instead of -m.")
@click.option("--from-lock/--no-lock", "from_lock", default=None,
              help="Install exactly the model's lock file (default: when one is present, for --env-manager conda).")
@click.option("--prefix", type=click.Path(), default=None,
              help="Build at this path instead of the cache (must not exist or be empty), e.g. in a Dockerfile.")
@env_options()
def env_create_cmd(model_path: str | None, from_bundle: str | None, from_lock: bool | None, prefix: str | None,
                   env_manager: str | None, overrides: tuple[str, ...], conda_exe: str | None,
                   channel_aliases: tuple[str, ...], resolve_as_of: str | None, quiet: bool) -> None:
    """Build (or reuse) the model's environment and print its prefix."""
    from ..environments import create_env

    if from_bundle is not None:
        from .bundle import env_from_bundle

        env = env_from_bundle(from_bundle, {"-m": model_path, "--pip-requirements-override": overrides,
                                            "--no-lock": from_lock is False, "--conda-exe": conda_exe,
                                            "--channel-alias": channel_aliases, "--resolve-as-of": resolve_as_of},
                              env_manager=env_manager, prefix=prefix, quiet=quiet)
    elif model_path is None:
        raise EnvreproError("give the model with -m MODEL (a directory or a bundle file), or --from-bundle FILE")
    else:
        options = engine_options(conda_exe, channel_aliases, resolve_as_of)
        if from_lock is not None:
            options["from_lock"] = from_lock
        if prefix is not None:
            options["prefix"] = prefix
        env = create_env(model_path, env_manager=env_manager, pip_requirements_override=list(overrides),
                         quiet=quiet, **options)
    for mismatch in env.mismatches:
        click.echo(f"mismatch: {mismatch}", err=True)
    click.echo(str(env.prefix))
    if env.mismatches and any(m.severity == "error" for m in env.mismatches):
        sys.exit(1)


@env_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def env_list_cmd(as_json: bool) -> None:
    """List cached environments, most recently used first."""
    from ..environments import list_envs

    rows = [{"key": e.key, "path": str(e.path), "ready": e.ready, "idle_days": e.idle_days,
             "manager": e.meta.get("manager"), "model": e.meta.get("model")} for e in list_envs()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'KEY':<22} {'MANAGER':<10} {'IDLE':>7}  MODEL")
    for row in rows:
        idle = f"{row['idle_days']:.1f}d" if row["idle_days"] is not None else "partial"
        click.echo(f"{row['key']:<22} {row['manager'] or '?':<10} {idle:>7}  {row['model'] or '?'}")


@env_group.command("rm")
@click.argument("key_or_prefix")
@click.option("--force", is_flag=True, help="Remove even while something runs in it.")
def env_rm_cmd(key_or_prefix: str, force: bool) -> None:
    """Remove one cached environment (by key or prefix path)."""
    from ..environments import remove_env

    click.echo(f"removed {remove_env(key_or_prefix, force=force)}")


@env_group.command("prune")
@click.option("--days", default=30.0, show_default=True, type=float, help="Remove environments unused this long.")
def env_prune_cmd(days: float) -> None:
    """Remove environments unused for N days (and half-built leftovers)."""
    from ..environments import prune_envs

    removed = prune_envs(days)
    for env in removed:
        click.echo(f"removed {env.path}")
    click.echo(f"{len(removed)} environment(s) removed")


@env_group.command("stop")
def env_stop_cmd() -> None:
    """Stop the resident predictors that keep models loaded between predicts.

    \b
    They also stop on their own after ENVREPRO_WARM_SECONDS without a predict (default 600);
    ENVREPRO_WARM_SECONDS=0 starts none.
    """
    from .. import resident

    stopped = resident.stop(resident.running())
    click.echo(f"stopped {stopped} resident predictor{'s' if stopped != 1 else ''}")
