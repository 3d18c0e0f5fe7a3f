"""Every rule on small fixture trees, through the Python API (the CLI tests run the same trees end to end)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envrepro.audit import audit_paths
from tests.audit.audit_helpers import model_dir, write


def rules(report, file: Path | None = None) -> list[tuple[str, int, str]]:
    return [(f.rule, f.line, f.value) for f in report.findings if file is None or f.file == str(file)]


def test_explicit_defaults_is_an_error_on_its_line(tree):
    conda = write(tree, "conda.yaml", "name: x\n# pinned\nchannels:\n  - conda-forge\n  - defaults\n"
                                      "dependencies:\n  - numpy\n")
    report = audit_paths([tree])
    assert rules(report) == [("explicit-defaults", 5, "defaults")]
    assert report.findings[0].severity == "error" and report.findings[0].file == str(conda)
    assert report.exit_code == 1


@pytest.mark.parametrize("channels", ["", "channels:\n", "channels: []\n", "channels: ~\n"])
def test_no_channels_is_implicit_defaults_warning(tree, channels):
    write(tree, "environment.yml", f"name: x\n{channels}dependencies:\n- python=3.10\n")
    report = audit_paths([tree])
    assert [(f.rule, f.severity) for f in report.findings] == [("implicit-defaults", "warning")]
    assert report.findings[0].line == (2 if channels else 1)
    assert report.exit_code == 1


def test_no_dependencies_means_nothing_to_fetch(tree):
    write(tree, "environment.yml", "name: empty\n")
    write(tree, "conda.yml", "channels: [nodefaults]\ndependencies: [python]\n")
    report = audit_paths([tree])
    assert report.findings == [] and report.exit_code == 0 and report.files_audited == 2


@pytest.mark.parametrize("channel", [
    "main", "r", "msys2", "free", "pro", "anaconda", "pkgs/main", "https://repo.anaconda.com/pkgs/main",
    "https://conda.anaconda.org/anaconda", "anaconda.org/anaconda/label/dev",
])
def test_anaconda_repository_channels(tree, channel):
    write(tree, "conda.yaml", f"channels:\n- conda-forge\n- {channel}\ndependencies:\n- numpy\n")
    assert rules(audit_paths([tree])) == [("anaconda-channel", 3, channel)]


def test_clean_files_are_clean(tree):
    write(tree, "a/conda.yaml", "channels:\n- conda-forge\n- https://conda.anaconda.org/pytorch\n"
                                "dependencies:\n- conda-forge::numpy\n- pip:\n  - defaults\n")
    write(tree, "b/environment.yaml", "channels: [conda-forge, nodefaults]\ndependencies: [python=3.11]\n")
    report = audit_paths([tree])
    assert report.findings == [] and report.problems == [] and report.exit_code == 0


def test_channel_prefixed_specs(tree):
    write(tree, "conda.yaml", "channels: [conda-forge]\ndependencies:\n- defaults::mkl\n- pkgs/main::numpy>=1.2\n"
                              "- conda-forge::scipy\n- 'blas[channel=anaconda]'\n")
    assert rules(audit_paths([tree])) == [
        ("channel-prefixed-spec", 3, "defaults::mkl"), ("channel-prefixed-spec", 4, "pkgs/main::numpy>=1.2"),
        ("channel-prefixed-spec", 6, "blas[channel=anaconda]")]


CONDA_LOCK = """version: 1
metadata:
  channels:
  - url: conda-forge
    used_env_vars: []
  - url: defaults
    used_env_vars: []
  platforms:
  - linux-64
package:
- name: numpy
  version: 1.26.4
  manager: conda
  platform: linux-64
  url: https://repo.anaconda.com/pkgs/main/linux-64/numpy-1.26.4-py311h08b1b3b_0.conda
  hash:
    md5: 0123
- name: six
  version: 1.16.0
  manager: conda
  platform: linux-64
  url: https://conda.anaconda.org/conda-forge/noarch/six-1.16.0-pyh6c4a22f_0.tar.bz2
- name: requests
  version: 2.31.0
  manager: pip
  platform: linux-64
  url: https://files.pythonhosted.org/packages/requests-2.31.0-py3-none-any.whl
"""


def test_conda_lock_file(tree):
    lock = write(tree, "conda-lock.yml", CONDA_LOCK)
    report = audit_paths([tree])
    assert rules(report) == [
        ("lock-anaconda-channel", 6, "defaults"),
        ("lock-anaconda-url", 15,
         "https://repo.anaconda.com/pkgs/main/linux-64/numpy-1.26.4-py311h08b1b3b_0.conda")]
    assert {f.kind for f in report.findings} == {"lock"} and report.findings[0].file == str(lock)


def test_explicit_lock_file(tree):
    write(tree, "conda-linux-64.lock", "# platform: linux-64\n@EXPLICIT\n"
          "https://conda.anaconda.org/conda-forge/linux-64/python-3.11.7-h.conda#1\n"
          "https://repo.anaconda.com/pkgs/main/linux-64/mkl-2023.1.0-h.conda#2\n"
          "https://conda.anaconda.org/anaconda/noarch/six-1.16.0-pyhd3eb1b0_1.tar.bz2\n")
    write(tree, "spec-file.txt", "@EXPLICIT\nhttps://repo.anaconda.com/pkgs/r/noarch/r-x-1.0-0.tar.bz2\n")
    report = audit_paths([tree])
    assert [(Path(f.file).name, f.rule, f.line) for f in report.findings] == [
        ("conda-linux-64.lock", "lock-anaconda-url", 4), ("conda-linux-64.lock", "lock-anaconda-url", 5),
        ("spec-file.txt", "lock-anaconda-url", 2)]


def test_lock_files_of_other_tools_are_not_read(tree):
    write(tree, "poetry.lock", "defaults = 'https://repo.anaconda.com/pkgs/main'\n")
    write(tree, "something.lock", "not conda: https://repo.anaconda.com/pkgs/main/x.conda\n")
    report = audit_paths([tree])
    assert report.findings == [] and report.problems == [] and report.files_audited == 0


def test_mlflow_version_from_mlmodel_and_pre_1_18_callout(tree):
    model_dir(tree, "old", "channels:\n- defaults\ndependencies:\n- python=3.7\n", version="1.14.0")
    model_dir(tree, "new", "dependencies:\n- python=3.11\n", version="2.9.2")
    report = audit_paths([tree])
    by_model = {Path(f.model.path).name: f.model for f in report.findings}
    assert by_model["old"].mlflow_version == "1.14.0" and by_model["old"].pre_1_18 is True
    assert by_model["old"].version_source == "MLmodel" and "PRE-1.18" in by_model["old"].label()
    assert by_model["new"].pre_1_18 is False and by_model["new"].label() == "2.9.2"


def test_mlflow_version_unknown_or_from_pin(tree):
    model_dir(tree, "a", "channels: [defaults]\ndependencies:\n- python=3.7\n- pip:\n  - mlflow\n")
    model_dir(tree, "b", "channels: [defaults]\ndependencies:\n- python=3.7\n- pip:\n  - mlflow==1.9.1\n")
    report = audit_paths([tree])
    models = {Path(f.model.path).name: f.model for f in report.findings}
    assert models["a"].mlflow_version is None and models["a"].pre_1_18 is None
    assert models["a"].label() == "unknown (<1.25)"
    assert (models["b"].mlflow_version, models["b"].version_source, models["b"].pre_1_18) == (
        "1.9.1", "conda.yaml pin", True)


def test_mlmodel_names_the_env_file(tree):
    model_dir(tree, "m", "channels:\n- defaults\ndependencies: [numpy]\n", version="2.0.1", env="my_env.yaml")
    report = audit_paths([tree])
    assert [(Path(f.file).name, f.rule) for f in report.findings] == [("my_env.yaml", "explicit-defaults")]


def test_mlmodel_naming_a_missing_env_file_is_unreadable_input(tree):
    model = model_dir(tree, "m", "channels: [conda-forge]\ndependencies: [numpy]\n", version="2.0.1")
    (model / "conda.yaml").unlink()
    report = audit_paths([tree])
    assert [p.path for p in report.problems] == [str(model / "conda.yaml")] and report.exit_code == 2


def test_mlruns_tree(tree):
    for run, channels in [("r1", "[defaults]"), ("r2", "[conda-forge]"), ("r3", "[pkgs/main]")]:
        model_dir(tree, f"mlruns/0/{run}/artifacts/model", f"channels: {channels}\ndependencies: [python]\n")
        write(tree, f"mlruns/0/{run}/meta.yaml", "status: 3\n")
    report = audit_paths([tree / "mlruns"])
    assert sorted(Path(f.file).parts[-4] for f in report.findings) == ["r1", "r3"]
    assert report.models == 3 and report.problems == []


def test_malformed_yaml_among_good_files(tree):
    write(tree, "a/conda.yaml", "channels: [defaults]\ndependencies: [numpy]\n")
    bad = write(tree, "b/conda.yaml", "channels: [defaults\ndependencies:\n  - numpy\n")
    write(tree, "c/conda.yaml", "channels: [conda-forge]\ndependencies: [numpy]\n")
    write(tree, "d/environment.yml", "- just\n- a list\n")
    write(tree, "e/conda.yaml", b"channels: [conda-forge]\n# caf\xe9\n")
    report = audit_paths([tree])
    assert [Path(f.file).parent.name for f in report.findings] == ["a"]
    assert [(Path(p.path).parent.name, p.message.split(":")[0]) for p in report.problems] == [
        ("b", "malformed YAML at line 2"), ("d", "not a conda environment file"), ("e", "cannot read")]
    assert str(bad) == report.problems[0].path
    assert report.files_audited == 2 and report.exit_code == 2


def test_unreadable_paths_are_reported_and_the_scan_goes_on(tree):
    write(tree, "good/conda.yaml", "channels: [defaults]\ndependencies: [numpy]\n")
    os.symlink(tree / "nowhere.yaml", tree / "good" / "environment.yml")  # dangling
    report = audit_paths([tree / "missing-dir", tree])
    assert sorted(Path(p.path).name for p in report.problems) == ["environment.yml", "missing-dir"]
    assert len(report.findings) == 1 and report.exit_code == 2


def test_symlink_loop_ends_the_descent_not_the_scan(tree):
    write(tree, "models/m1/conda.yaml", "channels: [defaults]\ndependencies: [numpy]\n")
    os.symlink("..", tree / "models" / "m1" / "up")            # loop back to an ancestor
    os.symlink(tree / "models", tree / "models-alias")          # the same dir by another name
    report = audit_paths([tree])
    assert len(report.findings) == 1  # found once, not once per path
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["up"].startswith("symlink loop") and reasons["models-alias"].startswith("already scanned")
    assert report.exit_code == 1


def test_nothing_is_imported_or_unpickled(tree):
    marker = tree / "PWNED"
    model = model_dir(tree, "m", "channels: [defaults]\ndependencies: [numpy]\n", version="1.0.0")
    mlmodel = (model / "MLmodel").read_text()
    (model / "MLmodel").write_text(mlmodel + f"evil: !!python/object/apply:os.system ['touch {marker}']\n")
    # A pickle that would create the marker when loaded.
    (model / "model.pkl").write_bytes(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    report = audit_paths([tree])
    assert [f.rule for f in report.findings] == ["explicit-defaults"] and not marker.exists()


def test_a_named_file_is_audited_whatever_its_name(tree):
    env = write(tree, "deploy/env-prod.yaml", "channels: [defaults]\ndependencies: [numpy]\n")
    lock = write(tree, "deploy/frozen.out", "@EXPLICIT\nhttps://repo.anaconda.com/pkgs/main/noarch/x-1-0.conda\n")
    assert audit_paths([tree]).findings == []  # not picked up by the walk: unknown names
    report = audit_paths([env, lock])
    assert [(Path(f.file).name, f.rule) for f in report.findings] == [
        ("env-prod.yaml", "explicit-defaults"), ("frozen.out", "lock-anaconda-url")]
