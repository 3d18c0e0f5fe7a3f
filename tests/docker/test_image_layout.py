"""The image's layout works for the user the server runs as (uid 10001), not only for root who built it.

Without Docker: both stages' COPY and RUN steps are run here, as root, with the image's paths mapped into a
world-traversable directory and the host's /usr/bin/python3 as the base image's Python (useradd skipped).
Then, as uid 10001, the runtime directory is read and the worker predicts: what `docker run` would do.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from envrepro.docker.dockerfile import ENV_PREFIX, ENVREPRO_HOME, MODEL_DIR, TOOLING_DIR, UID
from tests.conftest import SKLEARN_COLUMNS
from tests.docker.dockerparse import copy_args, env_vars, stages

pytestmark = [
    pytest.mark.slow,  # installs envrepro's wheel and the locked environment
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv") or not Path("/usr/bin/python3").exists(),
                       reason="needs root, setpriv and /usr/bin/python3 (a Python every user can run)"),
]


def _digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(f"{path.relative_to(root)}:{path.lstat().st_mode}:{path.lstat().st_mtime_ns}".encode())
    return digest.hexdigest()


@pytest.fixture
def image_root():
    root = Path(tempfile.mkdtemp(prefix="envrepro-image-", dir="/tmp"))  # pytest's tmp is private to root
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _build(context: Path, root: Path) -> tuple[Path, dict[str, str]]:
    """Run the Dockerfile's steps into ``root``; returns the base Python's bin directory and the final ENV."""
    base = root / "usr"  # stands in for the base image's system Python
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(base)], check=True, timeout=300)
    mapping = {path: str(root / path.strip("/")) for path in (MODEL_DIR, ENV_PREFIX, ENVREPRO_HOME, TOOLING_DIR)}

    def mapped(text: str) -> str:
        for container, local in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(container, local)
        return text

    final_env: dict[str, str] = {}
    for stage in stages(context / "Dockerfile"):
        env = {**os.environ, **{k: mapped(v) for k, v in env_vars(stage).items()},
               "PATH": f"{base / 'bin'}{os.pathsep}{os.environ['PATH']}"}
        env.pop("PYTHONPATH", None)
        for ins in stage:
            if ins.name == "COPY":
                flags, (src, dst) = copy_args(ins)
                if flags or src.startswith("vendor/"):  # --from=builder: same paths here; vendor/: already placed
                    continue
                shutil.copytree(context / src, mapped(dst), symlinks=True, dirs_exist_ok=True)
            elif ins.name == "RUN":
                command = mapped(ins.value).split("&& useradd")[0]  # never add users to this machine
                proc = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=900)
                assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr}"
        final_env = env
    return base / "bin", final_env


def _as_server_user(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["setpriv", "--reuid", str(UID), "--regid", str(UID), "--clear-groups", *command],
                          env={**env, "HOME": "/nonexistent"}, capture_output=True, text=True, timeout=600,
                          cwd="/")


def test_the_server_user_reads_the_runtime_and_predicts(context, image_root, sklearn_model, iris_like):
    bin_dir, env = _build(context, image_root)
    home = Path(env["ENVREPRO_HOME"])
    runtime = [p for p in (home / "runtime").iterdir() if (p / "bootstrap.py").is_file()]
    assert len(runtime) == 1, "the final stage builds the worker's runtime directory"
    before = _digest(home)

    read = _as_server_user([str(bin_dir / "python"), "-c", "import pathlib, sys; root = pathlib.Path(sys.argv[1]); "
                            "(root / 'bootstrap.py').read_bytes(); "
                            "print(sum(len(p.read_bytes()) for p in root.rglob('*') if p.is_file()))",
                            str(runtime[0])], env)
    assert read.returncode == 0 and int(read.stdout) > 0, read.stderr[-2000:]
    helped = _as_server_user([str(bin_dir / "envrepro"), "serve", "--help"], env)
    assert helped.returncode == 0 and "--env-prefix" in helped.stdout, helped.stderr

    X, _ = iris_like
    request = image_root / "in.json"
    request.write_text(json.dumps({"dataframe_split": {"columns": SKLEARN_COLUMNS, "data": X[:3].tolist()}}))
    request.chmod(0o644)
    model, prefix = image_root / MODEL_DIR.strip("/"), image_root / ENV_PREFIX.strip("/")
    predicted = _as_server_user([str(bin_dir / "envrepro"), "predict", "-m", str(model), "--env-prefix", str(prefix),
                                 "-i", str(request)], env)
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout) == {"predictions": sklearn_model.predict(X[:3]).tolist()}
    assert _digest(home) == before, "the server wrote into ENVREPRO_HOME (the image's root filesystem)"
