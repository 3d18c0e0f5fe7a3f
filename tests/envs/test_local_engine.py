from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest

from envrepro.envs.local_engine import Mismatch, check_environment
from envrepro.errors import EnvironmentBuildError

PY = "%d.%d.%d" % sys.version_info[:3]
PACKAGING = metadata.version("packaging")


def test_matching_environment_has_no_mismatches():
    assert check_environment([f"packaging=={PACKAGING}", "PyYAML"], python_version=PY) == []


def test_reports_wrong_versions_missing_packages_and_python():
    problems = check_environment(
        ["packaging>=999", "surely-not-installed-pkg==1.0", 'pywin32==306; sys_platform == "win32"',
         "git+https://example.invalid/repo.git#egg=thing"],
        constraints=["pyyaml<1", "also-not-installed<2"],
        python_version="3.%d.%d" % (sys.version_info[1], sys.version_info[2] + 1),
    )
    assert problems == [
        Mismatch("python", "3.%d.%d" % (sys.version_info[1], sys.version_info[2] + 1), PY, "warning"),
        Mismatch("packaging", ">=999", PACKAGING),
        Mismatch("surely-not-installed-pkg", "==1.0", None),
        Mismatch("pyyaml", "<1", metadata.version("PyYAML")),
    ]
    assert str(problems[2]) == "surely-not-installed-pkg: model needs ==1.0, found not installed"


def test_other_minor_python_is_an_error():
    (problem,) = check_environment([], python_version="2.7")
    assert problem.name == "python" and problem.severity == "error"


def test_checks_another_interpreter(tmp_path):
    other = Path.home() / ".pyenv" / "versions" / "3.10.13" / "bin" / "python3.10"
    if not other.exists():
        pytest.skip("needs pyenv's Python 3.10.13")
    problems = check_environment(["packaging", 'tomli; python_version < "3.11"'], python_version="3.10.13",
                                 python_exe=other)
    names = {p.name for p in problems}
    assert "python" not in names
    # the marker is evaluated for 3.10 (tomli required there), not for the running 3.11
    import subprocess
    has_tomli = subprocess.run([str(other), "-c", "import tomli"], capture_output=True).returncode == 0
    assert ("tomli" in names) == (not has_tomli)


def test_broken_interpreter_is_a_clear_error(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(EnvironmentBuildError, match="cannot inspect the interpreter.*boom"):
        check_environment(["x"], python_exe=fake)
