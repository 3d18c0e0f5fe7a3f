"""Rebuilding from a lock: exactly the locked packages, hashes verified, no solver or resolver involved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from envrepro.envs.prefix import prefix_python
from envrepro.errors import EnvironmentBuildError, ModelFormatError
from envrepro.lock import install_from_lock, lock_model

from .conftest import write_model


def _run(python: Path, code: str) -> str:
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _locked(model: Path) -> Path:
    return lock_model(model, ["linux-64", "osx-arm64", "win-64"], quiet=True)


@pytest.mark.slow
def test_install_from_lock_without_any_solve(conda_model, offline_pip, request, tmp_path):
    lock = _locked(conda_model)
    request.getfixturevalue("no_resolution")
    prefix = tmp_path / "env"
    install_from_lock(lock, prefix, quiet=True)
    out = _run(prefix_python(prefix), "import tinyapp, tinydep, tinyreq, tinywheel; "
                                      "print(tinyapp.__version__, tinydep.__version__, tinywheel.__version__)")
    assert out == "2.0 1.1 1.0"
    assert (prefix / "share" / "tinylib" / "1.2-linux-64.txt").is_file()
    installed = sorted(p.name.rsplit("-", 2)[0] for p in (prefix / "conda-meta").glob("*.json"))
    assert installed == ["pip", "python", "tinyapp", "tinydep", "tinylib"]  # exactly the lock's linux-64 set


def test_tampered_conda_hash_fails_before_linking(conda_model, offline_pip, tmp_path):
    lock = _locked(conda_model)
    text = lock.read_text()
    import yaml

    data = yaml.safe_load(text)
    entry = next(p for p in data["package"] if p["name"] == "tinydep" and p["platform"] == "linux-64")
    good = entry["hash"]["sha256"]
    lock.write_text(text.replace(good, "ab" * 32))
    prefix = tmp_path / "env"
    with pytest.raises(EnvironmentBuildError) as info:
        install_from_lock(lock, prefix, quiet=True)
    message = str(info.value)
    assert "hash mismatch for locked package tinydep 1.1" in message and "ab" * 32 in message and good in message
    assert not (prefix / "conda-meta").exists()  # verified before anything was linked
    # A value YAML reads as a number (an all-digit "hash") is malformed, never "no hash, skip the check".
    lock.write_text(text.replace(good, "0" * 64))
    with pytest.raises(ModelFormatError, match="sha256 of tinydep is not 64 hex digits"):
        install_from_lock(lock, prefix, quiet=True)


def test_md5_is_checked_when_the_lock_gives_no_sha256_and_a_hashless_package_is_refused(conda_model, offline_pip,
                                                                                         tmp_path):
    import yaml

    lock = _locked(conda_model)
    data = yaml.safe_load(lock.read_text())
    entry = next(p for p in data["package"] if p["name"] == "tinydep" and p["platform"] == "linux-64")
    del entry["hash"]["sha256"]
    entry["hash"]["md5"] = "cd" * 16
    lock.write_text(yaml.safe_dump(data))
    prefix = tmp_path / "env"
    with pytest.raises(EnvironmentBuildError, match="tinydep 1.1.*the lock says md5 " + "cd" * 16):
        install_from_lock(lock, prefix, quiet=True)
    del entry["hash"]["md5"]
    lock.write_text(yaml.safe_dump(data))
    with pytest.raises(EnvironmentBuildError, match="the lock gives no sha256 or md5 for package tinydep"):
        install_from_lock(lock, prefix, quiet=True)
    assert not (prefix / "conda-meta").exists()


def test_changed_package_on_the_channel_is_refused(offline_pip, tmp_path, local_channel):
    import shutil

    from tests.fixtures_channel import index_channel

    channel = tmp_path / "channel"
    shutil.copytree(local_channel, channel)
    model = write_model(tmp_path / "m", {"channels": [channel.as_uri()],
                                         "dependencies": ["tinydata"]})
    lock = lock_model(model, ["linux-64"], quiet=True)
    archive = channel / "noarch" / "tinydata-1.0-0.tar.bz2"
    archive.write_bytes(archive.read_bytes() + b"\0")  # someone re-uploaded a different file
    index_channel(channel)
    with pytest.raises(EnvironmentBuildError, match="hash mismatch for locked package tinydata 1.0"):
        install_from_lock(lock, tmp_path / "env", quiet=True)


@pytest.mark.parametrize("change", ["appended", "swapped"])  # a damaged archive; a valid one, other content
def test_changed_archive_is_refused_whether_unpacked_here_or_already_cached(change, offline_pip, tmp_path,
                                                                           local_channel, monkeypatch):
    import shutil

    from envrepro.envs.rattler_engine import package_cache_dir

    monkeypatch.setenv("ENVREPRO_HOME", str(tmp_path / "home"))
    channel = tmp_path / "channel"
    shutil.copytree(local_channel, channel)
    model = write_model(tmp_path / "m", {"channels": [channel.as_uri()], "dependencies": ["tinydata"]})
    lock = lock_model(model, ["linux-64"], quiet=True)
    entry = package_cache_dir() / "tinydata-1.0-0"
    install_from_lock(lock, tmp_path / "first", quiet=True)  # cold cache: hashed while unpacked into it
    assert entry.is_dir() and (tmp_path / "first" / "share").is_dir()
    archive = channel / "noarch" / "tinydata-1.0-0.tar.bz2"
    other = channel / "noarch" / "tinydep-1.1-0.tar.bz2"
    archive.write_bytes(archive.read_bytes() + b"\0" if change == "appended" else other.read_bytes())
    # Warm cache: rattler would link its copy, but the archive is hashed first.
    with pytest.raises(EnvironmentBuildError, match="hash mismatch for locked package tinydata 1.0"):
        install_from_lock(lock, tmp_path / "warm", quiet=True)
    assert not (tmp_path / "warm" / "conda-meta").exists()
    # Cold cache: the hash taken while unpacking refuses it, and nothing of it stays in the cache.
    shutil.rmtree(entry)
    with pytest.raises(EnvironmentBuildError, match="hash mismatch for locked package tinydata 1.0"):
        install_from_lock(lock, tmp_path / "cold", quiet=True)
    assert not (tmp_path / "cold" / "conda-meta").exists() and not entry.exists()
    assert not any((tmp_path / "home" / "pkgs-unpacking").iterdir())


@pytest.mark.slow
def test_tampered_pip_hash_fails(conda_model, offline_pip, tmp_path):
    lock = _locked(conda_model)
    import yaml

    data = yaml.safe_load(lock.read_text())
    entry = next(p for p in data["package"] if p["name"] == "tinywheel" and p["platform"] == "linux-64")
    lock.write_text(lock.read_text().replace(entry["hash"]["sha256"], "f" * 64))
    with pytest.raises(EnvironmentBuildError, match="installing the locked pip packages"):
        install_from_lock(lock, tmp_path / "env", quiet=True)


def test_platform_not_in_lock_is_a_clear_error(conda_model, offline_pip, tmp_path):
    lock = lock_model(conda_model, ["win-64"], quiet=True)
    with pytest.raises(EnvironmentBuildError, match=r"no packages for linux-64 \(it has win-64\)"):
        install_from_lock(lock, tmp_path / "env", platform="linux-64", quiet=True)


@pytest.mark.slow
def test_pip_only_lock_builds_a_venv(tmp_path, offline_pip, request):
    python = ".".join(map(str, sys.version_info[:3]))
    model = write_model(tmp_path / "m", python_env={"python": python, "build_dependencies": [],
                                                    "dependencies": ["-r requirements.txt"]},
                        requirements=["tinyreq"])
    lock = lock_model(model, ["linux-64"], pip_only=True, quiet=True)
    request.getfixturevalue("no_resolution")
    prefix = tmp_path / "venv"
    install_from_lock(lock, prefix, quiet=True)
    assert _run(prefix / "bin" / "python", "import tinyreq, tinywheel, sys; print(tinywheel.__version__, "
                                           "sys.prefix != sys.base_prefix)") == "1.0 True"


def test_http_channel_packages_are_downloaded_verified_and_reused(offline_pip, tmp_path, channel_http_url,
                                                                 _envrepro_home):
    model = write_model(tmp_path / "m", {"channels": [channel_http_url], "dependencies": ["tinydata"]})
    lock = lock_model(model, ["linux-64"], quiet=True)
    assert "url: http://127.0.0.1:" in lock.read_text()
    install_from_lock(lock, tmp_path / "env1", quiet=True)
    assert (tmp_path / "env1" / "share" / "tinydata" / "data.txt").read_text() == "42\n"
    cached = list((_envrepro_home / "locked-pkgs").glob("*/tinydata-1.0-0.tar.bz2"))
    assert len(cached) == 1
    cached[0].write_bytes(b"corrupted")  # a damaged cache entry is detected and fetched again
    install_from_lock(lock, tmp_path / "env2", quiet=True)
    assert (tmp_path / "env2" / "share" / "tinydata" / "data.txt").is_file()
    assert cached[0].read_bytes() != b"corrupted"
