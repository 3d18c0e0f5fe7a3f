from __future__ import annotations

import pytest

from envrepro.errors import RequirementError
from envrepro.requirements import (coerce_requirements, merge_requirements, normalized, read_requirements_file,
                                   requirement_name)


def test_requirement_name_is_canonical():
    assert requirement_name("Scikit_Learn==1.0") == "scikit-learn"
    assert requirement_name("requests[socks]>=2; python_version>'3'") == "requests"
    assert requirement_name("git+https://x/y.git#egg=My_Pkg") == "my-pkg"
    assert requirement_name("./local/dir") is None


def test_merge_replaces_same_name_in_place_and_appends_new():
    merged = merge_requirements(["scikit-learn==1.0", "numpy==1.2"], ["NumPy==2.0", "pandas"])
    assert merged == ["scikit-learn==1.0", "NumPy==2.0", "pandas"]


def test_merge_never_duplicates():
    assert merge_requirements(["a==1", "a==1"], ["a==2", "a==3"]) == ["a==3"]


def test_read_file_resolves_r_and_c(tmp_path):
    (tmp_path / "base.txt").write_text("numpy==1.26.4  # pinned\n-c cons.txt\n")
    (tmp_path / "cons.txt").write_text("scipy<2\n")
    (tmp_path / "req.txt").write_text("# comment\n-r base.txt\npandas>=2 \\\n  ,<3\n\n-c other.txt\n")
    (tmp_path / "other.txt").write_text("pytz==2024.1\n")
    result = read_requirements_file(tmp_path / "req.txt")
    assert result.requirements == ["numpy==1.26.4", "pandas>=2 ,<3"]
    assert result.constraints == ["scipy<2", "pytz==2024.1"]


def test_read_file_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "req.txt"
    bad.write_text("numpy==1\nthis is not valid!!\n")
    with pytest.raises(RequirementError) as info:
        read_requirements_file(bad)
    assert f"{bad}:2" in str(info.value)


def test_missing_and_looping_includes(tmp_path):
    with pytest.raises(RequirementError, match="not found"):
        read_requirements_file(tmp_path / "nope.txt")
    (tmp_path / "a.txt").write_text("-r b.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")
    with pytest.raises(RequirementError, match="loop"):
        read_requirements_file(tmp_path / "a.txt")


def test_coerce_list_and_path(tmp_path):
    (tmp_path / "c.txt").write_text("x<2\n")
    result = coerce_requirements(["a==1", f"-c {tmp_path / 'c.txt'}"], argument="pip_requirements")
    assert result.requirements == ["a==1"] and result.constraints == ["x<2"]
    with pytest.raises(RequirementError, match="must be a list"):
        coerce_requirements(42, argument="pip_requirements")  # type: ignore[arg-type]
    with pytest.raises(RequirementError, match="invalid requirement"):
        coerce_requirements(["ok==1", "not valid=="], argument="extra_pip_requirements")


def test_normalized_ignores_order_case_and_spacing():
    assert normalized(["NumPy == 1.2", "b>=1,<2"]) == normalized(["b<2, >=1", "numpy==1.2"])
