"""Time-faithful resolution end to end: a model from June 2023 gets June 2023's releases of what it leaves
unpinned, with every manager, while a ``==`` pin released later is kept.

Real PyPI release dates (upload times): packaging 23.1 2023-04-12, 23.2 2023-10-01; setuptools 67.8.0
2023-05-19, 68.0.0 2023-06-19; six 1.17.0 2024-12-04. The conda tests use the suite's local channel, where
tinytime 1.0 is dated 2023-11-14 and 2.0 2024-07-01.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from tests.conftest import run_cli

pytestmark = pytest.mark.slow
HOST = "%d.%d.%d" % sys.version_info[:3]
JUNE_2023 = "2023-06-01 10:11:12.131415"
PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
VERSIONS = ("import json, sys\nfrom importlib import metadata as m\n"
            "print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))")


def write_model(path: Path, when: str, requirements: list[str], *, python: str = HOST,
                build: tuple[str, ...] = ("pip", "setuptools"), conda: dict | None = None) -> Path:
    path.mkdir(parents=True)
    env = {"virtualenv": "python_env.yaml"} if conda is None else {"conda": "conda.yaml"}
    mlmodel = {"flavors": {"python_function": {"env": env, "loader_module": "mlflow.sklearn",
                                               "python_version": python}},
               "mlflow_version": "2.4.0", "utc_time_created": when}
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    if conda is None:
        (path / "python_env.yaml").write_text(yaml.safe_dump({"python": python, "build_dependencies": list(build),
                                                              "dependencies": ["-r requirements.txt"]}))
        (path / "requirements.txt").write_text("".join(f"{r}\n" for r in requirements))
    else:
        (path / "conda.yaml").write_text(yaml.safe_dump(conda))
    return path


def pip_from_pypi() -> dict:
    """The environment for the CLI, with pip reading PyPI itself: this machine's pip.conf adds local indexes
    without upload times, which pip's cutoff cannot judge (it keeps their files)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_FIND_LINKS", "PIP_CONFIG_FILE")}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "ENVREPRO_PROGRESS": "1"}


def create(model: Path, *args: str, env: dict | None = None) -> tuple[Path, str]:
    proc = run_cli("env", "create", "-m", str(model), *args, env=env or pip_from_pypi(), timeout=900)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip()), proc.stderr


def versions(prefix: Path, *names: str) -> dict[str, str]:
    proc = subprocess.run([str(prefix / "bin" / "python"), "-c", VERSIONS, *names], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def marker(prefix: Path) -> dict:
    return json.loads((prefix / ".envrepro-env.json").read_text())


@pytest.fixture(scope="module")
def june_model(tmp_path_factory) -> Path:
    """Saved 2023-06-01: packaging unpinned, setuptools an unpinned build dependency, and six==1.17.0 (Dec 2024)
    added after saving."""
    return write_model(tmp_path_factory.mktemp("asof") / "june", JUNE_2023, ["packaging", "six==1.17.0"])


@pytest.mark.parametrize("manager", ["uv", "virtualenv"])
def test_unpinned_resolve_as_of_the_save_date_and_pins_are_kept(june_model, manager):
    prefix, err = create(june_model, "--env-manager", manager)
    assert versions(prefix, "packaging", "six", "setuptools") == {
        "packaging": "23.1", "six": "1.17.0", "setuptools": "67.8.0"}
    assert "resolving what the model leaves unpinned as of 2023-06-01 10:11:12 UTC (MLmodel utc_time_created)" in err
    installer = "uv" if manager == "uv" else "pip"
    # uv may install the build dependencies and the requirements in one run; the cutoff is named either way
    assert re.search(rf"requirements with {installer}( in one run)? \(uploaded before 2023-06-01T10:11:12Z\)", err), err
    assert marker(prefix)["resolve_as_of"]["cutoff"] == "2023-06-01T10:11:12Z"

    today, err = create(june_model, "--env-manager", manager, "--resolve-as-of", "now")
    assert today != prefix and "resolving what the model leaves unpinned" not in err  # its own cache entry
    got = versions(today, "packaging", "six", "setuptools")
    assert Version(got["packaging"]) >= Version("24") and got["six"] == "1.17.0"
    assert Version(got["setuptools"]) >= Version("70")
    assert marker(today)["resolve_as_of"] == {"cutoff": None, "label": "today", "why": "--resolve-as-of now"}


def test_a_pinned_pip_goes_in_after_the_cutoff_pass(tmp_path):
    """MLflow 2.x pins pip in build_dependencies (pip==23.3.1, which has no --uploaded-prior-to): the pip that
    knows the option runs the cutoff pass, then the pinned pip replaces it."""
    model = write_model(tmp_path / "m", JUNE_2023, ["packaging"], build=("pip==23.3.1", "setuptools"))
    prefix, err = create(model, "--env-manager", "virtualenv")
    assert versions(prefix, "pip", "packaging", "setuptools") == {
        "pip": "23.3.1", "packaging": "23.1", "setuptools": "67.8.0"}


def test_pip_with_a_local_index_hands_the_cutoff_to_uv(june_model, tmp_path):
    """pip keeps files whose upload time it cannot know (local indexes, find-links): the cutoff would leak."""
    (tmp_path / "wheels").mkdir()
    env = {**pip_from_pypi(), "PIP_FIND_LINKS": str(tmp_path / "wheels"), "ENVREPRO_HOME": str(tmp_path / "home")}
    prefix, err = create(june_model, "--env-manager", "virtualenv", env=env)
    assert (f"pip reads local package locations without upload times ({tmp_path / 'wheels'}): resolving as of a "
            "date with uv instead") in err
    assert versions(prefix, "packaging", "setuptools") == {"packaging": "23.1", "setuptools": "67.8.0"}


def test_a_date_on_the_command_line(june_model):
    prefix, err = create(june_model, "--env-manager", "uv", "--resolve-as-of", "2023-11-01")
    assert "as of 2023-11-01 (--resolve-as-of)" in err
    assert versions(prefix, "packaging")["packaging"] == "23.2"  # released 2023-10-01


@pytest.mark.parametrize("uv", [True, False])
def test_virtualenv_whose_pip_has_no_cutoff(tmp_path, uv):
    """Python 3.8's virtualenv pip (25.0) has no --uploaded-prior-to: uv takes over, or nothing is cut off."""
    if not (PYENV / "3.8.18" / "bin" / "python").exists():
        pytest.skip("needs pyenv's Python 3.8.18")
    model = write_model(tmp_path / "m", JUNE_2023, ["packaging"], python="3.8.18")
    # Without uv: a cache of its own (the key is the model's content and cutoff, not the tools at hand).
    env = pip_from_pypi() if uv else {**pip_from_pypi(), "ENVREPRO_UV": str(tmp_path / "no-uv"),
                                      "ENVREPRO_HOME": str(tmp_path / "home")}
    prefix, err = create(model, "--env-manager", "virtualenv", env=env)
    got = versions(prefix, "packaging", "setuptools")
    if uv:
        assert ("the environment's pip has no --uploaded-prior-to (pip 26+): resolving as of a date with uv "
                "instead") in err
        assert got == {"packaging": "23.1", "setuptools": "67.8.0"}
    else:
        warning = ("resolving as of 2023-06-01T10:11:12Z is not applied: the environment's pip has no "
                   "--uploaded-prior-to (pip 26+) and uv is not installed (pip install uv)")
        assert err.count(warning) == 1, err
        assert Version(got["packaging"]) > Version("23.1")


# -- conda, on the local channel ----------------------------------------------------------------------------
def conda_model(path: Path, channel: str, *specs: str, when: str = "2024-01-01 00:00:00") -> Path:
    return write_model(path, when, [], conda={"channels": [channel], "dependencies": [f"python={HOST}", *specs]})


def tinytime(prefix: Path) -> str:
    proc = subprocess.run([str(prefix / "bin" / "python"), "-c", "import tinytime; print(tinytime.__version__)"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_conda_resolves_as_of_the_save_date(tmp_path, local_channel_url):
    model = conda_model(tmp_path / "unpinned", local_channel_url, "tinytime")
    prefix, err = create(model, "--env-manager", "conda")
    assert tinytime(prefix) == "1.0"  # 2.0 was built after the model was saved
    assert "as of 2024-01-01 00:00:00 UTC (MLmodel utc_time_created)" in err
    today, _ = create(model, "--env-manager", "conda", "--resolve-as-of", "now")
    assert today != prefix and tinytime(today) == "2.0"


def test_conda_exact_pin_newer_than_the_save_date_is_kept(tmp_path, local_channel_url):
    model = conda_model(tmp_path / "pinned", local_channel_url, "tinytime==2.0")
    prefix, _ = create(model, "--env-manager", "conda")
    assert tinytime(prefix) == "2.0"
    loose = conda_model(tmp_path / "loose", local_channel_url, "tinytime>=2")  # not exact: the cutoff applies
    proc = run_cli("env", "create", "-m", str(loose), "--env-manager", "conda", "-q")
    assert proc.returncode == 2 and "tinytime" in proc.stderr and "--resolve-as-of now" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


# -- locks ----------------------------------------------------------------------------------------------------
def test_lock_resolves_as_of_the_save_date(tmp_path, local_channel_url):
    from envrepro.lock import lock_model, read_lockfile

    model = conda_model(tmp_path / "conda", local_channel_url, "tinytime")
    lock = read_lockfile(lock_model(model, ["linux-64"], quiet=True))
    assert {p.name: p.version for p in lock.packages}["tinytime"] == "1.0"
    assert lock.metadata.custom["envrepro.resolve_as_of"] == "2024-01-01T00:00:00Z"
    model = write_model(tmp_path / "pip", JUNE_2023, ["packaging", "six==1.17.0"])
    lock = read_lockfile(lock_model(model, ["linux-64"], pip_only=True, quiet=True))
    got = {p.name: p.version for p in lock.packages}
    assert (got["packaging"], got["six"], got["setuptools"]) == ("23.1", "1.17.0", "67.8.0")
