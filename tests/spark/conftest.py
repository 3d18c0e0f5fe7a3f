"""Real Spark for the UDF tests: a local[2] session, and a standalone cluster (a master and a worker started with
the pyspark distribution's own ``spark-class``), one session at a time.

The standalone worker plays another machine: its executors get their own ``ENVREPRO_HOME`` (so they install every
environment from the shipped bundle), and a dead proxy for any HTTP, so an executor that tried to reach a
package index would fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing answers
NO_NETWORK = {"HTTP_PROXY": DEAD_PROXY, "HTTPS_PROXY": DEAD_PROXY, "ALL_PROXY": DEAD_PROXY,
              "http_proxy": DEAD_PROXY, "https_proxy": DEAD_PROXY, "all_proxy": DEAD_PROXY,
              "UV_INDEX_URL": f"{DEAD_PROXY}/simple", "PIP_INDEX_URL": f"{DEAD_PROXY}/simple"}


def spark_home() -> Path:
    pyspark = pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("java is not installed (.ci/run installs openjdk-17-jre-headless)")
    return Path(pyspark.__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    url: str
    executor_home: Path  # ENVREPRO_HOME of the executors


def _start(args: list[str], log: Path, env: dict[str, str], ready: str, timeout: float = 120) -> subprocess.Popen:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready in log.read_text(errors="replace"):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"{args[1]} did not start:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory) -> Iterator[Cluster]:
    """Per module (one uses it), so its executors' environments and files (GBs) are gone before the next one."""
    home = spark_home()
    root = tmp_path_factory.mktemp("spark-cluster")
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    base = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false"}
    spark_class = str(home / "bin" / "spark-class")
    master = _start([spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port",
                     str(port), "--webui-port", str(free_port())], root / "master.log", base,
                    "I have been elected leader")
    executor_home = root / "executor-envrepro-home"
    worker_env = {**base, **NO_NETWORK, "ENVREPRO_HOME": str(executor_home), "PYSPARK_PYTHON": sys.executable}
    try:
        worker = _start([spark_class, "org.apache.spark.deploy.worker.Worker", url, "--host", "127.0.0.1",
                         "--cores", "2", "--memory", "2g", "--work-dir", str(root / "work"), "--webui-port",
                         str(free_port())], root / "worker.log", worker_env, "Successfully registered with master")
    except BaseException:
        master.terminate()
        master.wait()
        raise
    yield Cluster(url, executor_home)
    for proc in (worker, master):
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for heavy in (executor_home, root / "work"):  # the logs stay, for a failed run
        shutil.rmtree(heavy, ignore_errors=True)


@pytest.fixture(scope="module", params=["local[2]", "standalone"])
def spark(request, tmp_path_factory):
    """A SparkSession on local[2], then on the standalone cluster (tests run once per session)."""
    spark_home()
    from pyspark.sql import SparkSession

    master = "local[2]" if request.param == "local[2]" else request.getfixturevalue("standalone_cluster").url
    saved = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable  # the Python workers: this interpreter, with envrepro
    session = (SparkSession.builder.master(master).appName("envrepro-tests")
               .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1").config("spark.executor.memory", "1g")
               .config("spark.sql.shuffle.partitions", "4")
               .config("spark.local.dir", str(tmp_path_factory.mktemp("spark-local"))).getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if saved is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = saved
