"""Build dependencies + requirements in one uv run only when that installs what two runs (MLflow's order) do.

Each case builds a real venv with create_venv and compares it with the reference: the same venv made by hand
with the build dependencies installed first, then the requirements, in two uv runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from envrepro.envs.one_pass import BuildDependenciesAlone, installed_versions
from envrepro.envs.pip_install import find_uv, install_requirements
from envrepro.envs.prefix import prefix_python
from envrepro.envs.venv_engine import create_venv
from tests.fixtures_channel import build_wheel

PY = "%d.%d.%d" % sys.version_info[:3]


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("one-pass-wheels")
    for version in ("1.0", "2.0"):
        build_wheel(directory, "tinybuild", version)
        build_wheel(directory, "shared", version)
    build_wheel(directory, "bdep", "0.9")
    build_wheel(directory, "bdep", "1.0", requires=["shared>=2"])  # the newest build dependency needs shared 2
    build_wheel(directory, "rpkg", "1.0", requires=["shared<2"])
    build_wheel(directory, "tinywheel", "1.0")
    return directory


@pytest.fixture
def index(house: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key, value in {"UV_FIND_LINKS": str(house), "UV_NO_INDEX": "1", "UV_OFFLINE": "1",
                       "ENVREPRO_PROGRESS": "1"}.items():
        monkeypatch.setenv(key, value)
    return house


def two_runs(prefix: Path, build: list[str], reqs: list[str], constraints: list[str]) -> dict[str, str]:
    subprocess.run([find_uv() or "uv", "venv", "-q", "--python", sys.executable, str(prefix)], check=True)
    install_requirements(prefix_python(prefix), build, quiet=True, installer="uv")
    install_requirements(prefix_python(prefix), reqs, constraints, quiet=True, installer="uv")
    return installed_versions(prefix)


@pytest.mark.parametrize("build, reqs, constraints, one_run", [
    # independent parts: one run
    (["tinybuild"], ["tinywheel"], [], True),
    # the requirements need a dependency of a build dependency, at the version the build dependency got: one run
    (["bdep"], ["shared"], [], True),
    # the requirements downgrade a dependency of the newest build dependency: two runs leave bdep 1.0 with
    # shared 1.0, one run would pick bdep 0.9
    (["bdep"], ["rpkg"], [], False),
    # a constraint (for the requirements only) would reach a build dependency in one run
    (["tinybuild"], ["tinywheel"], ["tinybuild<2"], False),
    # the requirements replace a pinned build dependency: one run cannot resolve, two runs downgrade it
    (["tinybuild==2.0"], ["tinybuild<2", "tinywheel"], [], False),
])
def test_one_run_only_when_it_installs_what_two_runs_do(tmp_path, index, capfd, build, reqs, constraints,
                                                        one_run):
    expected = two_runs(tmp_path / "reference", build, reqs, constraints)
    capfd.readouterr()
    create_venv(tmp_path / "venv", python_version=PY, build_dependencies=build, requirements=reqs,
                constraints=constraints, tool="uv")
    assert installed_versions(tmp_path / "venv") == expected
    steps = capfd.readouterr().err
    assert ("with uv in one run" in steps) and (("installing the build dependencies, then" in steps) != one_run)
    assert ("installing 1 build dependencies with uv" in steps) != one_run


def test_the_reason_for_two_runs_is_named(tmp_path, index, capfd):
    create_venv(tmp_path / "venv", python_version=PY, build_dependencies=["bdep"], requirements=["rpkg"], tool="uv")
    assert "change what the build dependencies install (bdep 1.0 -> 0.9, shared 2.0 -> 1.0)" in capfd.readouterr().err


def test_a_build_dependency_by_url_or_path_takes_two_runs(tmp_path, index, house, capfd):
    wheel = next(house.glob("tinybuild-1.0-*.whl"))
    create_venv(tmp_path / "venv", python_version=PY, build_dependencies=[str(wheel)], requirements=["tinywheel"],
                tool="uv")
    assert installed_versions(tmp_path / "venv") == {"tinybuild": "1.0", "tinywheel": "1.0"}
    assert "in one run" not in capfd.readouterr().err


def test_the_build_dependencies_alone_resolve_before_the_venv_exists(index):
    # The check resolves for the base interpreter, so it can run while the venv is being made.
    with BuildDependenciesAlone(Path(sys.executable), ["bdep"]) as alone:
        assert alone.pins() == {"bdep": "1.0", "shared": "2.0"}
    with BuildDependenciesAlone(Path(sys.executable), ["tinybuild==3.0"]) as alone:
        assert alone.pins() is None  # does not resolve: the caller installs in two runs, which report it


def test_installed_versions_read_what_importlib_metadata_reads(tmp_path, index):
    from importlib import metadata

    from packaging.utils import canonicalize_name

    versions = two_runs(tmp_path / "venv", ["bdep"], ["rpkg", "tinywheel"], [])
    site = next((tmp_path / "venv").glob("lib/python*/site-packages"))
    assert versions == {canonicalize_name(d.metadata["Name"]): d.version
                        for d in metadata.distributions(path=[str(site)])}
    assert {"bdep": "1.0", "shared": "1.0", "rpkg": "1.0", "tinywheel": "1.0"}.items() <= versions.items()
    assert installed_versions(tmp_path / "venv", {"bdep", "tinywheel", "absent"}) == {"bdep": "1.0",
                                                                                       "tinywheel": "1.0"}
