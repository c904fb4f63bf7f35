"""Bounded load test of ``POST /v1/score``: 1, 4 and 16 concurrent clients, 200-row bodies.

Method: starts the production server (``backend.web.server.run``) on 127.0.0.1 with a model
directory in a subprocess (or uses ``--url``), warms it up with a few requests, then for each
client count runs ``--requests`` requests of ``--rows`` leads each, shared by that many client
threads (one ``requests.Session``, i.e. one kept-alive connection, each).  Every request's wall
time is measured on the client; a request that does not answer 200 with one result per row,
or fails on the network, is an error.  Each level is bounded by its request count and by
``--max-seconds``; the server is stopped at the end.  Printed per level: completed requests,
errors, throughput (requests/s and rows/s) and latency p50 / p95 / p99 (nearest rank, ms).

The clients run on the same machine as the server and share its CPUs, so the figures are a
lower bound for the server alone.  Usage::

    python bench/bench_load.py [--model-dir models] [--rows 200] [--requests 200] [--levels 1,4,16]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from pathlib import Path

import orjson
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_http import free_port, load_payload, percentile, server, shared

ROOT = Path(__file__).resolve().parent.parent


def one(session: requests.Session, url: str, body: bytes, rows: int) -> tuple[float, str | None]:
    """One request: (wall milliseconds, error or None)."""
    start = time.perf_counter()
    try:
        response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=60)
        wall = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            return wall, f"HTTP {response.status_code}"
        if len(orjson.loads(response.content).get("results", ())) != rows:
            return wall, "wrong number of results"
        return wall, None
    except requests.RequestException as exc:
        return (time.perf_counter() - start) * 1000, type(exc).__name__


def level(url: str, body: bytes, rows: int, clients: int, count: int, max_seconds: float) -> dict[str, object]:
    """``count`` requests shared by ``clients`` threads, stopped early at ``max_seconds``."""
    walls: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def send(session: requests.Session) -> bool:
        wall, error = one(session, url, body, rows)
        with lock:
            walls.append(wall)
            if error:
                errors.append(error)
        return True

    elapsed = shared(send, count, clients, time.monotonic() + max_seconds)
    return {"clients": clients, "done": len(walls), "errors": errors, "seconds": elapsed,
            "rps": len(walls) / elapsed if elapsed else 0.0,
            "p50": percentile(walls, 50), "p95": percentile(walls, 95), "p99": percentile(walls, 99)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--url", help="an already running server (default: start one on 127.0.0.1)")
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200, help="requests per client count")
    parser.add_argument("--levels", default="1,4,16", help="client counts, comma separated")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time limit per client count")
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.levels.split(",")]
    payload, source = load_payload(args.rows)
    body = orjson.dumps(payload)

    def run(url: str) -> int:
        endpoint = url.rstrip("/") + "/v1/score"
        warm = level(endpoint, body, args.rows, 1, 5, 30)
        if warm["errors"]:
            raise SystemExit(f"warm-up failed: {warm['errors'][:3]}")
        print(f"POST /v1/score, {args.rows} rows per body ({len(body):,} bytes) from {source}; server {url}; "
              f"{args.requests} requests per level, at most {args.max_seconds:.0f} s each; "
              f"clients and server on one machine ({platform.machine()}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()})")
        print(f"{'clients':>7} {'done':>5} {'errors':>6} {'req/s':>7} {'rows/s':>8} "
              f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}")
        failed = 0
        for clients in levels:
            result = level(endpoint, body, args.rows, clients, args.requests, args.max_seconds)
            errors = result["errors"]
            assert isinstance(errors, list)
            failed += len(errors)
            print(f"{clients:>7} {result['done']:>5} {len(errors):>6} {result['rps']:>7.1f} "
                  f"{result['rps'] * args.rows:>8.0f} {result['p50']:>7.1f} {result['p95']:>7.1f} "
                  f"{result['p99']:>7.1f}" + (f"  e.g. {sorted(set(errors))[:3]}" if errors else ""))
        return 1 if failed else 0

    if args.url:
        return run(args.url)
    with server(args.model_dir, free_port()) as url:
        return run(url)


if __name__ == "__main__":
    sys.exit(main())
