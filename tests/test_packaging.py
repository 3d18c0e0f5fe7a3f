"""Every package directory ships: a non-editable install must not silently drop a subpackage."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT


def test_every_package_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "envrepro").rglob("__init__.py")}
    on_disk |= {"envrepro_flavors", "envrepro_runtime"}
    on_disk |= {"envrepro_flavors." + ".".join(p.parent.relative_to(ROOT / "flavors").parts)
                for p in (ROOT / "flavors").rglob("*/__init__.py")}
    assert on_disk == listed
