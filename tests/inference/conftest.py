from __future__ import annotations

import importlib
import sys

import pytest
from infer_helpers import write_module


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Write a module the way a user keeps model code next to a notebook, and import it."""
    src = tmp_path / "usercode"
    src.mkdir()
    monkeypatch.syspath_prepend(str(src))

    def make(source: str, prefix: str = "m"):
        name, path = write_module(src, source, prefix)
        importlib.invalidate_caches()
        module = importlib.import_module(name)
        return module, path

    yield make


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    """A site directory on sys.path for fake distributions (visible to the capture subprocess too)."""
    site = tmp_path / "fake-site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in [n for n, m in sys.modules.items() if str(site) in str(getattr(m, "__file__", "") or "")]:
        sys.modules.pop(name, None)
