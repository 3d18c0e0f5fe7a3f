"""Locking a model for three platforms: the file is conda-lock's, exact, hashed, and recorded in MLmodel."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from envrepro.errors import EnvironmentBuildError
from envrepro.lock import find_lock, lock_model, read_lockfile
from envrepro.model import MLmodel

from .conftest import run_envrepro, write_model

PLATFORMS = ["linux-64", "osx-arm64", "win-64"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_lock_three_platforms_is_read_by_conda_locks_parser(conda_model, offline_pip, local_channel):
    conda_lock = pytest.importorskip("conda_lock.lockfile")
    proc = run_envrepro("lock", "-m", str(conda_model), *[a for p in PLATFORMS for a in ("-p", p)], "-q")
    assert proc.returncode == 0, proc.stderr
    lock_path = conda_model / "conda-lock.yml"
    assert proc.stdout.strip() == f"wrote {lock_path}"

    parsed = conda_lock.parse_conda_lock_file(lock_path)  # conda-lock's own parser and pydantic models
    assert sorted(parsed.metadata.platforms) == PLATFORMS
    assert set(parsed.metadata.content_hash) == set(PLATFORMS)
    for platform in PLATFORMS:
        pkgs = {p.name: p for p in parsed.package if p.platform == platform}
        conda = {n for n, p in pkgs.items() if p.manager == "conda"}
        assert conda == {"python", "pip", "tinyapp", "tinydep", "tinylib"}
        assert {n for n, p in pkgs.items() if p.manager == "pip"} == {"tinyreq", "tinywheel"}
        # per-platform packages come from that platform's subdir, with the channel's real hashes
        tinylib = pkgs["tinylib"]
        assert tinylib.version == "1.2" and f"/{platform}/tinylib-1.2-0.tar.bz2" in tinylib.url
        archive = local_channel / platform / "tinylib-1.2-0.tar.bz2"
        assert tinylib.hash.sha256 == _sha256(archive)
        assert tinylib.hash.md5 == hashlib.md5(archive.read_bytes()).hexdigest()
        assert pkgs["tinyapp"].dependencies == {"python": "", "tinydep": ">=1.1", "tinylib": ">=1.2"}
        wheel = offline_pip / "tinywheel-1.0-py3-none-any.whl"
        assert pkgs["tinywheel"].version == "1.0" and pkgs["tinywheel"].hash.sha256 == _sha256(wheel)
    assert MLmodel.load(conda_model / "MLmodel").extra["envrepro_lock"] == "conda-lock.yml"
    assert find_lock(conda_model) == lock_path


def test_conda_lock_renders_the_same_explicit_list_as_envrepro(conda_model, offline_pip, tmp_path):
    from .condalock_files import assert_same_render

    lock_model(conda_model, ["linux-64", "win-64"], quiet=True)
    ours = run_envrepro("lock", "-m", str(conda_model), "--render", "explicit", "-p", "win-64")
    assert ours.returncode == 0, ours.stderr
    theirs = subprocess.run([sys.executable, "-m", "conda_lock", "render", "-k", "explicit", "-p", "win-64",
                             str(conda_model / "conda-lock.yml")], cwd=tmp_path, capture_output=True, text=True)
    assert theirs.returncode == 0, theirs.stderr
    assert_same_render(ours.stdout, (tmp_path / "conda-win-64.lock").read_text())  # same lines, same order
    lines = ours.stdout.splitlines()
    # dependencies come first: python before tinyapp, tinydep before tinyapp
    def position(fragment: str) -> int:
        return lines.index(next(line for line in lines if fragment in line))

    assert position("/python-") < position("tinyapp-")
    assert position("tinydep-") < position("tinyapp-")


def test_render_env_pins_name_version_build(conda_model, offline_pip):
    from .condalock_files import assert_same_render, conda_lock_render

    lock = lock_model(conda_model, ["linux-64"], quiet=True)
    proc = run_envrepro("lock", "-m", str(conda_model), "--render", "env", "-p", "linux-64")
    assert proc.returncode == 0, proc.stderr
    assert_same_render(proc.stdout, conda_lock_render(lock, "env", "linux-64"))
    env = yaml.safe_load(proc.stdout)
    python = "python=" + ".".join(map(str, sys.version_info[:3])) + "="
    assert "tinylib=1.2=0" in env["dependencies"] and any(str(d).startswith(python) for d in env["dependencies"])
    pip = env["dependencies"][-1]["pip"]
    assert any(line.startswith("tinywheel == 1.0 --hash=sha256:") for line in pip)


def test_pip_packages_provided_by_conda_stay_conda(conda_model, offline_pip, local_channel_url):
    # tinydep is both a conda package (1.1, via tinyapp 2) and a wheel: the conda one wins, pinned.
    write_model(conda_model, {"channels": [local_channel_url],
                              "dependencies": [f"python={sys.version_info[0]}.{sys.version_info[1]}", "tinyapp=2",
                                               {"pip": ["tinydep", "tinyreq"]}]})
    lock = read_lockfile(lock_model(conda_model, ["linux-64"], quiet=True))
    assert [p.version for p in lock.packages if p.name == "tinydep"] == ["1.1"]
    assert [p.manager for p in lock.packages if p.name == "tinydep"] == ["conda"]


def test_virtual_package_defaults_and_overrides(conda_model, offline_pip, local_channel_url):
    write_model(conda_model, {"channels": [local_channel_url],
                              "dependencies": [f"python={sys.version_info[0]}.{sys.version_info[1]}",
                                               "needs-new-glibc"]})
    # default __glibc 2.28 cannot install a package that needs glibc >= 99
    with pytest.raises(EnvironmentBuildError, match="cannot be solved for linux-64"):
        lock_model(conda_model, ["linux-64"], quiet=True)
    lock = read_lockfile(lock_model(conda_model, ["linux-64"], quiet=True,
                                    virtual_packages=["linux-64:__glibc=99.0", "__cuda=12.4"]))
    assert {p.name for p in lock.packages} >= {"needs-new-glibc", "python"}
    recorded = lock.metadata.custom["envrepro.virtual_packages.linux-64"]
    assert "__glibc=99.0" in recorded and "__cuda=12.4" in recorded and "__linux=5.10" in recorded


def test_pip_only_lock_records_python_and_hashes(tmp_path, offline_pip):
    python = ".".join(map(str, sys.version_info[:3]))
    model = write_model(tmp_path / "m", python_env={"python": python, "build_dependencies": [],
                                                    "dependencies": ["-r requirements.txt"]},
                        requirements=["tinyreq==1.0"])
    lock = read_lockfile(lock_model(model, PLATFORMS, pip_only=True, quiet=True))
    assert lock.metadata.custom["envrepro.python"] == python
    for platform in PLATFORMS:
        pkgs = lock.for_platform(platform)
        assert {(p.name, p.version, p.manager) for p in pkgs} == {("tinyreq", "1.0", "pip"),
                                                                  ("tinywheel", "1.0", "pip")}
        assert all(len(p.sha256 or "") == 64 for p in pkgs)


def test_pip_resolution_names_its_interpreter_instead_of_running_a_shim_on_path(tmp_path, offline_pip, monkeypatch):
    # A pyenv shim first on PATH: uv's own search would run it for every platform (most of a second each).
    shims = tmp_path / "pyenv" / "shims"
    shims.mkdir(parents=True)
    ran = tmp_path / "shim-ran"
    shim = shims / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    shim.write_text(f"#!/bin/sh\necho ran >> {ran}\nexec {sys.executable} \"$@\"\n")
    shim.chmod(0o755)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    python = ".".join(map(str, sys.version_info[:3]))
    model = write_model(tmp_path / "m", python_env={"python": python, "build_dependencies": [],
                                                    "dependencies": ["-r requirements.txt"]},
                        requirements=["tinyreq==1.0"])
    lock = read_lockfile(lock_model(model, PLATFORMS, pip_only=True, quiet=True))
    assert {p.name for p in lock.for_platform("win-64")} == {"tinyreq", "tinywheel"}
    assert not ran.exists()


def test_lock_errors_are_one_line(conda_model, offline_pip, tmp_path):
    bad = run_envrepro("lock", "-m", str(conda_model), "--virtual-package", "glibc", "-q")
    assert bad.returncode == 2 and bad.stderr.startswith("envrepro: error: invalid virtual package 'glibc'")
    assert "Traceback" not in bad.stderr
    unsolvable = run_envrepro("lock", "-m", str(write_model(tmp_path / "u", {
        "channels": [str(tmp_path)], "dependencies": ["python=2.7"]})), "-p", "linux-64", "-q")
    assert unsolvable.returncode == 2 and len(unsolvable.stderr.strip().splitlines()) == 1
    missing = run_envrepro("lock", "-m", str(conda_model), "--conda-exe", str(tmp_path / "no-conda"), "-q")
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_conda_lock_command_line_for_an_external_conda(tmp_path):
    from envrepro.lock.solve import conda_lock_command

    cmd = conda_lock_command(tmp_path / "env.yml", tmp_path / "out.yml", ["linux-64", "win-64"],
                             Path("/opt/micromamba"), virtual_packages={"linux-64": {"__glibc": "2.28"}},
                             vpkg_file=tmp_path / "vp.yml")
    assert cmd[1:4] == ["-m", "conda_lock", "lock"]
    assert cmd[cmd.index("--conda") + 1] == "/opt/micromamba" and cmd.count("-p") == 2
    spec = yaml.safe_load((tmp_path / "vp.yml").read_text())
    assert spec == {"subdirs": {"linux-64": {"packages": {"__glibc": "2.28"}}}}
