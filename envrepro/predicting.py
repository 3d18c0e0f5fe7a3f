"""``envrepro predict`` / ``serve``: run a model inside its own reproduced environment."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .environments import Environment, create_env
from .errors import EnvreproError
from .model import ModelDir

CONTENT_TYPES = {"json": "application/json", "csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def _payload(input_data: Any) -> bytes:
    """Python objects → MLflow's scoring JSON (DataFrame → dataframe_split, arrays/lists/dicts → inputs)."""
    kind = f"{type(input_data).__module__.split('.')[0]}.{type(input_data).__name__}"
    if kind == "pandas.DataFrame":
        return json.dumps({"dataframe_split": json.loads(input_data.to_json(orient="split", index=False,
                                                                            double_precision=15))}).encode()
    if hasattr(input_data, "toarray") and kind.startswith("scipy."):
        input_data = input_data.toarray()
    if hasattr(input_data, "tolist"):
        return json.dumps({"inputs": input_data.tolist()}).encode()
    if isinstance(input_data, (dict, list, tuple)):
        return json.dumps({"inputs": input_data}).encode()
    raise EnvreproError(f"cannot send input of type {type(input_data).__name__} to a model",
                        hint="use a pandas DataFrame, numpy array, scipy sparse matrix, dict or list")


def media_type(content_type: str) -> str:
    if content_type not in CONTENT_TYPES:
        raise EnvreproError(f"unknown content type {content_type!r}", hint=f"use one of {', '.join(CONTENT_TYPES)}")
    return CONTENT_TYPES[content_type]


def check_input(body: bytes, content_type: str, input_name: str) -> None:
    """Fail on a malformed input now, before any environment is built (standard-library checks only)."""
    from envrepro_runtime.errors import PayloadError
    from envrepro_runtime.payload import check_request

    try:
        check_request(body, media_type(content_type))
    except PayloadError as exc:
        raise EnvreproError(exc.message, path=input_name) from None
    if content_type == "parquet" and not (len(body) >= 12 and body[:4] == body[-4:] == b"PAR1"):
        raise EnvreproError("malformed parquet: not a parquet file (no PAR1 marker at its start and end)",
                            path=input_name, hint="give its format with -t json|csv if it is not parquet")


def check_output(output: str | os.PathLike | None) -> None:
    """Fail on an output path that cannot be written, before any environment is built."""
    if output is None or os.fspath(output) == "-":
        return
    path = Path(output)
    if path.is_dir():
        raise EnvreproError("the output path is a directory", path=path, hint="name a file")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise EnvreproError("the output's directory does not exist", path=path, hint=f"create {parent} first")
    if not os.access(parent, os.W_OK):
        raise EnvreproError("the output's directory is not writable", path=path)


def check_listen(host: str, port: int) -> None:
    """Fail on a port that is out of range or taken, before any environment is built."""
    import socket

    if not 0 <= port <= 65535:
        raise EnvreproError(f"port {port} is out of range", hint="use a port from 1 to 65535, or 0 for any free one")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise EnvreproError(f"cannot listen on {host}: {exc.strerror}",
                            hint="use an IP address or a known name") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is fine
        try:
            probe.bind(address)
        except OSError as exc:
            raise EnvreproError(f"cannot listen on {host}:{port}: {exc.strerror}",
                                hint="choose another port with -p, or stop what is listening there") from None


def run_worker_predict(env: Environment, model_uri: str | Path, body: bytes, content_type: str = "json",
                       output: str | None = None, verbose: bool = False, input_name: str = "input") -> bytes:
    """Predict once inside ``env``, through the model's resident predictor when it can (envrepro/resident.py),
    else in a one-shot worker; a cached environment is marked in use so `env prune` leaves it alone."""
    from . import resident
    from .launch import explain_failure, load_spec, worker_args, worker_command

    spec = load_spec(ModelDir.open(model_uri), name=str(model_uri))
    args = ["--content-type", media_type(content_type), "--input-name", input_name]
    if output:
        args += ["--output", str(Path(output).absolute())]
    with contextlib.ExitStack() as stack:
        if env.cache_key is not None:
            from .envs.cache import EnvCache

            stack.enter_context(EnvCache().in_use(env.cache_key))
        # -v shows the whole load (imports, the flavor's logging): only a one-shot worker has one to show
        proc = None if verbose else resident.predict(Path(env.python), spec, worker_args("predict", spec, *args), body)
        if proc is None:
            proc = subprocess.run(worker_command(env.python, "predict", spec, *args, verbose=verbose),
                                  input=body, capture_output=True)
    stderr = proc.stderr.decode(errors="replace")
    if verbose and stderr:
        os.write(2, proc.stderr)
    if proc.returncode != 0:
        raise explain_failure(stderr, str(model_uri), proc.returncode)
    return proc.stdout


def predict(model_uri: str | Path, input_data: Any = None, *, input_path: str | Path | None = None,
            content_type: str = "json", output_path: str | Path | None = None, env_manager: str | None = None,
            pip_requirements_override: Sequence[str] | None = None, quiet: bool = True,
            **engine_options: Any) -> Any:
    """Predict with the model inside its own environment; returns the predictions (JSON-decoded)."""
    if (input_data is None) == (input_path is None):
        raise EnvreproError("give exactly one of input_data and input_path")
    if input_path is not None:
        try:
            body = Path(input_path).read_bytes()
        except OSError as exc:
            raise EnvreproError(f"cannot read input: {exc.strerror}", path=input_path) from None
    else:
        body, content_type = _payload(input_data), "json"
    input_name = str(input_path) if input_path is not None else "input_data"
    check_input(body, content_type, input_name)
    check_output(output_path)
    with contextlib.ExitStack() as in_use:  # found in use: `env rm` cannot take it away before the worker runs
        env = create_env(model_uri, env_manager=env_manager, pip_requirements_override=pip_requirements_override,
                         quiet=quiet, in_use=in_use, **engine_options)
        out = run_worker_predict(env, model_uri, body, content_type, str(output_path) if output_path else None,
                                 input_name=input_name)
    if output_path:
        return json.loads(Path(output_path).read_text())["predictions"]
    return json.loads(out)["predictions"]


def server_command(model_uri: str | Path, *, host: str = "127.0.0.1", port: int = 5000, workers: int = 1,
                  max_request_bytes: int | None = None, env_manager: str | None = None,
                  pip_requirements_override: Sequence[str] | None = None, quiet: bool = False,
                  verbose: bool = False, access_log: bool = False, timeout: float | None = None,
                  **engine_options: Any) -> list[str]:
    """The command that serves the model from inside its environment (the CLI execs it).

    A cached environment is locked as in use on a descriptor the exec'd server inherits, so `env rm` and
    `env prune` leave it alone while it serves.
    """
    from . import __version__
    from .launch import load_spec, worker_command

    check_listen(host, port)
    model = ModelDir.open(model_uri)
    spec = load_spec(model, name=str(model_uri))  # an unloadable model fails now, not after the build
    with contextlib.ExitStack() as in_use:  # held from the lookup until the inherited lock below is taken
        env = create_env(model_uri, env_manager=env_manager, pip_requirements_override=pip_requirements_override,
                         quiet=quiet, in_use=in_use, **engine_options)
        if env.cache_key is not None and os.name == "posix":
            from .envs.cache import EnvCache

            EnvCache().hold_across_exec(env.cache_key)  # inherited by the server: env rm/prune leave it alone
    args = ["--host", host, "--port", str(port), "--workers", str(workers), "--version", __version__]
    if max_request_bytes is not None:
        args += ["--max-request-bytes", str(max_request_bytes)]
    if access_log:
        args.append("--access-log")
    if timeout is not None:
        args += ["--request-timeout", str(timeout)]
    return worker_command(env.python, "serve", spec, *args, verbose=verbose, report="text")


__all__ = ["predict", "server_command"]
