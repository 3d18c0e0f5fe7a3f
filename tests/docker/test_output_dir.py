"""Where a build context may be written: never over unrelated files, never inside the model."""

from __future__ import annotations

from tests.conftest import run_cli


def test_refuses_a_directory_that_is_not_a_context(saved_model, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = run_cli("generate-dockerfile", "-m", str(saved_model), "-d", str(out))
    assert proc.returncode == 2 and "not an envrepro build context" in proc.stderr
    assert (out / "notes.txt").read_text() == "mine" and len(list(out.iterdir())) == 1


def test_refuses_a_directory_inside_the_model(saved_model):
    proc = run_cli("generate-dockerfile", "-m", str(saved_model), "-d", str(saved_model / "image"))
    assert proc.returncode == 2 and "outside the model directory" in proc.stderr
    assert not (saved_model / "image").exists()
