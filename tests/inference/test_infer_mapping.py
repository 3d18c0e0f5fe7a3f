"""Module -> distribution rules, on real installed packages and on fake distributions built per test."""

from __future__ import annotations

import json

import pytest
from infer_helpers import make_dist

from envrepro.inference.mapping import ModuleResolver


@pytest.mark.parametrize("module,dist", [("sklearn.linear_model", "scikit-learn"), ("yaml", "pyyaml"),
                                         ("packaging.version", "packaging"), ("cloudpickle", "cloudpickle")])
def test_renamed_distributions_installed_here(module, dist):
    resolution = ModuleResolver().resolve(module)
    assert (resolution.kind, resolution.distribution) == ("dist", dist)


@pytest.mark.parametrize("module,dist", [("PIL.Image", "pillow"), ("cv2", "opencv-python"),
                                         ("google.protobuf", "protobuf")])
def test_well_known_renames_when_installed(module, dist):
    top = module.split(".")[0]
    resolver = ModuleResolver()
    if top not in resolver.top_level:
        pytest.skip(f"{top} not installed here")
    resolution = resolver.resolve(module)
    assert resolution.kind == "dist" and resolution.distribution.startswith(dist)


def test_renamed_distribution_from_top_level_txt(tmp_path):
    make_dist(tmp_path, "Fancy-Learn", files={"fancy/__init__.py": ""}, top_level=["fancy"])
    resolution = ModuleResolver(path=[str(tmp_path)]).resolve("fancy.sub.mod")
    assert (resolution.kind, resolution.distribution) == ("dist", "fancy-learn")


def test_renamed_distribution_from_record_without_top_level(tmp_path):
    make_dist(tmp_path, "single-file-dist", files={"onefile.py": ""})
    assert ModuleResolver(path=[str(tmp_path)]).resolve("onefile").distribution == "single-file-dist"


def test_namespace_package_resolved_per_subpackage(tmp_path):
    # google.* style: two distributions share the top-level 'nsx' and neither has top_level.txt entries
    # that tell them apart.
    make_dist(tmp_path, "nsx-storage", files={"nsx/storage/__init__.py": "", "nsx/storage/blob.py": ""},
              top_level=["nsx"])
    make_dist(tmp_path, "nsx-core", files={"nsx/core/__init__.py": "", "nsx/core/creds.py": ""},
              top_level=["nsx"])
    resolver = ModuleResolver(path=[str(tmp_path)])
    assert resolver.top_level["nsx"] == ["nsx-storage", "nsx-core"] or set(resolver.top_level["nsx"]) == {
        "nsx-storage", "nsx-core"}
    assert resolver.resolve("nsx.storage.blob").distribution == "nsx-storage"
    assert resolver.resolve("nsx.core").distribution == "nsx-core"
    assert resolver.resolve("nsx.core.creds", str(tmp_path / "nsx/core/creds.py")).distribution == "nsx-core"
    assert resolver.resolve("nsx").kind == "unknown", "the bare namespace has no single owner"


def test_namespace_module_file_decides(tmp_path):
    make_dist(tmp_path, "nsy-a", files={"nsy/shared/a.py": ""}, top_level=["nsy"])
    make_dist(tmp_path, "nsy-b", files={"nsy/shared/b.py": ""}, top_level=["nsy"])
    resolver = ModuleResolver(path=[str(tmp_path)])
    assert resolver.resolve("nsy.shared.b", str(tmp_path / "nsy/shared/b.py")).distribution == "nsy-b"
    assert resolver.resolve("nsy.shared.a").distribution == "nsy-a"


def test_editable_install_is_flagged(tmp_path):
    project = tmp_path / "project"
    (project / "devpkg").mkdir(parents=True)
    (project / "devpkg" / "__init__.py").write_text("")
    site = tmp_path / "site"
    # A modern editable install: RECORD lists only a .pth/finder, direct_url.json says editable.
    make_dist(site, "devpkg", files={"__editable__.devpkg-1.0.pth": ""}, editable_url=project.as_uri())
    resolver = ModuleResolver(path=[str(site)])
    resolution = resolver.resolve("devpkg", str(project / "devpkg" / "__init__.py"))
    assert (resolution.kind, resolution.distribution, resolution.editable) == ("dist", "devpkg", True)
    # Same file, no editable metadata: it is the user's local code, not a distribution.
    assert ModuleResolver(path=[str(tmp_path / "empty")]).resolve(
        "devpkg", str(project / "devpkg" / "__init__.py")).kind == "local"


def test_editable_with_top_level_is_flagged(tmp_path):
    site = tmp_path / "site"
    make_dist(site, "devtop", files={"devtop/__init__.py": ""}, top_level=["devtop"],
              editable_url=(tmp_path / "proj").as_uri())
    resolution = ModuleResolver(path=[str(site)]).resolve("devtop")
    assert resolution.editable and resolution.distribution == "devtop"


@pytest.mark.parametrize("module", ["json", "os.path", "collections.abc", "_thread", "sys", "__main__",
                                    "importlib.metadata", "sqlite3"])
def test_standard_library_is_never_a_requirement(module):
    assert ModuleResolver().resolve(module).kind == "stdlib"


def test_stdlib_file_location_counts(tmp_path):
    import sysconfig

    fake = sysconfig.get_paths()["stdlib"] + "/not_in_the_names_list.py"
    assert ModuleResolver().resolve("not_in_the_names_list", fake).kind == "stdlib"


@pytest.mark.parametrize("module", ["pip", "pip._internal", "setuptools", "pkg_resources", "_distutils_hack",
                                    "wheel", "envrepro", "envrepro.load", "envrepro_flavors.sklearn"])
def test_build_tooling_and_envrepro_are_excluded(module):
    assert ModuleResolver().resolve(module).kind == "excluded"


def test_local_module_outside_site_packages(tmp_path):
    (tmp_path / "mine.py").write_text("")
    assert ModuleResolver().resolve("mine", str(tmp_path / "mine.py")).kind == "local"
    assert ModuleResolver().resolve("no_such_module_anywhere").kind == "unknown"


def test_first_distribution_on_the_path_wins(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    make_dist(first, "dup", "2.0", files={"dupmod.py": ""})
    make_dist(second, "dup", "1.0", files={"dupmod.py": ""})
    resolver = ModuleResolver(path=[str(first), str(second)])
    assert resolver.distribution("dup").version == "2.0"
    assert resolver.top_level["dupmod"] == ["dup"]


def test_direct_url_that_is_not_editable(tmp_path):
    from envrepro.inference.mapping import editable_root

    info = make_dist(tmp_path, "fromgit", files={"fromgit.py": ""})
    (info / "direct_url.json").write_text(json.dumps({"url": "https://example.invalid/x.git", "vcs_info": {}}))
    from importlib import metadata

    dist = next(d for d in metadata.distributions(path=[str(tmp_path)]))
    assert editable_root(dist) is None
    (info / "direct_url.json").write_text("not json")
    assert editable_root(dist) is None
