"""`envrepro generate-dockerfile`: the Dockerfile parses, has the promised shape, and its install step (run
here, outside Docker, against the local channel) builds a working environment from the lock, without a solve."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from envrepro.lock import check_lock, read_lockfile
from tests.conftest import run_cli
from tests.docker.conftest import tree_digest
from tests.docker.dockerparse import copy_args, env_vars, find, labels, stages

pytestmark = pytest.mark.slow  # the fixtures lock against the local channel and PyPI


def test_dockerfile_parses_into_a_builder_and_a_slim_non_root_server(context, locked_model):
    builder, final = stages(context / "Dockerfile")
    assert builder[0].value.endswith(" AS builder") and builder[0].value.startswith("python:3.")
    assert final[0].value == builder[0].value.split(" AS ")[0] and final[0].value.endswith("-slim")
    user = find(final, "USER")[-1].value.split(":")[0]
    assert user.isdigit() and int(user) != 0
    assert [i.value for i in find(final, "EXPOSE")] == ["8080"]
    cmd = json.loads(find(final, "CMD")[-1].value)
    assert cmd[:2] == ["envrepro", "serve"] and cmd[cmd.index("-p") + 1] == "8080"
    assert cmd[cmd.index("-h") + 1] == "0.0.0.0" and cmd[cmd.index("--env-prefix") + 1] == "/opt/env"
    assert "/ping" in find(final, "HEALTHCHECK")[-1].value
    # The final stage takes the environment from the builder and installs nothing into it.
    assert any(copy_args(c) == (["--from=builder"], ["/opt/env", "/opt/env"]) for c in find(final, "COPY"))
    assert not any("/opt/env" in r.value for r in find(final, "RUN"))
    # Labels: the model's uuid and the lock's input hash and file hash.
    lock = read_lockfile(context / "model" / "conda-lock.yml")
    meta = labels(final)
    assert meta["envrepro.model.uuid"] == (locked_model / "MLmodel").read_text().split("model_uuid: ")[1].split()[0]
    assert meta["envrepro.lock.content_hash"] == lock.metadata.content_hash["linux-64"]
    lock_bytes = (context / "model" / "conda-lock.yml").read_bytes()
    assert meta["envrepro.lock.sha256"] == hashlib.sha256(lock_bytes).hexdigest()
    assert (context / ".dockerignore").is_file()


def test_build_installs_the_lock_without_solving(context, locked_model):
    builder, _ = stages(context / "Dockerfile")
    installs = [r.value for r in find(builder, "RUN") if "env create" in r.value]
    assert len(installs) == 1 and "--from-lock" in installs[0]
    # The context carries the model's own lock, unchanged, and it is current for linux-64.
    assert (context / "model" / "conda-lock.yml").read_bytes() == (locked_model / "conda-lock.yml").read_bytes()
    assert check_lock(context / "model").ok
    # file:// packages of the lock travel in the context and land exactly where the lock says.
    lock = read_lockfile(context / "model" / "conda-lock.yml")
    placed = {}
    for ins in find(builder, "COPY"):
        _, (src, dst) = copy_args(ins)
        if src.startswith("vendor/"):
            placed[dst.rstrip("/")] = context / src
    local = [p for p in lock.for_platform("linux-64") if p.url.startswith("file:")]
    assert local, "the lock was made against the local channel"
    for pkg in local:
        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(pkg.url).path))
        vendored = placed[path.parent.as_posix()] / path.name
        assert hashlib.sha256(vendored.read_bytes()).hexdigest() == pkg.sha256


def test_install_step_run_outside_docker_makes_a_working_env(context, tmp_path, sklearn_model, iris_like):
    """Both builder RUN steps, with the container paths mapped to local ones: tooling, then the locked env."""
    builder, _ = stages(context / "Dockerfile")
    mapping = {}
    for ins in find(builder, "COPY"):
        _, (src, dst) = copy_args(ins)
        if not src.startswith("vendor/"):  # vendored packages already sit at their locked paths here
            mapping[dst.rstrip("/")] = str(context / src.rstrip("/"))
    mapping["/opt/env"] = str(tmp_path / "env")
    tooling = tmp_path / "tooling-venv"
    subprocess.run([sys.executable, "-m", "venv", str(tooling)], check=True)
    env = {**os.environ, **env_vars(builder), "PATH": f"{tooling / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    outputs = []
    for run in find(builder, "RUN"):
        command = run.value
        for container, local in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
            command = command.replace(container, local)
        proc = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
        outputs.append(proc.stderr)
    assert shutil.which("envrepro", path=str(tooling / "bin")), "the tooling step installs envrepro's wheel"
    assert "locked conda packages" in outputs[-1] and "solving" not in outputs[-1]
    python = tmp_path / "env" / "bin" / "python"
    subprocess.run([str(python), "-c", "import sklearn, cloudpickle"], check=True)
    X, _ = iris_like
    payload = {"dataframe_split": {"columns": list("abcd"), "data": X[:4].tolist()}}  # the signature names a-d
    (tmp_path / "in.json").write_text(json.dumps(payload))
    out = run_cli("predict", "-m", str(context / "model"), "--env-prefix", str(tmp_path / "env"),
                  "-i", str(tmp_path / "in.json"), check=True)
    assert json.loads(out.stdout) == {"predictions": sklearn_model.predict(X[:4]).tolist()}


def test_a_model_without_a_usable_lock_is_locked_into_the_context_only(saved_model, tmp_path, local_channel_url):
    before = tree_digest(saved_model)
    out = tmp_path / "ctx"
    proc = run_cli("generate-dockerfile", "-m", str(saved_model), "-d", str(out), "-q",
                   "--channel-alias", f"conda-forge={local_channel_url}", check=True, timeout=600)
    assert "the model has no lock" in proc.stderr
    assert tree_digest(saved_model) == before and not (saved_model / "conda-lock.yml").exists()
    lock = read_lockfile(out / "model" / "conda-lock.yml")
    assert lock.metadata.platforms == ["linux-64"]
    assert "envrepro_lock: conda-lock.yml" in (out / "model" / "MLmodel").read_text()
    assert check_lock(out / "model").ok
    # Run again into the same directory: the earlier context is replaced, not merged.
    (out / "stray").write_text("x")
    run_cli("generate-dockerfile", "-m", str(saved_model), "-d", str(out), "-q",
            "--channel-alias", f"conda-forge={local_channel_url}", check=True, timeout=600)
    assert not (out / "stray").exists()


def test_a_lock_without_the_platform_is_relocked_for_it(saved_model, tmp_path, local_channel_url):
    model = tmp_path / "model"
    shutil.copytree(saved_model, model)
    alias = ["--channel-alias", f"conda-forge={local_channel_url}"]
    run_cli("lock", "-m", str(model), "-p", "osx-arm64", "-q", *alias, check=True, timeout=600)
    before = tree_digest(model)
    proc = run_cli("generate-dockerfile", "-m", str(model), "-d", str(tmp_path / "ctx"), *alias, check=True,
                   timeout=600)
    assert "has no linux-64" in proc.stderr
    assert read_lockfile(tmp_path / "ctx" / "model" / "conda-lock.yml").metadata.platforms == ["linux-64"]
    assert tree_digest(model) == before


def test_pip_only_uses_the_models_exact_python_as_base(saved_model, tmp_path):
    run_cli("generate-dockerfile", "-m", str(saved_model), "-d", str(tmp_path / "ctx"), "--pip-only", "-q",
            check=True, timeout=600)
    builder, _ = stages(tmp_path / "ctx" / "Dockerfile")
    assert builder[0].value == "python:%d.%d.%d-slim AS builder" % sys.version_info[:3]  # the model's python
    lock = read_lockfile(tmp_path / "ctx" / "model" / "conda-lock.yml")
    assert lock.metadata.custom["envrepro.kind"] == "pip" and not lock.for_platform("linux-64", "conda")


def test_unreachable_channel_is_one_clear_line(saved_model, tmp_path):
    out = tmp_path / "ctx"
    proc = run_cli("generate-dockerfile", "-m", str(saved_model), "-d", str(out),
                   "--channel-alias", f"conda-forge={(tmp_path / 'no-such-channel').as_uri()}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "cannot lock the model for linux-64" in proc.stderr and str(saved_model) in proc.stderr
    assert not out.exists()
