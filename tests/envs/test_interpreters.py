from __future__ import annotations

import json
import os
import re
import stat
import sys
import warnings
from pathlib import Path

import pytest

from envrepro.envs.interpreters import InterpreterVersionWarning, discover_interpreters, find_interpreter, install_hint
from envrepro.errors import EnvironmentBuildError

PY = "%d.%d.%d" % sys.version_info[:3]


def fake_python(directory: Path, name: str, version: str, implementation: str = "CPython") -> Path:
    """An executable that answers envrepro's version probe like an interpreter of ``version`` would."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\nprintf '%s' '{version} {implementation}'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def fakes(tmp_path):
    bin_dir = tmp_path / "bin"
    fake_python(bin_dir, "python3.98", "3.98.2")
    fake_python(bin_dir, "python3.99", "3.99.4")
    fake_python(bin_dir / "pypy", "python3.99", "3.99.7", "PyPy")
    fake_python(tmp_path / "other", "python", "3.99.1")
    fake_python(bin_dir, "python3.99-config", "9.9.9")  # not an interpreter name: ignored
    return tmp_path


def test_exact_version_of_the_running_interpreter():
    found = find_interpreter(PY)
    assert found.version == PY and found.exact
    assert os.access(found.path, os.X_OK)


def test_exact_match_wins_over_search_order(fakes):
    found = find_interpreter("3.99.1", search=[fakes / "bin", fakes / "other"])
    assert found.path == fakes / "other" / "python" and found.exact


def fake_uv(directory: Path, *versions: str) -> Path:
    """A `uv` whose `python list --only-downloads --output-format json` offers CPython ``versions``."""
    entries = [{"key": f"cpython-{v}-linux-x86_64-gnu", "version": v, "implementation": "cpython",
                "variant": "default", "path": None, "url": f"https://example.invalid/cpython-{v}.tar.gz"}
               for v in versions] + [{"key": "pypy-3.97.3", "version": "3.97.3", "implementation": "pypy"}]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "uv"
    path.write_text("#!/bin/sh\n[ \"$1 $2\" = 'python list' ] || exit 2\n"
                    f"cat <<'EOF'\n{json.dumps(entries)}\nEOF\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def uv_offers(tmp_path, monkeypatch):
    def offer(*versions: str) -> None:
        monkeypatch.setenv("ENVREPRO_UV", str(fake_uv(tmp_path / "fake-uv", *versions)))
    return offer


def test_same_minor_version_with_a_warning_naming_the_fix(fakes, uv_offers):
    uv_offers("3.99.0", "3.99.4")
    with pytest.warns(InterpreterVersionWarning, match=r"Python 3\.99\.0 not found; using 3\.99\.4.*"
                                                       r"`uv python install 3\.99\.0`"):
        found = find_interpreter("3.99.0", search=[fakes / "bin", fakes / "bin" / "pypy"])
    # CPython preferred over a PyPy of a higher patch release
    assert (found.version, found.implementation, found.exact) == ("3.99.4", "CPython", False)


def test_minor_only_request_takes_the_highest_patch_silently(fakes):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        found = find_interpreter("3.99", search=[fakes / "bin", fakes / "other"])
    assert found.version == "3.99.4" and found.exact


def test_no_match_lists_what_was_found_and_how_to_get_it(fakes, uv_offers):
    uv_offers("3.97.3", "3.99.4")
    with pytest.raises(EnvironmentBuildError) as info:
        find_interpreter("3.97.3", search=[fakes / "bin", fakes / "other"])
    message = str(info.value)
    assert "no Python 3.97.3 found" in message
    assert f"3.98.2 ({fakes / 'bin' / 'python3.98'})" in message and "3.99.1" in message
    assert "install it with `uv python install 3.97.3`, or add its directory" in message
    assert "9.9.9" not in message


@pytest.mark.parametrize("offered, hint", [
    ((), "`pyenv install 3.97.3`"),  # uv has no such download (a PyPy 3.97.3 is not CPython)
    (("3.97.1", "3.98.2"), "`pyenv install 3.97.3` (or `uv python install 3.97`, the same minor version)"),
    (("3.97.3",), "`uv python install 3.97.3`"),
])
def test_the_hint_names_uv_only_for_versions_it_can_download(fakes, uv_offers, offered, hint):
    uv_offers(*offered)
    with pytest.raises(EnvironmentBuildError, match=re.escape(f"install it with {hint}, or add")):
        find_interpreter("3.97.3", search=[fakes / "bin"])


def test_without_uv_the_hint_is_pyenv(fakes, monkeypatch):
    monkeypatch.setenv("ENVREPRO_UV", str(fakes / "no-such-uv"))
    with pytest.raises(EnvironmentBuildError, match=re.escape("install it with `pyenv install 3.96.2`")):
        find_interpreter("3.96.2", search=[fakes / "other"])


def test_real_uv_offers_no_python_3_7_download():
    # uv's own list (offline): CPython 3.8+ builds, nothing for 3.6 or 3.7; the hint must not send people there.
    assert install_hint("3.7.16") == "`pyenv install 3.7.16`" and install_hint("3.6.15") == "`pyenv install 3.6.15`"
    assert install_hint("3.8.18") == "`uv python install 3.8.18`"


def test_search_environment_variable_is_searched_first(fakes, monkeypatch):
    monkeypatch.setenv("ENVREPRO_PYTHON_SEARCH", os.pathsep.join([str(fakes / "other"), str(fakes / "bin")]))
    found = discover_interpreters()
    assert [i.version for i in found[:3]] == ["3.99.1", "3.98.2", "3.99.4"]
    assert any(i.version == PY for i in found)  # the running interpreter is still there


def test_real_pyenv_versions_are_discovered():
    pyenv_versions = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    installed = sorted(p.name for p in pyenv_versions.glob("3.*") if (p / "bin").is_dir())
    if len(installed) < 2:
        pytest.skip("needs at least two pyenv-installed Pythons")
    found = {i.version for i in discover_interpreters()}
    assert set(installed) <= found
    other = next(v for v in installed if v != PY)
    assert find_interpreter(other).version == other


def test_invalid_version_is_rejected():
    with pytest.raises(EnvironmentBuildError, match="invalid Python version"):
        find_interpreter("latest")


@pytest.mark.parametrize("version", ["3.11; rm -rf /", "3.11.7 && true", "3.11x", "three"])
def test_a_version_must_be_a_version_and_nothing_more(version):
    with pytest.raises(EnvironmentBuildError, match="invalid Python version"):
        find_interpreter(version, search=[sys.executable])


@pytest.mark.parametrize("version", ["3", "3.11", "3.11.7", "3.11.*", "3.13.0rc1", " 3.11.7 "])
def test_versions_models_record_are_accepted(version):
    from envrepro.envfiles import python_release

    assert python_release(version) is not None
