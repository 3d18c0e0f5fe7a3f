"""A small closed-loop HTTP load generator: N client processes, each one keep-alive connection."""

from __future__ import annotations

import http.client
import multiprocessing as mp
import time


def _client(host: str, port: int, body: bytes, seconds: float, queue: mp.Queue) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Content-Type": "application/json"}
    latencies, errors = [], 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        try:
            conn.request("POST", "/invocations", body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                errors += 1
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            continue
        latencies.append(time.perf_counter() - start)
    queue.put((latencies, errors))


def run_load(host: str, port: int, body: bytes, *, clients: int, seconds: float) -> dict:
    queue: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_client, args=(host, port, body, seconds, queue)) for _ in range(clients)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(seconds for lat, _ in results for seconds in lat)
    errors = sum(e for _, e in results)
    if not latencies:
        return {"requests": 0, "errors": errors, "rps": 0.0, "p50_ms": float("nan"), "p99_ms": float("nan")}

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    return {"requests": len(latencies), "errors": errors, "rps": len(latencies) / seconds,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99)}
