"""--fix: exact rewritten text (everything outside the edited lines byte-for-byte), backups, idempotence,
read-only files, dry runs and lock files, through the real CLI in a subprocess."""

from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

import pytest

from envrepro.audit import audit_paths, plan_env_fix
from envrepro.audit.fix import Unfixable
from tests.audit.audit_helpers import model_dir, run_audit, run_json, write

COMMENTED = """\ufeff# Environment for the churn model.   
# Maintainer: data team
name: churn    # inline comment

channels:   # order matters
    - defaults        # the old one
    - "pytorch"
dependencies:
    # core
    - python=3.8.10
    - 'defaults::mkl'   # BLAS
    - pip:
        - mlflow==1.14.1  # logged with this
        - "scikit-learn>=0.24"
variables: {A: "1"}
# trailing comment
"""


def test_comments_and_formatting_survive_byte_for_byte():
    fixed = plan_env_fix(COMMENTED)
    assert fixed == COMMENTED.replace("- defaults        #", "- conda-forge        #").replace(
        "'defaults::mkl'", "'conda-forge::mkl'")
    changed = sorted(line for line in difflib.ndiff(COMMENTED.splitlines(), fixed.splitlines()) if line[0] in "+-")
    assert changed == ["+     - 'conda-forge::mkl'   # BLAS", "+     - conda-forge        # the old one",
                       "-     - 'defaults::mkl'   # BLAS", "-     - defaults        # the old one"]


@pytest.mark.parametrize(("before", "after"), [
    # explicit defaults, block and flow; the target takes the first Anaconda channel's place
    ("channels:\n- defaults\ndependencies:\n- numpy\n", "channels:\n- conda-forge\ndependencies:\n- numpy\n"),
    ("channels:\n- defaults\n- conda-forge\n- pkgs/main  # x\ndependencies: [a]\n",
     "channels:\n- conda-forge\ndependencies: [a]\n"),
    ("channels: [pytorch, defaults, main]\ndependencies: [a]\n",
     "channels: [pytorch, conda-forge]\ndependencies: [a]\n"),
    ("channels: [defaults, conda-forge, pkgs/main, r]\ndependencies: [a]\n",
     "channels: [conda-forge]\ndependencies: [a]\n"),
    ("channels: [conda-forge, defaults]\ndependencies: [a]\n", "channels: [conda-forge]\ndependencies: [a]\n"),
    ("channels: ['defaults']\ndependencies: [a]\n", "channels: ['conda-forge']\ndependencies: [a]\n"),
    ("channels: defaults\ndependencies: [a]\n", "channels: [conda-forge]\ndependencies: [a]\n"),
    ("channels:\n  - https://repo.anaconda.com/pkgs/main\n  - https://conda.anaconda.org/conda-forge\ndeps: 1\n",
     "channels:\n  - https://conda.anaconda.org/conda-forge\ndeps: 1\n"),
    # no channels: a channels key right above dependencies, with the file's own dash indentation
    ("name: x\n# what we need\ndependencies:\n    - numpy\n",
     "name: x\nchannels:\n    - conda-forge\n    - nodefaults\n# what we need\ndependencies:\n    - numpy\n"),
    ("vars:\n  A: 1\n  # B: 2\ndependencies:\n- numpy\n",
     "vars:\n  A: 1\n  # B: 2\nchannels:\n- conda-forge\n- nodefaults\ndependencies:\n- numpy\n"),
    ("# header\ndependencies:\n- numpy\n",
     "# header\nchannels:\n- conda-forge\n- nodefaults\ndependencies:\n- numpy\n"),
    ("dependencies: [numpy]\nname: x\n", "channels: [conda-forge, nodefaults]\ndependencies: [numpy]\nname: x\n"),
    ("channels:   # none yet\ndependencies: [a]\n",
     "channels: [conda-forge, nodefaults]   # none yet\ndependencies: [a]\n"),
    ("channels: []\ndependencies: [a]\n", "channels: [conda-forge, nodefaults]\ndependencies: [a]\n"),
    ("channels: ~\ndependencies: [a]\n", "channels: [conda-forge, nodefaults]\ndependencies: [a]\n"),
    # prefixed specs
    ("channels: [conda-forge]\ndependencies:\n- defaults::mkl\n- \"pkgs/main/linux-64::x\"\n- b[channel=r]\n",
     ("channels: [conda-forge]\ndependencies:\n- conda-forge::mkl\n- \"conda-forge/linux-64::x\"\n"
      "- b[channel=conda-forge]\n")),
    # line endings are kept
    ("channels:\r\n- defaults\r\ndependencies:\r\n- numpy\r\n",
     "channels:\r\n- conda-forge\r\ndependencies:\r\n- numpy\r\n"),
    ("name: x\r\ndependencies:\r\n  - numpy\r\n",
     "name: x\r\nchannels:\r\n  - conda-forge\r\n  - nodefaults\r\ndependencies:\r\n  - numpy\r\n"),
])
def test_fixed_text(before, after):
    assert plan_env_fix(before) == after
    assert plan_env_fix(after) == after  # idempotent


def test_other_target_channel():
    assert plan_env_fix("channels: [defaults]\ndependencies: [defaults::a]\n", "my-mirror") == \
        "channels: [my-mirror]\ndependencies: [my-mirror::a]\n"
    assert plan_env_fix("dependencies: [a]\n", "https://example.org/chan") == \
        'channels: ["https://example.org/chan", nodefaults]\ndependencies: [a]\n'


@pytest.mark.parametrize("text", [
    "{channels: [defaults], dependencies: [numpy]}\n",           # flow mapping: no safe line edit
    "channels: [conda-forge]\ndependencies:\n- >-\n  defaults::mkl\n",  # folded scalar
])
def test_unfixable_files_are_refused(text):
    with pytest.raises(Unfixable):
        plan_env_fix(text)


# -- on disk, through the CLI ----------------------------------------------------------------------------------

def test_fix_writes_backup_and_is_idempotent(tree):
    original = "name: m\nchannels:\n- defaults\ndependencies:\n- python=3.7\n"
    conda = model_dir(tree, "m", original) / "conda.yaml"
    first = run_audit("--fix", tree)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"fixed: {conda}: moved to conda-forge (backup: {conda}.bak)" in first.stdout
    assert conda.read_text() == original.replace("defaults", "conda-forge")
    assert Path(f"{conda}.bak").read_text() == original
    assert stat.S_IMODE(os.stat(f"{conda}.bak").st_mode) == stat.S_IMODE(os.stat(conda).st_mode)
    listing = sorted(p.name for p in conda.parent.iterdir())
    mtime = conda.stat().st_mtime_ns

    second = run_audit("--fix", tree)
    assert second.returncode == 0 and "clean" in second.stdout
    assert conda.stat().st_mtime_ns == mtime and conda.read_text() == original.replace("defaults", "conda-forge")
    assert sorted(p.name for p in conda.parent.iterdir()) == listing  # no new backup, no temp files
    assert run_audit(tree).returncode == 0


def test_an_existing_backup_is_never_overwritten(tree):
    first = "channels: [defaults]\ndependencies: [a]\n"
    conda = write(tree, "conda.yaml", first)
    assert run_audit("--fix", tree).returncode == 0
    second = "channels: [main]\ndependencies: [b]\n"
    conda.write_text(second)
    assert run_audit("--fix", tree).returncode == 0
    assert Path(f"{conda}.bak").read_text() == first and Path(f"{conda}.bak.1").read_text() == second
    assert conda.read_text() == "channels: [conda-forge]\ndependencies: [b]\n"


def test_read_only_file_is_reported_and_the_rest_is_fixed(tree):
    locked = write(tree, "a/conda.yaml", "channels: [defaults]\ndependencies: [a]\n")
    other = write(tree, "b/conda.yaml", "channels: [defaults]\ndependencies: [b]\n")
    locked.chmod(0o444)
    proc = run_audit("--fix", tree)
    assert proc.returncode == 1
    assert f"read-only: {locked}: not fixed: the file is read-only" in proc.stdout
    assert locked.read_text() == "channels: [defaults]\ndependencies: [a]\n"
    assert not Path(f"{locked}.bak").exists()
    assert other.read_text() == "channels: [conda-forge]\ndependencies: [b]\n"
    code, data = run_json("--fix", tree)
    assert code == 1 and [r["status"] for r in data["fix"]["results"]] == ["read-only"]


def test_dry_run_shows_a_unified_diff_and_writes_nothing(tree):
    text = "name: x\n# deps\ndependencies:\n- numpy\n"
    conda = write(tree, "environment.yml", text)
    before = sorted(os.listdir(tree))
    proc = run_audit("--fix", "--dry-run", tree)
    assert proc.returncode == 1
    assert f"--- {conda}\n+++ {conda}\n@@ -1,4 +1,7 @@\n name: x\n+channels:\n+- conda-forge\n+- nodefaults\n" \
           " # deps\n" in proc.stdout
    assert f"would-fix: {conda}" in proc.stdout
    assert conda.read_text() == text and sorted(os.listdir(tree)) == before
    alone = run_audit("--dry-run", tree)  # --dry-run on its own previews the fix too
    assert alone.returncode == 1 and f"would-fix: {conda}" in alone.stdout and conda.read_text() == text


def test_lock_files_are_never_edited(tree):
    lock = write(tree, "conda-linux-64.lock", "@EXPLICIT\nhttps://repo.anaconda.com/pkgs/main/noarch/x-1-0.conda\n")
    env = write(tree, "environment.yml", "channels: [defaults]\ndependencies: [x]\n")
    before = lock.read_bytes()
    code, data = run_json("--fix", tree)
    assert code == 1  # the env file is fixed, the lock still needs a re-lock
    assert {Path(r["file"]).name: r["status"] for r in data["fix"]["results"]} == {
        "conda-linux-64.lock": "relock-needed", "environment.yml": "fixed"}
    assert lock.read_bytes() == before and not Path(f"{lock}.bak").exists()
    assert env.read_text() == "channels: [conda-forge]\ndependencies: [x]\n"


def test_symlinked_env_file_is_fixed_at_its_target(tree):
    # The target is inside the model: a link out of it is refused (test_audit_hardening.py).
    shared = write(tree, "m/shared/env.yaml", "channels: [defaults]\ndependencies: [x]\n")
    write(tree, "m/MLmodel", "flavors:\n  python_function:\n    env: conda.yaml\n")
    os.symlink("shared/env.yaml", tree / "m" / "conda.yaml")
    assert run_audit("--fix", tree / "m").returncode == 0
    assert (tree / "m" / "conda.yaml").is_symlink()
    assert shared.read_text() == "channels: [conda-forge]\ndependencies: [x]\n"
    assert Path(f"{shared}.bak").exists()


def test_fix_with_malformed_file_among_good_ones(tree):
    good = write(tree, "a/conda.yaml", "channels: [defaults]\ndependencies: [a]\n")
    write(tree, "b/conda.yaml", "channels: [defaults\n")
    proc = run_audit("--fix", tree)
    assert proc.returncode == 2 and "unreadable:" in proc.stderr
    assert good.read_text() == "channels: [conda-forge]\ndependencies: [a]\n"


def test_unfixable_file_keeps_exit_code_1(tree):
    conda = write(tree, "conda.yaml", "{channels: [defaults], dependencies: [numpy]}\n")
    proc = run_audit("--fix", tree)
    assert proc.returncode == 1 and f"unfixable: {conda}" in proc.stdout
    assert conda.read_text() == "{channels: [defaults], dependencies: [numpy]}\n"


def test_fix_to_another_channel(tree):
    conda = write(tree, "conda.yaml", "dependencies: [numpy]\n")
    assert run_audit("--fix", "--channel", "my-mirror", tree).returncode == 0
    assert conda.read_text() == "channels: [my-mirror, nodefaults]\ndependencies: [numpy]\n"
    assert audit_paths([tree]).findings == []


@pytest.mark.parametrize("args", [["--fix", "--channel", "defaults"], ["--fix", "--channel", "pkgs/main"],
                                  ["--fix", "--channel", "bad channel"], ["--channel", "conda-forge"]])
def test_bad_channel_options_exit_2(tree, args):
    conda = write(tree, "conda.yaml", "channels: [defaults]\ndependencies: [numpy]\n")
    proc = run_audit(*args, tree)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.strip()
    assert conda.read_text() == "channels: [defaults]\ndependencies: [numpy]\n"
