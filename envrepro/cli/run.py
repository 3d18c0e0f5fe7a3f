"""``envrepro predict`` and ``envrepro serve``: run a model inside its own reproduced environment."""

from __future__ import annotations

import contextlib
import os
import sys

import click

from envrepro_runtime.limits import DEFAULT_MAX_REQUEST_BYTES

from ..errors import EnvreproError
from .options import MODEL, MODEL_HELP, engine_options, env_options


@click.command("predict")
@click.option("-m", "--model", "model_path", required=True, type=MODEL, help=MODEL_HELP)
@click.option("-i", "--input", "input_path", required=True,
              help="Input file (JSON scoring payload, CSV or parquet); - for stdin.")
@click.option("-o", "--output", "output_path", default=None, help="Write predictions here (default: stdout).")
@click.option("-t", "--content-type", type=click.Choice(["json", "csv", "parquet"]), default=None,
              help="Input format [default: from the file's extension (.csv, .parquet), else json].")
@env_options(env_prefix=True)
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
    from ..environments import create_env
    from ..predicting import check_input, check_output, run_worker_predict

    content_type = content_type or _content_type_from_name(input_path)
    body = sys.stdin.buffer.read() if input_path == "-" else _read_input(input_path)
    input_name = "stdin" if input_path == "-" else input_path
    check_input(body, content_type, input_name)  # a bad input or output path fails before the env is built
    check_output(output_path)
    verbose = ctx.find_root().params.get("verbose", False)
    with contextlib.ExitStack() as in_use:  # the env is found in use: `env rm` cannot remove it before it runs
        env = create_env(model_path, env_manager=env_manager, pip_requirements_override=list(overrides),
                         quiet=quiet, env_prefix=env_prefix, in_use=in_use,
                         **engine_options(conda_exe, channel_aliases, resolve_as_of))
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


@click.command("serve")
@click.option("-m", "--model", "model_path", required=True, type=MODEL, help=MODEL_HELP)
@click.option("-p", "--port", default=5000, show_default=True, type=int)
@click.option("-h", "--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 for all).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256))
@click.option("--max-request-bytes", default=DEFAULT_MAX_REQUEST_BYTES, show_default=True, type=click.IntRange(1),
              help="Requests with a larger body get 413.")
@click.option("--access-log", is_flag=True, help="Log one line per request (common log format) to stderr.")
@click.option("-t", "--timeout", default=60.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds a client has to send a whole request (headers and body); slower ones are cut off.")
@env_options(env_prefix=True)
@click.pass_context
def serve_cmd(ctx: click.Context, model_path: str, port: int, host: str, workers: int, max_request_bytes: int,
              access_log: bool, timeout: float, env_manager: str | None, overrides: tuple[str, ...],
              conda_exe: str | None, channel_aliases: tuple[str, ...], resolve_as_of: str | None, quiet: bool,
              env_prefix: str | None) -> None:
    """Serve the model over HTTP (POST /invocations, GET /ping, /health, /version) from its own environment."""
    from ..predicting import server_command

    command = server_command(model_path, host=host, port=port, workers=workers, max_request_bytes=max_request_bytes,
                            access_log=access_log, timeout=timeout,
                            env_manager=env_manager, pip_requirements_override=list(overrides), quiet=quiet,
                            verbose=ctx.find_root().params.get("verbose", False), env_prefix=env_prefix,
                            **engine_options(conda_exe, channel_aliases, resolve_as_of))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)  # the server replaces this process: signals reach it directly
