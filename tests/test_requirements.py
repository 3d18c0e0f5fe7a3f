from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from envrepro.errors import RequirementError
from envrepro.requirements import (
    coerce_requirements,
    merge_requirements,
    normalized,
    read_requirements_file,
    requirement_name,
)


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


# -- what a model's requirements may include (bounded reads, inside the model) ---------------------------------

MEMORY = 2 * 1024**3  # the CLI gets this much address space: a blow-up fails, it does not take the machine


@pytest.fixture
def model(tmp_path):
    from tests.mlflow_format import write_placeholder_model

    return write_placeholder_model(tmp_path / "model")


def _one_line(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr[-2000:]
    return proc.stderr


@pytest.mark.parametrize("command", [["inspect"], ["env", "create", "--env-manager", "uv"]])
def test_include_of_dev_zero_is_refused_without_reading_it(model, command):
    (model / "requirements.txt").write_text("scikit-learn==1.3.2\n-r /dev/zero\n")
    from tests.conftest import run_cli

    proc = run_cli(*command, "-m", str(model), max_memory=MEMORY, timeout=60)
    assert "/dev/zero" in _one_line(proc) and "outside the model directory" in proc.stderr


def test_fifo_and_device_inside_the_model_are_refused_without_hanging(model):
    import os

    from tests.conftest import run_cli

    os.mkfifo(model / "fifo.txt")  # nobody writes to it: reading it would wait forever
    os.symlink("/dev/zero", model / "zero.txt")
    for name, why in (("fifo.txt", "not a regular file"), ("zero.txt", "outside the model directory")):
        (model / "requirements.txt").write_text(f"-r {name}\n")
        proc = run_cli("inspect", "-m", str(model), max_memory=MEMORY, timeout=30)
        assert name in _one_line(proc) and why in proc.stderr


def test_include_of_a_private_file_never_echoes_it(model, tmp_path):
    from tests.conftest import run_cli

    secret = tmp_path / "shadow"
    secret.write_text("root:$6$secrethash:19000:0:99999:7:::\n")
    for target in (secret, "../shadow"):
        (model / "requirements.txt").write_text(f"-r {target}\n")
        proc = run_cli("inspect", "-m", str(model), timeout=60)
        assert "outside the model directory" in _one_line(proc) and "secrethash" not in proc.stderr


def test_a_users_own_requirements_file_may_include_any_file_but_only_regular_ones(tmp_path):
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "base.txt").write_text("numpy==1.26.4\n")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "req.txt").write_text("-r ../shared/base.txt\npandas\n")
    assert read_requirements_file(tmp_path / "proj" / "req.txt").requirements == ["numpy==1.26.4", "pandas"]
    (tmp_path / "proj" / "req.txt").write_text("-r /dev/zero\n")
    proc = subprocess.run(  # in a child with bounded memory: a reader that does not refuse /dev/zero blows up
        [sys.executable, "-c", "import sys; from envrepro.requirements import read_requirements_file as r\n"
         "try: r(sys.argv[1])\nexcept Exception as e: print(type(e).__name__, e)", str(tmp_path / "proj" / "req.txt")],
        capture_output=True, text=True, timeout=60, preexec_fn=lambda: resource.setrlimit(
            resource.RLIMIT_AS, (MEMORY, MEMORY)))
    assert proc.stdout.startswith("RequirementError") and "not a regular file" in proc.stdout, proc.stderr[-500:]


def test_inline_lines_and_files_are_read_by_one_implementation(tmp_path):
    """A conda pip block (inline lines) and a requirements file with the same lines mean the same."""
    from envrepro.requirements import expand_lines

    (tmp_path / "inc.txt").write_text("a==1\n-c cons.txt\n")
    (tmp_path / "cons.txt").write_text("b<2\n")
    lines = ["-r inc.txt", "c>=3", "--constraint=cons.txt", "# comment", "d  # trailing"]
    (tmp_path / "req.txt").write_text("\n".join(lines) + "\n")
    inline = expand_lines(lines, tmp_path, root=tmp_path)
    from_file = read_requirements_file(tmp_path / "req.txt", root=tmp_path)
    assert (inline.requirements, inline.constraints) == (from_file.requirements, from_file.constraints)
    assert inline.requirements == ["a==1", "c>=3", "d"] and inline.constraints == ["b<2", "b<2"]
    with pytest.raises(RequirementError, match="outside the model directory"):
        expand_lines(["-r ../x.txt"], tmp_path / "sub", root=tmp_path / "sub")
