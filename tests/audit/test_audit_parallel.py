"""The parallel scan (``--jobs``) reports exactly what the serial scan reports, and fails clearly, never hangs."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from envrepro.audit import parallel
from envrepro.audit.parallel import ParallelScanner
from envrepro.audit.report import render_json
from envrepro.audit.scan import Scanner
from envrepro.errors import EnvreproError
from tests.audit.audit_helpers import model_dir, run_audit, run_json, write
from tests.audit.test_audit_scan import CONDA_LOCK

CLEAN = "channels: [conda-forge]\ndependencies: [numpy]\n"
ENVS = [CLEAN, "channels: [defaults]\ndependencies: [numpy, mlflow==1.14.1]\n", "dependencies: [numpy]\n",
        "channels: [pkgs/main]\ndependencies: [numpy]\n", "channels: [conda-forge]\ndependencies: [defaults::mkl]\n",
        "channels:\n- https://repo.anaconda.com/pkgs/main\ndependencies: [numpy]\n"]


def hostile_tree(root: Path) -> list[Path]:
    """Every kind of finding and problem, and files that two directories (or the command line) lead to."""
    for i in range(24):
        model_dir(root, f"mlruns/1/run{i:02d}/artifacts/model", ENVS[i % len(ENVS)],
                  version=None if i % 3 == 0 else f"2.{i}.0")
    write(root, "mlruns/1/conda-lock.yml", CONDA_LOCK)
    write(root, "locks/conda-linux-64.lock", "@EXPLICIT\nhttps://repo.anaconda.com/pkgs/main/linux-64/m-1-h.conda#2\n")
    write(root, "locks/poetry.lock", "defaults\n")
    # a model naming an env file in its subdirectory, which is itself a model directory: audited once, as the
    # outer model's (the walk reaches the outer directory first)
    outer = model_dir(root, "nested", ENVS[1], version="1.10.0", env="inner/conda.yaml")
    model_dir(root, "nested/inner", ENVS[1], version="2.9.0")
    write(outer, "sub/environment.yml", ENVS[3])
    outer.joinpath("MLmodel").write_text(outer.joinpath("MLmodel").read_text() + "# sub/environment.yml\n")
    # names a file outside the model (judged seen, so the walk does not audit it later) and a missing one
    outside = model_dir(root, "escape", CLEAN, version="2.1.0", env="../plain/environment.yml")
    write(root, "plain/environment.yml", ENVS[1])
    model_dir(root, "missing", CLEAN, version="2.1.0")
    (root / "missing/conda.yaml").unlink()
    write(root, "bad/MLmodel", "flavors: [\n")
    write(root, "bad2/conda.yaml", "channels: {a: [\n")
    write(root, "bad3/conda.yaml", b"channels: [\xff]\n")
    write(root, "deep/conda.yaml", "channels: " + "[" * 300 + "]" * 300 + "\n")
    write(root, "notmodel/MLmodel", "- a list\n")
    os.mkfifo(root / "plain/conda.yaml")
    os.symlink(root, root / "plain/loop")
    os.symlink(root / "mlruns/1", root / "alias")
    assert outside.is_dir()
    # the command line names files the walk also reaches, before and after the tree
    return [root / "mlruns/1/run01/artifacts/model/conda.yaml", root / "mlruns/1/run02/artifacts/model/MLmodel",
            root, root / "nested/inner/conda.yaml", root / "locks/poetry.lock"]


def as_json(report) -> dict:
    data = json.loads(render_json(report, report.exit_code))
    data["summary"].pop("seconds")
    return data


@pytest.mark.parametrize("chunk", [1, 5, 100])
def test_parallel_report_equals_the_serial_one(tree, chunk):
    paths = hostile_tree(tree)
    serial = as_json(Scanner().scan(paths))
    parallel_report = ParallelScanner(jobs=2, min_dirs=1, chunk_dirs=chunk).scan(paths)
    assert as_json(parallel_report) == serial
    # the tree has what it should: every rule, every kind of problem, the skips, each file audited once
    assert {f["rule"] for f in serial["findings"]} == {
        "explicit-defaults", "anaconda-channel", "implicit-defaults", "channel-prefixed-spec", "lock-anaconda-url",
        "lock-anaconda-channel"}
    messages = " ".join(p["message"] for p in serial["unreadable"])
    for expected in ("outside the model directory", "does not exist", "malformed YAML", "not UTF-8",
                     "nested more than", "not a regular file", "expected a mapping"):
        assert expected in messages
    assert sorted(s["reason"].split(" ")[0] for s in serial["skipped"]) == ["already", "symlink"]
    files = [f["file"] for f in serial["findings"]]
    inner = str(tree / "nested/inner/conda.yaml")
    assert [f["mlflow"]["path"] for f in serial["findings"] if f["file"] == inner] == [str(tree / "nested")]
    assert str(tree / "plain/environment.yml") not in files  # marked seen by the escaping model
    first = str(paths[0])  # named before the tree: audited then, without its model
    assert [f["mlflow"] for f in serial["findings"] if f["file"] == first] == [None]
    assert len(files) == len(set(zip(files, (f["line"] for f in serial["findings"]),
                                     (f["rule"] for f in serial["findings"]))))


def test_cli_jobs_gives_the_serial_report_on_a_tree_worth_workers(tree):
    hostile_tree(tree)
    for i in range(parallel.MIN_PARALLEL_DIRS):
        model_dir(tree, f"mlruns/2/r{i}/artifacts/model", ENVS[i % len(ENVS)], version="2.9.2")
    results = {jobs: run_json("--dry-run", "--jobs", jobs, tree) for jobs in ("1", "2")}  # --fix's plan too
    for _code, data in results.values():
        data["summary"].pop("seconds")
    assert results["1"] == results["2"]
    code, data = results["1"]
    assert code == 2 and data["summary"]["models"] > parallel.MIN_PARALLEL_DIRS
    assert sum(r["status"] == "would-fix" for r in data["fix"]["results"]) > parallel.MIN_PARALLEL_DIRS // 2


def _die(chunk):
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_fails_the_audit_clearly(tree, monkeypatch):
    hostile_tree(tree)
    monkeypatch.setattr(parallel, "audit_dirs", _die)
    # chunks of one directory: the death is seen while the walk still submits work, or when results are read
    for chunk in (1, 3):
        with pytest.raises(EnvreproError, match="worker process died.*--jobs 1"):
            ParallelScanner(jobs=2, min_dirs=1, chunk_dirs=chunk).scan([tree])


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_jobs_must_be_a_positive_number(tree, value):
    proc = run_audit("--jobs", value, tree)
    assert proc.returncode == 2 and "--jobs" in proc.stderr and "Traceback" not in proc.stderr
