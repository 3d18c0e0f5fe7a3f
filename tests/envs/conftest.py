"""Fixtures for the environment engines. The channel builder lives in tests/fixtures_channel.py (a pytest
plugin listed in tests/conftest.py) so that other test packages (locking, Docker) reuse it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures_channel import build_wheel


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Local wheels: tinywheel 1.0 and 2.0, tinybuild 1.0 (a stand-in build dependency)."""
    directory = tmp_path_factory.mktemp("wheelhouse")
    build_wheel(directory, "tinywheel", "1.0")
    build_wheel(directory, "tinywheel", "2.0")
    build_wheel(directory, "tinybuild", "1.0")
    return directory


@pytest.fixture
def offline_index(wheelhouse: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point uv and pip at the local wheelhouse only, so installs are offline and deterministic."""
    for key, value in {"UV_FIND_LINKS": str(wheelhouse), "UV_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse),
                       "PIP_NO_INDEX": "1", "UV_OFFLINE": "1"}.items():
        monkeypatch.setenv(key, value)
    return wheelhouse

