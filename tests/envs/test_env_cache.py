"""The environment cache: content keys, one build under concurrency, nothing half-built ever used, pruning."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from envrepro.envs.cache import MARKER, EnvCache, envrepro_home
from envrepro.envs.conda_spec import parse_conda_env
from envrepro.envs.prefix import prefix_python
from envrepro.envs.rattler_engine import create_conda_prefix
from envrepro.errors import EnvreproError

ROOT = Path(__file__).resolve().parents[2]

# A builder run in separate processes: counts its runs, writes a file, optionally hangs half-way.
WORKER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from envrepro.envs.cache import EnvCache

    root, key, counter, hang = sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4])

    def build(path):
        with open(counter, "a") as fh:
            fh.write(f"{os.getpid()}\\n")
        path.mkdir()
        (path / "half.txt").write_text("half")
        print("BUILDING", flush=True)
        time.sleep(hang)
        (path / "done.txt").write_text(str(os.getpid()))

    path = EnvCache(root).get_or_build(key, build, {"by": os.getpid()})
    print("READY", path, (path / "done.txt").read_text(), flush=True)
""")


def spawn(root: Path, key: str, counter: Path, hang: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER, str(root), key, str(counter), str(hang)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_home_location(monkeypatch, tmp_path):
    monkeypatch.setenv("ENVREPRO_HOME", str(tmp_path / "h"))
    assert envrepro_home() == tmp_path / "h"
    monkeypatch.delenv("ENVREPRO_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert envrepro_home() == tmp_path / "xdg" / "envrepro"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert envrepro_home() == tmp_path / "home" / ".cache" / "envrepro"
    assert EnvCache().root == tmp_path / "home" / ".cache" / "envrepro"


def test_key_ignores_dict_order_but_not_content():
    a = {"engine": "conda", "channels": ["x", "y"], "specs": ["a", "b"]}
    b = {"specs": ["a", "b"], "channels": ["x", "y"], "engine": "conda"}
    assert EnvCache.key_for(a) == EnvCache.key_for(b)
    assert EnvCache.key_for(a) != EnvCache.key_for({**a, "channels": ["y", "x"]})
    assert len(EnvCache.key_for(a)) == 20


def test_same_conda_env_written_differently_is_one_cache_entry(tmp_path):
    (tmp_path / "a.yaml").write_text("channels: [conda-forge]\ndependencies: [python=3.11.7, numpy>=1.26, "
                                     "{pip: [Requests==2.31.0, six]}]\n")
    (tmp_path / "b.yaml").write_text(textwrap.dedent("""
        # same environment, other spelling and order
        name: whatever
        channels:
          - conda-forge
        dependencies:
          - numpy >=1.26
          - python 3.11.7.*
          - pip:
            - six
            - requests == 2.31.0
    """))
    keys = {EnvCache.key_for(parse_conda_env(tmp_path / f).cache_fields()) for f in ("a.yaml", "b.yaml")}
    assert len(keys) == 1


def test_build_once_then_reuse(tmp_path):
    cache = EnvCache(tmp_path)
    calls = []

    def build(path: Path) -> None:
        calls.append(path)
        path.mkdir()
        (path / "x").write_text("1")

    first = cache.get_or_build("k1", build, {"engine": "test"})
    second = cache.get_or_build("k1", build)
    assert first == second == tmp_path / "envs" / "k1" and len(calls) == 1
    meta = json.loads((first / MARKER).read_text())
    assert meta["engine"] == "test" and meta["key"] == "k1"
    (listed,) = cache.list()
    assert listed.ready and listed.key == "k1" and listed.meta["engine"] == "test"


def test_failed_build_leaves_nothing_and_is_retried(tmp_path):
    cache = EnvCache(tmp_path)

    def broken(path: Path) -> None:
        path.mkdir()
        (path / "partial").write_text("x")
        raise RuntimeError("solver exploded")

    with pytest.raises(RuntimeError):
        cache.get_or_build("k", broken)
    assert not cache.path_for("k").exists() and cache.lookup("k") is None
    assert cache.get_or_build("k", lambda p: p.mkdir()).is_dir()


@pytest.mark.slow
def test_three_processes_build_once_and_all_succeed(tmp_path):
    counter = tmp_path / "builds.txt"
    procs = [spawn(tmp_path / "cache", "shared", counter, hang=1.5) for _ in range(3)]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    assert len(counter.read_text().split()) == 1  # exactly one build
    ready_lines = [next(line for line in out.splitlines() if line.startswith("READY")) for out, _ in results]
    assert len(set(ready_lines)) == 1  # same path, same content for everyone


@pytest.mark.slow
def test_kill_9_mid_build_leaves_nothing_that_looks_ready(tmp_path):
    cache_root, counter = tmp_path / "cache", tmp_path / "builds.txt"
    victim = spawn(cache_root, "k", counter, hang=60)
    assert victim.stdout.readline().strip() == "BUILDING"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)
    cache = EnvCache(cache_root)
    half = cache.path_for("k")
    assert (half / "half.txt").exists() and not (half / MARKER).exists()
    assert cache.lookup("k") is None
    assert [e.ready for e in cache.list()] == [False]
    # the next caller is not blocked (the kernel released the lock), wipes the debris and builds
    survivor = spawn(cache_root, "k", counter, hang=0)
    _, err = survivor.communicate(timeout=60)
    assert survivor.returncode == 0, err
    assert len(counter.read_text().split()) == 2
    assert (half / "done.txt").read_text() == str(survivor.pid)
    assert cache.lookup("k") == half


def test_prune_removes_unused_and_half_built_but_not_in_use(tmp_path):
    cache = EnvCache(tmp_path)
    for key in ("old", "fresh", "old-in-use"):
        cache.get_or_build(key, lambda p: p.mkdir())
    long_ago = time.time() - 40 * 86400
    for key in ("old", "old-in-use"):
        os.utime(cache.path_for(key) / MARKER, (long_ago, long_ago))
    cache.path_for("debris").mkdir()  # a build killed half-way, nobody holding its lock
    with cache.in_use("old-in-use"):
        # in_use marks it used now, and its shared lock keeps prune off it anyway
        os.utime(cache.path_for("old-in-use") / MARKER, (long_ago, long_ago))
        removed = {e.key for e in cache.prune(30)}
    assert removed == {"old", "debris"}
    assert {e.key for e in cache.list()} == {"fresh", "old-in-use"}
    assert cache.prune(30) and cache.lookup("fresh")  # once no longer in use, it goes


def test_remove_by_key_prefix_and_refusal_while_in_use(tmp_path):
    cache = EnvCache(tmp_path)
    cache.get_or_build("abc123", lambda p: p.mkdir())
    cache.get_or_build("abd456", lambda p: p.mkdir())
    with pytest.raises(EnvreproError, match="2 cached environments"):
        cache.remove("ab")
    with cache.in_use("abc123"):
        with pytest.raises(EnvreproError, match="being built or used"):
            cache.remove("abc")
    assert cache.remove("abc") == cache.path_for("abc123") and not cache.path_for("abc123").exists()
    assert cache.remove(str(cache.path_for("abd456"))) and cache.list() == []
    with pytest.raises(EnvreproError, match="no cached environment"):
        cache.remove("zzz")


def test_in_use_requires_a_ready_env(tmp_path):
    with pytest.raises(EnvreproError, match="not in the cache"):
        with EnvCache(tmp_path).in_use("nope"):
            pass


def test_invalid_keys_are_rejected(tmp_path):
    for key in ("", "../x", ".hidden", "a/b"):
        with pytest.raises(EnvreproError):
            EnvCache(tmp_path).path_for(key)


@pytest.mark.slow
def test_real_conda_env_through_the_cache(tmp_path, local_channel_url):
    pytest.importorskip("rattler")
    spec = parse_conda_env({"channels": [local_channel_url],
                            "dependencies": ["python=%d.%d.%d" % sys.version_info[:3], "tinyapp"]})
    cache = EnvCache(tmp_path)
    key = cache.key_for(spec.cache_fields())
    path = cache.get_or_build(key, lambda p: create_conda_prefix(spec, p, quiet=True), {"engine": "conda"})
    assert path == cache.path_for(key)
    proc = subprocess.run([str(prefix_python(path)), "-c", "import tinyapp, sys; print(sys.prefix)"],
                          capture_output=True, text=True)
    assert proc.stdout.strip() == str(path), proc.stderr
    # the prefix placeholder holds the final path: built in place, never moved
    assert (path / "etc" / "envrepro-test" / "prefix.txt").read_text() == f"prefix={path}\n"


def test_empty_key_removes_nothing(tmp_path):
    cache = EnvCache(tmp_path)
    cache.get_or_build("abc123", lambda p: p.mkdir())
    for key in ("", "  "):
        with pytest.raises(EnvreproError, match="no environment key given"):
            cache.remove(key)
    assert cache.lookup("abc123")


def test_get_or_build_in_use_holds_the_env_from_the_lookup(tmp_path):
    import contextlib

    cache = EnvCache(tmp_path)
    with contextlib.ExitStack() as in_use:
        path = cache.get_or_build("abc123", lambda p: p.mkdir(), in_use=in_use)
        with pytest.raises(EnvreproError, match="being built or used"):
            cache.remove("abc123")
        assert path.is_dir()
    assert cache.remove("abc123") == path and not path.exists()


SAVE_ECHO = textwrap.dedent("""
    import sys, envrepro
    class Echo(envrepro.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input
    envrepro.save_model(Echo(), sys.argv[1], pip_requirements=[sys.argv[2]])
""")

# predict, with a pause (and a marker file) between finding the environment and running in it
SLOW_PREDICT = textwrap.dedent("""
    import pathlib, sys, time
    import envrepro.launch as launch
    real, marker = launch.load_spec, pathlib.Path(sys.argv[2])
    def slow(*args, **kwargs):
        marker.write_text("found")
        time.sleep(4)
        return real(*args, **kwargs)
    launch.load_spec = slow
    from envrepro.cli import main
    sys.argv = ["envrepro", "predict", "-m", sys.argv[1], "-i", sys.argv[3], "--env-manager", "uv", "-q"]
    main()
""")


@pytest.mark.slow
def test_env_rm_cannot_remove_what_predict_just_found(tmp_path):
    from importlib import metadata

    from tests.conftest import run_cli

    model = tmp_path / "model"
    subprocess.run([sys.executable, "-c", SAVE_ECHO, str(model), f"cloudpickle=={metadata.version('cloudpickle')}"],
                   check=True, timeout=300)
    prefix = Path(run_cli("env", "create", "-m", str(model), "--env-manager", "uv", "-q", check=True,
                          timeout=600).stdout.strip())
    (tmp_path / "in.json").write_text('{"inputs": [[1, 2]]}')
    marker = tmp_path / "found"
    predict = subprocess.Popen([sys.executable, "-c", SLOW_PREDICT, str(model), str(marker), str(tmp_path / "in.json")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists() and predict.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    removal = run_cli("env", "rm", prefix.name)
    out, err = predict.communicate(timeout=300)
    assert predict.returncode == 0, err
    assert json.loads(out) == {"predictions": [[1, 2]]}
    assert removal.returncode == 2 and "being built or used" in removal.stderr
    assert prefix.is_dir()


@pytest.mark.parametrize("cfg, expected", [
    ("version_info = 3.11.7\n", "3.11.7"),  # uv
    ("home = /x\nversion = 3.8.18\n", "3.8.18"),  # venv
    ("version_info = 3.12.1.final.0\nversion = 3.12.1\n", "3.12.1"),  # virtualenv
    ("version = 3.13.0rc1\n", "asked"),  # not a final release: the interpreter is asked
    ("", "asked"),
])
def test_recorded_python_comes_from_pyvenv_cfg_without_running_it(tmp_path, cfg, expected):
    cache = EnvCache(tmp_path / "home")

    def build(path: Path) -> None:
        (path / "bin").mkdir(parents=True)
        (path / "pyvenv.cfg").write_text(cfg)
        python = path / "bin" / "python"
        python.write_text("#!/bin/sh\necho asked\n")
        python.chmod(0o755)

    path = cache.get_or_build("k1", build)
    assert json.loads((path / MARKER).read_text())["python"] == expected
