"""`envrepro audit` end to end: real subprocesses, exit codes 0/1/2, the table and the JSON."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from envrepro.cli.audit import audit
from tests.audit.audit_helpers import model_dir, run_audit, run_json, write


def test_clean_tree_exits_0(tree):
    model_dir(tree, "m", "channels: [conda-forge]\ndependencies: [python=3.11]\n", version="2.9.2")
    proc = run_audit(tree)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("clean: no Anaconda channels found; audited 1 file(s), 1 model(s)")
    assert proc.stderr == ""


def test_flagged_tree_exits_1_with_a_table(tree):
    conda = model_dir(tree, "old", "channels:\n- defaults\ndependencies:\n- python=3.7\n", version="1.12.0") \
        / "conda.yaml"
    implicit = write(tree, "proj/environment.yml", "name: p\ndependencies:\n- numpy\n")
    proc = run_audit(tree)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["FILE:LINE", "SEVERITY", "RULE", "MLFLOW", "DETAIL"]
    assert lines[1].split()[:5] == [f"{conda}:2", "error", "explicit-defaults", "1.12.0", "PRE-1.18"]
    assert lines[2].split()[:4] == [f"{implicit}:1", "warning", "implicit-defaults", "-"]
    assert lines[3].startswith("2 finding(s) (1 error(s), 1 warning(s)) in 2 file(s); audited 2 file(s)")
    assert "older than 1.18" in lines[4]


def test_json_output(tree):
    model_dir(tree, "m", "channels: [pkgs/main]\ndependencies: [python=3.7]\n", version="1.17.1")
    write(tree, "x/conda-lock.yml", "version: 1\nmetadata:\n  channels:\n  - url: defaults\npackage: []\n")
    code, data = run_json(tree)
    assert code == 1 and data["exit_code"] == 1 and data["version"] == 1
    assert data["summary"]["findings"] == 2 and data["summary"]["models"] == 1
    env, lock = sorted(data["findings"], key=lambda f: f["kind"])
    assert env["rule"] == "anaconda-channel" and env["severity"] == "error" and env["line"] == 1
    assert env["file"] == str(tree / "m" / "conda.yaml") and env["value"] == "pkgs/main"
    assert env["mlflow"] == {"path": str(tree / "m"), "mlflow_version": "1.17.1", "version_source": "MLmodel",
                             "pre_1_18": True}
    assert lock["rule"] == "lock-anaconda-channel" and lock["kind"] == "lock" and lock["mlflow"] is None
    assert data["unreadable"] == [] and data["skipped"] == [] and "fix" not in data


def test_unreadable_input_exits_2_and_the_scan_goes_on(tree):
    write(tree, "a/conda.yaml", "channels: [defaults]\ndependencies: [a]\n")
    write(tree, "b/conda.yaml", "dependencies: [a\n")
    proc = run_audit(tree, tree / "does-not-exist")
    assert proc.returncode == 2
    assert "explicit-defaults" in proc.stdout  # the good file was still audited
    notes = proc.stderr.splitlines()
    assert notes[0].startswith(f"unreadable: {tree / 'b' / 'conda.yaml'}: malformed YAML at line")
    assert notes[1].startswith(f"unreadable: {tree / 'does-not-exist'}: cannot read")
    code, data = run_json(tree, tree / "does-not-exist")
    assert code == 2 and len(data["unreadable"]) == 2 and len(data["findings"]) == 1


def test_symlink_loop_is_noted_not_fatal(tree):
    write(tree, "m/conda.yaml", "channels: [conda-forge]\ndependencies: [a]\n")
    os.symlink("..", tree / "m" / "loop")
    proc = run_audit(tree)
    assert proc.returncode == 0
    assert proc.stderr.strip() == f"skipped: {tree / 'm' / 'loop'}: symlink loop: points back to {tree}"


def test_default_path_is_the_current_directory(tree):
    write(tree, "sub/conda.yaml", "channels: [defaults]\ndependencies: [a]\n")
    proc = run_audit(cwd=tree)
    assert proc.returncode == 1 and proc.stdout.splitlines()[1].startswith("sub/conda.yaml:1 ")


def test_click_command_object_and_help():
    runner = CliRunner()
    result = runner.invoke(audit, ["--help"])
    assert result.exit_code == 0
    for option in ("--json", "--fix", "--channel", "--dry-run"):
        assert option in result.output
    assert audit.name == "audit"


def test_click_runner_exit_codes(tree):
    runner = CliRunner()
    write(tree, "conda.yaml", "channels: [conda-forge]\ndependencies: [a]\n")
    assert runner.invoke(audit, [str(tree)]).exit_code == 0
    write(tree, "conda.yaml", "channels: [r]\ndependencies: [a]\n")
    assert runner.invoke(audit, [str(tree)]).exit_code == 1
    assert runner.invoke(audit, [str(tree / "nope")]).exit_code == 2
    assert Path(tree / "conda.yaml").read_text() == "channels: [r]\ndependencies: [a]\n"
