"""HTTP framing, limits and timeouts of `envrepro serve`, over raw sockets (a client that misbehaves on purpose)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import envrepro
from tests.conftest import run_cli
from tests.serving.helpers import Server, start_server, stop_server

ROW = b'{"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": [[1.0, 2.0, 3.0, 4.0]]}}'


@pytest.fixture(scope="module")
def server(saved_sklearn_dir):
    server = start_server(saved_sklearn_dir, "--env-manager", "local", "--max-request-bytes", "4096", "--timeout", "2")
    yield server
    stop_server(server)


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=15)
    return sock


def _exchange(server: Server, raw: bytes, *, read_timeout: float = 15) -> bytes:
    """Send ``raw`` and read until the server closes the connection or stops answering."""
    with _connect(server) as sock:
        sock.sendall(raw)
        sock.settimeout(read_timeout)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                    break
        except TimeoutError:
            pass
    return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _status(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split()[1])


def _post(headers: str, body: bytes = b"") -> bytes:
    return (f"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}\r\n").encode() + body


@pytest.mark.parametrize("headers, status", [
    ("Content-Length: -1\r\n", 400),
    ("Content-Length: +35\r\n", 400),
    ("Content-Length: 0x23\r\n", 400),
    ("Content-Length: ³⁵\r\n", 400),
    ("Content-Length: 35\r\nContent-Length: 36\r\n", 400),   # conflicting duplicates: a smuggling shape
    ("Transfer-Encoding: chunked\r\nContent-Length: 35\r\n", 400),
    ("Transfer-Encoding: gzip\r\n", 501),
    ("", 411),
])
def test_bad_framing_is_refused_and_the_connection_closed(server, headers, status):
    started = time.monotonic()
    response = _exchange(server, _post(headers, ROW))
    assert _status(response) == status
    assert b"Connection: close" in response
    assert time.monotonic() - started < 5


def test_identical_duplicate_content_length_and_chunked_bodies_work(server, sklearn_model):
    expected = {"predictions": sklearn_model.predict([[1.0, 2.0, 3.0, 4.0]]).tolist()}
    response = _exchange(server, _post(f"Content-Length: {len(ROW)}\r\nContent-Length: {len(ROW)}\r\n", ROW))
    assert _status(response) == 200 and json.loads(response.split(b"\r\n\r\n", 1)[1]) == expected
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (ROW[:10], ROW[10:])) + b"0\r\n\r\n"
    response = _exchange(server, _post("Transfer-Encoding: chunked\r\n", chunked))
    assert _status(response) == 200 and json.loads(response.split(b"\r\n\r\n", 1)[1]) == expected


def test_body_limits_hold_for_both_framings(server):
    response = _exchange(server, _post("Content-Length: 120000000\r\n"))  # nothing sent: must not be read
    assert _status(response) == 413
    big = b"x" * 5000
    response = _exchange(server, _post("Transfer-Encoding: chunked\r\n", b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big)))
    assert _status(response) == 413


def test_a_body_shorter_than_announced_times_out(server):
    started = time.monotonic()
    response = _exchange(server, _post("Content-Length: 1000\r\n", ROW), read_timeout=20)
    assert time.monotonic() - started < 8, "the --timeout of 2 s must cut it off"
    assert not response.startswith(b"HTTP/1.1 200")


def test_deeply_nested_json_is_a_400_not_a_dropped_connection(saved_sklearn_dir):
    payload = b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    roomy = start_server(saved_sklearn_dir, "--env-manager", "local")  # the module's server takes 4 KiB at most
    try:
        response = _exchange(roomy, _post(f"Content-Length: {len(payload)}\r\n", payload))
        assert _status(response) == 400 and b"BAD_REQUEST" in response and b"nested too deeply" in response
    finally:
        stop_server(roomy)


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no thread count")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_slowloris_is_bounded_and_cut_off(server, sklearn_model):
    conns = []
    try:
        for _ in range(300):
            sock = _connect(server)
            sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\n")  # and then a byte now and then
            conns.append(sock)
        time.sleep(1.0)
        for sock in conns:
            try:
                sock.sendall(b"X")
            except OSError:
                pass
        assert _threads(server.proc.pid) <= 64 + 8, "one thread per connection, without a cap"
        # Every slow connection is cut off after --timeout (2 s), so a real client gets through soon.
        started = time.monotonic()
        response = _exchange(server, _post(f"Content-Length: {len(ROW)}\r\n", ROW), read_timeout=30)
        assert _status(response) == 200 and time.monotonic() - started < 15
    finally:
        for sock in conns:
            sock.close()


@pytest.mark.parametrize("trial", range(3))
def test_workers_stop_on_sigterm_after_a_burst(saved_sklearn_dir, trial):
    from concurrent.futures import ThreadPoolExecutor

    server = start_server(saved_sklearn_dir, "--env-manager", "local", "--workers", "2")
    children = [int(p) for p in subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True,
                                               text=True).stdout.split()]
    assert len(children) == 1
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: server.invoke(json.loads(ROW))[0], range(200)))
    assert set(statuses) == {200}
    server.proc.send_signal(signal.SIGTERM)
    server.proc.wait(timeout=10)
    time.sleep(0.2)
    assert not [c for c in children if Path(f"/proc/{c}").exists() and "zombie" not in
                Path(f"/proc/{c}/status").read_text()], "a worker outlived SIGTERM"


SLOW_LOADER = '''
import time
import envrepro


class SlowToLoad(envrepro.PythonModel):
    def load_context(self, context):
        time.sleep(4)

    def predict(self, context, model_input, params=None):
        return [1 for _ in model_input]
'''


def test_ping_is_503_while_the_model_loads(tmp_path):
    (tmp_path / "slow_model.py").write_text(SLOW_LOADER)
    sys.path.insert(0, str(tmp_path))
    try:
        import slow_model

        envrepro.save_model(slow_model.SlowToLoad(), tmp_path / "model", code_paths=[str(tmp_path / "slow_model.py")])
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("slow_model", None)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "envrepro.cli", "serve", "-m", str(tmp_path / "model"), "-p",
                             str(port), "--env-manager", "local"], stderr=subprocess.PIPE)
    server = Server(proc, "127.0.0.1", port)
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and 200 not in seen:
            try:
                status, body = server.request("GET", "/ping")
            except OSError:
                time.sleep(0.1)
                continue
            seen.append(status)
            if status == 503:
                assert json.loads(body)["error_code"] == "NOT_READY"
            time.sleep(0.2)
        assert seen[0] == 503 and seen[-1] == 200, seen
    finally:
        stop_server(server)


def test_port_in_use_or_out_of_range_is_one_line(saved_sklearn_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_cli("serve", "-m", str(saved_sklearn_dir), "-p", str(port), "--env-manager", "local")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = run_cli("serve", "-m", str(saved_sklearn_dir), "-p", "99999", "--env-manager", "local")
    assert proc.returncode == 2 and "port 99999 is out of range" in proc.stderr and "Traceback" not in proc.stderr
