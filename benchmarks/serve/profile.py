"""Where one request's time goes, on `envrepro serve` and on `mlflow models serve`, same model and body.

Usage: benchmarks/_work/mlflow-venv/bin/python benchmarks/serve/profile.py [--n 2000] [--seconds 5]
(run benchmarks/serve/run.py once first: it creates the venv and both model directories).
In this process, each server's own request path is timed phase by phase (median over ``--n`` calls, the same
functions the servers call); then each server is started and measured at one client, and what the phases do not
explain is the HTTP layer (server, framework, client, loopback).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _common import WORK, load_average  # noqa: E402
from run import BODY, bench, free_port  # noqa: E402


def median_ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def envrepro_phases(model_dir: Path, n: int) -> dict[str, float]:
    from envrepro.launch import load_spec
    from envrepro.model import ModelDir
    from envrepro_runtime.loading import load
    from envrepro_runtime.payload import parse_request, predictions_json

    model = load(load_spec(ModelDir.open(model_dir)))
    content_type = "application/json"
    data, params = parse_request(BODY, content_type, model.signature)
    conformed = model.conform(data)
    predictions = model.predict(conformed, params=params)
    return {
        "parse JSON body to a DataFrame": median_ms(lambda: parse_request(BODY, content_type, model.signature), n),
        "enforce the signature": median_ms(lambda: model.conform(data), n),
        "model.predict (sklearn)": median_ms(lambda: model.predict(conformed, params=params), n),
        "predictions to JSON": median_ms(lambda: predictions_json(predictions), n),
    }


def mlflow_phases(model_dir: Path, n: int) -> dict[str, float]:
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server

    model = mlflow.pyfunc.load_model(str(model_dir))
    schema = model.metadata.get_input_schema()
    text = BODY.decode()
    parsed = scoring_server._parse_json_data(text, model.metadata, schema)
    raw = model._model_impl  # the flavor's own predictor, under PyFuncModel's schema enforcement
    predictions = model.predict(parsed.data, params=parsed.params)
    pyfunc_ms = median_ms(lambda: model.predict(parsed.data, params=parsed.params), n)
    raw_ms = median_ms(lambda: raw.predict(parsed.data), n)
    return {
        "parse JSON body to a DataFrame": median_ms(lambda: scoring_server._parse_json_data(text, model.metadata,
                                                                                           schema), n),
        "enforce the signature": max(pyfunc_ms - raw_ms, 0.0),
        "model.predict (sklearn)": raw_ms,
        "predictions to JSON": median_ms(lambda: scoring_server.predictions_to_json(predictions, io.StringIO()), n),
    }


def measured_ms(cmd: list[str], seconds: float) -> float:
    """Mean time per request at one client (1 / req/s), the server started as the benchmark starts it."""
    port = free_port()
    return 1000 / bench(cmd[1], cmd + ["-p", str(port)], port, seconds, clients=(1,))[1]["rps"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    mlflow_model, envrepro_model = WORK / "serve-model", WORK / "serve-model-envrepro"
    bindir = Path(sys.executable).parent
    print(f"load average (1, 5, 15 min) at start: {load_average()}")
    rows = {
        "envrepro": (envrepro_phases(envrepro_model, args.n),
                     [str(bindir / "envrepro"), "serve", "-m", str(envrepro_model), "--env-manager", "local"]),
        "mlflow": (mlflow_phases(mlflow_model, args.n),
                   [str(bindir / "mlflow"), "models", "serve", "-m", str(mlflow_model), "--env-manager", "local"]),
    }
    table: dict[str, dict[str, float]] = {}
    for name, (phases, cmd) in rows.items():
        total = measured_ms(cmd, args.seconds)
        table[name] = {**phases, "HTTP layer (rest of the request at c=1)": total - sum(phases.values()),
                       "total per request at c=1 (1 / req/s)": total}
    print(f"{'phase (ms, median)':<42} {'envrepro':>9} {'mlflow':>9}")
    for phase in table["envrepro"]:
        print(f"{phase:<42} {table['envrepro'][phase]:>9.3f} {table['mlflow'][phase]:>9.3f}")
    print(f"load average (1, 5, 15 min) at end: {load_average()}")
    print(json.dumps(table))


if __name__ == "__main__":
    main()
