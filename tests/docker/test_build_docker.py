"""`envrepro build-docker`: one clear line without an engine; with one, an image that serves the model."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
import uuid

import pytest

from envrepro.docker import engine_problem
from tests.conftest import run_cli

ENGINE_PROBLEM = engine_problem()


@pytest.mark.parametrize("setting", ["DOCKER_HOST", "ENVREPRO_DOCKER"])
def test_without_an_engine_one_line_points_to_generate_dockerfile(saved_model, tmp_path, monkeypatch, setting):
    if setting == "DOCKER_HOST":
        if shutil.which("docker") is None:
            pytest.skip("no docker client to point at a dead socket")
        monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    else:
        monkeypatch.setenv("ENVREPRO_DOCKER", str(tmp_path / "no-such-docker"))
    started = time.monotonic()
    proc = run_cli("build-docker", "-m", str(saved_model), "-n", "envrepro-test", "-d", str(tmp_path / "ctx"))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("envrepro: error: no Docker engine is reachable (")
    assert f"envrepro generate-dockerfile -m {saved_model} -d DIR" in lines[0]
    assert not (tmp_path / "ctx").exists()  # checked before any locking or wheel building
    assert time.monotonic() - started < 60


@pytest.mark.slow
@pytest.mark.skipif(ENGINE_PROBLEM is not None, reason=f"no Docker engine: {ENGINE_PROBLEM}")
def test_built_image_serves_the_model(locked_model, sklearn_model, iris_like, tmp_path):
    name = f"envrepro-test-{uuid.uuid4().hex[:8]}"
    run_cli("build-docker", "-m", str(locked_model), "-n", name, "-q", check=True, timeout=3600)
    container = None
    try:
        info = json.loads(subprocess.run(["docker", "image", "inspect", name], capture_output=True, text=True,
                                         check=True).stdout)[0]["Config"]
        assert info["User"] == "10001:10001" and "8080/tcp" in info["ExposedPorts"]
        assert len(info["Labels"]["envrepro.lock.content_hash"]) == 64
        container = subprocess.run(["docker", "run", "-d", "-p", "127.0.0.1::8080", name], capture_output=True,
                                   text=True, check=True).stdout.strip()
        port = subprocess.run(["docker", "port", container, "8080/tcp"], capture_output=True, text=True,
                              check=True).stdout.split(":")[-1].strip()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=5) as response:
                    assert response.status == 200
                break
            except OSError:
                if time.monotonic() > deadline:
                    logs = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
                    pytest.fail(f"the container never answered /ping:\n{logs.stdout}\n{logs.stderr}")
                time.sleep(1)
        X, _ = iris_like
        payload = {"dataframe_split": {"columns": list("abcd"), "data": X[:3].tolist()}}  # the signature names a-d
        request = urllib.request.Request(f"{base}/invocations", data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert json.loads(response.read()) == {"predictions": sklearn_model.predict(X[:3]).tolist()}
    finally:
        if container:
            subprocess.run(["docker", "rm", "-f", container], capture_output=True)
        subprocess.run(["docker", "rmi", "-f", name], capture_output=True)
