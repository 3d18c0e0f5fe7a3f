"""A warm predict runs on bytecode, for every env manager, and never writes into the model directory.

uv builds environments without ``.pyc`` files and the worker runs ``python -I -B`` (so nothing is written into
the model's ``code/``): without runtime/bytecode.py every predict would compile scikit-learn and numpy from
source again. The check is Python's own: with ``-v`` the import system says, for every module, whether its
code object came from a ``.pyc`` or was compiled from the ``.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

HELPER = "def shift(X):\n    return X + 1.0\n"
MANAGERS = ["uv", "virtualenv", "conda"]


@pytest.fixture(scope="module")
def model_with_code(tmp_path_factory, iris_like) -> Path:
    """An sklearn pipeline whose first step is a function from the model's ``code/``: loading it imports that code."""
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    import envrepro

    root = tmp_path_factory.mktemp("warm")
    (root / "warm_helper.py").write_text(HELPER)
    sys.path.insert(0, str(root))
    try:
        import warm_helper

        X, y = iris_like
        pipeline = make_pipeline(FunctionTransformer(warm_helper.shift), LogisticRegression()).fit(X, y)
        path = root / "model"
        envrepro.save_model(pipeline, path, input_example=X[:3], code_paths=[str(root / "warm_helper.py")])
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("warm_helper", None)
    (root / "input.json").write_text(json.dumps({"inputs": X[:4].tolist()}))
    return path


def _snapshot(path: Path) -> dict[str, str]:
    """Every entry under ``path``: a file's sha256, or "dir"."""
    return {str(p.relative_to(path)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*"))}


def _code_objects(stderr: str) -> tuple[list[str], list[str]]:
    """(modules compiled from source, bytecode files loaded), from ``python -v``'s import messages."""
    from_source, from_pyc = [], []
    for line in stderr.splitlines():
        if line.startswith("# code object from "):
            path = line[len("# code object from "):].strip().strip("'")
            (from_pyc if path.endswith(".pyc") else from_source).append(os.path.realpath(path))
    return from_source, from_pyc


def _verbose_predict(prefix: Path, model: Path, body: bytes) -> subprocess.CompletedProcess:
    """The worker command `envrepro predict` runs, with the interpreter's -v (it reports every import)."""
    from envrepro.launch import load_spec, worker_command
    from envrepro.model import ModelDir

    command = worker_command(prefix / "bin" / "python", "predict", load_spec(ModelDir.open(model)))
    proc = subprocess.run([command[0], "-v", *command[1:]], input=body, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    return proc


@pytest.mark.parametrize("manager", MANAGERS)
def test_second_predict_runs_on_bytecode_and_the_model_is_untouched(manager, model_with_code, local_channel_url):
    from envrepro.launch import runtime_dir

    model = model_with_code
    input_path = model.parent / "input.json"
    args = ["--env-manager", manager, "-q"]
    if manager == "conda":
        args += ["--channel-alias", f"conda-forge={local_channel_url}"]
    before = _snapshot(model)
    first = run_cli("predict", "-m", str(model), "-i", str(input_path), *args, check=True, timeout=900)
    predictions = json.loads(first.stdout)["predictions"]
    assert len(predictions) == 4 and set(predictions) <= {0, 1}
    prefix = Path(run_cli("env", "create", "-m", str(model), *args, check=True).stdout.strip().splitlines()[-1])
    # No wait here: the second predict starts while the first one's compiler may still run, as when a user
    # runs two predicts in a row; the worker waits for it rather than compiling the same modules again.

    second = _verbose_predict(prefix, model, input_path.read_bytes())
    assert json.loads(second.stdout) == {"predictions": predictions}
    from_source, from_pyc = _code_objects(second.stderr.decode(errors="replace"))
    ours = (os.path.join(os.path.realpath(prefix), ""), os.path.join(os.path.realpath(runtime_dir()), ""))
    assert [p for p in from_source if p.startswith(ours)] == [], "compiled from source again"
    assert sum(p.startswith(ours[0]) for p in from_pyc) > 100, "sklearn and numpy come from the environment"
    assert any(p.startswith(ours[1]) for p in from_pyc), "envrepro's runtime runs on bytecode too"
    assert any(p.endswith("warm_helper.py") for p in from_source), "the model's code was imported (from source)"

    again = run_cli("predict", "-m", str(model), "-i", str(input_path), *args, check=True)
    assert json.loads(again.stdout)["predictions"] == predictions
    assert _snapshot(model) == before, "predict changed the model directory"
