"""A bundle is refused whole when any byte of it changed or is missing: one line, nothing unpacked or built."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tarfile
from pathlib import Path

import pytest

from envrepro.bundle import BundleError, open_bundle
from envrepro.bundle.archive import MANIFEST_NAME, SEAL_NAME
from tests.conftest import run_cli


def _members(bundle: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(bundle) as tar:
        return {m.name: m for m in tar.getmembers()}


def _flipped(bundle: Path, offset: int, dest: Path) -> Path:
    data = bytearray(bundle.read_bytes())
    data[offset] ^= 0x01
    dest.write_bytes(bytes(data))
    return dest


def _refused_by_cli(bundle: Path, tmp_path: Path) -> str:
    """`env create --from-bundle` refuses it: exit 2, one line, no traceback, and nothing left behind."""
    home = tmp_path / "home"
    prefix = tmp_path / "prefix"
    proc = run_cli("env", "create", "--from-bundle", str(bundle), "--prefix", str(prefix), "-q",
                   env={**os.environ, "ENVREPRO_HOME": str(home)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("envrepro: error: ") and str(bundle) in lines[0], proc.stderr
    assert not prefix.exists()
    for left in ("bundles", "envs"):  # nothing unpacked, nothing built
        assert not (home / left).exists() or not any((home / left).iterdir()), left
    assert not any(p.is_file() for p in (home / "locked-pkgs").rglob("*"))  # no package entered the store
    return lines[0]


def test_an_intact_bundle_unpacks_once_into_a_content_addressed_place(tiny_pip_bundle, _envrepro_home):
    opened = open_bundle(tiny_pip_bundle)
    manifest_bytes = tarfile.open(tiny_pip_bundle).extractfile(MANIFEST_NAME).read()
    assert opened.root == _envrepro_home / "bundles" / hashlib.sha256(manifest_bytes).hexdigest()[:32]
    assert (opened.model_dir / "MLmodel").is_file() and opened.lock_path.is_file()
    # Packages went into the local package store, by hash, byte for byte.
    for package in opened.manifest.packages:
        key, name = package.path.split("/")[1:]
        stored = _envrepro_home / "locked-pkgs" / key / name
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == key
    assert {p.name for p in opened.manifest.packages} == {"tinyreq", "tinywheel"}
    marker = opened.root / MANIFEST_NAME
    before = marker.stat().st_mtime_ns
    assert open_bundle(tiny_pip_bundle).root == opened.root and marker.stat().st_mtime_ns == before


def test_bundles_are_reproducible_byte_for_byte(tiny_pip_bundle, tmp_path):
    """Same model, same lock, same packages: the same bytes (so the same unpacked place)."""
    from envrepro.bundle import create_bundle
    from envrepro.lock import lock_model

    model = tiny_pip_bundle.parent / "tiny-pip"
    lock_model(model, ["linux-64"], pip_only=True, quiet=True)
    one = create_bundle(model, tmp_path / "one.tar", env_manager="uv", platforms=["linux-64"], quiet=True)
    two = create_bundle(model, tmp_path / "two.tar", env_manager="uv", platforms=["linux-64"], quiet=True)
    assert one.path.read_bytes() == two.path.read_bytes()
    assert one.manifest.lock_note is None  # the model's own lock, used as it is
    with tarfile.open(one.path) as tar:
        assert tar.extractfile("model/conda-lock.yml").read() == (model / "conda-lock.yml").read_bytes()


@pytest.mark.parametrize("where", ["manifest", "model file", "package", "seal"])
def test_a_flipped_byte_in_a_file_is_refused(tiny_pip_bundle, tmp_path, where):
    members = _members(tiny_pip_bundle)
    name = {"manifest": MANIFEST_NAME, "model file": "model/requirements.txt", "seal": SEAL_NAME,
            "package": next(n for n in members if n.startswith("packages/") and n.endswith(".whl"))}[where]
    member = members[name]
    damaged = _flipped(tiny_pip_bundle, member.offset_data + member.size // 2, tmp_path / "damaged.tar")
    line = _refused_by_cli(damaged, tmp_path)
    if where == "model file":
        assert "model/requirements.txt in the bundle does not match its manifest" in line
    if where == "package":
        assert f"{name} in the bundle does not match its manifest" in line
    if where == "seal":
        assert "do not match its seal" in line


def test_a_flipped_byte_in_a_conda_package_is_refused(tiny_conda_bundle, tmp_path):
    member = next(m for n, m in _members(tiny_conda_bundle).items() if n.endswith(".tar.bz2"))
    damaged = _flipped(tiny_conda_bundle, member.offset_data + 10, tmp_path / "damaged.tar")
    assert "tinydata-1.0-0.tar.bz2 in the bundle does not match its manifest" in _refused_by_cli(damaged, tmp_path)


def test_every_flipped_byte_anywhere_is_refused(tiny_pip_bundle, tmp_path, monkeypatch):
    """Headers, padding, the checksum fields tar itself skips, the end-of-archive zeros: nothing goes unnoticed."""
    size = tiny_pip_bundle.stat().st_size
    offsets = set(range(0, size, max(1, size // 200)))
    for member in _members(tiny_pip_bundle).values():  # each header's checksum field and its terminators
        offsets |= {member.offset, member.offset + 148, member.offset + 154, member.offset + 155,
                    member.offset_data + member.size}  # the first padding byte after the data
    offsets |= {size - 1, size - 600}
    for i, offset in enumerate(sorted(o for o in offsets if o < size)):
        monkeypatch.setenv("ENVREPRO_HOME", str(tmp_path / f"home-{i}"))
        damaged = _flipped(tiny_pip_bundle, offset, tmp_path / "damaged.tar")
        with pytest.raises(BundleError):
            open_bundle(damaged)
        assert not (tmp_path / f"home-{i}" / "bundles").exists() or not any(
            (tmp_path / f"home-{i}" / "bundles").iterdir()), offset


@pytest.mark.parametrize("cut", ["in the manifest", "in a package", "at a member boundary", "before the seal",
                                 "in the end zeros", "by one byte"])
def test_a_truncated_bundle_is_refused(tiny_pip_bundle, tmp_path, cut):
    members = _members(tiny_pip_bundle)
    data = tiny_pip_bundle.read_bytes()
    package = next(m for n, m in members.items() if n.startswith("packages/"))
    seal = members[SEAL_NAME]
    keep = {"in the manifest": members[MANIFEST_NAME].offset_data + 20,
            "in a package": package.offset_data + package.size // 2,
            "at a member boundary": package.offset, "before the seal": seal.offset,
            "in the end zeros": len(data) - 512, "by one byte": len(data) - 1}[cut]
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(data[:keep])
    line = _refused_by_cli(truncated, tmp_path)
    assert "damaged or truncated" in line or "not an envrepro bundle" in line


def test_extra_bytes_after_the_end_are_refused(tiny_pip_bundle, tmp_path):
    longer = tmp_path / "longer.tar"
    longer.write_bytes(tiny_pip_bundle.read_bytes() + b"\0" * 512)
    assert "bytes were cut off or added" in _refused_by_cli(longer, tmp_path)


def test_a_member_not_in_the_manifest_is_refused(tiny_pip_bundle, tmp_path):
    """A bundle rewritten with an extra file (its seal recomputed by hand) is still refused by its manifest."""
    from envrepro.bundle.archive import Entry, write_archive

    extra = tmp_path / "evil.py"
    extra.write_text("import os\n")
    with tarfile.open(tiny_pip_bundle) as tar:
        manifest = tar.extractfile(MANIFEST_NAME).read()
    sha = hashlib.sha256(extra.read_bytes()).hexdigest()
    forged = tmp_path / "forged.tar"
    write_archive(forged, manifest, [Entry("model/evil.py", extra, sha, extra.stat().st_size)])
    assert "'model/evil.py' is not in its manifest" in _refused_by_cli(forged, tmp_path)


def test_a_compressed_or_foreign_file_says_what_it_is(tiny_pip_bundle, tmp_path):
    compressed = tmp_path / "bundle.tar.gz"
    compressed.write_bytes(gzip.compress(tiny_pip_bundle.read_bytes()))
    assert "decompress it first" in _refused_by_cli(compressed, tmp_path)
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(tiny_pip_bundle.parent / "tiny-pip" / "MLmodel", arcname="MLmodel")
    assert "not an envrepro bundle" in _refused_by_cli(plain, tmp_path)
    # A manifest of another format version is named as such.
    members = _members(tiny_pip_bundle)
    with tarfile.open(tiny_pip_bundle) as tar:
        manifest = json.loads(tar.extractfile(MANIFEST_NAME).read())
    assert manifest["version"] == 1 and manifest["format"] == "envrepro-bundle"
    assert members[MANIFEST_NAME].offset == 0


def test_a_model_directory_is_still_a_model_and_a_missing_bundle_is_one_line(tmp_path):
    proc = run_cli("env", "create", "--from-bundle", str(tmp_path / "nope.tar"))
    assert proc.returncode == 2 and "bundle file not found" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("env", "create")
    assert proc.returncode == 2 and "-m MODEL" in proc.stderr and "--from-bundle" in proc.stderr


def test_from_bundle_refuses_options_that_would_need_the_network(tiny_pip_bundle, tmp_path):
    for extra in (["--pip-requirements-override", "six"], ["--no-lock"], ["-m", str(tmp_path)]):
        proc = run_cli("env", "create", "--from-bundle", str(tiny_pip_bundle), *extra)
        assert proc.returncode == 2 and "cannot be combined with" in proc.stderr, extra
    proc = run_cli("env", "create", "--from-bundle", str(tiny_pip_bundle), "--env-manager", "conda")
    assert proc.returncode == 2 and "holds a uv environment" in proc.stderr


def test_a_bundle_for_another_platform_says_so(tmp_path, offline_pip):
    from envrepro.bundle import create_bundle

    from .conftest import PYTHON, write_model

    model = write_model(tmp_path / "m", python_env={"python": PYTHON, "build_dependencies": [],
                                                    "dependencies": ["-r requirements.txt"]},
                        requirements=["tinyreq"])
    bundle = create_bundle(model, tmp_path / "win.tar", env_manager="uv", platforms=["win-64"], quiet=True).path
    proc = run_cli("env", "create", "--from-bundle", str(bundle))
    assert proc.returncode == 2 and "has packages for win-64, not for this machine (linux-64)" in proc.stderr
    assert "-p linux-64" in proc.stderr
