"""audit (and --fix) on hostile or unlucky input: env files MLmodel names outside the model, files that are not
regular files, alias bombs, another user's file fixed by root, and directories without write permission."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.audit.audit_helpers import model_dir, run_json, write

BAD = "channels: [defaults]\ndependencies: [numpy]\n"
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, and write bits that root ignores)")


def limited_audit(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    """The CLI with 2 GiB of address space and a timeout: a blow-up or a hang fails the test, nothing else."""
    limit = 2 * 1024**3
    return subprocess.run([sys.executable, "-m", "envrepro.cli", "audit", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))


@pytest.mark.parametrize("where", ["relative", "absolute", "symlink"])
def test_fix_never_rewrites_an_env_file_outside_the_model(tree, where):
    outside = write(tree, "outside/x.yaml", BAD)
    value = {"relative": "../outside/x.yaml", "absolute": str(outside), "symlink": "conda.yaml"}[where]
    model = model_dir(tree, "m", BAD, version="2.9.2")
    (model / "conda.yaml").unlink()
    if where == "symlink":
        os.symlink(outside, model / "conda.yaml")
    else:
        (model / "MLmodel").write_text((model / "MLmodel").read_text().replace("conda: conda.yaml",
                                                                               f"conda: {value}"))
    code, data = run_json("--fix", model)
    assert code == 2
    assert outside.read_text() == BAD and sorted(p.name for p in outside.parent.iterdir()) == ["x.yaml"]
    assert [p["path"] for p in data["unreadable"]] == [str(model / "MLmodel")]
    assert "outside the model directory" in data["unreadable"][0]["message"]


def test_env_file_that_is_dev_zero_or_a_fifo_is_a_problem_not_a_hang(tree):
    model = model_dir(tree, "m", BAD)
    (model / "conda.yaml").unlink()
    os.symlink("/dev/zero", model / "conda.yaml")  # MLmodel names it: audited even though not regular
    fifo = tree / "plain" / "environment.yml"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    started = time.monotonic()
    proc = limited_audit("--json", tree / "plain", model / "conda.yaml", tree / "m")
    assert proc.returncode == 2 and time.monotonic() - started < 30, proc.stderr[-2000:]
    assert "not a regular file" in proc.stdout and "Traceback" not in proc.stderr


def test_alias_bomb_is_refused_quickly_and_left_alone(tree):
    laughs = "".join(f"  {n}: &{n} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['x'] * 9)}]\n"
                     for p, n in zip([None, *"abcdefgh"], "abcdefghi"))
    text = f"l:\n{laughs}channels: *i\ndependencies: *i\n"
    bomb = write(tree, "conda.yaml", text)
    started = time.monotonic()
    proc = limited_audit("--fix", "--json", bomb)
    assert time.monotonic() - started < 15, "the alias expansion was walked"
    assert proc.returncode == 2 and "aliases" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert bomb.read_text() == text and not Path(f"{bomb}.bak").exists()


@pytest.mark.parametrize("anchor", ["", "&a "])
def test_nesting_too_deep_is_refused_with_or_without_anchors(tree, anchor):
    text = f"channels: [defaults]\ndependencies: {anchor}" + "[" * 300 + "numpy" + "]" * 300 + "\n"
    deep = write(tree, "conda.yaml", text)
    proc = limited_audit("--fix", "--json", deep)
    assert proc.returncode == 2 and "nested more than 200 levels deep" in proc.stdout, proc.stdout + proc.stderr
    assert deep.read_text() == text


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_fix_as_root_keeps_owner_group_and_mode(tree):
    env = write(tree, "team/conda.yaml", BAD)
    os.chown(env, 12345, 12346)
    env.chmod(0o664)
    code, data = run_json("--fix", env)
    assert code == 0 and data["fix"]["results"][0]["status"] == "fixed"
    st = env.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (12345, 12346, 0o664)
    backup = Path(f"{env}.bak").stat()
    assert (backup.st_uid, backup.st_gid, backup.st_mode & 0o7777) == (12345, 12346, 0o664)


@root_only
def test_a_file_in_a_directory_without_write_bits_is_reported_read_only(tree):
    env = write(tree, "ro/conda.yaml", BAD)
    env.parent.chmod(0o555)
    try:
        code, data = run_json("--fix", env)
    finally:
        env.parent.chmod(0o755)
    assert code == 1
    assert [(r["status"], r["message"]) for r in data["fix"]["results"]] == [
        ("read-only", "not fixed: its directory is read-only (make it writable and run again)")]
    assert env.read_text() == BAD and sorted(p.name for p in env.parent.iterdir()) == ["conda.yaml"]
