"""A bundle carries what its offline install needs beyond the lock's own files, so it installs with no network
and empty caches: the wheels its sdists build with (uv ``--offline`` and pip ``--no-index`` would fetch the build
backend from an index), and the pip a Python 3.6/3.7 venv is made with where virtualenv cannot make it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from envrepro.bundle import create_bundle

from ..lock.conftest import write_model
from .conftest import PYTHON, envrepro_cmd, fresh_env, offline


@pytest.fixture
def sdist_bundle(tmp_path: Path, offline_pip) -> Path:
    model = write_model(tmp_path / "sdist-model", python_env={"python": PYTHON, "build_dependencies": [],
                                                               "dependencies": ["-r requirements.txt"]},
                        requirements=["tinysrc"])
    summary = create_bundle(model, tmp_path / "sdist.tar", env_manager="uv", platforms=["linux-64"], quiet=True)
    manifest = summary.manifest
    by_name = {p.name: p.path for p in manifest.packages}
    assert by_name["tinysrc"].endswith("/tinysrc-1.0.tar.gz")
    assert manifest.build_requirements == {by_name["tinysrc"]: [by_name["tinybackend"]]}
    assert "1 of them to build its 1 sdist offline" in summary.describe()
    return summary.path


@pytest.mark.parametrize("manager", ["uv", "virtualenv"])
def test_an_sdist_in_a_bundle_builds_with_no_network_and_empty_caches(manager, sdist_bundle, tmp_path):
    site = tmp_path / "site"
    # virtualenv: no uv at all, so pip (--no-index) builds the sdist.
    extra = {"ENVREPRO_UV": str(tmp_path / "no-uv")} if manager == "virtualenv" else {}
    env = fresh_env(site, **extra)
    created = offline(envrepro_cmd("env", "create", "--from-bundle", str(sdist_bundle), "--env-manager", manager),
                      env)
    assert created.returncode == 0, created.stderr
    python = Path(created.stdout.strip().splitlines()[-1]) / "bin" / "python"
    imported = subprocess.run([str(python), "-c", "import tinysrc; print(tinysrc.__version__)"],
                              capture_output=True, text=True)
    assert imported.stdout.strip() == "1.0", imported.stderr


def test_an_sdist_without_its_build_requirements_says_what_to_do(sdist_bundle, tmp_path):
    """The store without the sdist's record, as a bundle made by an older envrepro leaves it: one line, a fix."""
    env = fresh_env(tmp_path / "site")
    home = tmp_path / "site" / "home"
    subprocess.run([sys.executable, "-c", "import sys; from envrepro.bundle import open_bundle; "
                    "open_bundle(sys.argv[1], quiet=True)", str(sdist_bundle)], env=env, check=True)
    records = list((home / "locked-pkgs").glob("*/tinysrc-1.0.tar.gz.build-wheels"))
    assert len(records) == 1
    records[0].unlink()
    model = next((home / "bundles").iterdir()) / "model"
    created = offline(envrepro_cmd("env", "create", "-m", str(model), "--from-lock"), env)
    assert created.returncode == 2, created.stderr
    assert "Traceback" not in created.stderr
    assert ("tinysrc is an sdist whose build requirements come from an index: connect to one, or bundle the "
            "model with this envrepro, which carries them") in created.stderr


def test_a_manifest_naming_build_requirements_it_does_not_carry_is_refused(sdist_bundle):
    import json

    from envrepro.bundle import BundleError, Manifest
    from envrepro.bundle.archive import read_manifest

    raw = json.loads(read_manifest(sdist_bundle))
    Manifest.from_json(json.dumps(raw).encode(), sdist_bundle)  # as written: accepted
    sdist = next(iter(raw["build_requirements"]))
    raw["build_requirements"][sdist] = ["packages/" + "0" * 64 + "/setuptools-80.0-py3-none-any.whl"]
    with pytest.raises(BundleError, match="malformed bundle manifest: build requirement packages/0+/setuptools"):
        Manifest.from_json(json.dumps(raw).encode(), sdist_bundle)


@pytest.mark.slow  # the bundle fetches pip 24.0 from PyPI
def test_a_python37_venv_bundle_brings_the_pip_its_venv_is_made_with(tmp_path):
    """virtualenv no longer makes Python 3.7 venvs: ``python -m venv`` does, and its pip is upgraded to 24.0.
    With no network that upgrade comes from the bundle."""
    from envrepro.envs.interpreters import find_interpreter

    python37 = find_interpreter("3.7").version
    model = write_model(tmp_path / "py37-model", python_env={"python": python37, "build_dependencies": [],
                                                             "dependencies": []})
    summary = create_bundle(model, tmp_path / "py37.tar", env_manager="virtualenv", platforms=["linux-64"],
                            quiet=True)
    assert "pip 24.0 to make the venv" in summary.describe()
    env = fresh_env(tmp_path / "site", ENVREPRO_UV=str(tmp_path / "no-uv"), ENVREPRO_PROGRESS="1")
    created = offline(envrepro_cmd("env", "create", "--from-bundle", str(summary.path)), env)
    assert created.returncode == 0, created.stderr
    assert "installing pip 24.0 from the local package store" in created.stderr
    python = Path(created.stdout.strip().splitlines()[-1]) / "bin" / "python"
    pip = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, text=True)
    assert pip.stdout.startswith("pip 24.0 "), pip.stdout + pip.stderr
