"""Real models saved by real old MLflow releases, made once per machine (issue "Models of every age").

Each model comes from a small declarative ``Recipe``: an interpreter (pyenv's, found on this machine), the
packages of a throwaway build venv resolved by uv with ``--exclude-newer`` = the recipe's ``saved_at`` (so the
whole venv is what ``pip install`` gave on that day: period-correct dependencies are what make old MLflow
import at all), and a save script run in that venv. After saving, ``utc_time_created`` in MLmodel is set to
``saved_at`` (MLflow writes "now"), so the model looks like one really saved then and the packages it
leaves unpinned resolve, as of its date, to exactly what the build venv held. A fresh process of the same
venv then scores a fixed input with that MLflow's own ``mlflow.pyfunc.load_model(path).predict(...)``; the
predictions, the versions and the venv's frozen package list are kept as JSON beside the model, and the venv
is deleted (``build_venv()`` rebuilds it from the frozen pins in seconds when a test needs it).

Cache entry (``old_models_dir()/<name>-<key>/``): ``model/``, ``input.json`` (``{"dataframe_split": ...}``),
``input.csv``, ``expected.json``, ``build.log``. The key hashes the recipe and this module's source, so
editing either rebuilds; builds run in a temporary sibling directory renamed into place under a file lock,
so concurrent sessions build once and a killed build leaves nothing (as ``tests/fixtures_channel.py`` does).

The models (``python -m tests.old_mlflow --list``):

- ``mlflow117_py38_sklearn``: Python 3.8.18, MLflow 1.17.0, scikit-learn 0.24.2; a StandardScaler +
  LogisticRegression Pipeline on columns a-d, ``mlflow.sklearn.save_model`` with an input example.
- ``mlflow117_py38_pyfunc``: same venv; a ``PythonModel`` class defined in ``__main__`` (pickled by value by
  cloudpickle, the common case) that reads a JSON artifact of weights in ``load_context``.
- ``mlflow1x_py36_sklearn`` / ``mlflow1x_py36_pyfunc``: Python 3.6.15, MLflow 1.14.1, scikit-learn 0.24.1;
  the same models, except that this ``PythonModel`` lives in a module shipped with ``code_path`` (MLmodel's
  ``code: code``; cloudpickle pickles the class by reference, so loading needs ``code/`` on ``sys.path``).
- ``mlflow292_py310_pyfunc``: Python 3.10.13, MLflow 2.9.2; a ``PythonModel`` in ``__main__`` holding a
  scikit-learn 1.3.2 Pipeline, saved with an input example (so with an inferred signature). MLflow wrote
  requirements.txt fully pinned, conda.yaml with ``pip<=23.3.1`` and python_env.yaml with
  ``build_dependencies: [pip==23.3.1, setuptools, wheel]``: pip pinned to the saving venv's (plain ``pip``
  when that venv has none), setuptools and wheel unpinned.
- ``conda_only_sklearn``: ``mlflow117_py38_sklearn`` with conda.yaml trimmed by hand so scikit-learn and
  cloudpickle are conda dependencies and the pip section (and with it mlflow) is gone.

MLflow 1.x writes MLmodel (``env: conda.yaml``), the pickle and conda.yaml with channels ``[defaults,
conda-forge]``, ``python=X.Y.Z``, ``pip`` and a pip section with ``mlflow`` unpinned; no requirements.txt,
no python_env.yaml. The 1.x pyfunc models' conda.yaml names only mlflow and cloudpickle: numpy and pandas
come in through the unpinned mlflow.

Why MLflow 2.9.2 needs time-faithful resolution (checked on this machine, see
``test_mlflow292_needs_period_setuptools``): ``mlflow/utils/requirements_utils.py`` does ``import
pkg_resources`` at import time, and mlflow 2.9.2 does not declare setuptools as a dependency. setuptools
removed ``pkg_resources`` in 82.0.0 (February 2026; 81.x only warns), so the model's own pins plus today's
setuptools -- which is what the unpinned ``setuptools`` in python_env.yaml resolves to -- fail at ``import
mlflow`` with ``ModuleNotFoundError: No module named 'pkg_resources'``; so does a uv venv without setuptools
at all. The same pins with setuptools as of the model's date (69.0.2) load and predict; so do the pins plus
every other dependency at its newest, as long as setuptools stays < 82.

Fixtures: one session-scoped fixture per model, named like the model, returning an ``OldModel``. Its
``path`` (and the payload files) are a per-session copy made read-only (``chmod a-w``; root ignores that, so
the fixture also checks at teardown that the model was not changed): a test that changes a model works on
``old.copy_to(tmp_path / "model")``. ``old_mlflow_venv(old)`` gives the python of a venv rebuilt from the
frozen pins (once per session), to load or serve the model with the old MLflow itself.
Interpreters that are not installed skip the tests that need them.

Command line: ``python -m tests.old_mlflow --list`` / ``--build [NAME ...]``. Cache root:
``ENVREPRO_TEST_OLD_MODELS``, else ``$XDG_CACHE_HOME/envrepro-test-old-models`` (``~/.cache/...``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_channel import _locked, _prune

_MODULE_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
COLUMNS = ("a", "b", "c", "d")
# The input every model is scored on: both classes for the classifiers, short decimals so the CSV and the
# JSON payloads hold exactly the same floats.
SCORING_ROWS: tuple[tuple[float, ...], ...] = (
    (0.5, -1.2, 0.3, 1.0),
    (-0.8, 0.4, 1.1, -0.2),
    (1.7, 0.9, -0.6, 0.05),
    (-1.3, -0.7, 0.2, 2.1),
    (0.3, 0.2, -0.4, 0.6),
    (2.25, -0.125, 1.5, -1.75),
)
# What `python -m venv` gives a user: pip and setuptools, as of the model's date (uv venv seeds nothing).
SEED_PACKAGES = ("pip", "setuptools")


# -- recipes ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BuildEnv:
    """A build venv: an interpreter and packages, resolved as of ``saved_at`` (when its models were saved)."""

    python: str  # X.Y.Z of the interpreter
    mlflow: str
    saved_at: str  # RFC 3339 UTC: the venv's --exclude-newer and MLmodel's utc_time_created
    packages: tuple[str, ...]  # installed with SEED_PACKAGES


@dataclass(frozen=True)
class Recipe:
    """How one model is made. ``base`` + ``derive`` make a model from another one's entry instead."""

    name: str
    env: BuildEnv
    script: str = ""  # run in the build venv as `python save.py MODEL_DIR`, cwd a scratch directory
    base: str | None = None
    derive: Callable[[Path], None] | None = None  # edits the copied model directory in place

    def key(self) -> str:
        fields = {"name": self.name, "env": asdict(self.env), "script": self.script,
                  "base": RECIPES[self.base].key() if self.base else None,
                  "derive": getattr(self.derive, "__name__", None), "module": _MODULE_DIGEST}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


# The classifier of the sklearn models: a Pipeline trained on columns a-d for y = a + b/2 - c > 0.
_TRAIN = """\
import sys
import numpy as np
import pandas as pd
import mlflow.pyfunc
import mlflow.sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

rng = np.random.RandomState(0)
X = pd.DataFrame(rng.normal(size=(200, 4)).round(3), columns=["a", "b", "c", "d"])
y = (X["a"] + 0.5 * X["b"] - X["c"] > 0).astype(int)
pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
"""


def _sklearn_script(input_example: bool) -> str:
    extra = ", input_example=X.head(2)" if input_example else ""
    return f"{_TRAIN}mlflow.sklearn.save_model(pipeline, sys.argv[1]{extra})\n"


_SCORER_CLASS = '''\
import json

import mlflow.pyfunc
import pandas as pd


class LinearScorer(mlflow.pyfunc.PythonModel):
    """A hand-made linear score whose weights are an artifact."""

    def load_context(self, context):
        with open(context.artifacts["weights"]) as fh:
            spec = json.load(fh)
        self.columns, self.weights, self.bias = spec["columns"], spec["weights"], spec["bias"]

    def predict(self, context, model_input):
        score = model_input[self.columns].values.dot(self.weights) + self.bias
        return pd.Series(score, name="score")
'''

_WEIGHTS = {"columns": list(COLUMNS), "weights": [0.5, -1.25, 2.0, 0.0], "bias": 0.125}


def _pyfunc_script(code_path: bool) -> str:
    write_weights = f"with open('weights.json', 'w') as fh:\n    json.dump({_WEIGHTS!r}, fh)\n"
    save = ("mlflow.pyfunc.save_model(sys.argv[1], python_model=LinearScorer(), "
            "artifacts={'weights': 'weights.json'}%s)\n")
    if code_path:  # the class in a module of the user's project, shipped with the model
        return (f"import json, sys\nwith open('linear_scorer.py', 'w') as fh:\n    fh.write({_SCORER_CLASS!r})\n"
                f"{write_weights}sys.path.insert(0, '.')\nimport mlflow.pyfunc\n"
                f"from linear_scorer import LinearScorer\n" + save % ", code_path=['linear_scorer.py']")
    return f"import sys\n{_SCORER_CLASS}\n{write_weights}" + save % ""


# A PythonModel in __main__ (pickled by value) holding the Pipeline; loading it imports mlflow.
_MLFLOW29_SCRIPT = _TRAIN + """

class ProbabilityModel(mlflow.pyfunc.PythonModel):
    def __init__(self, pipeline):
        self.pipeline = pipeline

    def predict(self, context, model_input, params=None):
        return self.pipeline.predict_proba(model_input)[:, 1]


mlflow.pyfunc.save_model(sys.argv[1], python_model=ProbabilityModel(pipeline), input_example=X.head(3))
"""


def conda_only(model_dir: Path) -> None:
    """Move the pinned pip packages of an MLflow 1.x conda.yaml to conda dependencies; drop the pip section."""
    import yaml

    path = model_dir / "conda.yaml"
    env = yaml.safe_load(path.read_text())
    deps: list[Any] = []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip section: `name==version` becomes conda's `name=version`
            deps += [req.replace("==", "=") for req in dep["pip"] if "==" in req]
        else:
            deps.append(dep)
    env["dependencies"] = deps
    path.write_text(yaml.safe_dump(env, default_flow_style=False))  # how MLflow 1.x wrote it


PY36 = BuildEnv("3.6.15", "1.14.1", "2021-03-02T16:41:07.318524Z", ("mlflow==1.14.1", "scikit-learn==0.24.1"))
PY38 = BuildEnv("3.8.18", "1.17.0", "2021-05-28T09:12:45.861302Z", ("mlflow==1.17.0", "scikit-learn==0.24.2"))
PY310 = BuildEnv("3.10.13", "2.9.2", "2023-12-15T10:27:03.590117Z", ("mlflow==2.9.2", "scikit-learn==1.3.2"))
RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("mlflow117_py38_sklearn", PY38, _sklearn_script(input_example=True)),
    Recipe("mlflow117_py38_pyfunc", PY38, _pyfunc_script(code_path=False)),
    Recipe("mlflow1x_py36_sklearn", PY36, _sklearn_script(input_example=False)),
    Recipe("mlflow1x_py36_pyfunc", PY36, _pyfunc_script(code_path=True)),
    Recipe("mlflow292_py310_pyfunc", PY310, _MLFLOW29_SCRIPT),
    Recipe("conda_only_sklearn", PY38, base="mlflow117_py38_sklearn", derive=conda_only),
)}

# Run in the build venv (any Python >= 3.6): load with that MLflow, predict on both payloads, record.
_SCORE_SCRIPT = """\
import json, platform, sys
import mlflow, mlflow.pyfunc
import pandas as pd

model_dir, input_json, input_csv, out = sys.argv[1:5]
with open(input_json) as fh:
    split = json.load(fh)["dataframe_split"]
frames = [pd.DataFrame(split["data"], columns=split["columns"]), pd.read_csv(input_csv)]
model = mlflow.pyfunc.load_model(model_dir)
results = [model.predict(frame) for frame in frames]
values = [r.tolist() for r in results]
for a, b in zip(*values):
    assert a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b)), ("CSV and JSON predictions differ", values)
# What that MLflow's own scoring server (and `mlflow models predict`) writes for these predictions: a named
# Series is records ([{"score": ...}]) in every MLflow since 1.x; 1.x writes the bare list, 2.x+ wraps it.
import io
from mlflow.pyfunc import scoring_server
buffer = io.StringIO()
scoring_server.predictions_to_json(results[0], buffer)
served = json.loads(buffer.getvalue())
if isinstance(served, dict) and "predictions" in served:
    served = served["predictions"]
with open(out, "w") as fh:
    json.dump({"predictions": values[0], "served": served, "prediction_type": type(results[0]).__name__,
               "python_version": platform.python_version(), "mlflow_version": mlflow.__version__}, fh)
"""


# -- the cache -------------------------------------------------------------------------------------------
def old_models_dir() -> Path:
    """The per-machine cache of built models (``ENVREPRO_TEST_OLD_MODELS`` overrides)."""
    override = os.environ.get("ENVREPRO_TEST_OLD_MODELS")
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "envrepro-test-old-models"


def entry_dir(recipe: Recipe) -> Path:
    return old_models_dir() / f"{recipe.name}-{recipe.key()}"


class MissingPython(RuntimeError):
    """The interpreter a recipe needs is not installed on this machine."""


def find_python(version: str) -> Path:
    """The installed interpreter of exactly ``version`` (pyenv's, or one uv knows); never downloads one."""
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv"), "/root/.pyenv"]
    for root in filter(None, roots):
        candidate = Path(root) / "versions" / version / "bin" / "python"
        if candidate.is_file():
            return candidate
    proc = subprocess.run([uv_bin(), "python", "find", "--no-python-downloads", "--no-project", version],
                          capture_output=True, text=True)
    if proc.returncode == 0 and proc.stdout.strip():
        return Path(proc.stdout.strip())
    raise MissingPython(f"Python {version} is not installed: pyenv install {version}")


def uv_bin() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def get_model(name: str, *, log: Callable[[str], None] | None = None) -> Path:
    """The cache entry of model ``name``, built first if needed (see the module docstring)."""
    recipe = RECIPES[name]
    entry = entry_dir(recipe)
    if not (entry / "expected.json").is_file():
        base_entry = get_model(recipe.base, log=log) if recipe.base else None
        python = None if base_entry else find_python(recipe.env.python)
        cache = entry.parent
        cache.mkdir(parents=True, exist_ok=True)
        with _locked(cache / f".{entry.name}.lock"):
            if not (entry / "expected.json").is_file():
                _prune(cache)
                from envrepro.fsutil import staging_dir

                started = time.monotonic()
                with staging_dir(entry, replace=False) as tmp:
                    tmp.chmod(0o755)  # mkdtemp's 0700 would hide a shared cache from other users
                    if base_entry is not None:
                        _derive(recipe, base_entry, tmp)
                    else:
                        assert python is not None
                        _build(recipe, python, tmp)
                if log:
                    log(f"built {name} in {time.monotonic() - started:.1f} s: {entry}")
    os.utime(entry)  # last used, for pruning
    return entry


def _build(recipe: Recipe, python: Path, out: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="build-", dir=out))
    log: list[str] = []
    try:
        venv = scratch / "venv"
        vpython = str(venv / "bin" / "python")
        _run([uv_bin(), "venv", "-q", "--python", str(python), str(venv)], log=log)
        uv_install(vpython, recipe.env.saved_at, [*SEED_PACKAGES, *recipe.env.packages], log=log)
        (scratch / "work").mkdir()
        (scratch / "save.py").write_text(recipe.script)
        # Byte code for the venv (the test machines set PYTHONDONTWRITEBYTECODE): scoring then starts in
        # half the time. The model is saved, so none lands in its directory.
        _run([vpython, str(scratch / "save.py"), str(out / "model")], cwd=scratch / "work", log=log,
             write_bytecode=True)
        date_mlmodel(out / "model" / "MLmodel", recipe.env.saved_at)
        write_inputs(out)
        expected = score(vpython, out / "model", out / "input.json", out / "input.csv", scratch, log=log)
        frozen = _run([uv_bin(), "pip", "freeze", "--python", vpython], log=log).stdout.split()
        expected.update(name=recipe.name, saved_at=recipe.env.saved_at, packages=frozen)
        _finish(out, expected, log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _derive(recipe: Recipe, base_entry: Path, out: Path) -> None:
    writable_copy(base_entry / "model", out / "model")
    assert recipe.derive is not None
    recipe.derive(out / "model")
    for name in ("input.json", "input.csv"):
        shutil.copyfile(base_entry / name, out / name)
    expected = json.loads((base_entry / "expected.json").read_text())
    expected.update(name=recipe.name, derived_from=recipe.base)
    _finish(out, expected, [f"derived from {base_entry} by {recipe.derive.__name__}()"])


def _finish(out: Path, expected: dict[str, Any], logs: list[str]) -> None:
    expected["model_digest"] = tree_digest(out / "model")
    (out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    (out / "build.log").write_text("\n".join(logs))
    make_read_only(out / "model")


def uv_install(python: str, exclude_newer: str, args: Sequence[str], log: list[str] | None = None) -> None:
    """``uv pip install`` as of ``exclude_newer``: from uv's cache alone when it has everything.

    Revalidating ~50 cached index pages takes ~5 s; offline takes 0.2 s and resolves the same (as of a
    past date, only a yank since uv cached an index page could change the answer).
    """
    cmd = [uv_bin(), "pip", "install", "--python", python, "--exclude-newer", exclude_newer, *args]
    try:
        _run([*cmd, "--offline"], log=log)
    except RuntimeError:
        _run(cmd, log=log)


def _run(cmd: Sequence[str], cwd: Path | None = None, log: list[str] | None = None,
         write_bytecode: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; only ``write_bytecode`` processes may write ``.pyc`` (never into a model's code/)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    if write_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    started = time.monotonic()
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if log is not None:
        log.append(f"$ {' '.join(cmd)}  # {time.monotonic() - started:.1f} s\n{proc.stdout}{proc.stderr}")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")
    return proc


def date_mlmodel(mlmodel: Path, saved_at: str) -> None:
    """Set ``utc_time_created`` as MLflow writes it (``str(datetime.utcnow())``), the rest untouched."""
    when = dt.datetime.fromisoformat(saved_at.replace("Z", "+00:00")).replace(tzinfo=None)
    text, count = re.subn(r"(?m)^utc_time_created: .*$", f"utc_time_created: '{when}'", mlmodel.read_text())
    if count != 1:
        raise ValueError(f"{mlmodel}: no utc_time_created line to rewrite")
    mlmodel.write_text(text)


def write_inputs(out: Path) -> None:
    split = {"columns": list(COLUMNS), "data": [list(row) for row in SCORING_ROWS]}
    (out / "input.json").write_text(json.dumps({"dataframe_split": split}) + "\n")
    lines = [",".join(COLUMNS)] + [",".join(repr(v) for v in row) for row in SCORING_ROWS]
    (out / "input.csv").write_text("\n".join(lines) + "\n")


def score(python: str | os.PathLike, model_dir: Path, input_json: Path, input_csv: Path, scratch: Path,
          log: list[str] | None = None) -> dict[str, Any]:
    """Predict on both payloads with the MLflow of ``python``, in a fresh process and empty directory.

    Returns ``predictions`` (JSON values), ``prediction_type``, ``python_version`` and ``mlflow_version``.
    """
    scratch = Path(tempfile.mkdtemp(prefix="score-", dir=scratch))
    script, cwd, out = scratch / "score.py", scratch / "cwd", scratch / "scored.json"
    script.write_text(_SCORE_SCRIPT)
    cwd.mkdir()
    _run([os.fspath(python), str(script), str(model_dir), str(input_json), str(input_csv), str(out)], cwd=cwd,
         log=log)
    return json.loads(out.read_text())


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        if path.is_file():
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def writable_copy(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return dest


def make_read_only(root: Path) -> None:
    for path in [*root.rglob("*"), root]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


# -- what tests get --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OldModel:
    """A model saved by an old MLflow, with the input it was scored on and that MLflow's predictions."""

    name: str
    path: Path  # the model directory: read-only, copy_to() before changing it
    input_json: Path  # {"dataframe_split": {"columns": [...], "data": [...]}}
    input_csv: Path  # the same rows, with a header line
    expected: list[Any]  # mlflow.pyfunc.load_model(path).predict(input) in the old venv, as JSON values
    served: Any  # the same predictions as that MLflow's scoring server writes them (its "predictions")
    python_version: str
    mlflow_version: str
    saved_at: str  # what MLmodel's utc_time_created says, RFC 3339
    packages: tuple[str, ...]  # the build venv, frozen (name==version)
    digest: str  # of the model directory as built

    @classmethod
    def load(cls, entry: Path) -> OldModel:
        meta = json.loads((entry / "expected.json").read_text())
        return cls(meta["name"], entry / "model", entry / "input.json", entry / "input.csv",
                   meta["predictions"], meta["served"], meta["python_version"], meta["mlflow_version"],
                   meta["saved_at"], tuple(meta["packages"]), meta["model_digest"])

    def copy_to(self, dest: str | os.PathLike) -> Path:
        """A writable copy of the model directory at ``dest`` (created)."""
        return writable_copy(self.path, Path(dest))

    def unchanged(self) -> bool:
        return tree_digest(self.path) == self.digest


def build_venv(model: OldModel, dest: Path) -> Path:
    """A venv like the one ``model`` was built in (its interpreter, its frozen pins); returns its python."""
    requirements = dest.with_name(dest.name + "-requirements.txt")
    requirements.write_text("\n".join(model.packages) + "\n")
    _run([uv_bin(), "venv", "-q", "--python", str(find_python(model.python_version)), str(dest)])
    uv_install(str(dest / "bin" / "python"), model.saved_at, ["--no-deps", "-r", str(requirements)])
    return dest / "bin" / "python"


@pytest.fixture(scope="session")
def old_mlflow_venv(tmp_path_factory: pytest.TempPathFactory) -> Callable[[OldModel], Path]:
    """``get(model)``: the python of a venv like the one that built ``model`` (one per build venv per session)."""
    venvs: dict[tuple[str, tuple[str, ...]], Path] = {}

    def get(model: OldModel) -> Path:
        key = (model.python_version, model.packages)
        if key not in venvs:
            venvs[key] = build_venv(model, tmp_path_factory.mktemp("old-venv") / "venv")
        return venvs[key]

    return get


def _session_model(name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OldModel]:
    try:
        entry = get_model(name)
    except MissingPython as exc:
        pytest.skip(str(exc))
    # A copy per session: a test that writes into it (root ignores the missing write bits) spoils the
    # session's other tests, not the cache.
    copy = tmp_path_factory.mktemp(name)
    shutil.copytree(entry / "model", copy / "model")
    for file in ("expected.json", "input.json", "input.csv"):
        shutil.copyfile(entry / file, copy / file)
    make_read_only(copy)
    model = OldModel.load(copy)
    yield model
    if not model.unchanged():
        pytest.fail(f"a test changed the shared model {model.path}: copy it first (OldModel.copy_to)")


def _fixture(name: str) -> Any:
    def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OldModel]:
        yield from _session_model(name, tmp_path_factory)

    fixture.__name__ = name
    fixture.__doc__ = f"The {name} model (see tests/old_mlflow.py), built once per machine."
    return pytest.fixture(scope="session", name=name)(fixture)


mlflow117_py38_sklearn = _fixture("mlflow117_py38_sklearn")
mlflow117_py38_pyfunc = _fixture("mlflow117_py38_pyfunc")
mlflow1x_py36_sklearn = _fixture("mlflow1x_py36_sklearn")
mlflow1x_py36_pyfunc = _fixture("mlflow1x_py36_pyfunc")
mlflow292_py310_pyfunc = _fixture("mlflow292_py310_pyfunc")
conda_only_sklearn = _fixture("conda_only_sklearn")


# -- command line ----------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.old_mlflow",
                                     description="Build or list the cached models saved by old MLflow releases.")
    parser.add_argument("--list", action="store_true", help="show each model and whether it is built")
    parser.add_argument("--build", nargs="*", metavar="NAME", help="build these models (all if none named)")
    args = parser.parse_args(argv)
    if args.build is None and not args.list:
        args.list = True
    unknown = sorted(set(args.build or ()) - set(RECIPES))
    if unknown:
        parser.error(f"unknown model {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    status = 0
    for name in (args.build or list(RECIPES)) if args.build is not None else ():
        try:
            get_model(name, log=print)
        except MissingPython as exc:
            print(f"{name}: skipped: {exc}", file=sys.stderr)
            status = 2
    if args.list:
        for recipe in RECIPES.values():
            entry = entry_dir(recipe)
            state = str(entry) if (entry / "expected.json").is_file() else "not built"
            env = recipe.env
            print(f"{recipe.name:24} python {env.python:8} mlflow {env.mlflow:7} saved {env.saved_at[:10]}"
                  f"  {state}")
    return status


if __name__ == "__main__":
    sys.exit(main())
