"""Fixtures for the container-image tests: a saved sklearn model, locked against the local conda channel."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_cli


def session_env(tmp_path_factory: pytest.TempPathFactory, **extra: str) -> dict:
    """Environment for CLI subprocesses started by module-scoped fixtures (before the autouse ENVREPRO_HOME)."""
    return {**os.environ, "ENVREPRO_HOME": str(tmp_path_factory.getbasetemp() / "envrepro-home"), **extra}


def tree_digest(root: Path) -> str:
    """Names, modes and contents of every file under ``root``: equal digests mean nothing changed."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(f"{path.relative_to(root)}:{path.stat().st_mode}".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def saved_model(saved_sklearn_dir) -> Path:
    """A saved sklearn model with no lock (conda.yaml asks for conda-forge, mapped to the local channel)."""
    return saved_sklearn_dir

@pytest.fixture(scope="module")
def locked_model(tmp_path_factory, saved_model, local_channel_url) -> Path:
    """``saved_model`` with its own conda lock for linux-64, made against the local channel."""
    path = tmp_path_factory.mktemp("docker-locked") / "sk-model"
    shutil.copytree(saved_model, path)
    run_cli("lock", "-m", str(path), "-p", "linux-64", "--channel-alias", f"conda-forge={local_channel_url}", "-q",
            env=session_env(tmp_path_factory), check=True, timeout=600)
    return path


@pytest.fixture(scope="module")
def context(tmp_path_factory, locked_model) -> Path:
    """The build context generated (by the real CLI) for ``locked_model``."""
    out = tmp_path_factory.mktemp("docker-context") / "ctx"
    run_cli("generate-dockerfile", "-m", str(locked_model), "-d", str(out), "-q",
            env=session_env(tmp_path_factory), check=True, timeout=600)
    return out
