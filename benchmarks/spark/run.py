"""Spark batch scoring: ``envrepro.spark_udf`` vs ``mlflow.pyfunc.spark_udf`` (``env_manager="uv"`` and ``"local"``),
the same model and DataFrame, in one run.

Usage: python benchmarks/spark/run.py [--rows 100000] [--partitions 4] [--passes 3] [--master local[2]]

Everything runs from benchmarks/_work/mlflow-venv (MLflow, envrepro, pyspark and pyarrow side by side). The
model is the iris LogisticRegression saved by ``mlflow.sklearn.save_model`` (its environment: MLflow's
requirements for it, MLflow itself included). The DataFrame: ``--rows`` rows of the four iris columns in
``--partitions`` partitions, cached.

Each tool runs twice, each time in a fresh process with its own SparkSession (not timed):
  cold   the tools' caches are empty (a fresh ENVREPRO_HOME and MLFLOW_ENV_ROOT for this run; uv's package
         cache stays warm for both), so the environment is built;
  warm   the same caches again, as on every later run.
Start-up: from the ``spark_udf(...)`` call until the first pass over the DataFrame has finished (building or
reusing the environment, shipping it, starting the predictors). Rows/s: the following passes over the cached
DataFrame (median of ``--passes``). The predictions' sum must be the same for all three.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import WORK, mlflow_venv  # noqa: E402

SAVE_MODEL = """
import sys
import pandas as pd
import mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

iris = load_iris(as_frame=True)
model = LogisticRegression(max_iter=500).fit(iris.data, iris.target)
mlflow.sklearn.save_model(model, sys.argv[1], input_example=iris.data.head(3))
"""
VARIANTS = ("envrepro", "mlflow-uv", "mlflow-local")


def ensure_spark(python: Path) -> None:
    """pyspark and pyarrow in the MLflow venv (once)."""
    if subprocess.run([str(python), "-c", "import pyspark, pyarrow"], capture_output=True).returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "pyspark>=4", "pyarrow"], check=True)


def child(args: argparse.Namespace) -> None:
    """One variant, in this process: print one JSON line of timings."""
    import numpy as np
    import pandas as pd
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (SparkSession.builder.master(args.master).config("spark.ui.enabled", "false")
             .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    rng = np.random.default_rng(0)
    columns = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    centers = np.array([5.8, 3.0, 3.8, 1.2])
    pdf = pd.DataFrame((centers + rng.normal(scale=[0.8, 0.4, 1.7, 0.7], size=(args.rows, 4))).round(2),
                       columns=columns)
    df = spark.createDataFrame(pdf).repartition(args.partitions).cache()
    assert df.count() == args.rows and df.rdd.getNumPartitions() == args.partitions

    def one_pass(column) -> tuple[float, float]:
        started = time.perf_counter()
        total = df.select(column.alias("p")).agg(F.sum("p")).collect()[0][0]
        return time.perf_counter() - started, total

    started = time.perf_counter()
    if args.variant == "envrepro":
        import envrepro

        udf = envrepro.spark_udf(spark, args.model, result_type="double")
    else:
        import mlflow.pyfunc

        udf = mlflow.pyfunc.spark_udf(spark, args.model, result_type="double",
                                      env_manager=args.variant.split("-", 1)[1])
    column = udf(*[F.col(f"`{c}`") for c in columns])
    _, total = one_pass(column)
    startup = time.perf_counter() - started
    passes = [one_pass(column) for _ in range(args.passes)]
    assert all(t == total for _, t in passes), (total, passes)
    seconds = statistics.median(s for s, _ in passes)
    print(json.dumps({"variant": args.variant, "startup_s": startup, "pass_s": seconds,
                      "rows_per_s": args.rows / seconds, "sum": total}))
    spark.stop()


def run_variant(python: Path, variant: str, args: argparse.Namespace, env: dict[str, str]) -> dict:
    cmd = [str(python), __file__, "--child", variant, "--model", str(args.model), "--rows", str(args.rows),
           "--partitions", str(args.partitions), "--passes", str(args.passes), "--master", args.master]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{variant} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--child", choices=VARIANTS)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args()
    if args.child:
        args.variant = args.child
        child(args)
        return
    python = mlflow_venv()
    ensure_spark(python)
    args.model = WORK / "spark-iris-model"
    if not (args.model / "MLmodel").exists():
        subprocess.run([str(python), "-c", SAVE_MODEL, str(args.model)], check=True,
                       env={**os.environ, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"})
    caches = WORK / f"spark-run-{time.strftime('%Y%m%d-%H%M%S')}"
    env = {**os.environ, "PYSPARK_PYTHON": str(python), "PYSPARK_DRIVER_PYTHON": str(python),
           "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
           "ENVREPRO_HOME": str(caches / "envrepro-home"), "MLFLOW_ENV_ROOT": str(caches / "mlflow-envs"),
           "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # MLflow runs `uv` by name
    load_before = os.getloadavg()
    results: dict[tuple[str, str], dict] = {}
    for variant in VARIANTS:
        for state in ("cold", "warm"):
            results[variant, state] = run_variant(python, variant, args, env)
            r = results[variant, state]
            print(f"{variant:<13} {state:<5} start-up {r['startup_s']:6.1f} s  {r['rows_per_s']:>9,.0f} rows/s",
                  flush=True)
    load_after = os.getloadavg()
    sums = {round(r["sum"], 6) for r in results.values()}
    print(f"\n{args.rows:,} rows in {args.partitions} partitions, {args.master}; predictions' sum "
          f"{'identical' if len(sums) == 1 else f'DIFFERS: {sums}'} across the tools")
    ours = results["envrepro", "warm"]
    for peer in ("mlflow-uv", "mlflow-local"):
        theirs = results[peer, "warm"]
        cold = results["envrepro", "cold"]["startup_s"], results[peer, "cold"]["startup_s"]
        print(f"envrepro vs {peer}: rows/s {ours['rows_per_s'] / theirs['rows_per_s']:.2f}x; start-up warm "
              f"{ours['startup_s']:.1f} vs {theirs['startup_s']:.1f} s, cold {cold[0]:.1f} vs {cold[1]:.1f} s")
    print(f"load average (1/5/15 min): before {' '.join(f'{x:.2f}' for x in load_before)}, after "
          f"{' '.join(f'{x:.2f}' for x in load_after)} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
