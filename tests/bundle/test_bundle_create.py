"""`envrepro bundle`: what goes in (each package once, for every platform asked), what is refused, the model
left as it was."""

from __future__ import annotations

import stat
import tarfile

from envrepro.bundle import create_bundle, open_bundle
from envrepro.lock import lock_model
from tests.conftest import run_cli

from .conftest import PYTHON, write_model


def _pip_model(path):
    return write_model(path, python_env={"python": PYTHON, "build_dependencies": [],
                                         "dependencies": ["-r requirements.txt"]}, requirements=["tinyreq"])


def test_packages_shared_by_platforms_are_carried_once(tmp_path, offline_pip):
    model = _pip_model(tmp_path / "m")
    summary = create_bundle(model, tmp_path / "b.tar", env_manager="virtualenv", platforms=["linux-64", "win-64"],
                            quiet=True)
    manifest = summary.manifest
    assert manifest.platforms == ["linux-64", "win-64"] and manifest.env_manager == "virtualenv"
    assert manifest.lock_kind == "pip" and manifest.python_version == PYTHON
    assert sorted((p.name, tuple(p.platforms)) for p in manifest.packages) == [
        ("tinyreq", ("linux-64", "win-64")), ("tinywheel", ("linux-64", "win-64"))]
    with tarfile.open(summary.path) as tar:
        names = tar.getnames()
    assert sum(n.endswith(".whl") for n in names) == 2
    assert names[0] == "envrepro-bundle.json" and names[-1] == "envrepro-bundle.seal"
    assert not (model / "conda-lock.yml").exists() and "envrepro_lock" not in (model / "MLmodel").read_text()
    assert open_bundle(summary.path).manifest.lock_note.startswith("the model has no lock")


def test_a_lock_of_the_wrong_kind_or_without_the_platform_is_replaced_in_the_bundle_only(tmp_path, offline_pip,
                                                                                          local_channel_url):
    model = write_model(tmp_path / "m", {"channels": [local_channel_url], "dependencies": ["tinydata"]})
    lock = lock_model(model, ["osx-arm64"], quiet=True)
    before = lock.read_bytes()
    summary = create_bundle(model, tmp_path / "b.tar", env_manager="conda", platforms=["linux-64"], quiet=True)
    assert "the model's lock has no linux-64 (it has osx-arm64)" in summary.manifest.lock_note
    assert lock.read_bytes() == before
    assert [p.name for p in summary.manifest.packages] == ["tinydata"]
    # The right lock is used as it is.
    lock_model(model, ["linux-64"], quiet=True)
    again = create_bundle(model, tmp_path / "c.tar", env_manager="conda", platforms=["linux-64"], quiet=True)
    assert again.manifest.lock_note is None


def test_cli_summary_and_refusals(tmp_path, offline_pip):
    model = _pip_model(tmp_path / "m")
    proc = run_cli("bundle", "-m", str(model), "-o", str(tmp_path / "b.tar"), "--env-manager", "uv",
                   "-p", "linux-64", check=True)
    assert proc.stdout.splitlines()[0].startswith(f"wrote {tmp_path / 'b.tar'} (")
    assert f"uv environment for linux-64, needs Python {PYTHON}: model " in proc.stdout
    assert "2 pip packages" in proc.stdout and "env create --from-bundle" in proc.stdout
    inside = run_cli("bundle", "-m", str(model), "-o", str(model / "b.tar"))
    assert inside.returncode == 2 and "inside the model directory" in inside.stderr
    nodir = run_cli("bundle", "-m", str(model), "-o", str(tmp_path / "no" / "b.tar"))
    assert nodir.returncode == 2 and "output directory does not exist" in nodir.stderr
    assert not list(tmp_path.glob(".envrepro-bundle-*")) and not list(tmp_path.glob(".b.tar.*"))


def test_a_venv_bundle_without_its_python_on_the_target_says_what_to_do(tmp_path, offline_pip, monkeypatch):
    import pytest

    from envrepro.bundle import BundleError, create_env_from_bundle
    from envrepro.envs import interpreters
    from envrepro.errors import EnvironmentBuildError

    bundle = create_bundle(_pip_model(tmp_path / "m"), tmp_path / "b.tar", env_manager="uv",
                           platforms=["linux-64"], quiet=True).path

    def none_here(version, search=None):
        raise EnvironmentBuildError(f"no Python {version} found; interpreters found: 3.8.18 (/usr/bin/python3.8)")

    monkeypatch.setattr(interpreters, "find_interpreter", none_here)
    minor = ".".join(PYTHON.split(".")[:2])
    with pytest.raises(BundleError) as info:
        create_env_from_bundle(bundle, prefix=tmp_path / "env", quiet=True)
    message = str(info.value)
    assert f"installs a virtual environment on Python {PYTHON}, and this machine has no Python {minor}" in message
    assert "interpreters found: 3.8.18" in message and "--env-manager conda" in message
    assert not (tmp_path / "env").exists()


def test_a_read_only_model_is_bundled_and_left_as_it_was(tmp_path, offline_pip):
    """The lock is written into the bundle's copy of the model, which must be writable (the model is not)."""
    model = _pip_model(tmp_path / "m")
    for path in [*model.rglob("*"), model]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        summary = create_bundle(model, tmp_path / "b.tar", env_manager="uv", platforms=["linux-64"], quiet=True)
    finally:
        model.chmod(0o755)
    assert summary.manifest.lock_note.startswith("the model has no lock")
    assert sorted(p.name for p in summary.manifest.packages) == ["tinyreq", "tinywheel"]
    assert sorted(p.name for p in model.iterdir()) == ["MLmodel", "python_env.yaml", "requirements.txt"]
    assert not (model / "MLmodel").stat().st_mode & stat.S_IWUSR
