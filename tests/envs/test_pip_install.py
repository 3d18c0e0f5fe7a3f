from __future__ import annotations

import subprocess
import sys

import pytest

from envrepro.envs.conda_spec import parse_conda_env
from envrepro.envs.pip_install import choose_installer, install_requirements
from envrepro.envs.prefix import prefix_python
from envrepro.envs.rattler_engine import create_conda_prefix
from envrepro.errors import EnvironmentBuildError

PY = "%d.%d.%d" % sys.version_info[:3]


@pytest.fixture
def bare_prefix(tmp_path, local_channel_url):
    """A conda prefix with python but no pip."""
    pytest.importorskip("rattler")
    prefix = tmp_path / "env"
    create_conda_prefix(parse_conda_env({"channels": [local_channel_url], "dependencies": [f"python={PY}"]}),
                        prefix, quiet=True)
    return prefix


def version_in(prefix, module="tinywheel"):
    proc = subprocess.run([str(prefix_python(prefix)), "-c", f"import {module}; print({module}.__version__)"],
                          capture_output=True, text=True)
    return proc.stdout.strip() or proc.stderr.strip().splitlines()[-1]


def test_uv_installs_into_an_env_without_pip(bare_prefix, offline_index):
    install_requirements(prefix_python(bare_prefix), ["tinywheel"], ["tinywheel<2"], quiet=True, installer="uv")
    assert version_in(bare_prefix) == "1.0"
    assert subprocess.run([str(prefix_python(bare_prefix)), "-c", "import pip"], capture_output=True).returncode


def test_pip_is_bootstrapped_with_ensurepip_when_absent(bare_prefix, offline_index):
    install_requirements(prefix_python(bare_prefix), ["tinywheel"], ["tinywheel<2"], quiet=True, installer="pip")
    assert version_in(bare_prefix) == "1.0"
    assert version_in(bare_prefix, "pip")  # pip now lives in the prefix


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_failure_is_one_clear_error(bare_prefix, offline_index, installer):
    with pytest.raises(EnvironmentBuildError, match=f"installing pip requirements with {installer} failed") as info:
        install_requirements(prefix_python(bare_prefix), ["tinywheel==3.0"], quiet=True, installer=installer)
    assert "tinywheel" in str(info.value) and "\n" not in str(info.value)


def test_installer_choice(monkeypatch):
    assert choose_installer("auto") == "uv"
    monkeypatch.setenv("ENVREPRO_INSTALLER", "pip")
    assert choose_installer("auto") == "pip"
    monkeypatch.setenv("ENVREPRO_UV", "/nonexistent/uv")
    with pytest.raises(EnvironmentBuildError, match="uv was requested but is not installed"):
        choose_installer("uv")
    with pytest.raises(EnvironmentBuildError, match="unknown installer"):
        choose_installer("conda")  # type: ignore[arg-type]


def test_nothing_to_install_runs_nothing(tmp_path):
    install_requirements(tmp_path / "no-such-python", [], quiet=True)


def test_uv_is_found_from_many_threads_at_once():
    # Locking resolves its platforms in threads; uv's own finder reads sysconfig, whose first use is not
    # thread-safe before Python 3.13. A fresh interpreter each time: that first use is what races.
    code = ("import sys, threading\nsys.setswitchinterval(1e-6)\nfrom envrepro.envs.pip_install import find_uv\n"
            "found, errors = [], []\n"
            "def go():\n    try:\n        found.append(find_uv())\n"
            "    except Exception as exc:\n        errors.append(exc)\n"
            "threads = [threading.Thread(target=go) for _ in range(16)]\n"
            "[t.start() for t in threads]\n[t.join() for t in threads]\n"
            "print(len(errors), len(set(found)), None in found)\n")
    for _ in range(6):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert proc.stdout.split() == ["0", "1", "False"], proc.stdout + proc.stderr
