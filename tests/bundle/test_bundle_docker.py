"""`generate-dockerfile --bundle`: a context whose image builds with no network. No Docker engine runs here, so
the builder's RUN steps run on the host (container paths mapped into the context, as tests/docker/ does), in a
network namespace with no network and empty caches; the result must predict like the model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SKLEARN_COLUMNS, run_cli
from tests.docker.dockerparse import copy_args, env_vars, find, stages

from .conftest import envrepro_cmd, fresh_env, offline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle_context(tmp_path_factory, saved_sklearn_dir, local_channel_url) -> Path:
    """A --bundle context for the sklearn model with its conda lock on the local channel."""
    model = tmp_path_factory.mktemp("docker-bundle") / "sk-model"
    shutil.copytree(saved_sklearn_dir, model)
    run_cli("lock", "-m", str(model), "-p", "linux-64", "--channel-alias", f"conda-forge={local_channel_url}",
            "-q", check=True, timeout=600)
    out = model.parent / "ctx"
    run_cli("generate-dockerfile", "-m", str(model), "-d", str(out), "--bundle", "-q", check=True, timeout=900)
    return out


def _mapped(command: str, mapping: dict[str, str]) -> str:
    for container, local in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
        command = command.replace(container, local)
    return command


def test_bundle_context_carries_everything_the_build_needs(bundle_context):
    builder, final = stages(bundle_context / "Dockerfile")
    for stage in (builder, final):
        installs = [r.value for r in find(stage, "RUN") if r.value.startswith("pip install")]
        assert installs and all("--no-index" in r for r in installs)  # pip never asks an index
    runs = [r.value for r in find(builder, "RUN")]
    assert runs[-1] == "envrepro env create --from-bundle /tmp/envrepro-bundle/model.tar --prefix /opt/env"
    assert not (bundle_context / "vendor").exists()  # the bundle carries the local channel's packages
    wheels = {p.name.split("-")[0].lower() for p in (bundle_context / "tooling" / "wheels").glob("*.whl")}
    assert {"click", "pyyaml", "packaging", "pluggy", "cloudpickle"} <= wheels and "uv" not in wheels
    builder_wheels = {p.name.split("-")[0].lower() for p in (bundle_context / "builder-tooling").glob("*.whl")}
    assert {"py_rattler", "uv"} <= builder_wheels and not builder_wheels & wheels
    marker = json.loads((bundle_context / ".envrepro-context.json").read_text())
    assert marker["bundle"] == "model.tar"


def test_builder_steps_run_with_no_network(bundle_context, tmp_path, iris_like, sklearn_model):
    builder, final = stages(bundle_context / "Dockerfile")
    mapping = {"/opt/env": str(tmp_path / "env")}
    for ins in find(builder, "COPY"):
        _, (src, dst) = copy_args(ins)
        mapping[dst.rstrip("/")] = str(bundle_context / src.rstrip("/"))
    tooling = tmp_path / "tooling-venv"
    subprocess.run([sys.executable, "-m", "venv", str(tooling)], check=True)
    env = fresh_env(tmp_path / "site", **env_vars(builder), PATH=f"{tooling / 'bin'}{os.pathsep}{os.environ['PATH']}")
    env.pop("PYTHONPATH", None)
    for run in find(builder, "RUN"):
        proc = offline(["bash", "-c", _mapped(run.value, mapping)], env)
        assert proc.returncode == 0, f"{run.value}\n{proc.stdout}\n{proc.stderr}"
    assert "locked conda packages" in proc.stderr and "solving" not in proc.stderr
    assert shutil.which("envrepro", path=str(tooling / "bin"))
    X, _ = iris_like
    (tmp_path / "in.json").write_text(json.dumps({"dataframe_split": {"columns": SKLEARN_COLUMNS,
                                                                      "data": X[:4].tolist()}}))
    predicted = offline(envrepro_cmd("predict", "-m", str(bundle_context / "model"), "--env-prefix",
                                     str(tmp_path / "env"), "-i", str(tmp_path / "in.json")), env)
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout) == {"predictions": sklearn_model.predict(X[:4]).tolist()}
    # The final stage's tooling install needs no index either (only its pip step: the rest makes a user).
    final_pip = find(final, "RUN")[0].value.split(" \\\n")[0].split(" && ")[0]
    server = tmp_path / "server-venv"
    subprocess.run([sys.executable, "-m", "venv", str(server)], check=True)
    final_map = {"/tmp/envrepro-tooling": str(bundle_context / "tooling")}
    installed = offline([str(server / "bin" / "python"), "-m", *_mapped(final_pip, final_map).split()],
                        fresh_env(tmp_path / "site2"))
    assert installed.returncode == 0, installed.stderr
    assert subprocess.run([str(server / "bin" / "envrepro"), "--version"], capture_output=True).returncode == 0
