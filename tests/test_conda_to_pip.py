"""Conda match specs → pip requirements (envrepro.conda_to_pip), and how a model's env reads them."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from envrepro.conda_to_pip import (
    CONDA_TO_PYPI,
    NO_PIP_EQUIVALENT,
    PYTHON_DESPITE_PATTERN,
    NoPipEquivalent,
    conda_spec_to_pip,
    has_pip_equivalent,
    translate_conda_dependencies,
)
from envrepro.envfiles import read_model_env
from envrepro.envs.cache import EnvCache
from envrepro.envs.conda_spec import parse_conda_env
from envrepro.envs.venv_engine import venv_cache_fields
from envrepro.model import ModelDir
from tests.conftest import run_cli

# spec -> (requirement, versions it must allow, versions it must refuse)
SYNTAX = [
    ("numpy=1.2", "numpy==1.2.*", ["1.2", "1.2.0", "1.2.9"], ["1.3", "1.1.9", "1.20"]),
    ("numpy=1.2.*", "numpy==1.2.*", ["1.2.5"], ["1.3"]),
    ("numpy==1.2", "numpy==1.2", ["1.2", "1.2.0"], ["1.2.1"]),
    ("numpy 1.2", "numpy==1.2", ["1.2"], ["1.2.1"]),
    ("numpy=1.2.3=h123_0", "numpy==1.2.3", ["1.2.3"], ["1.2.4", "1.2.3.1"]),
    ("numpy 1.2.3 h123_0", "numpy==1.2.3", ["1.2.3"], ["1.2.4"]),
    ("numpy=1.2=*", "numpy==1.2", ["1.2"], ["1.2.1"]),
    ("numpy 1.2.* py37*", "numpy==1.2.*", ["1.2.7"], ["1.3"]),
    ("numpy >=1,<2", "numpy>=1,<2", ["1", "1.26.4"], ["2.0", "0.9"]),
    ("numpy >= 1.2, < 2", "numpy>=1.2,<2", ["1.5"], ["2.1", "1.1"]),
    ("numpy>1.2,<=1.5,!=1.4.*", "numpy>1.2,<=1.5,!=1.4.*", ["1.3", "1.5"], ["1.4.2", "1.2", "1.6"]),
    ("numpy ~=1.2", "numpy~=1.2", ["1.9"], ["2.0"]),
    ("numpy 1.8*", "numpy==1.8.*", ["1.8.2"], ["1.9"]),
    ("numpy >=1.8*", "numpy>=1.8", ["1.8", "2.0"], ["1.7"]),
    ("conda-forge::numpy=1.2", "numpy==1.2.*", ["1.2.1"], ["1.3"]),
    ("conda-forge/label/dev::numpy==1.2", "numpy==1.2", ["1.2"], ["1.3"]),
    ("https://conda.anaconda.org/conda-forge::numpy 1.2", "numpy==1.2", ["1.2"], ["1.3"]),
    ("numpy[version='>=1']", "numpy>=1", ["1.0", "3"], ["0.9"]),
    ("numpy[version='>=1,<2', build=py37*]", "numpy>=1,<2", ["1.5"], ["2"]),
    ("numpy[build_number=2]", "numpy", ["0.1", "9"], []),
    ("numpy *", "numpy", ["1.0"], []),
    ("numpy=*", "numpy", ["1.0"], []),
    ("numpy", "numpy", ["1.0"], []),
    ("tensorflow=2.0.0rc1", "tensorflow==2.0.0rc1", ["2.0.0rc1"], ["2.0.0"]),
    ("numpy=1!2.0", "numpy==1!2.0.*", ["1!2.0.1"], ["2.0"]),
]


@pytest.mark.parametrize("spec, expected, allowed, refused", SYNTAX)
def test_conda_version_syntax_becomes_pep440(spec, expected, allowed, refused):
    requirement = conda_spec_to_pip(spec)
    assert requirement == expected
    parsed = Requirement(requirement)  # packaging accepts every produced line...
    for version in allowed:             # ...and it means what conda meant
        assert parsed.specifier.contains(version, prereleases=True), (requirement, version)
    for version in refused:
        assert not parsed.specifier.contains(version, prereleases=True), (requirement, version)


@pytest.mark.parametrize("spec, expected", [
    ("pytorch=1.8.1=py3.8_cuda11.1_cudnn8.0.5_0", "torch==1.8.1"),
    ("pytorch::pytorch-cpu=1.4", "torch==1.4.*"),
    ("py-xgboost=1.3.3", "xgboost==1.3.3.*"),
    ("py-xgboost-cpu", "xgboost"),
    ("py-lightgbm=3.2", "lightgbm==3.2.*"),
    ("lightgbm=3.2", "lightgbm==3.2.*"),
    ("matplotlib-base=3.4.2", "matplotlib==3.4.2.*"),
    ("pytables=3.6", "tables==3.6.*"),
    ("msgpack-python=1.0.2", "msgpack==1.0.2.*"),
    ("tensorflow-base=2.4.1", "tensorflow==2.4.1.*"),
    ("numpy-base=1.19.2", "numpy==1.19.2.*"),
    ("dask-core>=2021", "dask>=2021"),
    ("python-graphviz", "graphviz"),
    ("py-opencv=4.5", "opencv-python==4.5.*"),
    ("python-dateutil=2.8.1", "python-dateutil==2.8.1.*"),  # the same name on both sides
    ("pyyaml=5.4", "pyyaml==5.4.*"),
    ("scikit-learn=0.23.2", "scikit-learn==0.23.2.*"),
    ("librosa=0.8", "librosa==0.8.*"),  # lib*, yet a Python package
    ("cuda-python=12.1", "cuda-python==12.1.*"),
])
def test_conda_names_map_to_pypi_names(spec, expected):
    assert conda_spec_to_pip(spec) == expected


@pytest.mark.parametrize("spec", [
    "mkl", "mkl=2021.4", "cudatoolkit=11.3", "cudnn=8.2", "libgcc", "libgcc-ng=9.3.0", "libstdcxx-ng",
    "openssl=1.1.1k", "ca-certificates", "_libgcc_mutex=0.1=main", "_openmp_mutex", "blas=*=mkl", "intel-openmp",
    "ld_impl_linux-64", "r-base=4.1", "xorg-libx11", "cuda-nvcc", "graphviz", "tzdata", "conda-forge::libblas",
    "pytorch-mutex=1.0=cpu", "cpuonly",
])
def test_non_python_packages_are_untranslatable(spec):
    with pytest.raises(NoPipEquivalent, match="not a Python package"):
        conda_spec_to_pip(spec)


@pytest.mark.parametrize("spec, reason", [
    ("numpy 1.2|1.3", "OR"),
    ("numpy=1.2|1.3", "OR"),
    ("numpy >=1,<1.5|>=2", "OR"),
    ("numpy ^1\\.2.*$", "regex"),
    ("numpy=1.2.3_1", "not a PEP 440 version"),
    ("numpy ~=1", "not a valid pip requirement"),
    ("numpy 1.*.3", "no PEP 440 equivalent"),
    ("!!!", "not a conda match spec"),
])
def test_specs_without_a_pep440_form_are_untranslatable(spec, reason):
    with pytest.raises(NoPipEquivalent, match=reason):
        conda_spec_to_pip(spec)


@pytest.mark.parametrize("spec", ["python=3.8.10", "python", "pip", "pip=21.0", "conda-forge::python 3.10.*"])
def test_python_and_pip_are_left_to_the_venv_code(spec):
    assert conda_spec_to_pip(spec) is None


def test_name_tables_are_consistent():
    for conda_name, pypi in CONDA_TO_PYPI.items():
        assert conda_name == conda_name.lower() and conda_name not in NO_PIP_EQUIVALENT, conda_name
        assert str(Requirement(pypi).name) == pypi and canonicalize_name(pypi) != canonicalize_name(conda_name)
        assert has_pip_equivalent(conda_name)
    for name in PYTHON_DESPITE_PATTERN:
        assert has_pip_equivalent(name) and name not in NO_PIP_EQUIVALENT


def test_translate_dependencies_skips_what_pip_already_covers():
    deps = ["python=3.8.10", "pip", "scikit-learn=0.23.2", "pytorch=1.8", "mkl", "cudatoolkit=11.1", "numpy 1.19|1.20",
            "cloudpickle=1.6.0", {"pip": ["mlflow"]}, "scikit-learn=0.24"]
    result = translate_conda_dependencies(deps, covered=["torch==1.8.1", "numpy==1.20.1", "mkl==2021.4"])
    assert result.translated == {"scikit-learn==0.23.2.*": "scikit-learn=0.23.2",
                                 "cloudpickle==1.6.0.*": "cloudpickle=1.6.0"}  # first of two same-named wins
    # mkl and the numpy OR are covered by the pip lines given for them; nothing covers cudatoolkit
    assert result.untranslatable == {"cudatoolkit=11.1": "not a Python package on PyPI"}


# --- a model's environment ---------------------------------------------------------------------------------------

MLMODEL_1X = """\
artifact_path: model
flavors:
  python_function:
    env: conda.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    python_version: {python}
  sklearn:
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: {sklearn}
mlflow_version: {mlflow}
run_id: 5f0e1d2c3b4a59687766554433221100
utc_time_created: '{saved}'
"""


def write_mlflow1_model(path: Path, conda_deps: list[str], *, pip: list[str] | None = None,
                        requirements_txt: list[str] | None = None, mlflow: str = "1.17.0",
                        python: str = "3.8.10", sklearn: str = "0.23.2",
                        saved: str = "2021-06-01 10:11:12.131415") -> Path:
    """An MLflow 1.x model with a custom conda_env: conda packages, maybe a pip section, maybe (1.18+)
    requirements.txt; no python_env.yaml (MLflow 1.x never wrote one)."""
    path.mkdir(parents=True)
    (path / "MLmodel").write_text(MLMODEL_1X.format(python=python, sklearn=sklearn, mlflow=mlflow, saved=saved))
    (path / "model.pkl").write_bytes(b"not loaded by these tests")
    lines = ["channels:", "- conda-forge", "dependencies:", f"- python={python}"] + [f"- {d}" for d in conda_deps]
    if pip is not None:
        lines += ["- pip:"] + [f"  - {p}" for p in pip]
    (path / "conda.yaml").write_text("\n".join(lines + ["name: mlflow-env", ""]))
    if requirements_txt is not None:
        (path / "requirements.txt").write_text("".join(f"{r}\n" for r in requirements_txt))
    return path


def test_pre_118_conda_only_model_gets_its_conda_packages_as_requirements(tmp_path):
    model = write_mlflow1_model(tmp_path / "m", ["scikit-learn=0.23.2", "cloudpickle=1.6.0", "mkl", "pip"])
    env = read_model_env(ModelDir.open(model))
    assert env.python_version == "3.8.10"
    assert env.requirements == ["scikit-learn==0.23.2.*", "cloudpickle==1.6.0.*"]
    assert env.translated == {"scikit-learn==0.23.2.*": "scikit-learn=0.23.2",
                              "cloudpickle==1.6.0.*": "cloudpickle=1.6.0"}
    assert env.untranslatable == {"mkl": "not a Python package on PyPI"}
    # The conda manager still sees conda packages, untouched.
    spec = parse_conda_env(env.sources["conda"])
    assert "scikit-learn 0.23.2.*" in spec.conda_specs and "mkl" in spec.conda_specs
    assert spec.pip_requirements == ()


def test_118_plus_layout_adds_only_conda_packages_requirements_txt_lacks(tmp_path):
    model = write_mlflow1_model(tmp_path / "m", ["pip", "pytorch=1.8.1", "py-xgboost=1.3.3"], mlflow="1.20.2",
                                pip=["mlflow", "torch==1.8.1"], requirements_txt=["mlflow", "torch==1.8.1"])
    env = read_model_env(ModelDir.open(model))
    assert env.requirements == ["mlflow", "torch==1.8.1", "xgboost==1.3.3.*"]
    assert env.translated == {"xgboost==1.3.3.*": "py-xgboost=1.3.3"} and env.untranslatable == {}
    report = json.loads(run_cli("inspect", "-m", str(model), "--json", check=True).stdout)
    assert not any("disagree" in p for p in report["problems"])  # translated lines are not pip-section lines


def test_models_with_python_env_yaml_are_not_translated(tmp_path):
    model = write_mlflow1_model(tmp_path / "m", ["scikit-learn=0.23.2", "mkl"], pip=["cloudpickle==1.6.0"],
                                requirements_txt=["cloudpickle==1.6.0"])
    (model / "python_env.yaml").write_text("python: 3.8.10\nbuild_dependencies: [pip]\n"
                                           "dependencies: [-r requirements.txt]\n")
    (model / "MLmodel").write_text((model / "MLmodel").read_text().replace(
        "env: conda.yaml", "env:\n      conda: conda.yaml\n      virtualenv: python_env.yaml"))
    env = read_model_env(ModelDir.open(model))
    assert env.requirements == ["cloudpickle==1.6.0"] and env.translated == {} and env.untranslatable == {}


def test_the_venv_cache_key_follows_the_translated_requirements(tmp_path):
    def key(conda_deps):
        path = write_mlflow1_model(tmp_path / str(len(list(tmp_path.iterdir()))), conda_deps)
        env = read_model_env(ModelDir.open(path))
        return EnvCache.key_for(venv_cache_fields(python_version=env.python_version, tool="uv",
                                                  build_dependencies=env.build_dependencies,
                                                  requirements=env.requirements, constraints=env.constraints))

    assert key(["scikit-learn=0.23.2"]) == key(["scikit-learn 0.23.2.*"])  # same meaning, same env
    assert key(["scikit-learn=0.23.2"]) != key(["scikit-learn=0.24.1"])
    assert key(["scikit-learn=0.23.2"]) != key(["scikit-learn=0.23.2", "cloudpickle=1.6.0"])


def test_update_pip_requirements_leaves_translated_lines_out_of_the_pip_files(tmp_path):
    model = write_mlflow1_model(tmp_path / "m", ["pip", "scikit-learn=0.23.2", "mkl"], mlflow="1.20.2",
                                pip=["mlflow"], requirements_txt=["mlflow"])
    run_cli("update-pip-requirements", "-m", str(model), "add", "mkl==2021.4.0", check=True)
    assert (model / "requirements.txt").read_text() == "mlflow\nmkl==2021.4.0\n"
    env = read_model_env(ModelDir.open(model))
    assert env.requirements == ["mlflow", "mkl==2021.4.0", "scikit-learn==0.23.2.*"]
    assert env.untranslatable == {}  # the pip line now covers mkl: nothing left to warn about
    report = json.loads(run_cli("inspect", "-m", str(model), "--json", check=True).stdout)
    assert report["problems"] == []


def test_inspect_lists_translated_requirements_and_why(tmp_path):
    model = write_mlflow1_model(tmp_path / "m", ["scikit-learn=0.23.2", "cudatoolkit=11.1", "numpy 1.19|1.20"],
                                pip=["mlflow"])
    report = json.loads(run_cli("inspect", "-m", str(model), "--json", check=True).stdout)
    assert report["requirements"] == ["mlflow", "scikit-learn==0.23.2.*"]
    assert report["translated_from_conda"] == {"scikit-learn==0.23.2.*": "scikit-learn=0.23.2"}
    assert report["untranslatable_conda"] == {"cudatoolkit=11.1": "not a Python package on PyPI",
                                              "numpy 1.19|1.20": "conda's OR ('|') has no PEP 440 equivalent"}
    [problem] = [p for p in report["problems"] if "no pip equivalent" in p]
    assert "`cudatoolkit=11.1`" in problem and "`numpy 1.19|1.20`" in problem and "--env-manager conda" in problem
    text = run_cli("inspect", "-m", str(model), "--why", check=True).stdout
    assert "  scikit-learn==0.23.2.*\n    - translated from conda.yaml (`scikit-learn=0.23.2`)\n" in text
    assert "  mlflow\n    - no record" in text


@pytest.mark.slow
def test_conda_only_mlflow_117_model_builds_a_uv_env_with_its_conda_packages(tmp_path):
    """End to end: MLflow 1.17's layout with packages only as conda packages → a uv env that has them."""
    import cloudpickle
    import sklearn

    python = ".".join(map(str, sys.version_info[:3]))
    model = write_mlflow1_model(tmp_path / "model", [f"scikit-learn={sklearn.__version__}",
                                                     f"cloudpickle={cloudpickle.__version__}", "mkl"],
                                python=python, sklearn=sklearn.__version__,
                                # dated now: it pins today's packages (time-faithful resolution would refuse
                                # a 2021 model asking for them, rightly)
                                saved=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"))
    proc = run_cli("env", "create", "-m", str(model), "--env-manager", "uv", check=True, timeout=900)
    prefix = Path(proc.stdout.strip().splitlines()[-1])
    [warning] = [line for line in proc.stderr.splitlines() if "no pip equivalent" in line]
    assert "WARNING" in warning and "`mkl` (not a Python package on PyPI)" in warning
    assert "--env-manager conda" in warning and "update-pip-requirements" in warning
    out = subprocess.run([str(prefix / "bin" / "python"), "-c",
                          "import sklearn, cloudpickle; print(sklearn.__version__, cloudpickle.__version__)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == [sklearn.__version__, cloudpickle.__version__]
    report = json.loads(run_cli("inspect", "-m", str(model), "--json", check=True).stdout)
    assert report["translated_from_conda"] == {
        f"scikit-learn=={sklearn.__version__}.*": f"scikit-learn={sklearn.__version__}",
        f"cloudpickle=={cloudpickle.__version__}.*": f"cloudpickle={cloudpickle.__version__}"}
    assert f"scikit-learn=={sklearn.__version__}.*" in report["requirements"]


@pytest.mark.slow
def test_a_real_mlflow_117_conda_only_model_predicts_as_recorded_in_a_uv_env(conda_only_sklearn, tmp_path):
    """The model MLflow 1.17 saved (tests/old_mlflow.py), its packages only conda packages: the uv env has the
    exact scikit-learn and cloudpickle it was saved with and predicts what MLflow 1.17 predicted."""
    old = conda_only_sklearn
    pins = dict(line.split("==") for line in old.packages)
    proc = run_cli("env", "create", "-m", str(old.path), "--env-manager", "uv", check=True, timeout=900)
    assert "no pip equivalent" not in proc.stderr
    prefix = Path(proc.stdout.strip().splitlines()[-1])
    out = subprocess.run([str(prefix / "bin" / "python"), "-c",
                          "import sklearn, cloudpickle; print(sklearn.__version__, cloudpickle.__version__)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == [pins["scikit-learn"], pins["cloudpickle"]]
    # No pandas in this env (mlflow, which brought it, went with the pip section): score plain rows.
    rows = json.loads(old.input_json.read_text())["dataframe_split"]["data"]
    (tmp_path / "input.json").write_text(json.dumps({"instances": rows}))
    scored = run_cli("predict", "-m", str(old.path), "-i", str(tmp_path / "input.json"), "--env-manager", "uv",
                     check=True, timeout=900)
    assert json.loads(scored.stdout)["predictions"] == old.expected
