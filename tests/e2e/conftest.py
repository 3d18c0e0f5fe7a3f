"""End-to-end fixtures: models saved by the test process, environments built by the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def sk_model_dir(saved_sklearn_dir) -> Path:
    return saved_sklearn_dir

@pytest.fixture
def cli_env(tmp_path_factory) -> dict:
    """Environment for CLI subprocesses: the session's ENVREPRO_HOME, progress forced on for assertions."""
    return {**os.environ, "ENVREPRO_PROGRESS": "1"}


def marker(prefix: Path) -> dict:
    return json.loads((prefix / ".envrepro-env.json").read_text())
