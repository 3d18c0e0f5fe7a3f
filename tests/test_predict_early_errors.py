"""predict refuses a bad input or output path, and a malformed payload, before it builds any environment.

Each case runs the real CLI with ``--env-manager uv`` (which would build a venv) and an empty ENVREPRO_HOME:
the error is one line, exit 2, within a second, and the home is still empty afterwards.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.conftest import SKLEARN_COLUMNS, run_cli

PARQUET_LIKE = b"PAR1" + b"\0" * 8 + b"PAR1"  # the markers of a parquet file, and nothing valid in between


def _rows(iris_like, n=3):
    return iris_like[0][:n].tolist()


@pytest.fixture
def empty_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return home


def _predict_fails_early(home, *args):
    started = time.monotonic()
    proc = run_cli("predict", *args, "--env-manager", "uv", env={**os.environ, "ENVREPRO_HOME": str(home)})
    took = time.monotonic() - started
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert list(home.iterdir()) == [], "an environment was built before the error"
    assert took < 1.0, f"the error took {took:.2f}s"
    return proc.stderr


def test_malformed_inputs_fail_before_the_env(tmp_path, empty_home, saved_sklearn_dir):
    cases = {
        "bad.json": (b"{oops", "malformed JSON"),
        "shape.json": (json.dumps({"not_a_key": [1]}).encode(), "the JSON body must have exactly one of"),
        "bad.csv": (b"\xff\xfe", "malformed CSV"),  # parsed as CSV from its extension, no -t
        "empty.csv": (b"", "malformed CSV: no header row"),
        "bad.parquet": (b"{\"inputs\": [1]}", "malformed parquet: not a parquet file"),
        "upper.CSV": (b"", "malformed CSV"),
    }
    for name, (body, expected) in cases.items():
        (tmp_path / name).write_bytes(body)
        stderr = _predict_fails_early(empty_home, "-m", str(saved_sklearn_dir), "-i", str(tmp_path / name))
        assert f"{tmp_path / name}: " in stderr and expected in stderr, (name, stderr)
    # -t wins over the extension: a JSON payload in a .csv file is read as JSON when told so.
    (tmp_path / "json.csv").write_bytes(b"{oops")
    stderr = _predict_fails_early(empty_home, "-m", str(saved_sklearn_dir), "-i", str(tmp_path / "json.csv"),
                                  "-t", "json")
    assert "malformed JSON" in stderr


def test_bad_output_paths_fail_before_the_env(tmp_path, empty_home, saved_sklearn_dir, iris_like):
    (tmp_path / "in.json").write_text(json.dumps({"inputs": _rows(iris_like)}))
    model = ["-m", str(saved_sklearn_dir), "-i", str(tmp_path / "in.json")]
    stderr = _predict_fails_early(empty_home, *model, "-o", "/nonexistent/dir/out.json")
    assert "/nonexistent/dir/out.json: the output's directory does not exist (create /nonexistent/dir first)" in stderr
    stderr = _predict_fails_early(empty_home, *model, "-o", str(tmp_path))
    assert f"{tmp_path}: the output path is a directory" in stderr
    stderr = _predict_fails_early(empty_home, "-m", str(saved_sklearn_dir), "-i", str(tmp_path / "missing.json"))
    assert "cannot read input" in stderr


def test_csv_and_parquet_inputs_are_recognised_by_their_extension(tmp_path, saved_sklearn_dir, sklearn_model,
                                                                   iris_like):
    rows = _rows(iris_like)
    (tmp_path / "in.csv").write_text(",".join(SKLEARN_COLUMNS) + "\n" + "\n".join(",".join(map(repr, r))
                                                                                  for r in rows) + "\n")
    out = run_cli("predict", "-m", str(saved_sklearn_dir), "-i", str(tmp_path / "in.csv"), "--env-manager", "local",
                  check=True)
    assert json.loads(out.stdout) == {"predictions": sklearn_model.predict(iris_like[0][:3]).tolist()}
    # A file with parquet's markers passes the host's check and reaches the model's parquet reader (sent as
    # parquet, not JSON): which then says what it needs, or that the content is not a table.
    (tmp_path / "in.parquet").write_bytes(PARQUET_LIKE)
    proc = run_cli("predict", "-m", str(saved_sklearn_dir), "-i", str(tmp_path / "in.parquet"),
                   "--env-manager", "local")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "parquet input needs pyarrow or fastparquet" in proc.stderr or "malformed parquet:" in proc.stderr, \
        proc.stderr
