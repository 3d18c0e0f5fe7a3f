from __future__ import annotations

import pytest

from envrepro.audit.channels import classify_channel, classify_url, replace_spec_channel, spec_channel_span

ANACONDA = [
    "defaults", "DEFAULTS", "main", "r", "msys2", "free", "pro", "mro", "anaconda", "anaconda/label/dev",
    "pkgs/main", "pkgs/r", "pkgs/msys2", "pkgs/free", "pkgs/pro", "pkgs/main/linux-64", "defaults/noarch",
    "https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/main/", "repo.anaconda.com/pkgs/r",
    "http://repo.continuum.io/pkgs/free", "https://repo.anaconda.cloud/repo/main",
    "https://conda.anaconda.org/anaconda", "conda.anaconda.org/anaconda", "https://anaconda.org/anaconda",
    "https://conda.anaconda.org/t/tk-123-abc/anaconda", "https://conda.anaconda.org/r/linux-64",
]
NOT_ANACONDA = [
    "conda-forge", "nodefaults", "pytorch", "nvidia", "bioconda", "rapidsai", "conda-forge/label/dev",
    "https://conda.anaconda.org/conda-forge", "conda.anaconda.org/pytorch", "file:///srv/channel",
    "https://prefix.dev/conda-forge", "http://localhost:8000/main-mirror", "mainline", "anaconda-extras-x",
    "https://conda.anaconda.org/conda-forge/label/main", "",
]


@pytest.mark.parametrize("channel", ANACONDA)
def test_anaconda_channels_are_recognised(channel):
    assert classify_channel(channel) is not None


@pytest.mark.parametrize("channel", NOT_ANACONDA)
def test_other_channels_are_not(channel):
    assert classify_channel(channel) is None


@pytest.mark.parametrize(("url", "flagged"), [
    ("https://repo.anaconda.com/pkgs/main/linux-64/numpy-1.26.4-py311h08b1b3b_0.conda#abc", True),
    ("https://conda.anaconda.org/anaconda/noarch/six-1.16.0-pyhd3eb1b0_1.tar.bz2", True),
    ("https://conda.anaconda.org/conda-forge/noarch/six-1.16.0-pyh6c4a22f_0.tar.bz2", False),
    ("https://files.pythonhosted.org/packages/aa/bb/six-1.16.0-py2.py3-none-any.whl", False),
    ("numpy-1.26.4-py311_0.conda", False),
])
def test_package_urls(url, flagged):
    assert (classify_url(url) is not None) is flagged


@pytest.mark.parametrize(("spec", "channel", "fixed"), [
    ("defaults::mkl", "defaults", "conda-forge::mkl"),
    ("pkgs/main::numpy>=1.20", "pkgs/main", "conda-forge::numpy>=1.20"),
    ("pkgs/main/linux-64::numpy", "pkgs/main/linux-64", "conda-forge/linux-64::numpy"),
    ("https://repo.anaconda.com/pkgs/main::x", "https://repo.anaconda.com/pkgs/main", "conda-forge::x"),
    ("mkl[channel=anaconda, version='2023.*']", "anaconda", "mkl[channel=conda-forge, version='2023.*']"),
    ("mkl[channel='pkgs/main']", "pkgs/main", "mkl[channel='conda-forge']"),
])
def test_channel_prefixed_specs_are_rewritten(spec, channel, fixed):
    assert spec_channel_span(spec)[0] == channel
    assert replace_spec_channel(spec, "conda-forge") == fixed


@pytest.mark.parametrize("spec", ["conda-forge::mkl", "numpy>=1.20", "python=3.10", "mkl[channel=conda-forge]"])
def test_specs_without_anaconda_channel_are_left_alone(spec):
    assert replace_spec_channel(spec, "conda-forge") is None
