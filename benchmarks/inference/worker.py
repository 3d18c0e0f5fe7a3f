"""Save every corpus model with one tool and record its requirements and the time the save took.

Run by ``run.py`` (one fresh process per tool, in the benchmark venv); prints nothing but errors.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus.scenarios import IRIS, MODELS, SCENARIOS, Context  # noqa: E402

REPEATS = 3  # the iris model is timed best of 3 (issue 15)

BASES = {"envrepro": "from envrepro import PythonModel", "mlflow": "from mlflow.pyfunc import PythonModel"}


def _copy_models(tool: str, target: Path) -> None:
    """models/ with the PythonModel base of ``tool``: the model code is otherwise identical."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(MODELS, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in target.rglob("*.py"):
        text = path.read_text()
        path.write_text(text.replace(BASES["envrepro"], BASES[tool]))


def _saver(tool: str):
    if tool == "envrepro":
        import envrepro

        def save(flavor, path, kwargs):
            model = kwargs.pop("model")
            envrepro.save_model(model, path, **kwargs)
        return save
    import mlflow.pyfunc
    import mlflow.pytorch
    import mlflow.sklearn

    def save(flavor, path, kwargs):
        model = kwargs.pop("model")
        if flavor == "pyfunc":
            mlflow.pyfunc.save_model(str(path), python_model=model, **kwargs)
        elif flavor == "sklearn":
            # cloudpickle, like envrepro's default (MLflow 3 defaults to skops, which refuses user functions).
            mlflow.sklearn.save_model(model, str(path), serialization_format="cloudpickle", **kwargs)
        else:
            mlflow.pytorch.save_model(model, str(path), **kwargs)
    return save


def _timed(save, scenario, ctx: Context, path: Path) -> float:
    kwargs = scenario.build(ctx)
    start = time.perf_counter()
    save(scenario.flavor, path, kwargs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", choices=sorted(BASES), required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--only", nargs="*")
    args = parser.parse_args()
    work = args.work / args.tool
    shutil.rmtree(work, ignore_errors=True)
    models = work / "models"
    _copy_models(args.tool, models)
    sys.path.insert(0, str(models))
    save = _saver(args.tool)
    ctx = Context(models_dir=models, work=work)
    scenarios = [s for s in SCENARIOS if not args.only or s.name in args.only]
    # One untimed save first: both tools pay their one-time import/metadata costs outside the figures.
    save(SCENARIOS[0].flavor, work / "warmup", SCENARIOS[0].build(ctx))
    results = []
    for scenario in scenarios:
        kwargs = scenario.build(ctx)
        path = work / "out" / scenario.name
        entry = {"name": scenario.name, "requirements": None, "seconds": None, "error": None}
        start = time.perf_counter()
        try:
            save(scenario.flavor, path, kwargs)
            entry["seconds"] = time.perf_counter() - start
            entry["requirements"] = [line.strip() for line in (path / "requirements.txt").read_text().splitlines()
                                     if line.strip() and not line.startswith("#")]
        except Exception as exc:  # a tool failing on a model is a result, not a crash of the benchmark
            entry["seconds"] = time.perf_counter() - start
            entry["error"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        if scenario.name == IRIS and not entry["error"]:
            entry["best_of_3"] = min([entry["seconds"], *(_timed(save, scenario, ctx, work / "out" / f"{IRIS}-{i}")
                                                          for i in range(1, REPEATS))])
        results.append(entry)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
