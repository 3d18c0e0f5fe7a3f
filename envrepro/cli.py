"""The ``envrepro`` command line. Thin: parses arguments, calls the Python API, prints results."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys

import click

from . import __version__
from .cli_bundle import MODEL, MODEL_HELP
from .cli_options import RESOLVE_AS_OF
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
@click.option("-m", "--model", "model_path", required=True, type=MODEL, help=MODEL_HELP)
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


def _env_options(func):
    """Options shared by every command that builds a model's environment."""
    options = [
        click.option("--env-manager", type=click.Choice(["uv", "virtualenv", "conda", "local"]), default=None,
                     help="How to rebuild the model's environment [default: uv when installed, else virtualenv]."),
        click.option("--pip-requirements-override", "overrides", multiple=True, metavar="REQ",
                     help="Install REQ on top of the model's requirements (repeatable); the model is unchanged."),
        click.option("--conda-exe", type=click.Path(), default=None,
                     help="Use this conda/mamba/micromamba instead of the embedded engine (also ENVREPRO_CONDA_EXE)."),
        click.option("--channel-alias", "channel_aliases", multiple=True, metavar="NAME=URL",
                     help="Map a channel to a mirror URL or local path, e.g. conda-forge=file:///mirror (repeatable)."),
        RESOLVE_AS_OF,
        click.option("-q", "--quiet", is_flag=True, help="No progress output."),
    ]
    if func.__name__ in ("predict_cmd", "serve_cmd"):
        options.append(click.option("--env-prefix", type=click.Path(), default=None,
                                    help="Run in an environment built earlier at this path (no build)."))
    for option in reversed(options):
        func = option(func)
    return func


def _engine_options(conda_exe: str | None, channel_aliases: tuple[str, ...], resolve_as_of: str | None) -> dict:
    from .envs.conda_spec import parse_channel_alias

    options: dict = {}
    if conda_exe:
        options["conda_exe"] = conda_exe
    if channel_aliases:
        options["channel_alias"] = parse_channel_alias(channel_aliases)
    if resolve_as_of is not None:
        options["resolve_as_of"] = resolve_as_of
    return options


@cli.group("env")
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
@_env_options
def env_create_cmd(model_path: str | None, from_bundle: str | None, from_lock: bool | None, prefix: str | None,
                   env_manager: str | None, overrides: tuple[str, ...], conda_exe: str | None,
                   channel_aliases: tuple[str, ...], resolve_as_of: str | None, quiet: bool) -> None:
    """Build (or reuse) the model's environment and print its prefix."""
    from .environments import create_env

    if from_bundle is not None:  # see cli_bundle.py
        from .cli_bundle import env_from_bundle

        env = env_from_bundle(from_bundle, {"-m": model_path, "--pip-requirements-override": overrides,
                                            "--no-lock": from_lock is False, "--conda-exe": conda_exe,
                                            "--channel-alias": channel_aliases, "--resolve-as-of": resolve_as_of},
                              env_manager=env_manager, prefix=prefix, quiet=quiet)
    elif model_path is None:
        raise EnvreproError("give the model with -m MODEL (a directory or a bundle file), or --from-bundle FILE")
    else:
        options = _engine_options(conda_exe, channel_aliases, resolve_as_of)
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
    from .envs.cache import EnvCache

    rows = [{"key": e.key, "path": str(e.path), "ready": e.ready, "idle_days": e.idle_days,
             "manager": e.meta.get("manager"), "model": e.meta.get("model")} for e in EnvCache().list()]
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
    from .envs.cache import EnvCache

    click.echo(f"removed {EnvCache().remove(key_or_prefix, force=force)}")


@env_group.command("prune")
@click.option("--days", default=30.0, show_default=True, type=float, help="Remove environments unused this long.")
def env_prune_cmd(days: float) -> None:
    """Remove environments unused for N days (and half-built leftovers)."""
    from .envs.cache import EnvCache

    removed = EnvCache().prune(days)
    for env in removed:
        click.echo(f"removed {env.path}")
    click.echo(f"{len(removed)} environment(s) removed")


@cli.command("predict")
@click.option("-m", "--model", "model_path", required=True, type=MODEL, help=MODEL_HELP)
@click.option("-i", "--input", "input_path", required=True, help="Input file (JSON scoring payload or CSV); - for stdin.")
@click.option("-o", "--output", "output_path", default=None, help="Write predictions here (default: stdout).")
@click.option("-t", "--content-type", type=click.Choice(["json", "csv", "parquet"]), default=None,
              help="Input format [default: from the file's extension (.csv, .parquet), else json].")
@_env_options
@click.pass_context
def predict_cmd(ctx: click.Context, model_path: str, input_path: str, output_path: str | None,
                content_type: str | None, env_manager: str | None, overrides: tuple[str, ...], conda_exe: str | None,
                channel_aliases: tuple[str, ...], resolve_as_of: str | None, quiet: bool,
                env_prefix: str | None) -> None:
    """Predict on a file of inputs inside the model's own environment.

    \b
    The input uses MLflow's scoring format: {"dataframe_split": {...}}, {"dataframe_records": [...]},
    {"instances": [...]} or {"inputs": ...} (optionally with "params"), or CSV with -t csv.
    """
    from .environments import create_env
    from .predict import check_input, check_output, run_worker_predict

    content_type = content_type or _content_type_from_name(input_path)
    body = sys.stdin.buffer.read() if input_path == "-" else _read_input(input_path)
    input_name = "stdin" if input_path == "-" else input_path
    check_input(body, content_type, input_name)  # a bad input or output path fails before the env is built
    check_output(output_path)
    verbose = ctx.find_root().params.get("verbose", False)
    with contextlib.ExitStack() as in_use:  # the env is found in use: `env rm` cannot remove it before it runs
        env = create_env(model_path, env_manager=env_manager, pip_requirements_override=list(overrides),
                         quiet=quiet, env_prefix=env_prefix, in_use=in_use,
                         **_engine_options(conda_exe, channel_aliases, resolve_as_of))
        out = run_worker_predict(env, model_path, body, content_type, output_path, verbose=verbose,
                                 input_name=input_name)
    if not output_path:
        sys.stdout.buffer.write(out)


def _content_type_from_name(path: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    return {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(suffix, "json")


def _read_input(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise EnvreproError(f"cannot read input: {exc.strerror}", path=path) from None


@cli.command("serve")
@click.option("-m", "--model", "model_path", required=True, type=MODEL, help=MODEL_HELP)
@click.option("-p", "--port", default=5000, show_default=True, type=int)
@click.option("-h", "--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 for all).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256))
@click.option("--max-request-bytes", default=50 * 1024 * 1024, show_default=True, type=click.IntRange(1),
              help="Requests with a larger body get 413.")
@click.option("--access-log", is_flag=True, help="Log one line per request (common log format) to stderr.")
@click.option("-t", "--timeout", default=60.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds a client has to send a whole request (headers and body); slower ones are cut off.")
@_env_options
@click.pass_context
def serve_cmd(ctx: click.Context, model_path: str, port: int, host: str, workers: int, max_request_bytes: int,
              access_log: bool, timeout: float, env_manager: str | None, overrides: tuple[str, ...],
              conda_exe: str | None, channel_aliases: tuple[str, ...], resolve_as_of: str | None, quiet: bool,
              env_prefix: str | None) -> None:
    """Serve the model over HTTP (POST /invocations, GET /ping, /health, /version) from its own environment."""
    from .predict import serve_command

    command = serve_command(model_path, host=host, port=port, workers=workers, max_request_bytes=max_request_bytes,
                            access_log=access_log, timeout=timeout,
                            env_manager=env_manager, pip_requirements_override=list(overrides), quiet=quiet,
                            verbose=ctx.find_root().params.get("verbose", False), env_prefix=env_prefix,
                            **_engine_options(conda_exe, channel_aliases, resolve_as_of))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)  # the server replaces this process: signals reach it directly


from .cli_audit import audit  # noqa: E402  (a command defined in its own module)

from .cli_docker import build_docker, generate_dockerfile  # noqa: E402
from .cli_lock import lock_cmd  # noqa: E402
from .cli_bundle import bundle_cmd  # noqa: E402
from .cli_verify import verify_cmd  # noqa: E402

cli.add_command(audit)
cli.add_command(lock_cmd)
cli.add_command(generate_dockerfile)
cli.add_command(build_docker)
cli.add_command(bundle_cmd)
cli.add_command(verify_cmd)


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


if __name__ == "__main__":
    main()
