"""Real conda prefixes built by py-rattler from the suite's own channel, then run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from envrepro.envs import create_conda_env
from envrepro.envs.conda_spec import parse_conda_env
from envrepro.envs.prefix import prefix_python
from envrepro.envs.rattler_engine import create_conda_prefix
from envrepro.errors import EnvironmentBuildError, ModelFormatError
from tests.fixtures_channel import PREFIX_PLACEHOLDER, build_local_channel, module_package

pytest.importorskip("rattler")
PY = "%d.%d.%d" % sys.version_info[:3]


def write(directory: Path, text: str) -> Path:
    path = directory / "conda.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def run_in(prefix: Path, code: str) -> str:
    proc = subprocess.run([str(prefix_python(prefix)), "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_builds_a_working_prefix_from_the_local_channel(tmp_path, local_channel_url):
    spec = parse_conda_env(write(tmp_path, f"""
        channels: ["{local_channel_url}"]
        dependencies: [python={PY}, tinyapp=1.0, tinydata]
    """))
    prefix = tmp_path / "env"
    create_conda_prefix(spec, prefix, quiet=True)
    out = run_in(prefix, """
        import json, sys, tinyapp, tinydep
        print(json.dumps([sys.prefix, sys.version.split()[0], tinyapp.__version__, tinydep.__version__,
                          tinyapp.__file__]))
    """)
    sys_prefix, version, app, dep, app_file = json.loads(out)
    assert Path(sys_prefix) == prefix and version == PY
    assert (app, dep) == ("1.0", "1.1")  # highest tinydep satisfying tinyapp 1.0's 'tinydep >=1'
    assert Path(app_file).is_relative_to(prefix / "lib")
    assert (prefix / "share" / "tinydata" / "data.txt").read_text() == "42\n"
    # conda's prefix placeholder was rewritten to this prefix (why envs are built at their final path)
    marker = (prefix / "etc" / "envrepro-test" / "prefix.txt").read_text()
    assert marker == f"prefix={prefix}\n" and PREFIX_PLACEHOLDER not in marker
    meta = {p.name.rsplit("-", 2)[0] for p in (prefix / "conda-meta").glob("*.json")}
    assert meta == {"python", "tinyapp", "tinydep", "tinydata"}


def test_pip_blocks_all_installed_with_the_prefix_python(tmp_path, local_channel_url, wheelhouse, monkeypatch):
    # conda would install only one of these two blocks; envrepro installs both, from paths next to conda.yaml
    model = tmp_path / "model"
    for name in ("tinywheel-1.0-py3-none-any.whl", "tinybuild-1.0-py3-none-any.whl"):
        model.mkdir(exist_ok=True)
        (model / name).write_bytes((wheelhouse / name).read_bytes())
    monkeypatch.chdir(tmp_path)  # relative paths must resolve against conda.yaml's directory, not the cwd
    with pytest.warns(UserWarning, match="pip:"):
        spec = parse_conda_env(write(model, f"""
            channels: ["{local_channel_url}"]
            dependencies:
              - python={PY}
              - pip:
                  - ./tinywheel-1.0-py3-none-any.whl
              - tinydep
              - pip:
                  - ./tinybuild-1.0-py3-none-any.whl
        """))
    prefix = tmp_path / "env"
    create_conda_prefix(spec, prefix, quiet=True)
    out = run_in(prefix, "import sys, tinywheel, tinybuild; print(tinywheel.__version__, tinybuild.__file__)")
    version, location = out.split()
    assert version == "1.0" and Path(location).is_relative_to(prefix)
    # nothing leaked into the interpreter the prefix is based on
    assert subprocess.run([sys.executable, "-c", "import tinywheel"], capture_output=True).returncode != 0


def test_pip_fallback_and_override(tmp_path, local_channel_url, offline_index, monkeypatch):
    """Without uv the env's own pip (a real conda package here) installs; the override wins."""
    monkeypatch.setenv("ENVREPRO_INSTALLER", "pip")
    spec = parse_conda_env({"channels": [local_channel_url],
                            "dependencies": [f"python={PY}", "pip", {"pip": ["tinywheel==1.0"]}]})
    prefix = tmp_path / "env"
    create_conda_prefix(spec, prefix, quiet=True, pip_override=["tinywheel==2.0"])
    assert run_in(prefix, "import tinywheel; print(tinywheel.__version__)") == "2.0"
    pip_meta = next((prefix / "conda-meta").glob("pip-*.json"))
    assert "bin/pip" in json.loads(pip_meta.read_text())["files"]  # noarch:python entry point linked


def test_channel_alias_maps_a_name_to_an_http_mirror(tmp_path, channel_http_url):
    spec = parse_conda_env(write(tmp_path, f"""
        channels: [conda-forge, nodefaults]
        dependencies: [python={PY}, conda-forge::tinydep=1.0]
    """))
    prefix = tmp_path / "env"
    create_conda_env(spec, prefix, channel_alias={"conda-forge": channel_http_url}, quiet=True)
    assert run_in(prefix, "import tinydep; print(tinydep.__version__)") == "1.0"
    record = json.loads(next((prefix / "conda-meta").glob("tinydep-*.json")).read_text())
    assert record["url"].startswith(channel_http_url)


def test_defaults_without_mapping_is_refused_before_any_work(tmp_path):
    spec = parse_conda_env(write(tmp_path, "dependencies: [python=3.7.3]\n"))
    with pytest.raises(ModelFormatError, match="--channel-alias defaults="):
        create_conda_prefix(spec, tmp_path / "env", quiet=True)
    assert not (tmp_path / "env").exists()


def test_channel_prefixed_spec_overrides_channel_priority(tmp_path, local_channel_url):
    other = build_local_channel(tmp_path / "other", [module_package("tinydep", "7.0")])
    base = {"channels": [local_channel_url, other.as_uri()], "dependencies": [f"python={PY}", "tinydep"]}
    spec = parse_conda_env(base)
    create_conda_prefix(spec, tmp_path / "a", quiet=True)
    # strict channel priority: the first channel that has tinydep provides it
    assert run_in(tmp_path / "a", "import tinydep; print(tinydep.__version__)") == "1.1"
    pinned = parse_conda_env({**base, "dependencies": [f"python={PY}", f"{other.as_uri()}::tinydep"]})
    create_conda_prefix(pinned, tmp_path / "b", quiet=True)
    assert run_in(tmp_path / "b", "import tinydep; print(tinydep.__version__)") == "7.0"


def test_unsatisfiable_spec_names_conda_yaml_and_the_fix(tmp_path, local_channel_url):
    path = write(tmp_path, f'channels: ["{local_channel_url}"]\ndependencies: [python={PY}, tinyapp>=3]\n')
    with pytest.raises(EnvironmentBuildError) as info:
        create_conda_prefix(parse_conda_env(path), tmp_path / "env", quiet=True)
    message = str(info.value)
    assert str(path.resolve()) in message and "tinyapp >=3" in message and "relax the pins" in message
    assert "\n" not in message


def test_unreachable_channel_is_a_clear_error(tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = parse_conda_env({"channels": [f"http://127.0.0.1:{port}/conda-forge"], "dependencies": ["python"]})
    with pytest.raises(EnvironmentBuildError, match="cannot read a conda channel.*--channel-alias"):
        create_conda_prefix(spec, tmp_path / "env", quiet=True)


def test_detected_virtual_glibc_gates_packages_and_honours_overrides(tmp_path, local_channel_url, monkeypatch):
    spec = parse_conda_env({"channels": [local_channel_url], "dependencies": ["needs-new-glibc"]})
    if not sys.platform.startswith("linux"):
        pytest.skip("__glibc exists on Linux only")
    with pytest.raises(EnvironmentBuildError, match="__glibc"):
        create_conda_prefix(spec, tmp_path / "a", quiet=True)
    monkeypatch.setenv("CONDA_OVERRIDE_GLIBC", "100")  # conda's documented override, honoured by detection
    create_conda_prefix(spec, tmp_path / "b", quiet=True)
    assert (tmp_path / "b" / "share" / "needs-new-glibc.txt").exists()


def test_progress_shows_on_a_terminal_and_not_in_a_pipe(tmp_path, local_channel_url):
    script = textwrap.dedent(f"""
        import sys
        from envrepro.envs.conda_spec import parse_conda_env
        from envrepro.envs.rattler_engine import create_conda_prefix
        spec = parse_conda_env({{"channels": ["{local_channel_url}"], "dependencies": ["python={PY}", "tinyapp"]}})
        create_conda_prefix(spec, sys.argv[1], quiet=len(sys.argv) > 2)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    piped = subprocess.run([sys.executable, "-c", script, str(tmp_path / "piped")], capture_output=True, text=True,
                           env=env, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == "" and piped.stdout == ""
    tty = _run_in_pty([sys.executable, "-c", script, str(tmp_path / "tty")], env)
    assert "envrepro: solving 2 conda specs" in tty and "envrepro: installing 4 conda packages" in tty
    assert "linked [" in tty
    quiet = _run_in_pty([sys.executable, "-c", script, str(tmp_path / "quiet"), "-q"], env)
    assert "envrepro:" not in quiet


def _run_in_pty(cmd: list[str], env: dict[str, str]) -> str:
    pty = pytest.importorskip("pty")
    import select

    pid, fd = pty.fork()
    if pid == 0:  # child: stdin/stdout/stderr are the terminal
        os.execve(cmd[0], cmd, env)
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    output = b"".join(chunks).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, output
    return output
