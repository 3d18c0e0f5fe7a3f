"""Conda match specs (conda.yaml ``dependencies``) → PEP 508 pip requirements, for uv/virtualenv envs.

MLflow 1.x models (before 1.18, and any model logged with a custom ``conda_env``) list packages as conda
packages (``- scikit-learn=0.23.2``) with no pip section. A venv cannot install conda packages, so each one is
translated: its name through a conda → PyPI map (``pytorch`` → ``torch``), its version from conda's syntax to
PEP 440 (``=1.2`` → ``==1.2.*``). What has no pip equivalent (system libraries, CUDA, MKL, conda's own
metapackages, an OR of versions) is reported as untranslatable, never dropped silently.

The name map is a hand-kept table of the common cases where the names differ, checked against conda-forge's
conda → PyPI mapping (prefix.dev's parselmouth, which pixi uses) and grayskull's; any other name is taken
to be the same on PyPI. See docs/environments.md, "How conda dependencies become pip requirements".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .requirements import requirement_name

# Handled by the venv code itself: the python version, and pip among the build dependencies.
HANDLED_ELSEWHERE = frozenset({"python", "pip"})

# Conda name → PyPI name, where they differ (conda names are lowercase).
CONDA_TO_PYPI: dict[str, str] = {
    # Deep learning
    "pytorch": "torch", "pytorch-cpu": "torch", "pytorch-gpu": "torch",
    "torchvision-cpu": "torchvision", "torchaudio-cpu": "torchaudio",
    "pytorch_geometric": "torch-geometric", "pytorch_scatter": "torch-scatter", "pytorch_sparse": "torch-sparse",
    "pytorch_cluster": "torch-cluster", "pytorch_spline_conv": "torch-spline-conv",
    "tensorflow-base": "tensorflow", "tensorflow-mkl": "tensorflow", "tensorflow-eigen": "tensorflow",
    "keras-gpu": "keras",
    "py-mxnet": "mxnet",
    "faiss": "faiss-cpu",
    "cupy-core": "cupy",
    "nvidia-apex": "apex",
    # Gradient boosting (Anaconda's defaults and conda-forge split the Python part from the library)
    "py-xgboost": "xgboost", "py-xgboost-cpu": "xgboost", "py-xgboost-gpu": "xgboost",
    "py-lightgbm": "lightgbm",
    "py-catboost": "catboost",
    # The Python part of packages split into a library and a Python package
    "numpy-base": "numpy",
    "matplotlib-base": "matplotlib",
    "seaborn-base": "seaborn",
    "geopandas-base": "geopandas",
    "astropy-base": "astropy",
    "pymc-base": "pymc",
    "pytensor-base": "pytensor",
    "vtk-base": "vtk",
    "pyarrow-core": "pyarrow",
    "dask-core": "dask",
    "modin-core": "modin",
    "panel-core": "panel",
    "nbconvert-core": "nbconvert",
    "fastapi-core": "fastapi",
    "starlette-base": "starlette",
    "sentencepiece-python": "sentencepiece",
    "brotli-python": "brotli",
    "py-opencv": "opencv-python", "opencv": "opencv-python",
    "python-graphviz": "graphviz",   # conda's "graphviz" is the C program (untranslatable below)
    "python-tzdata": "tzdata",       # conda's "tzdata" is the IANA database
    "python-zstd": "zstd",           # conda's "zstd" is the C library
    "tbb4py": "tbb",                 # conda's "tbb" is the C++ library
    "pyqt": "pyqt5", "pyqt-impl": "pyqt5",
    # Renamed or prefixed on conda
    "pytables": "tables",
    "msgpack-python": "msgpack",
    "pysoundfile": "soundfile",
    "docker-py": "docker",
    "redis-py": "redis",
    "filesystem-spec": "fsspec",
    "h2o-py": "h2o",
    "h3-py": "h3",
    "tiledb-py": "tiledb",
    "python-duckdb": "duckdb",
    "python-kubernetes": "kubernetes",
    "python-flatbuffers": "flatbuffers",
    "python-xxhash": "xxhash",
    "python-fastjsonschema": "fastjsonschema",
    "python-annoy": "annoy",
    "python-blosc": "blosc",
    "python-lmdb": "lmdb",
    "python-symengine": "symengine",
    "python-sounddevice": "sounddevice",
    "python-confluent-kafka": "confluent-kafka",
    "python-libarchive-c": "libarchive-c",
    "python-build": "build",
    "python-installer": "installer",
    "python-kaleido": "kaleido",
    "pvlib-python": "pvlib",
    "ortools-python": "ortools",
    "trino-python-client": "trino",
    "neo4j-python-driver": "neo4j",
    "sagemaker-python-sdk": "sagemaker",
    "quaternion": "numpy-quaternion",
    "cython-blis": "blis",
    "multicore-tsne": "multicoretsne",
    "spotify-voyager": "voyager",
}

# Conda packages with no pip counterpart: system libraries, compilers, CUDA, BLAS/MKL, conda metapackages.
NO_PIP_EQUIVALENT = frozenset({
    "anaconda", "conda", "conda-build", "nomkl", "cpuonly", "python_abi",
    "blas", "mkl", "mkl-include", "mkl-devel", "intel-openmp", "llvm-openmp", "openmp", "openblas", "tbb",
    "tbb-devel", "cudatoolkit", "cudatoolkit-dev", "cudnn", "cutensor", "nccl", "magma", "cuda", "cupti",
    "pytorch-cuda", "pytorch-mutex",
    "openssl", "ca-certificates", "zlib", "xz", "bzip2", "lz4-c", "zstd", "snappy", "brotli-bin", "sqlite",
    "readline", "ncurses", "tk", "tzdata", "yaml", "icu", "gmp", "mpfr", "mpc", "hdf5", "jpeg", "giflib",
    "lerc", "freetype", "fontconfig", "expat", "pcre", "pcre2", "krb5", "c-ares", "curl", "openldap",
    "gettext", "glib", "cairo", "pango", "harfbuzz", "pixman", "graphite2", "dbus", "qt", "qt-main",
    "gstreamer", "gst-plugins-base", "nspr", "nss", "ffmpeg", "x264", "openh264", "lame", "graphviz", "git",
    "openjdk", "nodejs", "perl", "gcc", "gxx", "gfortran", "make", "binutils", "boost", "boost-cpp",
    "eigen", "arrow-cpp", "parquet-cpp", "grpc-cpp", "abseil-cpp", "re2", "glog", "gflags", "thrift-cpp",
    "orc", "utf8proc", "aws-sdk-cpp", "zeromq", "unixodbc", "postgresql", "mysql", "pthread-stubs",
    "vc", "vs2015_runtime", "vc14_runtime", "ucrt",
})
# Name patterns of non-Python conda packages: C/C++ libraries (lib*), conda's mutexes and virtual packages
# (_*), CUDA components, R and Perl packages, X11, fonts, MSYS2, per-platform toolchain pieces.
NO_PIP_PATTERNS = ("lib*", "_*", "cuda-*", "magma-*", "r-*", "perl-*", "xorg-*", "font-ttf-*", "fonts-*",
                   "m2w64-*", "msys2-*", "aws-c-*", "*_linux-*", "*_osx-*", "*_win-*")
# Python packages whose names fall under those patterns anyway (a pip name of its own, same on PyPI).
PYTHON_DESPITE_PATTERN = frozenset({
    "librosa", "libcst", "libpysal", "libsass", "libtmux", "libusb1", "librabbitmq", "libmambapy",
    "cuda-python", "cuda-bindings", "cuda-core", "cuda-pathfinder",
})

# What a user can do about an untranslatable package (said by env builds and by inspect).
UNTRANSLATABLE_HINT = ("use `--env-manager conda`, or add a pip equivalent with "
                       "`envrepro update-pip-requirements -m {model} add REQUIREMENT`")

_NAME = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.+\-]*)")
_BRACKET_ITEM = re.compile(r"""(\w+)\s*=\s*('[^']*'|"[^"]*"|[^,]*)""")
_OPERATOR = re.compile(r"^(==|!=|>=|<=|~=|>|<|=)?(.*)$")


class NoPipEquivalent(ValueError):
    """A conda spec that cannot become a pip requirement; the message says why."""


@dataclass
class CondaTranslation:
    """What became of conda.yaml's conda packages for a venv."""

    translated: dict[str, str] = field(default_factory=dict)      # pip requirement -> original conda spec
    untranslatable: dict[str, str] = field(default_factory=dict)  # original conda spec -> why


def pypi_name(conda_name: str) -> str:
    """The PyPI name of a conda package (itself unless the map says otherwise)."""
    name = conda_name.lower()
    return CONDA_TO_PYPI.get(name, name)


def has_pip_equivalent(conda_name: str) -> bool:
    """False for the non-Python packages: NO_PIP_EQUIVALENT and NO_PIP_PATTERNS, less the exceptions."""
    name = conda_name.lower()
    if name in CONDA_TO_PYPI or name in PYTHON_DESPITE_PATTERN:
        return True
    return name not in NO_PIP_EQUIVALENT and not any(fnmatchcase(name, p) for p in NO_PIP_PATTERNS)


def conda_spec_to_pip(spec: str) -> str | None:
    """The PEP 508 requirement for one conda match spec; None for python and pip (handled elsewhere).

    Raises :class:`NoPipEquivalent` naming why when there is none.
    """
    name, version, exact = _split_spec(spec)
    if name.lower() in HANDLED_ELSEWHERE:
        return None
    if not has_pip_equivalent(name):
        raise NoPipEquivalent("not a Python package on PyPI")
    specifier = _pep440_specifier(version, exact)
    requirement = f"{pypi_name(name)}{specifier}"
    try:
        Requirement(requirement)
    except InvalidRequirement:
        raise NoPipEquivalent(f"{requirement!r} is not a valid pip requirement") from None
    return requirement


def translate_conda_dependencies(dependencies: Iterable[Any], *, covered: Iterable[str] = ()) -> CondaTranslation:
    """Translate conda.yaml's conda packages (``pip:`` blocks are skipped), except those a pip requirement
    in ``covered`` already names (by PyPI name, or by the conda name for an untranslatable one)."""
    taken = {requirement_name(line) for line in covered} - {None}
    result = CondaTranslation()
    for dep in dependencies:
        if isinstance(dep, dict) or isinstance(dep, bool) or dep is None:
            continue  # a pip: block (or YAML noise): not a conda package
        spec = str(dep).strip()
        if not spec:
            continue
        try:
            requirement = conda_spec_to_pip(spec)
        except NoPipEquivalent as exc:
            found = _NAME.match(spec.rpartition("::")[2].strip())
            names = {canonicalize_name(n) for n in (found.group(1), pypi_name(found.group(1)))} if found else set()
            if not names & taken:  # e.g. `mkl` in conda.yaml, `mkl==2021.4` added as a pip requirement
                result.untranslatable[spec] = str(exc)
            continue
        if requirement is None:
            continue
        name = requirement_name(requirement)
        if name not in taken:
            taken.add(name)
            result.translated[requirement] = spec
    return result


def describe_untranslatable(untranslatable: dict[str, str]) -> str:
    """```mkl`, `cudnn=8` (not a Python package on PyPI); `numpy 1.2|1.3` (...)``: for warnings and problems."""
    by_reason: dict[str, list[str]] = {}
    for spec, why in untranslatable.items():
        by_reason.setdefault(why, []).append(f"`{spec}`")
    return "; ".join(f"{', '.join(specs)} ({why})" for why, specs in by_reason.items())


def _split_spec(spec: str) -> tuple[str, str, bool]:
    """(name, conda version spec, whether a bare version means exactly that version) of a match spec.

    ``exact`` is False only for ``name=1.2`` (conda's fuzzy ``=``, i.e. ``1.2.*``); ``name 1.2``,
    ``name=1.2=build`` and ``name[version=1.2]`` mean exactly 1.2. Build strings, channels and other bracket
    keys say nothing pip can use and are dropped.
    """
    text = spec.strip().rpartition("::")[2].strip()  # channel::name, channel/label::name, URL::name
    bracket_version = None
    if text.endswith("]") and "[" in text:
        text, _, inside = text[:-1].partition("[")
        for key, value in _BRACKET_ITEM.findall(inside):
            if key == "version":
                bracket_version = value.strip().strip("'\"").strip()
    match = _NAME.match(text)
    if match is None:
        raise NoPipEquivalent("not a conda match spec")
    name, rest = match.group(1), text[match.end():].strip()
    # Spaces around operators, commas and bars carry no meaning: ">= 1, <2" is ">=1,<2".
    rest = re.sub(r"\s*([,|])\s*", r"\1", rest)
    rest = re.sub(r"(==|!=|>=|<=|~=|[<>=])\s+", r"\1", rest)
    exact = True
    if rest.startswith("=") and not rest.startswith("=="):
        version, _, build = rest[1:].partition("=")  # name=1.2 or name=1.2=build
        exact = bool(build)
        rest = version
    else:
        rest = rest.split()[0] if rest.split() else ""  # "1.2.3 h123_0": the build string follows
    if bracket_version is not None:
        rest, exact = bracket_version, True
    return name, rest, exact


def _pep440_specifier(version: str, exact: bool) -> str:
    """A conda version spec → a PEP 440 specifier ('' when unpinned)."""
    if version in ("", "*", ".*"):
        return ""
    if "|" in version:
        raise NoPipEquivalent("conda's OR ('|') has no PEP 440 equivalent")
    if version.startswith("^") or version.endswith("$"):
        raise NoPipEquivalent("a conda version regex has no PEP 440 equivalent")
    parts = []
    for item in version.split(","):
        operator, number = _OPERATOR.match(item).groups()  # type: ignore[union-attr]
        star = number.endswith("*")
        number = number.rstrip("*").rstrip(".")
        if not number or "*" in number:
            raise NoPipEquivalent(f"version {item!r} has no PEP 440 equivalent")
        try:
            parsed = Version(number)
        except InvalidVersion:
            raise NoPipEquivalent(f"version {number!r} is not a PEP 440 version") from None
        if not operator or operator == "=":
            # A bare version is exact, except conda's fuzzy name=1.2 (and =1.2 in a list): 1.2 and 1.2.x.
            star = star or operator == "=" or not exact
            operator = "=="
        if parsed.is_prerelease or parsed.is_postrelease or parsed.local:
            star = False  # PEP 440 forbids 1.0rc1.*; conda's 1.0rc1.* means 1.0rc1 in practice
        if operator in ("==", "!="):
            parts.append(f"{operator}{number}.*" if star else f"{operator}{number}")
        else:
            parts.append(f"{operator}{number}")  # conda ignores a star after >=, <, ~=...
    return ",".join(parts)
