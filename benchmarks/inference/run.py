"""Dependency-inference benchmark: envrepro vs MLflow on the same corpus, in the same venv, same run.

    python benchmarks/inference/run.py [--setup] [--only NAME ...]

``--setup`` creates ``_work/venv`` (gitignored) with MLflow 3.17.2, the corpus's libraries, the corpus's
entry-point plugin (``corpus/plugin_dist``) and envrepro (editable).
Each tool saves every model in its own fresh process; this script then scores both lists against the
ground truth in ``corpus/scenarios.py`` and prints recall, precision and seconds per model, with the ratio
of the mean save times (corpus mean) and, for the iris model of issue 15, the ratio of the best of 3 saves.

Scoring (the same for both tools; the tool itself, mlflow* or envrepro, is never counted):
- a required distribution is *found* when it is listed, or installed by something listed (pip would bring
  it); an extra in the ground truth (``requests[socks]``) requires the extra's distributions too;
- a listed distribution is *needless* when neither the ground truth nor its dependencies contain it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WORK = HERE / "_work"
VENV = WORK / "venv"
VENV_PYTHON = VENV / "bin" / "python"
MLFLOW = "mlflow==3.17.2"  # the version the README figures compare against
PACKAGES = [MLFLOW, "scikit-learn", "pandas", "pillow", "protobuf", "googleapis-common-protos", "requests",
            "pysocks", "opencv-python-headless", "azure-core", "python-dateutil"]
PLUGIN_DIST = HERE / "corpus" / "plugin_dist"
TOOL_DISTS = {"mlflow", "mlflow-skinny", "mlflow-tracing", "envrepro"}


def setup() -> None:
    if not VENV_PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV_PYTHON), "-m", "pip", "install", "-q"]
    subprocess.run(pip + PACKAGES, check=True)
    subprocess.run(pip + ["torch==2.13.0"], check=True)  # pip only: the CPU wheel
    subprocess.run(pip + [str(PLUGIN_DIST)], check=True)  # a real (not editable) install: entry points
    subprocess.run(pip + ["-e", str(ROOT)], check=True)


def _lookup(name: str):
    try:
        return metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None


def _parse(lines: list[str]) -> dict[str, set[str]]:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    out: dict[str, set[str]] = {}
    for line in lines:
        try:
            req = Requirement(line)
        except Exception:
            continue
        name = canonicalize_name(req.name)
        if name not in TOOL_DISTS:
            out.setdefault(name, set()).update(canonicalize_name(e) for e in req.extras)
    return out


def score(expected: frozenset[str], listed_lines: list[str]) -> tuple[set[str], set[str], int]:
    from envrepro.inference.deps import closure, direct_requirements

    listed = _parse(listed_lines)
    provided = set(listed) | closure(_lookup, listed, listed)
    want = _parse(sorted(expected))
    required = set(want)
    for name, extras in want.items():
        for extra in extras:
            required |= {r.name.lower().replace("_", "-") for r in direct_requirements(_lookup, name, extra)}
    needed = required | closure(_lookup, want, want)
    missing = {r for r in required if r not in provided}
    # An extra the ground truth wants is missing too when neither it nor its distribution is there.
    needless = {name for name in listed if name not in needed}
    return missing, needless, len(listed)


def _run_tool(tool: str, only: list[str] | None) -> list[dict]:
    out = WORK / f"{tool}.json"
    cmd = [str(VENV_PYTHON), str(HERE / "worker.py"), "--tool", tool, "--work", str(WORK / "runs"), "--out", str(out)]
    if only:
        cmd += ["--only", *only]
    log = WORK / f"{tool}.log"  # the tools' own warnings and any failed save's traceback, kept off the table
    with log.open("w") as stderr:
        if subprocess.run(cmd, cwd=WORK, stderr=stderr).returncode:
            sys.exit(f"the {tool} worker failed: see {log}")
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--setup", action="store_true", help="create/refresh the benchmark venv first")
    parser.add_argument("--only", nargs="*", help="scenario names")
    args = parser.parse_args()
    if args.setup or not VENV_PYTHON.exists():
        setup()
    if Path(sys.prefix).resolve() != VENV.resolve():  # score with the venv's metadata
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *(["--only", *args.only] if args.only else [])])
    if _lookup("corpus-scalers") is None:  # a venv made before the plugin joined the corpus
        subprocess.run([str(VENV_PYTHON), "-m", "pip", "install", "-q", str(PLUGIN_DIST)], check=True)
    sys.path.insert(0, str(HERE))
    from corpus.scenarios import IRIS, SCENARIOS

    results = {tool: {r["name"]: r for r in _run_tool(tool, args.only)} for tool in ("envrepro", "mlflow")}
    totals = {tool: {"required": 0, "found": 0, "listed": 0, "needless": 0, "ok": 0, "seconds": []}
              for tool in results}
    print(f"{'scenario':28} {'tool':9} {'sec':>6}  missing / needless")
    for scenario in SCENARIOS:
        if args.only and scenario.name not in args.only:
            continue
        for tool, by_name in results.items():
            entry = by_name[scenario.name]
            t = totals[tool]
            t["seconds"].append(entry["seconds"])
            if entry["error"]:
                missing, needless, listed = set(_parse(sorted(scenario.expected))), set(), 0
                note = f"SAVE FAILED: {entry['error'][:80]} (see _work/{tool}.log)"
            else:
                missing, needless, listed = score(scenario.expected, entry["requirements"])
                note = f"{sorted(missing) or '-'} / {sorted(needless) or '-'}"
            required = len(_parse(sorted(scenario.expected)))
            t["required"] += required
            t["found"] += required - len(missing & set(_parse(sorted(scenario.expected))))
            t["listed"] += listed
            t["needless"] += len(needless)
            t["ok"] += not missing and not needless and not entry["error"]
            print(f"{scenario.name:28} {tool:9} {entry['seconds']:6.2f}  {note}")
    print()
    n = len(totals["envrepro"]["seconds"])
    summary = {}
    for tool, t in totals.items():
        recall = t["found"] / t["required"] if t["required"] else 1.0
        precision = (t["listed"] - t["needless"]) / t["listed"] if t["listed"] else 1.0
        mean = statistics.mean(t["seconds"])
        summary[tool] = mean
        print(f"{tool:9} recall {recall:7.1%}  precision {precision:7.1%}  exact {t['ok']}/{n}  "
              f"seconds/model mean {mean:.2f} median {statistics.median(t['seconds']):.2f}")
    ratios = [m / e for m, e in zip(totals["mlflow"]["seconds"], totals["envrepro"]["seconds"]) if e]
    geo = statistics.geometric_mean(ratios)
    iris = {tool: by_name[IRIS].get("best_of_3") for tool, by_name in results.items() if IRIS in by_name}
    if len(iris) == 2 and all(iris.values()):
        print(f"iris ({IRIS}, save_model with input_example=X.head(3), best of 3): envrepro {iris['envrepro']:.3f} s, "
              f"MLflow {iris['mlflow']:.3f} s: {iris['mlflow'] / iris['envrepro']:.1f}x faster")
    print(f"speed: envrepro is {summary['mlflow'] / summary['envrepro']:.1f}x faster than MLflow on the mean "
          f"save_model time, {statistics.median(ratios):.1f}x on the median per-model ratio, {geo:.1f}x geometric "
          f"mean of per-model ratios ({n} models)")


if __name__ == "__main__":
    main()
