"""A channel envrepro cannot reach: the one-line error points to the README's "Air-gapped and offline sites",
and that section exists and names the three ways (mirrors with --channel-alias, the local channel tool, bundles).
"""

from __future__ import annotations

import re
import socket

import pytest

from envrepro.errors import OFFLINE_HELP, EnvironmentBuildError
from tests.conftest import ROOT

SECTION = "Air-gapped and offline sites"


def _closed_port() -> int:
    with socket.socket() as sock:  # bound, never listening: a connection is refused at once
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_readme_section_the_errors_name_exists_and_names_the_three_ways():
    assert f'"{SECTION}"' in OFFLINE_HELP
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {SECTION}\n(.*?)(?=^## )", readme, re.MULTILINE | re.DOTALL)
    assert match, "the section the errors point to"
    section = match.group(1)
    for way in ("--channel-alias conda-forge=", "python -m tests.fixtures_channel", "envrepro bundle -m",
                "--from-bundle", "generate-dockerfile --bundle", "ENVREPRO_WHEEL="):
        assert way in section, way


def test_unreachable_conda_channel_points_to_the_readme(tmp_path):
    pytest.importorskip("rattler")
    from envrepro.envs.conda_spec import parse_conda_env
    from envrepro.envs.rattler_engine import create_conda_prefix

    spec = parse_conda_env({"channels": [f"http://127.0.0.1:{_closed_port()}/conda-forge"],
                            "dependencies": ["python"]})
    with pytest.raises(EnvironmentBuildError) as info:
        create_conda_prefix(spec, tmp_path / "env", quiet=True)
    message = info.value.format()
    assert "cannot read a conda channel" in message and "--channel-alias NAME=URL_OR_PATH" in message
    assert SECTION in message and "\n" not in message
    assert not (tmp_path / "env").exists()


def test_unreachable_locked_package_points_to_the_readme(tmp_path):
    from envrepro.envs.from_lock import fetch_verified, store_path
    from envrepro.lockfile import LockedPackage

    pkg = LockedPackage(name="tinyapp", version="1.0", manager="conda", platform="linux-64",
                        url=f"http://127.0.0.1:{_closed_port()}/conda-forge/linux-64/tinyapp-1.0-0.conda",
                        sha256="0" * 64)
    with pytest.raises(EnvironmentBuildError) as info:
        fetch_verified([pkg], tmp_path / "conda-lock.yml")
    message = info.value.format()
    assert "cannot download locked package tinyapp" in message and SECTION in message and "\n" not in message
    assert not list(store_path(pkg).parent.glob("*")), "no partial download left"
