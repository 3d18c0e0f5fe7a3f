"""generate-dockerfile after each way a user installs envrepro, each in a real venv made by `python -m venv`.

- editable (`pip install -e`), in a venv whose setuptools (65, from ensurepip) is older than envrepro's build
  needs and that has no `wheel`: the image gets a wheel built from the source tree, in isolation; when that
  build fails, the message is the builder's own error;
- from a package index (`pip install envrepro`; a find-links directory stands in for the index): the image
  installs the same version from the index;
- from a wheel file (`pip install ./envrepro-*.whl`): the image gets that wheel; ENVREPRO_WHEEL names another.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from envrepro import __version__
from tests.conftest import ROOT, run_cli
from tests.docker.dockerparse import find, stages

pytestmark = pytest.mark.slow  # real venvs, packages from PyPI

BASE_PYTHON = "/root/.pyenv/versions/3.11.7/bin/python3.11"
WHEEL_NAME = f"envrepro-{__version__}-py3-none-any.whl"


def _python() -> str:
    """A base interpreter whose ensurepip brings setuptools 65 (3.10, 3.11): the venv a user makes."""
    base = getattr(sys, "_base_executable", sys.executable)
    candidates = [base, BASE_PYTHON]
    for exe in candidates:
        if exe and Path(exe).is_file() and subprocess.run(
                [exe, "-c", "import sys; sys.exit(sys.version_info[:2] not in ((3, 10), (3, 11)))"]).returncode == 0:
            return exe
    pytest.skip("no Python 3.10/3.11 whose venvs come with setuptools 65")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_", "ENVREPRO_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["ENVREPRO_HOME"] = os.environ["ENVREPRO_HOME"]
    return {**env, **extra}


def _venv(path: Path, *install: str) -> Path:
    subprocess.run([_python(), "-m", "venv", str(path)], check=True, timeout=300)
    if install:
        proc = subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "-q", *install],
                              capture_output=True, text=True, env=_env(), timeout=900)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return path


def _generate(venv: Path, model: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "envrepro"), "generate-dockerfile", "-m", str(model), "-d", str(out)],
                          capture_output=True, text=True, env=_env(**env), timeout=900)


def _installs(context: Path) -> list[str]:
    """The pip install line of each stage."""
    return [r.value for stage in stages(context / "Dockerfile") for r in find(stage, "RUN")
            if r.value.startswith("pip install")]


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    """What a clone holds to build envrepro (its own copy: an editable install writes into it)."""
    root = tmp_path_factory.mktemp("clone") / "envrepro"
    root.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, root / name)
    for name in ("envrepro", "flavors", "runtime"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory, source_copy) -> Path:
    """envrepro's wheel, as a release on an index would be (built by envrepro's own builder)."""
    from envrepro.docker.envrepro_source import build_wheel

    out = tmp_path_factory.mktemp("wheelhouse")
    wheel, _ = build_wheel(source_copy, out)
    assert wheel.name == WHEEL_NAME
    return out


@pytest.fixture(scope="module")
def pip_locked_model(tmp_path_factory, saved_sklearn_dir) -> Path:
    """A model with its own pip lock for linux-64: generate-dockerfile only reads it (no uv needed)."""
    path = tmp_path_factory.mktemp("pip-locked") / "model"
    shutil.copytree(saved_sklearn_dir, path)
    run_cli("lock", "-m", str(path), "--pip-only", "-p", "linux-64", "-q", check=True, timeout=900)
    return path


def test_editable_install_with_old_setuptools_builds_its_wheel_in_isolation(tmp_path, source_copy,
                                                                           pip_locked_model):
    venv = _venv(tmp_path / "venv", "-e", str(source_copy))
    lacks = subprocess.run([str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; "
                            "print(m.version('setuptools')); import wheel"], capture_output=True, text=True)
    assert lacks.stdout.startswith("65.") and "No module named 'wheel'" in lacks.stderr, "the venv a user gets"
    proc = _generate(venv, pip_locked_model, tmp_path / "ctx")
    assert proc.returncode == 0, proc.stderr
    assert "lacks envrepro's build requirements (setuptools>=68: has 65.5.0; wheel: not installed)" in proc.stderr
    wheel = tmp_path / "ctx" / "tooling" / WHEEL_NAME
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("envrepro/version.py") == (source_copy / "envrepro" / "version.py").read_bytes()
    assert all(f"/tmp/envrepro-tooling/{WHEEL_NAME}" in line for line in _installs(tmp_path / "ctx"))
    record = json.loads((tmp_path / "ctx" / ".envrepro-context.json").read_text())
    assert record["envrepro_from"] == f"built from {source_copy}"

    # The isolated build cannot get its build requirements: the message is pip's own error, and says why.
    proc = _generate(venv, pip_locked_model, tmp_path / "offline-ctx", PIP_NO_INDEX="1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"building a wheel of envrepro from {source_copy} failed: " in proc.stderr
    assert "setuptools>=68" in proc.stderr.split(" failed: ")[1].split(" (")[0], "pip's own line"
    assert "See above" not in proc.stderr and "lacks its build requirements: setuptools>=68: has 65.5.0" in proc.stderr
    assert not (tmp_path / "offline-ctx").exists()
    # With -v, the builder's whole output is shown.
    verbose = subprocess.run([str(venv / "bin" / "envrepro"), "-v", "generate-dockerfile", "-m",
                              str(pip_locked_model), "-d", str(tmp_path / "offline-ctx")],
                             capture_output=True, text=True, env=_env(PIP_NO_INDEX="1"), timeout=900)
    assert verbose.returncode == 2 and "building a wheel of envrepro: " in verbose.stderr
    assert len(verbose.stderr.splitlines()) > 3


def test_editable_install_with_its_build_requirements_builds_offline_and_shows_the_backends_error(
        tmp_path, source_copy, pip_locked_model):
    venv = _venv(tmp_path / "venv", "-e", str(source_copy), "setuptools>=68", "wheel")
    proc = _generate(venv, pip_locked_model, tmp_path / "ctx", PIP_NO_INDEX="1", UV_OFFLINE="1")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ctx" / "tooling" / WHEEL_NAME).is_file() and "isolation" not in proc.stderr
    # A source tree the backend refuses: its own error line, not "see above".
    broken = tmp_path / "broken"
    shutil.copytree(source_copy, broken, ignore=shutil.ignore_patterns("*.egg-info"))
    pyproject = broken / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('attr = "envrepro.version.__version__"',
                                                       'attr = "envrepro.version.no_such_name"'))
    code = ("import sys; from pathlib import Path; from envrepro.docker.envrepro_source import build_wheel\n"
            "from envrepro.errors import EnvreproError\n"
            "try:\n    build_wheel(Path(sys.argv[1]), Path(sys.argv[2]))\n"
            "except EnvreproError as exc:\n    print(exc.format())\n")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", code, str(broken), str(tmp_path / "out")],
                         capture_output=True, text=True, env=_env(), timeout=300).stdout
    assert f"building a wheel of envrepro from {broken} failed: " in out
    assert "no_such_name" in out.split(" failed: ")[1], out


def test_index_install_gets_the_same_version_from_the_index(tmp_path, wheelhouse, pip_locked_model):
    venv = _venv(tmp_path / "venv", "--find-links", str(wheelhouse), f"envrepro=={__version__}")
    assert not list((venv / "lib").glob("python3*/site-packages/envrepro-*.dist-info/direct_url.json"))
    proc = _generate(venv, pip_locked_model, tmp_path / "ctx")
    assert proc.returncode == 0, proc.stderr
    assert f"the image installs envrepro {__version__} from the package index" in proc.stderr
    assert not list((tmp_path / "ctx" / "tooling").glob("*.whl"))
    installs = _installs(tmp_path / "ctx")
    assert len(installs) == 2 and all(f" envrepro=={__version__}" in line for line in installs), installs
    # The final stage's install, run here: the index (standing in: the find-links directory) has that release.
    image = _venv(tmp_path / "image")
    command = installs[1].split("&&")[0].replace("/tmp/envrepro-tooling", str(tmp_path / "ctx" / "tooling"))
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=900,
                          env=_env(PATH=f"{image / 'bin'}{os.pathsep}{os.environ['PATH']}",
                                   PIP_FIND_LINKS=str(wheelhouse)))
    assert proc.returncode == 0, proc.stderr
    version = subprocess.run([str(image / "bin" / "envrepro"), "--version"], capture_output=True, text=True)
    assert version.stdout.strip().endswith(__version__), version


def test_wheel_install_puts_that_wheel_in_the_image(tmp_path, wheelhouse, pip_locked_model):
    mine = tmp_path / "dist" / WHEEL_NAME
    mine.parent.mkdir()
    shutil.copy2(wheelhouse / WHEEL_NAME, mine)
    venv = _venv(tmp_path / "venv", str(mine))
    proc = _generate(venv, pip_locked_model, tmp_path / "ctx")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ctx" / "tooling" / WHEEL_NAME).read_bytes() == mine.read_bytes()
    assert "package index" not in proc.stderr
    assert all(f"/tmp/envrepro-tooling/{WHEEL_NAME}" in line for line in _installs(tmp_path / "ctx"))
    # ENVREPRO_WHEEL wins (an offline build with a wheel of one's choosing).
    other = tmp_path / "other" / WHEEL_NAME
    other.parent.mkdir()
    shutil.copy2(mine, other)
    proc = _generate(venv, pip_locked_model, tmp_path / "ctx2", ENVREPRO_WHEEL=str(other))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "ctx2" / ".envrepro-context.json").read_text())["envrepro_from"] == "ENVREPRO_WHEEL"
    # The wheel it was installed from is gone: the image gets the same version from the index, and says so.
    mine.unlink()
    proc = _generate(venv, pip_locked_model, tmp_path / "ctx3")
    assert proc.returncode == 0, proc.stderr
    assert f"installs envrepro {__version__} from the package index" in proc.stderr
    assert not list((tmp_path / "ctx3" / "tooling").glob("*.whl"))
