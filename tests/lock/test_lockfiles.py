"""The project's own locks in lockfiles/ stay in step with pyproject.toml and stay readable."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from envrepro.lock import check_lock, read_lockfile

ROOT = Path(__file__).resolve().parents[2]
LOCKFILES = ROOT / "lockfiles"


def _pyproject() -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_ci_lock_pins_every_test_dependency_with_hashes():
    text = (LOCKFILES / "ci-linux-64-py311.txt").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.M))
    pins = {canonicalize_name(k): v for k, v in pins.items()}
    project = _pyproject()["project"]
    wanted = [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["test"]]]
    # The lock targets CPython 3.11 on Linux x86_64: requirements whose markers exclude it are not in it.
    target = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
              "platform_system": "Linux", "platform_machine": "x86_64"}
    wanted = [r for r in wanted if r.marker is None or r.marker.evaluate(target)]
    missing = [str(r) for r in wanted if canonicalize_name(r.name) not in pins]
    assert not missing, f"lockfiles/ci-linux-64-py311.txt lacks {missing}: run lockfiles/refresh.sh"
    outside = [f"{r.name}=={pins[canonicalize_name(r.name)]} ({r})" for r in wanted
               if pins[canonicalize_name(r.name)] not in r.specifier]
    assert not outside, f"pins outside pyproject's ranges: {outside}: run lockfiles/refresh.sh"
    # every pin carries at least one sha256 (pip --require-hashes refuses the file otherwise)
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text.split("\n", 1)[1] if text.startswith("#") else text)
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)
    assert "torch" not in pins  # installed from the CPU wheel on disk, see lockfiles/README.md


def test_sample_model_lock_is_current_and_conda_lock_readable():
    model = LOCKFILES / "sample-model"
    lock = read_lockfile(model / "conda-lock.yml")
    assert sorted(lock.metadata.platforms) == ["linux-64", "osx-arm64", "win-64"]
    assert all(p.manager == "pip" and len(p.sha256 or "") == 64 for p in lock.packages)
    assert check_lock(model), "lockfiles/sample-model changed without re-locking: run lockfiles/refresh.sh"
    conda_lock = pytest.importorskip("conda_lock.lockfile")
    assert len(conda_lock.parse_conda_lock_file(model / "conda-lock.yml").package) == len(lock.packages)
