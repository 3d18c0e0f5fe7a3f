"""``envrepro predict`` / ``serve``: run a model inside its own reproduced environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any, Sequence

from .environments import Environment, create_env
from .errors import EnvreproError

_MISSING_MODULE = re.compile(r"No module named '([^']+)'")


def _payload(input_data: Any) -> bytes:
    """Python objects → MLflow's scoring JSON (DataFrame → dataframe_split, arrays/lists/dicts → inputs)."""
    kind = f"{type(input_data).__module__.split('.')[0]}.{type(input_data).__name__}"
    if kind == "pandas.DataFrame":
        return json.dumps({"dataframe_split": json.loads(input_data.to_json(orient="split", index=False))}).encode()
    if hasattr(input_data, "toarray") and kind.startswith("scipy."):
        input_data = input_data.toarray()
    if hasattr(input_data, "tolist"):
        return json.dumps({"inputs": input_data.tolist()}).encode()
    if isinstance(input_data, (dict, list, tuple)):
        return json.dumps({"inputs": input_data}).encode()
    raise EnvreproError(f"cannot send input of type {type(input_data).__name__} to a model",
                        hint="use a pandas DataFrame, numpy array, scipy sparse matrix, dict or list")


def _explain_failure(stderr: str, model_uri: str | Path) -> EnvreproError:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    if last.startswith("envrepro: error: "):
        return EnvreproError(last[len("envrepro: error: "):])
    missing = _MISSING_MODULE.search(stderr)
    if missing:
        module = missing.group(1).split(".")[0]
        return EnvreproError(
            f"the model failed in its environment: {last}",
            hint=f"the recorded requirements miss {module!r}: retry with --pip-requirements-override <package>, "
                 f"then record it: envrepro update-pip-requirements -m {model_uri} add <package>==<version>",
        )
    return EnvreproError(f"the model failed in its environment: {last}", hint="run with -v for the full output")


def run_worker_predict(env: Environment, model_uri: str | Path, body: bytes, content_type: str = "json",
                       output: str | None = None, verbose: bool = False, input_name: str = "input") -> bytes:
    """Predict once inside ``env``; a cached environment is marked in use so `env prune` leaves it alone."""
    import contextlib

    from .runtime import worker_command

    args = ["predict", "--model", str(Path(model_uri).resolve()), "--input", "-", "--content-type", content_type,
            "--input-name", input_name]
    if output:
        args += ["--output", output]
    with contextlib.ExitStack() as stack:
        if env.cache_key is not None:
            from .envs.cache import EnvCache

            stack.enter_context(EnvCache().in_use(env.cache_key))
        proc = subprocess.run(worker_command(env.python, *args), input=body, capture_output=True)
    stderr = proc.stderr.decode(errors="replace")
    if verbose and stderr:
        os.write(2, proc.stderr)
    if proc.returncode != 0:
        raise _explain_failure(stderr, model_uri)
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
    env = create_env(model_uri, env_manager=env_manager, pip_requirements_override=pip_requirements_override,
                     quiet=quiet, **engine_options)
    out = run_worker_predict(env, model_uri, body, content_type,
                             str(output_path) if output_path else None,
                             input_name=str(input_path) if input_path is not None else "input_data")
    if output_path:
        return json.loads(Path(output_path).read_text())["predictions"]
    return json.loads(out)["predictions"]


def serve_command(model_uri: str | Path, *, host: str = "127.0.0.1", port: int = 5000, workers: int = 1,
                  max_request_bytes: int | None = None, env_manager: str | None = None,
                  pip_requirements_override: Sequence[str] | None = None, quiet: bool = False,
                  verbose: bool = False, **engine_options: Any) -> list[str]:
    """The command that serves the model from inside its environment (the CLI execs it).

    A cached environment is locked as in use on a descriptor the exec'd server inherits, so `env rm` and
    `env prune` leave it alone while it serves.
    """
    from .runtime import worker_command

    env = create_env(model_uri, env_manager=env_manager, pip_requirements_override=pip_requirements_override,
                     quiet=quiet, **engine_options)
    if env.cache_key is not None and os.name == "posix":
        from .envs.cache import EnvCache

        EnvCache().hold_across_exec(env.cache_key)  # inherited by the server: env rm/prune leave it alone
    args = ["serve", "--model", str(Path(model_uri).resolve()), "--host", host, "--port", str(port),
            "--workers", str(workers)]
    if max_request_bytes is not None:
        args += ["--max-request-bytes", str(max_request_bytes)]
    if verbose:
        args.insert(0, "-v")
    return worker_command(env.python, *args)


__all__ = ["predict", "serve_command"]
