from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest

from envrepro.envs.cache import EnvCache
from envrepro.envs.conda_spec import (
    MultiplePipBlocksWarning,
    parse_channel_alias,
    parse_conda_env,
    resolve_channel,
    spec_channel,
)
from envrepro.errors import ModelFormatError, RequirementError

pytest.importorskip("rattler")


def write(directory: Path, text: str, name: str = "conda.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_channels_as_names_urls_and_paths(tmp_path):
    (tmp_path / "chan").mkdir()
    path = write(tmp_path, """
        name: demo
        channels:
          - conda-forge
          - https://mirror.example/conda/bioconda/
          - file:///srv/channels/internal
          - ./chan
          - nodefaults
        dependencies:
          - python=3.11.7
          - numpy
    """)
    spec = parse_conda_env(path)
    assert spec.name == "demo"
    assert spec.nodefaults is True
    assert "nodefaults" not in spec.channels
    assert spec.channels == ("conda-forge", "https://mirror.example/conda/bioconda/", "file:///srv/channels/internal",
                             "./chan")
    assert spec.resolved_channels() == [
        "https://conda.anaconda.org/conda-forge",
        "https://mirror.example/conda/bioconda",
        "file:///srv/channels/internal",
        (tmp_path / "chan").resolve().as_uri(),  # relative to conda.yaml, not to the cwd
    ]
    assert spec.python_version == "3.11.7"
    assert spec.source == path.resolve()


def test_channel_prefixed_specs_are_mapped_and_added_as_sources(tmp_path):
    spec = parse_conda_env(write(tmp_path, """
        channels: [conda-forge]
        dependencies:
          - bioconda::samtools=1.19
          - conda-forge/label/main::numpy>=1.26
    """))
    assert spec_channel(spec.conda_specs[0]) == "bioconda"
    assert spec_channel(spec.conda_specs[1]) == "conda-forge"
    alias = {"conda-forge": "/mirror/cf", "bioconda": "https://mirror.example/bio"}
    assert spec.resolved_channels(alias) == ["file:///mirror/cf", "https://mirror.example/bio"]
    assert spec.resolved_specs(alias) == ["https://mirror.example/bio::samtools 1.19.*",
                                          "file:///mirror/cf::numpy >=1.26"]


def test_every_pip_block_is_read_and_conda_behaviour_is_warned(tmp_path):
    (tmp_path / "extra.txt").write_text("requests==2.31.0\n-c pins.txt\n")
    (tmp_path / "pins.txt").write_text("urllib3<2\n")
    path = write(tmp_path, """
        channels: [conda-forge]
        dependencies:
          - python=3.11
          - pip
          - pip:
              - scikit-learn==1.5.2
          - numpy
          - pip:
              - Pandas >= 2.0
              - -r extra.txt
    """)
    with pytest.warns(MultiplePipBlocksWarning, match="2 'pip:' blocks"):
        spec = parse_conda_env(path)
    assert spec.pip_requirements == ("pandas>=2.0", "requests==2.31.0", "scikit-learn==1.5.2")
    assert spec.pip_constraints == ("urllib3<2",)
    assert spec.conda_specs == ("python 3.11.*", "pip", "numpy")
    assert spec.python_version == "3.11"


def test_single_pip_block_does_not_warn(tmp_path):
    path = write(tmp_path, "channels: [conda-forge]\ndependencies: [python=3.11, {pip: [six]}]\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_conda_env(path).pip_requirements == ("six",)


def test_missing_channels_means_defaults_which_must_be_mapped(tmp_path):
    path = write(tmp_path, "dependencies: [python=3.8.10, pip, {pip: [mlflow]}]\n")
    spec = parse_conda_env(path)
    assert spec.channels == ("defaults",) and spec.implicit_defaults
    with pytest.raises(ModelFormatError) as info:
        spec.resolved_channels()
    message = str(info.value)
    assert str(path.resolve()) in message and "'defaults'" in message
    assert "--channel-alias defaults=" in message and "envrepro audit --fix" in message
    # mapped to another name, which is itself mapped (an air-gapped mirror)
    alias = {"defaults": "conda-forge", "conda-forge": str(tmp_path / "mirror")}
    assert spec.resolved_channels(alias) == [(tmp_path / "mirror").resolve().as_uri()]


def test_explicit_defaults_channel_is_the_same_problem(tmp_path):
    spec = parse_conda_env(write(tmp_path, "channels: [defaults]\ndependencies: [python=3.7.3]\n"))
    assert not spec.implicit_defaults
    with pytest.raises(ModelFormatError, match="defaults"):
        spec.resolved_channels()
    assert spec.resolved_channels({"defaults": "https://mirror.example/main"}) == ["https://mirror.example/main"]


def test_alias_for_every_name_and_for_spelled_out_anaconda_urls():
    alias = {"*": "https://mirror.example/conda", "conda-forge": "file:///srv/cf"}
    assert resolve_channel("bioconda", alias) == "https://mirror.example/conda/bioconda"
    assert resolve_channel("https://conda.anaconda.org/conda-forge/", alias) == "file:///srv/cf"
    assert resolve_channel("https://conda.anaconda.org/pytorch", alias) == "https://conda.anaconda.org/pytorch"
    with pytest.raises(ModelFormatError, match="loops"):
        resolve_channel("a", {"a": "b", "b": "a"})


def test_parse_channel_alias_arguments():
    assert parse_channel_alias(["conda-forge=/srv/cf", " * = https://m.example/c "]) == {
        "conda-forge": "/srv/cf", "*": "https://m.example/c"}
    with pytest.raises(ModelFormatError, match="NAME=URL_OR_PATH"):
        parse_channel_alias(["conda-forge"])


def test_equivalent_spellings_normalize_and_hash_equal(tmp_path):
    a = write(tmp_path, """
        name: one
        channels: [conda-forge, bioconda]
        dependencies:
          - numpy=1.26
          - python=3.11.7
          - pip:
              - Scikit_Learn==1.5.2
              - pandas>=2,<3
    """, "a.yaml")
    b = write(tmp_path, """
        name:    two   # the name does not matter
        channels:
          - conda-forge
          - bioconda
        dependencies:
          - python 3.11.7.*
          - numpy   1.26.*
          - pip:
            - pandas <3, >=2
            - scikit-learn == 1.5.2
    """, "b.yaml")
    spec_a, spec_b = parse_conda_env(a), parse_conda_env(b)
    assert EnvCache.key_for(spec_a.cache_fields()) == EnvCache.key_for(spec_b.cache_fields())
    # '==' is an exact pin, '=' a prefix match: different environments, different keys
    exact = parse_conda_env({"channels": ["conda-forge", "bioconda"],
                             "dependencies": ["numpy==1.26", "python=3.11.7",
                                              {"pip": ["scikit-learn==1.5.2", "pandas>=2,<3"]}]})
    assert EnvCache.key_for(exact.cache_fields()) != EnvCache.key_for(spec_a.cache_fields())
    # channel order is priority: it changes the key
    swapped = parse_conda_env({"channels": ["bioconda", "conda-forge"],
                               "dependencies": ["numpy=1.26", "python=3.11.7",
                                                {"pip": ["scikit-learn==1.5.2", "pandas>=2,<3"]}]})
    assert EnvCache.key_for(swapped.cache_fields()) != EnvCache.key_for(spec_a.cache_fields())


@pytest.mark.parametrize(("dependency", "version"), [
    ("python=3.11.7", "3.11.7"), ("python==3.10.4", "3.10.4"), ("python 3.12.*", "3.12"),
    ("conda-forge::python=3.9", "3.9"), ("python>=3.9", None), ("pythonnet=3.0", None),
])
def test_python_version_from_dependencies(dependency, version):
    assert parse_conda_env({"channels": ["conda-forge"], "dependencies": [dependency]}).python_version == version


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path, "channels: [conda-forge\ndependencies:\n  - python\n")
    with pytest.raises(ModelFormatError) as info:
        parse_conda_env(path)
    assert str(path) in str(info.value) and "line" in str(info.value)


@pytest.mark.parametrize(("text", "needle"), [
    ("channels: conda-forge\n", "'channels' must be a list"),
    ("dependencies: numpy\n", "'dependencies' must be a list"),
    ("dependencies: [numpy=>1]\n", "invalid conda spec 'numpy=>1'"),
    ("dependencies: [{pip: six}]\n", "'pip' must be a list"),
    ("dependencies: [{npm: [left-pad]}]\n", "unexpected dependency"),
    ("- just\n- a list\n", "expected a dict"),
])
def test_malformed_content_is_a_clear_error(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ModelFormatError, match=needle) as info:
        parse_conda_env(path)
    assert str(path) in str(info.value)


def test_invalid_pip_line_is_a_requirement_error(tmp_path):
    with pytest.raises(RequirementError, match="not a requirement|invalid requirement"):
        parse_conda_env(write(tmp_path, "dependencies: [{pip: ['--index-url http://x']}]\n"))
