"""The README, as a new user follows it: its quickstart block run twice in a fresh clone and venv, and every
command of its command table run against the sample model the quickstart saves.

Both read the README itself (the block, the table), so a change there that breaks the walk-through fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.serving.helpers import start_server, stop_server

pytestmark = pytest.mark.slow  # a fresh venv from PyPI, real environments, a real server

README = ROOT / "README.md"
PREDICTIONS = {"predictions": [1, 1, 1]}
QUICKSTART = "Quickstart (fresh machine, no conda needed, only PyPI)"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def quickstart_block() -> str:
    """The README's quickstart shell block, as a user copies it."""
    blocks = re.findall(r"```bash\n(.*?)```", _section(QUICKSTART), re.DOTALL)
    assert len(blocks) == 1, blocks
    return blocks[0]


def quickstart_again() -> str:
    """The quickstart's next command: a predict of the same model, answered by its resident predictor."""
    (block,) = re.findall(r"```\n(envrepro predict [^`]*)```", _section(QUICKSTART))
    return block


def table_commands() -> set[tuple[str, ...]]:
    """Each command the README's command table names, as its words: ('env', 'create'), ('predict',), ..."""
    commands = set()
    for row in _section("Commands").splitlines():
        if not row.startswith("| `"):
            continue
        first_cell = row.split(" | ")[0]
        for snippet in re.findall(r"`([^`]+)`", first_cell):
            words = []
            for token in snippet.removeprefix("envrepro ").split():
                if not re.fullmatch(r"[a-z][a-z-]*", token):
                    break
                words.append(token)
            commands.add(tuple(words))
    return commands


def _clone(dest: Path) -> Path:
    """What a fresh clone holds for the quickstart (the source, README, examples)."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("envrepro", "flavors", "runtime", "examples"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def _user_env(tmp_path: Path) -> dict[str, str]:
    """A shell as a new user has it: `python3` is a plain interpreter, no venv active, a fresh ENVREPRO_HOME."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(getattr(sys, "_base_executable", sys.executable))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ENVREPRO_", "VIRTUAL_ENV", "PYTHON", "UV_", "PIP_"))}
    path = [p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT))]
    env["PATH"] = os.pathsep.join([str(bin_dir), *path])
    env["ENVREPRO_HOME"] = str(tmp_path / "envrepro-home")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def test_quickstart_block_runs_twice_in_a_fresh_venv(tmp_path):
    clone = _clone(tmp_path / "envrepro")
    env = _user_env(tmp_path)
    block = quickstart_block()
    runs = []
    for _ in range(2):
        proc = subprocess.run(["bash", "-e", "-c", block], cwd=clone, env=env, capture_output=True, text=True,
                              timeout=1800)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout[-3000:] + proc.stderr[-3000:]
        runs.append(proc)
    for proc in runs:
        assert json.loads(proc.stdout.strip().splitlines()[-1]) == PREDICTIONS, proc.stdout[-2000:]
        assert "saved sample-model" in proc.stdout
    assert "replacing sample-model" not in runs[0].stdout
    assert "replacing sample-model (saved by an earlier run)" in runs[1].stdout
    # The second run reused the environment the first one built: one environment in the cache.
    listing = subprocess.run([str(clone / ".venv" / "bin" / "envrepro"), "env", "list"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and len(_env_keys(listing.stdout)) == 1, listing.stdout
    # The README's next block: answered by the resident predictor the second run left, with the same output.
    again = subprocess.run(["bash", "-e", "-c", ". .venv/bin/activate && " + quickstart_again()], cwd=clone,
                           env=env, capture_output=True, text=True, timeout=300)
    assert json.loads(again.stdout) == PREDICTIONS, again.stderr
    stopped = subprocess.run([str(clone / ".venv" / "bin" / "envrepro"), "env", "stop"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert stopped.stdout.strip().startswith("stopped ") and stopped.stdout.split()[1] != "0", stopped.stdout

    # A non-empty directory that is not a model is left alone: one line, exit 2.
    (clone / "not-a-model").mkdir()
    (clone / "not-a-model" / "notes.txt").write_text("mine\n")
    proc = subprocess.run([str(clone / ".venv" / "bin" / "python"), "examples/quickstart.py", "not-a-model"],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "already exists and is not empty" in proc.stderr
    assert (clone / "not-a-model" / "notes.txt").read_text() == "mine\n"


def _env_keys(listing: str) -> list[str]:
    """The keys `envrepro env list` prints (the first word of each environment's line)."""
    return [line.split()[0] for line in listing.splitlines() if re.match(r"^[0-9a-f]{8,}\b", line)]


def test_every_command_of_the_readme_table_on_the_sample_model(tmp_path):
    model = tmp_path / "sample-model"
    env = {**os.environ, "ENVREPRO_HOME": str(tmp_path / "envrepro-home")}  # its own cache: env list is ours
    subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py"), str(model)], check=True,
                   capture_output=True, timeout=300)
    example_input = ROOT / "examples" / "input.json"

    def ok(*args: str) -> subprocess.CompletedProcess:
        proc = run_cli(*args, env=env, timeout=1800)
        assert proc.returncode == 0, f"envrepro {' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr
        return proc

    def flavors() -> None:
        assert "sklearn" in ok("flavors").stdout

    def inspect() -> None:
        report = json.loads(ok("inspect", "-m", str(model), "--json").stdout)
        assert report["problems"] == [] and any(r.startswith("scikit-learn==") for r in report["requirements"])
        why = ok("inspect", "-m", str(model), "--why").stdout
        assert "scikit-learn==" in why and max(len(line) for line in why.splitlines()) <= 100

    def env_create() -> None:
        prefix = Path(ok("env", "create", "-m", str(model), "--env-manager", "uv").stdout.strip().splitlines()[-1])
        assert (prefix / "bin" / "python").exists()

    def env_list() -> None:
        assert len(_env_keys(ok("env", "list").stdout)) == 1

    def predict() -> None:
        assert json.loads(ok("predict", "-m", str(model), "-i", str(example_input)).stdout) == PREDICTIONS
        out = tmp_path / "out.json"
        ok("predict", "-m", str(model), "-i", str(example_input), "-o", str(out), "-t", "json")
        assert json.loads(out.read_text()) == PREDICTIONS
        # -t csv: read with pandas, which this model's environment lacks (it was saved from numpy): one line.
        rows = json.loads(example_input.read_text())["inputs"]
        (tmp_path / "in.txt").write_text("a,b,c,d\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
        proc = run_cli("predict", "-m", str(model), "-i", str(tmp_path / "in.txt"), "-t", "csv", env=env)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "text/csv needs pandas, which this model's environment does not have" in proc.stderr

    def serve() -> None:
        server = start_server(model, "--access-log", env=env)
        try:
            assert server.request("GET", "/health")[0] == 200
            assert server.invoke(json.loads(example_input.read_text())) == (200, PREDICTIONS)
        finally:
            stop_server(server)
        assert "POST /invocations HTTP/1.1\" 200" in server.proc.stderr.read()

    def lock() -> None:
        ok("lock", "-m", str(model), "--pip-only", "-p", "linux-64")
        assert (model / "conda-lock.yml").is_file()
        ok("lock", "-m", str(model), "--check")

    def generate_dockerfile() -> None:
        ok("generate-dockerfile", "-m", str(model), "-d", str(tmp_path / "ctx"))
        assert "FROM " in (tmp_path / "ctx" / "Dockerfile").read_text()

    def build_docker() -> None:
        proc = run_cli("build-docker", "-m", str(model), "-n", "sample-model", env=env, timeout=1800)
        if proc.returncode == 2 and "no Docker engine is reachable" in proc.stderr:
            assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        else:
            assert proc.returncode == 0, proc.stderr[-3000:]

    def bundle() -> None:
        ok("bundle", "-m", str(model), "-o", str(tmp_path / "sample-model.tar"), "-q")
        assert json.loads(ok("predict", "-m", str(tmp_path / "sample-model.tar"), "-i",
                             str(example_input)).stdout) == PREDICTIONS

    def verify() -> None:
        ok("verify", "-m", str(model))

    def audit() -> None:
        ok("audit", str(model))

    def update_pip_requirements() -> None:
        ok("update-pip-requirements", "-m", str(model), "add", "six==1.16.0")
        assert "six==1.16.0" in (model / "requirements.txt").read_text()
        ok("update-pip-requirements", "-m", str(model), "remove", "six")
        assert "six" not in (model / "requirements.txt").read_text()

    def env_rm() -> None:
        key = _env_keys(ok("env", "list").stdout)[0]
        ok("env", "rm", key)
        assert key not in ok("env", "list").stdout

    def env_prune() -> None:
        ok("env", "prune", "--days", "30")

    def env_stop() -> None:
        ok("predict", "-m", str(model), "-i", str(example_input))  # leaves its resident predictor running
        stopped = ok("env", "stop").stdout.strip()
        assert re.fullmatch(r"stopped [1-9]\d* resident predictors?", stopped), stopped
        assert ok("env", "stop").stdout.strip() == "stopped 0 resident predictors"

    steps: dict[tuple[str, ...], Callable[[], None]] = {
        ("flavors",): flavors, ("inspect",): inspect, ("env", "create"): env_create, ("env", "list"): env_list,
        ("predict",): predict, ("serve",): serve, ("lock",): lock, ("generate-dockerfile",): generate_dockerfile,
        ("build-docker",): build_docker, ("bundle",): bundle, ("verify",): verify, ("audit",): audit,
        ("update-pip-requirements",): update_pip_requirements, ("env", "rm"): env_rm, ("env", "prune"): env_prune,
        ("env", "stop"): env_stop,
    }
    assert table_commands() == set(steps), "every command of the README's table, and only those, is walked"
    for step in steps.values():
        step()
