"""End-to-end fixtures: models saved by the test process, environments built by the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import envrepro


@pytest.fixture(scope="module")
def sk_model_dir(tmp_path_factory, sklearn_model, iris_like) -> Path:
    pd = pytest.importorskip("pandas")
    X, _ = iris_like
    path = tmp_path_factory.mktemp("e2e") / "sk-model"
    envrepro.save_model(sklearn_model, path, input_example=pd.DataFrame(X[:2], columns=list("abcd")))
    return path


@pytest.fixture
def cli_env(tmp_path_factory) -> dict:
    """Environment for CLI subprocesses: the session's ENVREPRO_HOME, progress forced on for assertions."""
    return {**os.environ, "ENVREPRO_PROGRESS": "1"}


def marker(prefix: Path) -> dict:
    return json.loads((prefix / ".envrepro-env.json").read_text())
