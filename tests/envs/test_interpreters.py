from __future__ import annotations

import json
import os
import re
import shutil
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


# -- the probe cache: asked once per interpreter, asked again when it changes ------------------------------------
def _pyenv_python(minor: str) -> Path | None:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = sorted(root.glob(f"{minor}.*/bin/python{minor}"))
    return found[-1] if found else None


def _fresh_cache():
    from envrepro.envs import interpreters

    return interpreters._ProbeCache()


def counting_python(directory: Path, version: str, log: Path) -> Path:
    """A fake interpreter that records each time it is run."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "python"
    path.write_text(f"#!/bin/sh\necho run >> '{log}'\nprintf '%s' '{version} CPython'\n")
    path.chmod(0o755)
    return path


def test_the_running_interpreter_is_found_without_asking_any_other(tmp_path, monkeypatch):
    log = tmp_path / "runs.log"
    later = counting_python(tmp_path / "later", PY, log)  # on PATH, after the running interpreter
    monkeypatch.setenv("PATH", f"{later.parent}{os.pathsep}{os.environ['PATH']}")
    assert find_interpreter(PY).path == Path(sys.executable)
    assert not log.exists()
    # ... but what is searched before it is still asked, and wins
    first = counting_python(tmp_path / "first", PY, log)
    monkeypatch.setenv("ENVREPRO_PYTHON_SEARCH", str(first.parent))
    assert find_interpreter(PY).path == first
    assert log.read_text().count("run") == 1


def test_an_answer_is_remembered_across_runs_and_asked_again_when_the_interpreter_changes(tmp_path, monkeypatch):
    py312, py310 = _pyenv_python("3.12"), _pyenv_python("3.10")
    if py312 is None or py310 is None:
        pytest.skip("needs pyenv's Python 3.10 and 3.12")
    monkeypatch.setenv("ENVREPRO_HOME", str(tmp_path / "home"))
    python = tmp_path / "opt" / "bin" / "python"  # a pyenv launcher runs from anywhere (absolute RUNPATH)
    python.parent.mkdir(parents=True)
    shutil.copy2(py312, python)
    v312 = discover_interpreters(search=[python])[0].version
    assert v312.startswith("3.12.")
    stored = json.loads((tmp_path / "home" / "interpreters.json").read_text())["interpreters"]
    assert stored[str(python)]["version"] == v312
    # another process (a fresh cache) knows it without running it
    assert _fresh_cache().known(python) == (v312, "CPython")

    # replaced in place by another release, with the same mtime: asked again
    mtime = python.stat().st_mtime_ns
    replacement = python.with_name("python.new")
    shutil.copy2(py310, replacement)
    os.replace(replacement, python)
    os.utime(python, ns=(mtime, mtime))
    assert _fresh_cache().known(python) is None
    found = discover_interpreters(search=[python])[0]
    assert found.version.startswith("3.10.")
    assert _fresh_cache().known(python) == (found.version, "CPython")


def test_a_libpython_upgraded_under_the_same_launcher_is_asked_again(tmp_path, monkeypatch):
    monkeypatch.setenv("ENVREPRO_HOME", str(tmp_path / "home"))
    prefix = tmp_path / "prefix"
    lib = prefix / "lib" / "libpython3.99.so.1.0"
    lib.parent.mkdir(parents=True)
    lib.write_bytes(b"old")
    python = prefix / "bin" / "python3.99"
    python.parent.mkdir(parents=True)
    shutil.copy2(sys.executable, python)  # a real (non-script) file, so its answer may be remembered
    cache = _fresh_cache()
    cache.probe(python)
    cache.save()
    assert _fresh_cache().known(python) is not None
    lib.write_bytes(b"new!")
    assert _fresh_cache().known(python) is None


def test_scripts_are_never_remembered_across_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("ENVREPRO_HOME", str(tmp_path / "home"))
    log = tmp_path / "runs.log"
    script = counting_python(tmp_path / "bin", "3.98.1", log)
    assert [i.version for i in discover_interpreters(search=[script])] == ["3.98.1"]
    assert _fresh_cache().known(script) is None  # what a script runs can change while it does not
    from envrepro.envs import interpreters

    monkeypatch.setattr(interpreters, "_PROBES", _fresh_cache())  # as in the next envrepro process
    discover_interpreters(search=[script])
    assert log.read_text().count("run") == 2


def test_a_damaged_cache_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("ENVREPRO_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "interpreters.json").write_text('{"schema": 1, "interpreters": {"/x": [1, 2]}}')
    assert find_interpreter(PY).version == PY
    (tmp_path / "home" / "interpreters.json").write_text("not json")
    assert {i.version for i in discover_interpreters()} >= {PY}
