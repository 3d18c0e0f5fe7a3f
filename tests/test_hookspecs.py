"""Every hook is documented in docs/plugins.md and exercised by a test (datasette's rule)."""

from __future__ import annotations

import inspect
import re

from envrepro.hookspecs import EnvreproSpecs, Flavor
from tests.conftest import ROOT

HOOKS = [name for name, _ in inspect.getmembers(EnvreproSpecs, inspect.isfunction) if name.startswith("envrepro_")]


def test_there_are_hooks():
    assert HOOKS == ["envrepro_flavors"]


def test_every_hook_is_documented():
    docs = (ROOT / "docs" / "plugins.md").read_text()
    undocumented = [h for h in HOOKS if not re.search(rf"^### `{h}\(", docs, re.MULTILINE)]
    assert undocumented == []


def test_every_hook_has_a_docstring_and_annotations():
    for name in HOOKS:
        func = getattr(EnvreproSpecs, name)
        assert func.__doc__ and func.__doc__.strip()
        assert "return" in func.__annotations__


def test_every_flavor_field_is_documented():
    docs = (ROOT / "docs" / "plugins.md").read_text()
    fields = [f for f in Flavor.__dataclass_fields__ if f != "description"]
    assert [f for f in fields if f"`{f}" not in docs] == []


def test_every_hook_is_exercised_by_a_test():
    tests = "".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != "test_hookspecs.py")
    assert [h for h in HOOKS if f"def {h}" not in tests and h not in tests] == []
