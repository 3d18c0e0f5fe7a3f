"""Resident predictors (envrepro/resident.py, runtime/resident.py): later predicts are answered by a process that
loaded the model once, and only ever when a one-shot worker would have given the same answer.

The model reports which process answered and what it saw. Its environment is one small venv for the module
(cloudpickle, and a ``helper`` module in its site-packages that the model imports), so each test pays model
loads, not environment builds. The runtime matrix
(tests/runtime) runs the same predicts through residents on every Python from 3.6 to 3.13.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import envrepro
from envrepro import resident
from tests.conftest import run_cli

WHO = '''\
import os
import time

import envrepro


class Who(envrepro.PythonModel):
    def __init__(self, tag):
        self.tag = tag

    def load_context(self, context):
        with open(os.environ["LOADS_FILE"], "a") as fh:
            fh.write("load\\n")
        time.sleep(float(os.environ.get("LOAD_SECONDS", "0")))

    def predict(self, context, model_input, params=None):
        if os.environ.get("FAIL"):
            raise ValueError("asked to fail")
        if os.environ.get("PREDICT_MARKER"):
            with open(os.environ["PREDICT_MARKER"], "w") as fh:
                fh.write(str(os.getpid()))
        time.sleep(float(os.environ.get("PREDICT_SECONDS", "0")))
        return [self.tag, os.getpid(), os.getppid(), os.environ.get("WHO_TAG", ""), os.getcwd(), helper.VALUE]


import helper  # noqa: E402  (in site-packages: an edit to it reaches no key, only the staleness check)
'''


def _save(path: Path, tag: str) -> Path:
    code = path.parent / f"code-{tag}"
    code.mkdir(parents=True, exist_ok=True)
    (code / "who.py").write_text(WHO)
    (code / "helper.py").write_text("VALUE = 0\n")  # only for the import at save time: not saved with the model
    sys.path.insert(0, str(code))
    try:
        import who

        if path.exists():
            shutil.rmtree(path)
        envrepro.save_model(who.Who(tag), path, code_paths=[str(code / "who.py")],
                            pip_requirements=["cloudpickle"])
    finally:
        sys.path.remove(str(code))
        sys.modules.pop("who", None)
        sys.modules.pop("helper", None)
    return path


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A venv with cloudpickle; tests write ``helper.py`` into its site-packages."""
    from envrepro.envs.pip_install import find_uv

    prefix = tmp_path_factory.mktemp("resident") / "venv"
    uv = find_uv()
    assert uv is not None
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(prefix)], check=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(prefix / "bin" / "python"), "cloudpickle"],
                   check=True)
    return prefix


def _helper(venv: Path) -> Path:
    (site,) = venv.glob("lib/python*/site-packages")
    return site / "helper.py"


@pytest.fixture
def setup(tmp_path, monkeypatch, venv):
    """(model dir, environment for the CLI, loads file): a fresh socket directory per test."""
    _helper(venv).write_text("VALUE = 1\n")
    run_dir = Path(tempfile.mkdtemp(prefix="run-"))  # short: a socket's path holds ~100 bytes
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))
    env = dict(os.environ, LOADS_FILE=str(tmp_path / "loads"), VENV=str(venv))
    model = _save(tmp_path / "model", "first")
    yield model, env, tmp_path / "loads"
    resident.stop(resident.running())
    shutil.rmtree(run_dir, ignore_errors=True)


def _predict(model: Path, env: dict, cwd: Path | None = None, check: bool = True,
             verbose: bool = False) -> subprocess.CompletedProcess:
    body = model.with_name("in.json")
    body.write_text(json.dumps({"inputs": [[1.0]]}))
    return run_cli(*(["-v"] if verbose else []), "predict", "-m", str(model), "-i", str(body),
                   "--env-prefix", env["VENV"], env=env, cwd=cwd, check=check)


def _answer(proc: subprocess.CompletedProcess) -> list:
    return json.loads(proc.stdout)["predictions"]


def _loads(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _wait_until(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_later_predicts_are_answered_by_one_resident_that_loaded_the_model_once(setup):
    model, env, loads = setup
    answers = [_answer(_predict(model, env)) for _ in range(3)]
    assert _loads(loads) == 1
    pids, parents = {a[1] for a in answers}, {a[2] for a in answers}
    assert len(pids) == 3, "each predict runs in a process of its own (forked from the resident)"
    assert len(parents) == 1 and not parents & pids, "... all forked from one resident"
    (resident_pid,) = parents
    assert os.path.exists(f"/proc/{resident_pid}") and len(resident.running()) == 1


def test_a_resident_never_answers_for_a_changed_model_environment_or_directory(setup, tmp_path):
    model, env, loads = setup
    first = _answer(_predict(model, env))
    assert first[0] == "first" and first[3] == ""
    _save(model, "second")  # re-saved in place: same path, new files
    assert _answer(_predict(model, env))[0] == "second"
    assert _answer(_predict(model, dict(env, WHO_TAG="exported")))[3] == "exported"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert _answer(_predict(model, env, cwd=elsewhere))[4] == str(elsewhere)
    assert _loads(loads) == 4


def test_an_edited_module_makes_the_resident_stale(setup, venv):
    """A module the model imported changed on disk (an editable install, an in-place upgrade): the resident
    says it is stale and exits, and the predict is answered by a fresh one."""
    model, env, loads = setup
    assert _answer(_predict(model, env))[5] == 1
    (old,) = resident.running()
    helper = _helper(venv)
    helper.write_text("VALUE = 22\n")
    os.utime(helper, (time.time() + 5, time.time() + 5))  # a different mtime even on a coarse clock
    assert _answer(_predict(model, env))[5] == 22
    assert _loads(loads) == 2 and resident.running() and _wait_until(lambda: not old.exists() or
                                                                      resident.running() == [old])


def test_an_idle_resident_exits_and_zero_starts_none(setup):
    model, env, loads = setup
    _predict(model, dict(env, ENVREPRO_WARM_SECONDS="1"))
    (sock,) = resident.running()
    assert _wait_until(lambda: not sock.exists(), 8), "idle for longer than ENVREPRO_WARM_SECONDS"
    off = dict(env, ENVREPRO_WARM_SECONDS="0")
    before = _loads(loads)
    _predict(model, off)
    _predict(model, off)
    assert _loads(loads) == before + 2 and resident.running() == []
    proc = _predict(model, dict(env, ENVREPRO_WARM_SECONDS="soon"), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "ENVREPRO_WARM_SECONDS='soon' is not a number of seconds" in proc.stderr


def test_errors_read_the_same_through_a_resident(setup, tmp_path):
    model, env, _ = setup
    failing = dict(env, FAIL="1")
    via_resident = [_predict(model, failing, check=False) for _ in range(2)]  # starts one, then asks it
    one_shot = _predict(model, dict(failing, ENVREPRO_WARM_SECONDS="0"), check=False)
    for proc in via_resident:
        assert (proc.returncode, proc.stderr) == (one_shot.returncode, one_shot.stderr)
    assert one_shot.returncode == 2 and "ValueError: asked to fail" in one_shot.stderr
    assert "Traceback" not in one_shot.stderr
    # a model that fails to load: the resident that was starting reports it as the one-shot worker does
    (tmp_path / "loads-dir").mkdir()
    broken = dict(env, LOADS_FILE=str(tmp_path / "loads-dir"))  # a directory: load_context's open() fails
    starting = _predict(model, broken, check=False)
    one_shot = _predict(model, dict(broken, ENVREPRO_WARM_SECONDS="0"), check=False)
    assert (starting.returncode, starting.stderr) == (one_shot.returncode, one_shot.stderr)
    assert "IsADirectoryError" in one_shot.stderr and "failed to load" in one_shot.stderr


def test_concurrent_first_predicts_start_one_resident(setup):
    model, env, loads = setup
    slow = dict(env, LOAD_SECONDS="1")
    results: list[subprocess.CompletedProcess] = []
    threads = [threading.Thread(target=lambda: results.append(_predict(model, slow))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [p.returncode for p in results] == [0, 0, 0]
    assert _loads(loads) == 1 and len({_answer(p)[2] for p in results}) == 1


def test_at_most_max_residents_run_and_env_stop_stops_them(setup):
    model, env, _ = setup
    for n in range(resident.MAX_RESIDENTS + 2):
        _predict(model, dict(env, WHO_TAG=str(n)))
    sockets = resident.running()
    assert len(sockets) == resident.MAX_RESIDENTS
    proc = run_cli("env", "stop", env=env, check=True)
    assert proc.stdout.strip() == f"stopped {resident.MAX_RESIDENTS} resident predictors"
    assert resident.running() == []


def test_a_resident_exits_when_its_model_directory_goes(setup):
    model, env, _ = setup
    resident_pid = _answer(_predict(model, env))[2]
    shutil.rmtree(model)
    assert _wait_until(lambda: not os.path.exists(f"/proc/{resident_pid}") or
                       Path(f"/proc/{resident_pid}/stat").read_text().split()[2] == "Z", 8)
    assert resident.running() == []


def test_verbose_predicts_run_a_one_shot_worker(setup):
    model, env, loads = setup
    _predict(model, env)
    assert _answer(_predict(model, env, verbose=True))[0] == "first"
    assert _loads(loads) == 2


def test_a_predict_ends_when_its_caller_does(setup):
    """A killed `envrepro predict` (a Ctrl-C) ends the resident's child that was predicting for it."""
    model, env, _ = setup
    slow = model.with_name("in-slow.json")
    slow.write_text(json.dumps({"inputs": [[1.0]]}))
    marker = model.with_name("predicting")
    caller = subprocess.Popen([sys.executable, "-m", "envrepro.cli", "predict", "-m", str(model), "-i", str(slow),
                               "--env-prefix", env["VENV"]], env=dict(env, PREDICT_SECONDS="60",
                                                                       PREDICT_MARKER=str(marker)))
    try:
        assert _wait_until(marker.exists, 30), "the predict started"
        child = int(marker.read_text())
        caller.kill()
        caller.wait()
        assert _wait_until(lambda: not _running(child), 10), "the resident's child ended with its caller"
    finally:
        caller.kill()


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sweep_removes_what_dead_residents_left_and_keeps_the_rest(tmp_path):
    import socket as sockets

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    live = tmp_path / f"live.sock.{os.getpid()}"
    listener = sockets.socket(sockets.AF_UNIX)
    listener.bind(str(live))
    (tmp_path / "live.sock").symlink_to(live.name)
    (tmp_path / f"gone.sock.{dead_pid}").write_text("")  # a SIGKILLed resident's socket
    (tmp_path / "gone.sock").symlink_to(f"gone.sock.{dead_pid}")
    (tmp_path / "dangling.sock").symlink_to("dangling.sock.999999999")
    old = time.time() - 7200
    for name in ("old.sock.lock", "old.sock.log", "live.sock.lock"):
        (tmp_path / name).write_text("")
        os.utime(tmp_path / name, (old, old))
    (tmp_path / "new.sock.lock").write_text("")  # a starter may hold it right now
    try:
        resident._sweep(tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            ["live.sock", live.name, "live.sock.lock", "new.sock.lock"])
    finally:
        listener.close()
