"""The layers only import downwards: CLI → Python API → model layer → engines → primitives (docs/architecture.md).

Every import counts, top-level or inside a function (lazy imports are how the code keeps start-up fast, not a
way around the layers). The in-environment runtime and the flavors' runtime loaders are checked against their
own contract: the standard library (and the data libraries, imported lazily), never the host package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Lowest first. A module belongs to the first prefix that matches it (longest prefixes listed where needed).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("primitives", ("envrepro._lazy", "envrepro.errors", "envrepro.fsutil", "envrepro.home", "envrepro.yamlio",
                    "envrepro.requirements", "envrepro.pins", "envrepro.pyversion", "envrepro.asof",
                    "envrepro.conda_to_pip", "envrepro.lockfile", "envrepro.hookspecs", "envrepro.version")),
    ("engines", ("envrepro.envs",)),
    ("model", ("envrepro.model", "envrepro.envfiles", "envrepro.provenance", "envrepro.examples",
               "envrepro.signature", "envrepro.plugins", "envrepro.python_model", "envrepro.code_paths")),
    ("api", ("envrepro.environments", "envrepro.env_build", "envrepro.predicting", "envrepro.save",
             "envrepro.load", "envrepro.launch", "envrepro.resident", "envrepro.inspection", "envrepro.mutate",
             "envrepro.inference",
             "envrepro.lock", "envrepro.audit", "envrepro.docker", "envrepro.bundle", "envrepro.verify",
             "envrepro.output_example", "envrepro.spark")),
    ("cli", ("envrepro.cli",)),
]
RANK = {name: rank for rank, (name, _) in enumerate(LAYERS)}
HOST_ONLY = ("envrepro", "pluggy", "yaml", "packaging", "click", "ruamel", "rattler", "conda_lock")


def layer_of(module: str) -> str | None:
    if module == "envrepro":
        return "api"  # the package's public names are the API
    best = None
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (name, len(prefix))
    return best[0] if best else None


def module_name(path: Path, package_root: Path, package: str) -> str:
    parts = list(path.relative_to(package_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def imports(path: Path, module: str) -> list[tuple[str, int]]:
    """(imported module, line) for every import in ``path``, relative ones resolved against ``module``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from pkg import sub` may name a submodule: count it as such when it is one.
            found.append((target, node.lineno))
            found += [(f"{target}.{alias.name}", node.lineno) for alias in node.names
                      if (ROOT / Path(*f"{target}.{alias.name}".split("."))).with_suffix(".py").exists()]
    return found


def _host_modules():
    root = ROOT / "envrepro"
    for path in sorted(root.rglob("*.py")):
        yield path, module_name(path, root, "envrepro")


def test_every_host_module_has_a_layer():
    assert [m for _, m in _host_modules() if layer_of(m) is None] == []


def test_imports_only_go_down():
    wrong = []
    for path, module in _host_modules():
        mine = RANK[layer_of(module)]  # type: ignore[index]
        for target, line in imports(path, module):
            theirs = layer_of(target) if target.split(".")[0] == "envrepro" else None
            if theirs is not None and RANK[theirs] > mine:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {layer_of(module)} {module} imports "
                             f"{theirs} {target}")
    assert wrong == []


@pytest.mark.parametrize("package_dir, package", [("runtime", "envrepro_runtime"),
                                                  ("flavors/inenv", "envrepro_flavors.inenv")])
def test_in_environment_code_never_imports_the_host(package_dir, package):
    wrong = []
    root = ROOT / package_dir
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root, package) if path.name != "bootstrap.py" else "bootstrap"
        for target, line in imports(path, module):
            top = target.split(".")[0]
            if top in HOST_ONLY:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: imports {target}")
    assert wrong == []


def test_a_violation_is_caught(tmp_path):
    """The check itself: an engine module importing the API is reported."""
    probe = tmp_path / "probe.py"
    probe.write_text("from ..environments import create_env\n")
    found = imports(probe, "envrepro.envs.probe")
    assert ("envrepro.environments", 1) in found and RANK[layer_of(found[0][0])] > RANK["engines"]
