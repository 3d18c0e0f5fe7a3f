"""Real venvs made with uv and with virtualenv, from local wheels (offline)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from envrepro.envs.cache import EnvCache
from envrepro.envs.interpreters import Interpreter, InterpreterVersionWarning
from envrepro.envs.prefix import prefix_python
from envrepro.envs.venv_engine import create_venv, default_venv_tool, venv_cache_fields
from envrepro.errors import EnvironmentBuildError

PY = "%d.%d.%d" % sys.version_info[:3]
INSPECT = ("import json, sys\nfrom importlib import metadata\n"
           "print(json.dumps({'prefix': sys.prefix, 'base': sys.base_prefix, 'version': sys.version.split()[0],"
           " 'dists': {d.metadata['Name']: d.version for d in metadata.distributions()}}))")


def inspect(prefix: Path) -> dict:
    proc = subprocess.run([str(prefix_python(prefix)), "-c", INSPECT], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["uv", "virtualenv"])
def test_venv_with_build_dependencies_requirements_and_constraints(tmp_path, offline_index, tool):
    prefix = tmp_path / "venv"
    base = create_venv(prefix, python_version=PY, build_dependencies=["tinybuild"], requirements=["tinywheel"],
                       constraints=["tinywheel<2"], tool=tool, quiet=True)
    assert base.version == PY and base.exact
    info = inspect(prefix)
    assert Path(info["prefix"]) == prefix and info["base"] != info["prefix"] and info["version"] == PY
    assert info["dists"]["tinywheel"] == "1.0"  # the constraint held back 2.0
    assert info["dists"]["tinybuild"] == "1.0"
    if tool == "virtualenv":
        assert "pip" in info["dists"]  # seeded by virtualenv, used as the installer


@pytest.mark.slow
def test_override_is_installed_on_top(tmp_path, offline_index):
    prefix = tmp_path / "venv"
    create_venv(prefix, python_version=PY, requirements=["tinywheel==1.0"], tool="uv", quiet=True,
                pip_override=["tinywheel==2.0"])
    assert inspect(prefix)["dists"]["tinywheel"] == "2.0"


@pytest.mark.slow
def test_other_python_version_and_minor_fallback(tmp_path, offline_index):
    other = Path.home() / ".pyenv" / "versions" / "3.10.13" / "bin" / "python3.10"
    if not other.exists():
        pytest.skip("needs pyenv's Python 3.10.13")
    with pytest.warns(InterpreterVersionWarning):
        base = create_venv(tmp_path / "venv", python_version="3.10.2", requirements=["tinywheel"], tool="uv",
                           quiet=True)
    assert base.version == "3.10.13" and not base.exact
    info = inspect(tmp_path / "venv")
    assert info["version"] == "3.10.13" and info["dists"]["tinywheel"] == "2.0"


def test_unsatisfiable_constraints_fail_clearly(tmp_path, offline_index):
    with pytest.raises(EnvironmentBuildError, match="installing requirements with uv failed.*tinywheel"):
        create_venv(tmp_path / "venv", python_version=PY, requirements=["tinywheel>=2"], constraints=["tinywheel<2"],
                    tool="uv", quiet=True)


def test_missing_interpreter_fails_before_creating_anything(tmp_path):
    with pytest.raises(EnvironmentBuildError, match="no Python 2.5.1 found"):
        create_venv(tmp_path / "venv", python_version="2.5.1", tool="uv", quiet=True)
    assert not (tmp_path / "venv").exists()


def test_unknown_tool(tmp_path):
    with pytest.raises(EnvironmentBuildError, match="unknown environment tool"):
        create_venv(tmp_path / "v", python_version=PY, tool="poetry", quiet=True,  # type: ignore[arg-type]
                    interpreter=Interpreter(Path(sys.executable), PY))


def test_default_tool_and_cache_fields():
    assert default_venv_tool() == "uv"  # uv is a test dependency
    a = venv_cache_fields(python_version=PY, build_dependencies=["pip", "wheel"], requirements=["B==1", "a>=2"],
                          constraints=[], tool="uv")
    b = venv_cache_fields(python_version=PY, build_dependencies=["wheel", "pip"], requirements=["a >= 2", "b==1"],
                          constraints=[], tool="uv")
    assert EnvCache.key_for(a) == EnvCache.key_for(b)
    c = venv_cache_fields(python_version=PY, build_dependencies=["pip", "wheel"], requirements=["B==1", "a>=2"],
                          constraints=[], tool="virtualenv")
    assert EnvCache.key_for(a) != EnvCache.key_for(c)


def test_the_pip_a_python_m_venv_is_upgraded_to():
    """The pip a Python 3.6/3.7 bundle carries and its venv is made with (venv_engine's one lookup)."""
    from envrepro.envs.venv_engine import last_pip_for

    assert [last_pip_for(v) for v in ("3.6.15", "3.7", "3.8.18", "3", "x.y")] == ["21.3.1", "24.0", None, None, None]
