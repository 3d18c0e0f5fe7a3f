"""The test channel itself: real packages, real repodata, solvable for every platform the lock step targets."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import urllib.request
from pathlib import Path

import pytest

from envrepro.envs.conda_spec import parse_conda_env
from envrepro.envs.prefix import prefix_python
from envrepro.envs.rattler_engine import create_conda_prefix, solve_conda_spec
from envrepro.errors import EnvironmentBuildError
from tests.fixtures_channel import (
    PLATFORMS,
    PREFIX_PLACEHOLDER,
    PackageSpec,
    build_local_channel,
    channel_cache_dir,
    current_subdir,
    inspect_interpreter,
    package_bytes,
    python_archive,
    python_package,
)

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("rattler")


def test_repodata_lists_every_package_with_matching_hashes(local_channel):
    for subdir in (*PLATFORMS, "noarch"):
        repodata = json.loads((local_channel / subdir / "repodata.json").read_text())
        packages = repodata["packages"]
        assert packages, subdir
        for filename, record in packages.items():
            data = (local_channel / subdir / filename).read_bytes()
            assert hashlib.sha256(data).hexdigest() == record["sha256"]
            assert record["subdir"] == subdir
    noarch = json.loads((local_channel / "noarch" / "repodata.json").read_text())["packages"]
    assert {r["name"] for r in noarch.values()} >= {"tinydep", "tinyapp", "tinydata", "pip"}
    assert noarch["tinyapp-2.0-0.tar.bz2"]["depends"] == ["python", "tinydep >=1.1", "tinylib >=1.2"]


def test_packages_are_deterministic_archives_with_conda_metadata(tmp_path):
    spec = PackageSpec("demo", "1.0", "linux-64", depends=("tinydep",), files={"share/demo.txt": "hi\n"},
                       symlinks={"share/link.txt": "demo.txt"})
    assert package_bytes(spec) == package_bytes(spec)
    path = tmp_path / spec.filename
    path.write_bytes(package_bytes(spec))
    with tarfile.open(path) as archive:
        names = archive.getnames()
        index = json.load(archive.extractfile("info/index.json"))
        paths = json.load(archive.extractfile("info/paths.json"))["paths"]
    assert {"info/index.json", "info/paths.json", "info/files", "share/demo.txt", "share/link.txt"} <= set(names)
    assert index["platform"] == "linux" and index["arch"] == "x86_64" and index["depends"] == ["tinydep"]
    assert {p["_path"]: p["path_type"] for p in paths} == {"share/demo.txt": "hardlink", "share/link.txt": "softlink"}
    with pytest.raises(ValueError):
        package_bytes(PackageSpec("bad", "1", "linux-64", noarch="python"))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_solves_for_each_platform_with_assumed_virtual_packages(local_channel_url, platform):
    spec = parse_conda_env({"channels": [local_channel_url], "dependencies": ["python=3.11", "tinyapp"]})
    records = {str(r.name.normalized): r for r in solve_conda_spec(spec, platform=platform)}
    assert set(records) == {"python", "tinyapp", "tinydep", "tinylib"}
    assert str(records["tinyapp"].version) == "2.0"
    assert str(records["tinydep"].version) == "1.1"
    assert records["tinylib"].subdir == platform
    assert records["python"].subdir == platform


def test_linux_virtual_glibc_is_enforced_for_other_platform_solves(local_channel_url):
    spec = parse_conda_env({"channels": [local_channel_url], "dependencies": ["needs-new-glibc"]})
    with pytest.raises(EnvironmentBuildError, match="__glibc"):
        solve_conda_spec(spec, platform="linux-64")


def test_channel_is_readable_over_http(channel_http_url):
    with urllib.request.urlopen(f"{channel_http_url}/noarch/repodata.json", timeout=10) as response:
        assert "tinyapp-1.0-0.tar.bz2" in json.load(response)["packages"]


def test_builder_adds_to_an_existing_channel(tmp_path):
    root = build_local_channel(tmp_path / "c", [PackageSpec("one", "1.0", noarch="generic", files={"a": "1"})])
    build_local_channel(root, [PackageSpec("two", "1.0", noarch="generic", files={"b": "2"})])
    packages = json.loads((root / "noarch" / "repodata.json").read_text())["packages"]
    assert set(packages) == {"one-1.0-0.tar.bz2", "two-1.0-0.tar.bz2"}


# -- the python package: a relocated copy of this interpreter ---------------------------------------------
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the relocatable python is Linux-only")
PY = "%d.%d.%d" % sys.version_info[:3]
MM = "%d.%d" % sys.version_info[:2]


def python_archive_in(channel: Path) -> Path:
    return next((channel / current_subdir()).glob("python-*.tar.bz2"))


def make_prefix(tmp_path: Path, channel_url: str, *specs: str) -> Path:
    prefix = tmp_path / "env"
    create_conda_prefix(parse_conda_env({"channels": [channel_url], "dependencies": [f"python={PY}", *specs]}),
                        prefix, quiet=True)
    return prefix


def clean_env(**extra: str) -> dict[str, str]:
    """No PYTHON*/LD_LIBRARY_PATH from the caller: the prefix must find everything on its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "UV_")) and
           k != "LD_LIBRARY_PATH"}
    return {**env, "LD_LIBRARY_PATH": "", **extra}


@linux_only
def test_python_package_is_a_trimmed_copy_with_placeholders(local_channel):
    host = inspect_interpreter(sys.executable)
    with tarfile.open(python_archive_in(local_channel)) as archive:
        names = archive.getnames()
        index = json.load(archive.extractfile("info/index.json"))
        paths = {p["_path"]: p for p in json.load(archive.extractfile("info/paths.json"))["paths"]}
        sysconfigdata = next(n for n in names if re.search(r"/_sysconfigdata_.*\.py$", n))
        text = archive.extractfile(sysconfigdata).read().decode()
    assert names[:3] == ["info/index.json", "info/paths.json", "info/files"]  # indexers stop reading early
    assert index["name"] == "python" and index["version"] == PY and index["build"] == "host_0"
    stdlib = f"lib/python{MM}"
    assert {f"bin/python{MM}", f"{stdlib}/os.py", f"{stdlib}/__pycache__/os.cpython-{MM.replace('.', '')}.pyc",
            f"{stdlib}/site-packages/README.txt"} <= set(names)
    assert paths["bin/python"]["path_type"] == "softlink" and paths["bin/python3"]["path_type"] == "softlink"
    if host.libpython is not None:
        assert f"lib/{host.libpython.name}" in names
    # no third-party packages, test suites, IDLE or static library from the host installation
    assert [n for n in names if n.startswith(f"{stdlib}/site-packages/")] == [f"{stdlib}/site-packages/README.txt"]
    assert not [n for n in names if re.search(r"/(test|tests|idlelib|idle_test)/|\.a$", n)]
    # text naming the build prefix gets conda's placeholder, which the installer rewrites
    assert paths[sysconfigdata]["prefix_placeholder"] == PREFIX_PLACEHOLDER
    assert paths[sysconfigdata]["file_mode"] == "text"
    assert PREFIX_PLACEHOLDER in text and str(host.home) not in text
    assert not [n for n in names if "__pycache__/_sysconfigdata" in n]  # would go stale once rewritten
    for rel in paths:
        if rel.startswith("bin/") and paths[rel]["path_type"] == "hardlink" and rel != f"bin/python{MM}":
            assert "prefix_placeholder" in paths[rel], rel  # shebangs and python-config name the prefix


@linux_only
def test_prefix_python_is_self_contained(tmp_path, local_channel_url):
    prefix = make_prefix(tmp_path, local_channel_url)
    host = inspect_interpreter(sys.executable)
    code = """
        import ctypes, json, sqlite3, ssl, sys, sysconfig
        maps = sorted({line.split()[-1] for line in open("/proc/self/maps") if "/" in line})
        files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())})
        print(json.dumps([sys.prefix, sys.base_prefix, sysconfig.get_config_var("prefix"),
                          sysconfig.get_paths()["purelib"], ssl.OPENSSL_VERSION, maps, files]))
    """
    proc = subprocess.run([str(prefix / "bin" / "python"), "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=clean_env(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    sys_prefix, base_prefix, configured, purelib, openssl, maps, files = json.loads(proc.stdout)
    assert Path(sys_prefix) == Path(base_prefix) == prefix  # a real prefix, not a venv over the host python
    assert Path(configured) == prefix  # _sysconfigdata's placeholder was rewritten at install time
    assert Path(purelib) == prefix / "lib" / f"python{MM}" / "site-packages"
    assert openssl
    loaded = [Path(p) for p in maps + files if p]
    assert not [p for p in loaded if p.is_relative_to(host.home)], "the prefix loaded files of the host python"
    if host.libpython is not None:
        assert prefix / "lib" / host.libpython.name in [Path(m) for m in maps]
        if shutil.which("ldd"):
            ldd = subprocess.run(["ldd", str(prefix / "bin" / f"python{MM}")], capture_output=True, text=True,
                                 env=clean_env(), check=True).stdout
            line = next(line for line in ldd.splitlines() if host.libpython.name in line)
            resolved = Path(os.path.realpath(line.split("=>")[1].split("(")[0].strip()))
            assert resolved == prefix / "lib" / host.libpython.name


@linux_only
def test_prefix_python_runs_with_the_host_interpreter_hidden(tmp_path, local_channel_url):
    """Mount an empty directory over the host installation (a private mount namespace) and run the prefix."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare(1)")
    prefix = make_prefix(tmp_path, local_channel_url, "pip")
    host = inspect_interpreter(sys.executable).home
    empty = tmp_path / "empty"
    empty.mkdir()
    python = prefix / "bin" / "python"
    script = (f"mount --bind {empty} {host} && test -z \"$(ls -A {host})\" && "
              f"{python} -c 'import sys, ssl, sqlite3, ctypes; print(sys.prefix)' && {python} -m pip --version")
    proc = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True,
                          env=clean_env(), timeout=120)
    if proc.returncode != 0 and re.search(r"unshare failed|Operation not permitted|mount:", proc.stderr):
        pytest.skip(f"no private mount namespace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()[:2]
    assert Path(first) == prefix and second.startswith("pip ") and str(prefix) in second


@linux_only
def test_prefix_pip_installs_a_wheel(tmp_path, local_channel_url, wheelhouse):
    prefix = make_prefix(tmp_path, local_channel_url, "pip")
    python = str(prefix / "bin" / "python")
    version = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True, env=clean_env(),
                             check=True).stdout
    assert str(prefix / "lib" / f"python{MM}" / "site-packages" / "pip") in version
    install = subprocess.run([python, "-m", "pip", "install", "--no-index", "--find-links", str(wheelhouse),
                              "--disable-pip-version-check", "tinywheel==2.0"], capture_output=True, text=True,
                             env=clean_env(), timeout=120)
    assert install.returncode == 0, install.stderr
    where = subprocess.run([python, "-c", "import tinywheel; print(tinywheel.__version__, tinywheel.__file__)"],
                           capture_output=True, text=True, env=clean_env(), check=True).stdout.split()
    assert where[0] == "2.0" and Path(where[1]).is_relative_to(prefix / "lib" / f"python{MM}" / "site-packages")


@linux_only
def test_python_archive_is_cached_per_machine(local_channel, monkeypatch):
    cached = python_archive_in(local_channel)
    assert cached.stat().st_nlink >= 2  # hard-linked from the machine-wide cache, not rebuilt per session
    template = PackageSpec("python", PY, current_subdir(), build="host_0", depends=("__glibc >=2.17",))
    again = python_archive(sys.executable, template)
    assert os.path.samefile(again, cached)
    assert again.parent.parent == channel_cache_dir()


@linux_only
@pytest.mark.slow
def test_concurrent_cold_builds_make_one_entry(tmp_path):
    """Two sessions starting on an empty cache: one builds under the lock, the other reuses its result."""
    cache = tmp_path / "cache"
    script = textwrap.dedent(f"""
        import sys
        from tests.fixtures_channel import PackageSpec, python_archive
        template = PackageSpec("python", "{PY}", "{current_subdir()}", build="host_0")
        print(python_archive(sys.executable, template))
    """)
    env = {**os.environ, "ENVREPRO_TEST_CHANNEL_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1] for r in results]
    paths = {r[0].strip() for r in results}
    assert len(paths) == 1
    entries = [p.name for p in cache.iterdir() if not p.name.endswith(".lock")]
    assert entries == [Path(paths.pop()).parent.name]  # no half-built leftovers


def test_script_packages_wheels_into_a_channel(tmp_path, local_channel_url, wheelhouse):
    channel = tmp_path / "mine"
    proc = subprocess.run([sys.executable, "-m", "tests.fixtures_channel", str(channel), "--wheel",
                           str(wheelhouse / "tinywheel-2.0-py3-none-any.whl")], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "noarch/tinywheel-2.0-0.tar.bz2" in proc.stdout
    # Only the channel's own files: the indexer's scratch directory does not stay behind.
    assert sorted(p.name for p in channel.iterdir()) == ["noarch"]
    spec = parse_conda_env({"channels": [local_channel_url, channel.as_uri()],
                            "dependencies": [f"python={PY}", "tinywheel"]})
    prefix = tmp_path / "env"
    create_conda_prefix(spec, prefix, quiet=True)
    out = subprocess.run([str(prefix_python(prefix)), "-c", "import tinywheel; print(tinywheel.__version__)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "2.0"


@linux_only
@pytest.mark.slow
def test_another_python_version_is_packaged_the_same_way(tmp_path):
    from envrepro.envs.interpreters import discover_interpreters

    others = [i for i in discover_interpreters() if i.implementation == "CPython" and i.minor != MM
              and tuple(map(int, i.minor.split("."))) >= (3, 8)]
    if not others:
        pytest.skip("no CPython 3 of another minor version on this machine")
    other = max(others, key=lambda i: tuple(map(int, i.minor.split("."))))
    channel = build_local_channel(tmp_path / "chan", [python_package(current_subdir(), other.version, other.path)])
    spec = parse_conda_env({"channels": [channel.as_uri()], "dependencies": [f"python={other.minor}"]})
    prefix = tmp_path / "env"
    create_conda_prefix(spec, prefix, quiet=True)
    out = subprocess.run([str(prefix / "bin" / "python"), "-c",
                          "import sys, ssl, sqlite3; print(sys.version.split()[0], sys.base_prefix)"],
                         capture_output=True, text=True, env=clean_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    version, base = out.stdout.split()
    assert version == other.version and Path(base) == prefix
