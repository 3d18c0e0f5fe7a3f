"""Start a real `envrepro serve` subprocess on a free loopback port and talk HTTP to it."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    proc: subprocess.Popen
    host: str
    port: int

    def request(self, method: str, path: str, body: bytes | str | None = None,
                content_type: str | None = "application/json", headers: dict | None = None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        all_headers = dict(headers or {})
        if content_type:
            all_headers["Content-Type"] = content_type
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=all_headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, data

    def invoke(self, payload, content_type: str = "application/json"):
        body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
        status, data = self.request("POST", "/invocations", body, content_type)
        return status, json.loads(data) if data else None


def start_server(model: Path, *extra: str, env: dict | None = None, timeout: float = 900) -> Server:
    """`envrepro serve -p 0`; waits for the 'serving ... on http://host:port' line and a 200 on /ping."""
    proc = subprocess.Popen([sys.executable, "-m", "envrepro.cli", "serve", "-m", str(model), "-p", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                raise AssertionError(f"server exited {proc.returncode}:\n{''.join(lines)}{proc.stderr.read()}")
            continue
        lines.append(line)
        match = re.search(r"on http://([\d.]+):(\d+)", line)
        if match:
            server = Server(proc, match.group(1), int(match.group(2)))
            os.set_blocking(proc.stderr.fileno(), False)
            while time.monotonic() < deadline:
                if server.request("GET", "/ping")[0] == 200:
                    return server
                time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"server did not start:\n{''.join(lines)}")


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
