"""envrepro.fsutil: bounded reads, attribute-keeping atomic writes, locked journaled updates, staging directories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from envrepro.errors import EnvreproError, ModelFormatError
from envrepro.fsutil import (
    JOURNAL,
    atomic_write_files,
    atomic_write_text,
    locked_dir,
    read_bytes,
    read_text,
    replay_journal,
    staging_dir,
)

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown to another user, write bits ignored)")


def test_reads_only_regular_files_of_bounded_size(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(ModelFormatError, match="not a regular file"):
        read_bytes(fifo, what="conda.yaml")  # opened non-blocking: no writer, no hang
    assert time.monotonic() - started < 5
    with pytest.raises(ModelFormatError, match="not a regular file"):
        read_bytes("/dev/zero")
    with pytest.raises(ModelFormatError, match="a directory"):
        read_bytes(tmp_path)
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(ModelFormatError, match="larger than"):
        read_bytes(big, limit=1024)
    assert read_bytes(big, limit=4096) == b"x" * 2048
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    with pytest.raises(ModelFormatError, match="not UTF-8"):
        read_text(tmp_path / "latin1.txt")
    with pytest.raises(ModelFormatError, match="requirements file not found"):
        read_text(tmp_path / "missing.txt", what="requirements file")


def test_root_keeps_reads_inside_after_symlinks(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (tmp_path / "secret.txt").write_text("secret\n")
    (model / "ok.txt").write_text("ok\n")
    os.symlink("../secret.txt", model / "link.txt")
    assert read_text(model / "ok.txt", root=model) == "ok\n"
    for path in (model / "link.txt", model / ".." / "secret.txt", tmp_path / "secret.txt"):
        with pytest.raises(ModelFormatError, match="outside the model directory") as info:
            read_text(path, root=model)
        assert "secret" not in info.value.message.replace("secret.txt", "")


@root_only
def test_rewrite_keeps_owner_group_and_mode(tmp_path):
    target = tmp_path / "conda.yaml"
    target.write_text("old\n")
    os.chown(target, 12345, 12346)
    target.chmod(0o640)
    atomic_write_text(target, "new\n")
    st = target.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (12345, 12346, 0o640)
    assert target.read_text() == "new\n"


def test_new_files_get_the_umask_mode_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "new.txt", "x\n")
    finally:
        os.umask(old)
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o644


@root_only
def test_a_directory_without_write_bits_is_not_written_even_by_root(tmp_path):
    target = tmp_path / "ro" / "file.txt"
    target.parent.mkdir()
    target.write_text("old\n")
    target.parent.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="read-only"):
            atomic_write_text(target, "new\n")
    finally:
        target.parent.chmod(0o755)
    assert target.read_text() == "old\n" and sorted(p.name for p in target.parent.iterdir()) == ["file.txt"]


def test_journal_finishes_an_update_killed_between_renames(tmp_path):
    """A real SIGKILL after the first rename: the next locked_dir does the rest."""
    (tmp_path / "a.txt").write_text("a1\n")
    (tmp_path / "b.txt").write_text("b1\n")
    script = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from envrepro import fsutil
        real = os.replace
        def replace(src, dst):
            real(src, dst)
            if str(dst).endswith("a.txt"):
                os.kill(os.getpid(), signal.SIGKILL)
        fsutil.os.replace = replace
        d = Path({str(tmp_path)!r})
        with fsutil.locked_dir(d):
            fsutil.atomic_write_files({{d / "a.txt": "a2\\n", d / "b.txt": "b2\\n"}}, journal=d)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -9, proc.stderr
    assert (tmp_path / "a.txt").read_text() == "a2\n" and (tmp_path / "b.txt").read_text() == "b1\n"
    assert (tmp_path / JOURNAL).exists()
    with locked_dir(tmp_path):
        pass
    assert (tmp_path / "b.txt").read_text() == "b2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_a_journal_from_elsewhere_renames_nothing(tmp_path):
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    (tmp_path / JOURNAL).write_text(json.dumps({"renames": [["../../etc/passwd", "MLmodel"]]}))
    with pytest.raises(ModelFormatError, match="malformed journal"):
        replay_journal(tmp_path)
    assert (tmp_path / "MLmodel").read_text() == "flavors: {}\n"


def test_locked_dir_serializes_read_modify_write(tmp_path):
    counter = tmp_path / "counter.txt"
    counter.write_text("0\n")
    script = textwrap.dedent(f"""
        from pathlib import Path
        from envrepro.fsutil import atomic_write_files, locked_dir
        d = Path({str(tmp_path)!r})
        for _ in range(25):
            with locked_dir(d):
                n = int((d / "counter.txt").read_text())
                atomic_write_files({{d / "counter.txt": f"{{n + 1}}\\n"}}, journal=d)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert counter.read_text() == "100\n"


def test_exclusive_staging_never_replaces_what_appeared_meanwhile(tmp_path):
    final = tmp_path / "model"
    with pytest.raises(EnvreproError, match="created by another process"):
        with staging_dir(final, exclusive=True) as tmp:
            (tmp / "mine").write_text("x")
            final.mkdir()
            (final / "theirs").write_text("y")
    assert sorted(p.name for p in final.iterdir()) == ["theirs"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # the staged copy is gone


def test_staging_dirs_of_dead_processes_are_cleaned(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".m.{dead}.abcd1234.partial"
    live = tmp_path / f".m.{os.getppid()}.abcd1234.partial"
    old = tmp_path / f".m.old-{dead}"
    other = tmp_path / ".keep.partial"
    for path in (stale, live, old, other):
        path.mkdir()
    with staging_dir(tmp_path / "m2") as tmp:
        (tmp / "f").write_text("x")
    assert not stale.exists() and not old.exists()
    assert live.exists() and other.exists() and (tmp_path / "m2" / "f").exists()


def test_several_files_land_together_or_not_at_all(tmp_path):
    (tmp_path / "a").write_text("1")
    with pytest.raises(OSError):
        atomic_write_files({tmp_path / "a": "2", tmp_path / "missing-dir" / "b": "2"}, journal=tmp_path)
    assert (tmp_path / "a").read_text() == "1" and sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_largest_first_orders_by_size_and_counts_a_missing_file_as_empty(tmp_path):
    from envrepro.fsutil import largest_first

    small, big = tmp_path / "small", tmp_path / "big"
    small.write_bytes(b"x")
    big.write_bytes(b"x" * 100)
    assert largest_first([small, tmp_path / "missing", big, None]) == [2, 0, 1, 3]
