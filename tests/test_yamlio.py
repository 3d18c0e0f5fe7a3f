"""YAML alias bombs ("billion laughs"): a few hundred bytes that stand for billions of nodes are refused with one
line, by every reader of a model's YAML, before anything walks the data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from envrepro.errors import ModelFormatError
from tests.conftest import run_cli
from tests.mlflow_format import write_placeholder_model

MEMORY = 2 * 1024**3  # the CLI's address-space limit: a blow-up fails the test instead of filling the machine
LAUGHS = "".join(f"  {name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
                 for prev, name in zip([None, *"abcdefgh"], "abcdefghi"))  # 9**9 nodes from ~600 bytes


@pytest.fixture
def model(tmp_path) -> Path:
    return write_placeholder_model(tmp_path / "model")


@pytest.mark.parametrize("file, line, bombed", [
    ("MLmodel", "    loader_module: mlflow.sklearn\n", "    loader_module: *i\n"),
    ("conda.yaml", "channels:\n- conda-forge\n", "channels: *i\n"),
    ("python_env.yaml", "python: 3.11.7\n", "python: *i\n"),
])
@pytest.mark.parametrize("command", [["inspect"], ["env", "create", "--env-manager", "uv"]])
def test_alias_bomb_is_one_line_not_out_of_memory(model, file, line, bombed, command):
    text = (model / file).read_text()
    assert line in text
    (model / file).write_text(f"laughs:\n{LAUGHS}" + text.replace(line, bombed))
    started = time.monotonic()
    proc = run_cli(*command, "-m", str(model), max_memory=MEMORY, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr[-2000:]
    assert f"{file}: refused" in proc.stderr and "aliases" in proc.stderr
    assert time.monotonic() - started < 60


def test_pip_block_bomb_in_conda_yaml(model):
    text = f"laughs:\n{LAUGHS}channels: [conda-forge]\ndependencies:\n- python=3.11.7\n- pip\n- pip: *i\n"
    (model / "conda.yaml").write_text(text)
    (model / "python_env.yaml").unlink()
    proc = run_cli("inspect", "-m", str(model), max_memory=MEMORY, timeout=120)
    assert proc.returncode == 2 and "conda.yaml: refused" in proc.stderr, proc.stderr[-2000:]


def test_the_limit_counts_expansion_not_size():
    from envrepro.yamlio import MAX_ALIAS_EXPANSION, load_yaml_text

    # Aliases that add fewer nodes than the limit are fine; the same document one level deeper is not.
    small = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n"
    assert load_yaml_text(small) == {"a": [1, 2, 3], "b": [[1, 2, 3]] * 3}
    big_list = "[" + ", ".join(str(i) for i in range(MAX_ALIAS_EXPANSION)) + "]"
    assert len(load_yaml_text(f"big: {big_list}\n")["big"]) == MAX_ALIAS_EXPANSION  # no aliases: no limit
    with pytest.raises(ModelFormatError, match="aliases expand it by more than"):
        load_yaml_text(f"big: &big {big_list}\ntwice: [*big, *big]\n", path="x.yaml", what="x.yaml")
    with pytest.raises(ModelFormatError, match="recursive"):
        load_yaml_text("a: &a [*a]\n")


@pytest.mark.parametrize("anchor", ["", "&a "])
def test_depth_is_bounded_with_or_without_anchors(anchor):
    from envrepro.yamlio import MAX_DEPTH, load_yaml_text

    # Without an anchor only the depth is checked (no alias accounting): that check must still hold.
    fine = f"a: {anchor}" + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n"
    assert load_yaml_text(fine)["a"] is not None
    with pytest.raises(ModelFormatError, match=f"nested more than {MAX_DEPTH} levels deep"):
        load_yaml_text(f"a: {anchor}" + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n")
