"""`serve --access-log`: one Common Log Format line per request on stderr (and none without the flag)."""

from __future__ import annotations

import json
import re
from collections import Counter

from tests.conftest import SKLEARN_COLUMNS
from tests.serving.helpers import start_server, stop_server

CLF = re.compile(r'^(?P<host>\S+) - - \[(?P<date>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
                 r'"(?P<request>[A-Z]+ \S+ HTTP/1\.[01])" (?P<status>\d{3}) (?P<bytes>\d+) (?P<seconds>\d+\.\d+)$')


def _stderr_after_stop(server) -> list[str]:
    stop_server(server)
    rest = server.proc.stderr.read() or ""
    return rest.splitlines()


def test_access_log_is_one_common_log_line_per_request(saved_sklearn_dir, iris_like):
    server = start_server(saved_sklearn_dir, "--env-manager", "local", "--access-log")
    rows = iris_like[0][:2].tolist()
    sent = []
    for method, path, body in (("GET", "/ping", None), ("GET", "/health", None),
                               ("POST", "/invocations", json.dumps({"dataframe_split": {"columns": SKLEARN_COLUMNS,
                                                                                        "data": rows}})),
                               ("POST", "/invocations", "{oops"), ("GET", "/nope?x=1", None)):
        status, data = server.request(method, path, body)
        sent.append((f"{method} {path} HTTP/1.1", status, len(data)))
        if path in ("/ping", "/health"):
            assert (status, json.loads(data)) == (200, {"status": "ok"})
    lines = _stderr_after_stop(server)
    logged = [CLF.match(line) for line in lines if '" ' in line and "HTTP/1." in line]
    assert all(logged), lines
    # Each request was on its own connection (thread): lines come in the order requests finish, so compare them
    # as a multiset. start_server's own pings (it waits for a 200) are logged too: set those apart.
    ours = Counter((m["request"], int(m["status"]), int(m["bytes"])) for m in logged)
    ping = ("GET /ping HTTP/1.1", 200, len(b'{"status": "ok"}\n'))
    assert ours[ping] >= 2, "\n".join(lines)
    ours[ping] = 1
    assert ours == Counter(sent), "\n".join(lines)
    assert [s for _, s, _ in sent] == [200, 200, 200, 400, 404]
    assert all(m["host"] == "127.0.0.1" and float(m["seconds"]) < 60 for m in logged)


def test_no_access_log_by_default(saved_sklearn_dir):
    server = start_server(saved_sklearn_dir, "--env-manager", "local")
    assert server.request("GET", "/ping")[0] == 200
    lines = _stderr_after_stop(server)
    assert not [line for line in lines if "HTTP/1." in line], lines
