"""What a locked sdist builds with: read from the sdist, recorded in the store, offered to an offline install."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

from envrepro.envs.sdist_builds import build_requires


def _sdist(path: Path, files: dict[str, str]) -> Path:
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path, "w") as archive:
            for name, text in files.items():
                archive.writestr(name, text)
        return path
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_pyproject_requires_are_read(tmp_path):
    flit = _sdist(tmp_path / "pkg-1.0.tar.gz",
                  {"pkg-1.0/pyproject.toml": '[build-system]\nrequires = ["flit_core>=3.2"]\n',
                   "pkg-1.0/tests/pyproject.toml": '[build-system]\nrequires = ["nope"]\n'})
    assert build_requires(flit) == ["flit_core>=3.2"]
    setuptools = _sdist(tmp_path / "old-2.0.zip",
                        {"old-2.0/pyproject.toml": '[build-system]\nrequires = ["setuptools>=61", "setuptools_scm"]\n'})
    assert build_requires(setuptools) == ["setuptools>=61", "setuptools_scm", "wheel"]


def test_a_setup_py_project_gets_pep517_s_default(tmp_path):
    legacy = _sdist(tmp_path / "alembic-1.4.1.tar.gz", {"alembic-1.4.1/setup.py": "from setuptools import setup\n"})
    assert build_requires(legacy) == ["setuptools>=40.8.0", "wheel"]
    no_build_system = _sdist(tmp_path / "x-1.tar.gz", {"x-1/pyproject.toml": "[tool.black]\nline-length = 99\n"})
    assert build_requires(no_build_system) == ["setuptools>=40.8.0", "wheel"]
    broken = tmp_path / "broken-1.tar.gz"
    broken.write_bytes(b"not an archive")
    assert build_requires(broken) == ["setuptools>=40.8.0", "wheel"]


def test_only_intact_recorded_wheels_are_offered(tmp_path):
    """The store's key vouches for a build wheel (installers do not hash-check build requirements): a wheel
    whose bytes no longer match its key, and a key reaching outside the store, are not offered."""
    import hashlib
    import os

    from envrepro.envs.sdist_builds import offline_build_flags, record_build_wheels

    store = tmp_path / "locked-pkgs"

    def stored(name: str, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        (store / key).mkdir(parents=True)
        (store / key / name).write_bytes(data)
        return f"{key}/{name}"

    good = stored("good-1.0-py3-none-any.whl", b"good")
    bad = stored("bad-1.0-py3-none-any.whl", b"bad")
    (store / bad).write_bytes(b"changed")
    sdist = store / ("f" * 64) / "pkg-1.0.tar.gz"
    sdist.parent.mkdir()
    sdist.write_bytes(b"sdist")
    record_build_wheels(sdist, [good, bad, "../../etc/passwd"])
    with offline_build_flags([sdist], store) as flags:
        assert flags[0] == "--find-links"
        assert sorted(os.listdir(flags[1])) == ["good-1.0-py3-none-any.whl"]
    assert not Path(flags[1]).exists()  # the links directory is gone after the install
    with offline_build_flags([tmp_path / "other-1.0.tar.gz"], store) as flags:
        assert flags == []

