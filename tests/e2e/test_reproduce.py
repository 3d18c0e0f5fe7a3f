"""`envrepro env create` end to end, per env manager, on a saved sklearn model (real venvs, real prefixes)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sklearn

from tests.conftest import run_cli
from tests.e2e.conftest import marker

pytestmark = pytest.mark.slow


def _create(model: Path, *args: str, env: dict | None = None) -> Path:
    proc = run_cli("env", "create", "-m", str(model), *args, env=env, check=True, timeout=900)
    return Path(proc.stdout.strip().splitlines()[-1])


def _python(prefix: Path) -> Path:
    return prefix / "bin" / "python"


def _copy_model(model: Path, target: Path) -> Path:
    shutil.copytree(model, target)
    return target


@pytest.mark.parametrize("manager", ["uv", "virtualenv"])
def test_venv_managers_build_reuse_and_rebuild(tmp_path, sk_model_dir, manager):
    model = _copy_model(sk_model_dir, tmp_path / "model")
    prefix = _create(model, "--env-manager", manager)
    out = subprocess.run([str(_python(prefix)), "-c", "import sklearn, sys; print(sklearn.__version__, sys.prefix)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == [sklearn.__version__, str(prefix)]
    created = marker(prefix)["created"]
    start = time.perf_counter()
    assert _create(model, "--env-manager", manager) == prefix  # cache hit
    assert time.perf_counter() - start < 5 and marker(prefix)["created"] == created
    # Whitespace and order in the env files do not change the key; a requirement does.
    reqs = (model / "requirements.txt").read_text().splitlines()
    (model / "requirements.txt").write_text("\n\n".join(reversed(reqs)) + "\n\n")
    assert _create(model, "--env-manager", manager) == prefix
    run_cli("update-pip-requirements", "-m", str(model), "add", "six==1.16.0", check=True)
    new_prefix = _create(model, "--env-manager", manager)
    assert new_prefix != prefix
    subprocess.run([str(_python(new_prefix)), "-c", "import six, sklearn"], check=True)


def test_pip_requirements_override_does_not_change_the_model(tmp_path, sk_model_dir):
    model = _copy_model(sk_model_dir, tmp_path / "model")
    before = {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()}
    plain = _create(model)
    overridden = _create(model, "--pip-requirements-override", "six==1.16.0")
    assert overridden != plain
    subprocess.run([str(_python(overridden)), "-c", "import six"], check=True)
    assert subprocess.run([str(_python(plain)), "-c", "import six"], capture_output=True).returncode != 0
    assert {p.name: p.read_bytes() for p in model.iterdir() if p.is_file()} == before


def test_conda_manager_from_the_local_channel(tmp_path, sk_model_dir, local_channel_url):
    model = _copy_model(sk_model_dir, tmp_path / "model")
    prefix = _create(model, "--env-manager", "conda", "--channel-alias", f"conda-forge={local_channel_url}")
    out = subprocess.run([str(_python(prefix)), "-c",
                          "import sklearn, sys; print(sklearn.__version__); print(sys.prefix)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == [sklearn.__version__, str(prefix)]
    assert (prefix / "conda-meta").is_dir()
    again = _create(model, "--env-manager", "conda", "--channel-alias", f"conda-forge={local_channel_url}")
    assert again == prefix


def test_local_manager_reports_mismatches(tmp_path, sk_model_dir):
    model = _copy_model(sk_model_dir, tmp_path / "model")
    assert _create(model, "--env-manager", "local") == Path(sys.prefix)
    run_cli("update-pip-requirements", "-m", str(model), "add", "scikit-learn==0.0.1", check=True)
    proc = run_cli("env", "create", "-m", str(model), "--env-manager", "local")
    assert proc.returncode == 1
    assert f"mismatch: scikit-learn: model needs ==0.0.1, found {sklearn.__version__}" in proc.stderr


def test_concurrent_creates_build_once(tmp_path, sk_model_dir, cli_env):
    model = _copy_model(sk_model_dir, tmp_path / "model")
    run_cli("update-pip-requirements", "-m", str(model), "add", "idna==3.7", check=True)  # a key of its own
    procs = [subprocess.Popen([sys.executable, "-m", "envrepro.cli", "env", "create", "-m", str(model)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env)
             for _ in range(4)]
    results = [p.communicate(timeout=900) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, results
    prefixes = {out.strip().splitlines()[-1] for out, _ in results}
    assert len(prefixes) == 1
    builds = sum(err.count("creating a uv environment") for _, err in results)
    assert builds == 1, [err for _, err in results]


def test_killed_build_is_never_mistaken_for_ready(tmp_path, sk_model_dir, cli_env):
    model = _copy_model(sk_model_dir, tmp_path / "model")
    run_cli("update-pip-requirements", "-m", str(model), "add", "six==1.16.0", "packaging==24.1", check=True)
    envs_dir = Path(os.environ["ENVREPRO_HOME"]) / "envs"
    before = set(envs_dir.iterdir()) if envs_dir.exists() else set()
    proc = subprocess.Popen([sys.executable, "-m", "envrepro.cli", "env", "create", "-m", str(model)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env)
    deadline = time.monotonic() + 120
    new_dirs: set = set()
    while time.monotonic() < deadline and not new_dirs:
        new_dirs = {p for p in (set(envs_dir.iterdir()) if envs_dir.exists() else set()) - before if p.is_dir()}
        time.sleep(0.02)
    assert new_dirs, "the build never started"
    (partial,) = new_dirs
    while time.monotonic() < deadline and not (partial / "bin" / "python").exists():
        time.sleep(0.01)  # kill it while requirements are being installed into the new venv
    time.sleep(0.1)
    assert _processes_mentioning(str(partial)), "expected the installer to be running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (partial / ".envrepro-env.json").exists()
    time.sleep(0.3)  # the build tools die with envrepro: nothing keeps writing into the directory
    assert _processes_mentioning(str(partial)) == []
    listing = run_cli("env", "list", "--json", check=True).stdout
    assert f'"path": "{partial}"' in listing and '"ready": false' in listing
    prefix = _create(model)
    assert prefix == partial and (prefix / ".envrepro-env.json").exists()
    subprocess.run([str(_python(prefix)), "-c", "import six, sklearn"], check=True)


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found


def test_clear_errors(tmp_path, sk_model_dir, local_channel_url):
    model = _copy_model(sk_model_dir, tmp_path / "model")
    (model / "python_env.yaml").write_text((model / "python_env.yaml").read_text().replace(
        f"python: {sys.version.split()[0]}", "python: 3.99.1"))
    proc = run_cli("env", "create", "-m", str(model), "--env-manager", "uv")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "3.99" in proc.stderr and sys.version.split()[0] in proc.stderr  # lists what it found
    model2 = _copy_model(sk_model_dir, tmp_path / "model2")
    run_cli("update-pip-requirements", "-m", str(model2), "add", "envrepro-no-such-package-xyz==1.0", check=True)
    proc = run_cli("env", "create", "-m", str(model2), "--env-manager", "uv")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "envrepro-no-such-package-xyz" in proc.stderr
    model3 = _copy_model(sk_model_dir, tmp_path / "model3")
    conda = (model3 / "conda.yaml").read_text().replace("\n- pip", "\n- tinyapp>=99\n- pip", 1)  # pip pinned or not
    (model3 / "conda.yaml").write_text(conda)
    proc = run_cli("env", "create", "-m", str(model3), "--env-manager", "conda",
                   "--channel-alias", f"conda-forge={local_channel_url}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "tinyapp" in proc.stderr
    proc = run_cli("env", "create", "-m", str(sk_model_dir), "--env-manager", "conda",
                   "--channel-alias", f"conda-forge=file://{tmp_path}/no-such-channel")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "no-such-channel" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    # An unreachable HTTP channel: one line and exit 2 (py-rattler's threads must not abort the process).
    proc = run_cli("env", "create", "-m", str(sk_model_dir), "--env-manager", "conda",
                   "--channel-alias", "conda-forge=http://127.0.0.1:9/conda-forge")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "Fatal Python error" not in proc.stderr
    assert "127.0.0.1:9" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_default_manager_is_uv_when_installed_else_virtualenv(tmp_path, monkeypatch):
    import envrepro
    from envrepro.envs import venv_engine

    class Echo(envrepro.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    envrepro.save_model(Echo(), tmp_path / "model", pip_requirements=["six==1.16.0"])
    assert envrepro.create_env(tmp_path / "model", quiet=True).manager == "uv"
    monkeypatch.setattr(venv_engine, "find_uv", lambda: None)
    env = envrepro.create_env(tmp_path / "model", quiet=True)
    assert env.manager == "virtualenv"
    subprocess.run([str(env.python), "-c", "import six"], check=True)
