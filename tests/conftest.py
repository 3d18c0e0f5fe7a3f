from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["tests.fixtures_channel", "tests.old_mlflow", "tests.real_mlflow"]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, python: str = sys.executable,
            check: bool | None = None, timeout: float = 300,
            max_memory: int | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would (``max_memory``: its address-space limit in bytes,
    so a test of a memory blow-up fails instead of taking the machine's memory)."""
    def limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))

    proc = subprocess.run([python, "-m", "envrepro.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=limit if max_memory else None)
    if check:
        assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def run_python(code: str, *, cwd: Path | None = None, python: str = sys.executable, timeout: float = 300,
               env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([python, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def iris_like():
    np = pytest.importorskip("numpy")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return X, y


@pytest.fixture(scope="session")
def sklearn_model(iris_like):
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression

    X, y = iris_like
    return LogisticRegression().fit(X, y)


SKLEARN_COLUMNS = ["a", "b", "c", "d"]


@pytest.fixture(scope="session")
def saved_sklearn_dir(tmp_path_factory, sklearn_model, iris_like) -> Path:
    """``sklearn_model`` saved once per session with a DataFrame input example (columns a-d).

    Shared: tests that change a model copy this directory first.
    """
    pd = pytest.importorskip("pandas")
    import envrepro

    X, _ = iris_like
    path = tmp_path_factory.mktemp("saved") / "sk-model"
    envrepro.save_model(sklearn_model, path, input_example=pd.DataFrame(X[:2], columns=SKLEARN_COLUMNS))
    return path


@pytest.fixture(scope="session", autouse=True)
def _envrepro_home(tmp_path_factory: pytest.TempPathFactory):
    """One ENVREPRO_HOME (env cache, package cache, runtime dir) per session, never the user's.

    Session-scoped and set in os.environ directly, so module- and session-scoped fixtures that start CLI
    processes (servers, builds) see it too; a function-scoped monkeypatch would come too late for them.
    """
    home = tmp_path_factory.getbasetemp() / "envrepro-home"
    # The session's resident predictors (envrepro/resident.py) listen here, and are stopped at its end.
    run_dir = tmp_path_factory.getbasetemp() / "run"
    run_dir.mkdir(mode=0o700)
    names = ("ENVREPRO_CONDA_EXE", "ENVREPRO_INSTALLER", "ENVREPRO_PROGRESS", "ENVREPRO_DISABLE_PLUGINS",
             "ENVREPRO_RESOLVE_AS_OF", "ENVREPRO_WARM_SECONDS")
    saved = {name: os.environ.get(name) for name in ("ENVREPRO_HOME", "XDG_RUNTIME_DIR", *names)}
    os.environ["ENVREPRO_HOME"] = str(home)
    os.environ["XDG_RUNTIME_DIR"] = str(run_dir)
    for name in names:
        os.environ.pop(name, None)
    yield home
    from envrepro import resident

    resident.stop(resident.running())
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


_last_test_directory: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _prune_envs_between_test_directories(request: pytest.FixtureRequest, _envrepro_home: Path) -> None:
    """The session's cached environments go (``env prune``, in-use ones stay) when the run moves on to another
    test directory: rebuilt from uv's cache in seconds where needed, together they filled a CI machine's disk."""
    directory = request.path.parent
    if _last_test_directory and _last_test_directory[0] != directory:
        from envrepro.environments import prune_envs

        prune_envs(0)
    _last_test_directory[:] = [directory]


@pytest.fixture(autouse=True)
def _fresh_plugin_cache(monkeypatch):
    from envrepro import plugins

    plugins.reset()
    yield
    plugins.reset()
