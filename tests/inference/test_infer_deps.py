"""Pruning to top-level distributions and keeping the extras a model needs (fake installed metadata)."""

from __future__ import annotations

from importlib import metadata

import pytest
from infer_helpers import make_dist

from envrepro.inference.deps import closure, prune


@pytest.fixture
def lookup(tmp_path):
    site = tmp_path / "site"
    make_dist(site, "app", requires=["lib-a>=1", "lib-b; python_version < '3.0'"])
    make_dist(site, "lib-a", requires=["lib-c"])
    make_dist(site, "lib-b")
    make_dist(site, "lib-c")
    make_dist(site, "client", extras=["socks", "docs", "all"],
              requires=["lib-c", "socksy>=1; extra == 'socks'", "sphinxy; extra == 'docs'",
                        "socksy; extra == 'all'", "unrelated; extra == 'all'"])
    make_dist(site, "socksy", "1.5")
    make_dist(site, "sphinxy")
    make_dist(site, "unrelated")
    make_dist(site, "cyc-a", requires=["cyc-b"])
    make_dist(site, "cyc-b", requires=["cyc-a"])
    make_dist(site, "needs-new", requires=["lib-b>=9"])
    dists = {d.metadata["Name"]: d for d in metadata.distributions(path=[str(site)])}
    return lambda name: dists.get(name) or next((d for n, d in dists.items()
                                                 if n.replace("_", "-").lower() == name.lower()), None)


def test_closure_follows_installed_requirements_and_markers(lookup):
    assert closure(lookup, ["app"]) == {"lib-a", "lib-c"}  # lib-b only on Python 2
    assert closure(lookup, ["client"]) == {"lib-c"}
    assert closure(lookup, ["client"], {"client": ["socks"]}) == {"lib-c", "socksy"}


def test_dependencies_of_listed_distributions_are_pruned(lookup):
    result = prune(lookup, ["lib-c", "app", "lib-a", "lib-b"])
    assert result.kept == ["app", "lib-b"]
    assert result.dropped == {"lib-c": "app", "lib-a": "app"}


def test_protected_defaults_are_never_pruned(lookup):
    assert prune(lookup, ["app", "lib-a"], protected=["lib-a"]).kept == ["app", "lib-a"]


def test_a_version_that_does_not_satisfy_the_requirement_is_not_provided(lookup):
    assert prune(lookup, ["needs-new", "lib-b"]).kept == ["needs-new", "lib-b"]


def test_dependency_cycle_keeps_one(lookup):
    assert prune(lookup, ["cyc-a", "cyc-b"]).kept == ["cyc-b"] or prune(lookup, ["cyc-a", "cyc-b"]).kept == ["cyc-a"]


def test_needed_extra_is_kept_on_the_requirement(lookup):
    result = prune(lookup, ["client", "socksy"])
    assert result.kept == ["client"]
    assert result.extras == {"client": {"socks"}}
    assert result.via_extra == {"socksy": ("client", "socks")}


def test_extra_that_adds_unneeded_distributions_is_not_chosen(lookup):
    # 'all' would add 'unrelated', 'docs' adds 'sphinxy': neither is needed, so neither extra is chosen.
    result = prune(lookup, ["client", "socksy"])
    assert "all" not in result.extras["client"] and "docs" not in result.extras["client"]
    assert prune(lookup, ["client"]).extras == {}


def test_extra_whose_distribution_is_a_protected_default_is_not_chosen(lookup):
    result = prune(lookup, ["client", "socksy"], protected=["socksy"])
    assert result.kept == ["client", "socksy"] and result.extras == {}
