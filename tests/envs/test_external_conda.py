"""An external conda/mamba/micromamba is used only when asked, with envrepro's resolved channels.

No conda binary exists on this machine, so the tests use a stand-in ``micromamba`` that implements the
``create`` command line with py-rattler and records how it was called.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from envrepro.envs import create_conda_env
from envrepro.envs.conda_spec import parse_conda_env
from envrepro.envs.external_conda import create_command, resolve_conda_exe, tool_kind
from envrepro.errors import EnvironmentBuildError

pytest.importorskip("rattler")
PY = "%d.%d.%d" % sys.version_info[:3]

FAKE = """\
#!{python}
import argparse, asyncio, json, os, sys
import rattler
with open(os.environ["FAKE_CONDA_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if os.environ.get("FAKE_CONDA_FAIL"):
    print("error    libmamba Could not solve for environment specs", file=sys.stderr)
    sys.exit(1)
parser = argparse.ArgumentParser()
parser.add_argument("command")
parser.add_argument("--yes", action="store_true")
parser.add_argument("--prefix")
parser.add_argument("--override-channels", action="store_true")
parser.add_argument("--channel", action="append", default=[])
parser.add_argument("--quiet", action="store_true")
parser.add_argument("specs", nargs="*")
args = parser.parse_intermixed_args()
assert args.command == "create" and args.override_channels
async def main():
    records = await rattler.solve([rattler.Channel(c) for c in args.channel], args.specs,
                                  virtual_packages=rattler.VirtualPackage.detect())
    await rattler.install(records, args.prefix, show_progress=False)
asyncio.run(main())
sys.stdout.flush()
os._exit(0)  # like envrepro's CLI: rattler's runtime threads can abort interpreter finalization
"""


@pytest.fixture
def fake_micromamba(tmp_path, monkeypatch):
    exe = tmp_path / "bin" / "micromamba"
    exe.parent.mkdir()
    exe.write_text(FAKE.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_CONDA_LOG", str(log))
    return exe, log


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_not_used_unless_asked(monkeypatch):
    monkeypatch.delenv("ENVREPRO_CONDA_EXE", raising=False)
    assert resolve_conda_exe() is None


def test_explicit_exe_builds_with_mapped_channels_then_installs_every_pip_block(
        tmp_path, fake_micromamba, channel_http_url, offline_index):
    exe, log = fake_micromamba
    (tmp_path / "conda.yaml").write_text(textwrap.dedent(f"""
        channels: [conda-forge]
        dependencies:
          - python={PY}
          - conda-forge::tinyapp=1.0
          - pip: [tinywheel==1.0]
          - pip: [tinybuild]
    """))
    with pytest.warns(UserWarning):
        spec = parse_conda_env(tmp_path / "conda.yaml")
    prefix = tmp_path / "env"
    create_conda_env(spec, prefix, conda_exe=exe, channel_alias={"conda-forge": channel_http_url}, quiet=True)
    (argv,) = calls(log)
    assert argv[:5] == ["create", "--yes", "--prefix", str(prefix), "--override-channels"]
    assert argv[argv.index("--channel") + 1] == channel_http_url
    assert argv.count("--channel") == 1  # 'defaults' is never implied
    assert argv[-2:] == [f"python {PY}.*", f"{channel_http_url}::tinyapp 1.0.*"]
    out = subprocess.run([str(prefix / "bin" / "python"), "-c",
                          "import tinyapp, tinywheel, tinybuild; print(tinyapp.__version__, tinywheel.__version__)"],
                         capture_output=True, text=True)
    assert out.stdout.split() == ["1.0", "1.0"], out.stderr


def test_environment_variable_selects_the_external_tool(tmp_path, fake_micromamba, local_channel_url, monkeypatch):
    exe, log = fake_micromamba
    monkeypatch.setenv("ENVREPRO_CONDA_EXE", str(exe))
    spec = parse_conda_env({"channels": [local_channel_url], "dependencies": [f"python={PY}"]})
    create_conda_env(spec, tmp_path / "env", quiet=True)
    assert len(calls(log)) == 1 and (tmp_path / "env" / "bin" / "python").exists()


def test_failure_reports_the_tools_own_message(tmp_path, fake_micromamba, local_channel_url, monkeypatch):
    exe, _ = fake_micromamba
    monkeypatch.setenv("FAKE_CONDA_FAIL", "1")
    spec = parse_conda_env({"channels": [local_channel_url], "dependencies": ["python"]})
    with pytest.raises(EnvironmentBuildError, match="micromamba could not create.*Could not solve"):
        create_conda_env(spec, tmp_path / "env", conda_exe=exe, quiet=True)


def test_missing_executable_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("ENVREPRO_CONDA_EXE", "/nonexistent/conda")
    with pytest.raises(EnvironmentBuildError, match="ENVREPRO_CONDA_EXE"):
        resolve_conda_exe()
    with pytest.raises(EnvironmentBuildError, match="--conda-exe"):
        resolve_conda_exe("no-such-mamba-binary")


def test_command_line_is_the_same_for_conda_mamba_and_micromamba(local_channel_url):
    spec = parse_conda_env({"channels": [local_channel_url], "dependencies": ["tinyapp"]})
    for name, kind in (("conda", "conda"), ("mamba", "mamba"), ("micromamba", "micromamba"),
                       ("conda.exe", "conda")):
        assert tool_kind(Path("/opt/x/bin") / name) == kind
        cmd = create_command(Path(name), spec, "/p", quiet=True)
        assert cmd == [name, "create", "--yes", "--prefix", "/p", "--override-channels",
                       "--channel", local_channel_url, "--quiet", "tinyapp"]
