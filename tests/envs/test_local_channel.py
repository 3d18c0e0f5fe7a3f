"""The test channel itself: real packages, real repodata, solvable for every platform the lock step targets."""

from __future__ import annotations

import hashlib
import json
import tarfile
import urllib.request

import pytest

from envrepro.envs.conda_spec import parse_conda_env
from envrepro.envs.rattler_engine import solve_conda_spec
from envrepro.errors import EnvironmentBuildError
from tests.fixtures_channel import PLATFORMS, PackageSpec, build_local_channel, package_bytes

pytest.importorskip("rattler")


def test_repodata_lists_every_package_with_matching_hashes(local_channel):
    for subdir in (*PLATFORMS, "noarch"):
        repodata = json.loads((local_channel / subdir / "repodata.json").read_text())
        packages = repodata["packages"]
        assert packages, subdir
        for filename, record in packages.items():
            data = (local_channel / subdir / filename).read_bytes()
            assert hashlib.sha256(data).hexdigest() == record["sha256"]
            assert record["subdir"] == subdir
    noarch = json.loads((local_channel / "noarch" / "repodata.json").read_text())["packages"]
    assert {r["name"] for r in noarch.values()} >= {"tinydep", "tinyapp", "tinydata", "pip"}
    assert noarch["tinyapp-2.0-0.tar.bz2"]["depends"] == ["python", "tinydep >=1.1", "tinylib >=1.2"]


def test_packages_are_deterministic_archives_with_conda_metadata(tmp_path):
    spec = PackageSpec("demo", "1.0", "linux-64", depends=("tinydep",), files={"share/demo.txt": "hi\n"},
                       symlinks={"share/link.txt": "demo.txt"})
    assert package_bytes(spec) == package_bytes(spec)
    path = tmp_path / spec.filename
    path.write_bytes(package_bytes(spec))
    with tarfile.open(path) as archive:
        names = archive.getnames()
        index = json.load(archive.extractfile("info/index.json"))
        paths = json.load(archive.extractfile("info/paths.json"))["paths"]
    assert {"info/index.json", "info/paths.json", "info/files", "share/demo.txt", "share/link.txt"} <= set(names)
    assert index["platform"] == "linux" and index["arch"] == "x86_64" and index["depends"] == ["tinydep"]
    assert {p["_path"]: p["path_type"] for p in paths} == {"share/demo.txt": "hardlink", "share/link.txt": "softlink"}
    with pytest.raises(ValueError):
        package_bytes(PackageSpec("bad", "1", "linux-64", noarch="python"))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_solves_for_each_platform_with_assumed_virtual_packages(local_channel_url, platform):
    spec = parse_conda_env({"channels": [local_channel_url], "dependencies": ["python=3.11", "tinyapp"]})
    records = {str(r.name.normalized): r for r in solve_conda_spec(spec, platform=platform)}
    assert set(records) == {"python", "tinyapp", "tinydep", "tinylib"}
    assert str(records["tinyapp"].version) == "2.0"
    assert str(records["tinydep"].version) == "1.1"
    assert records["tinylib"].subdir == platform
    assert records["python"].subdir == platform


def test_linux_virtual_glibc_is_enforced_for_other_platform_solves(local_channel_url):
    spec = parse_conda_env({"channels": [local_channel_url], "dependencies": ["needs-new-glibc"]})
    with pytest.raises(EnvironmentBuildError, match="__glibc"):
        solve_conda_spec(spec, platform="linux-64")


def test_channel_is_readable_over_http(channel_http_url):
    with urllib.request.urlopen(f"{channel_http_url}/noarch/repodata.json", timeout=10) as response:
        assert "tinyapp-1.0-0.tar.bz2" in json.load(response)["packages"]


def test_builder_adds_to_an_existing_channel(tmp_path):
    root = build_local_channel(tmp_path / "c", [PackageSpec("one", "1.0", noarch="generic", files={"a": "1"})])
    build_local_channel(root, [PackageSpec("two", "1.0", noarch="generic", files={"b": "2"})])
    packages = json.loads((root / "noarch" / "repodata.json").read_text())["packages"]
    assert set(packages) == {"one-1.0-0.tar.bz2", "two-1.0-0.tar.bz2"}
