"""HTTP benchmark of ``POST /v1/score`` against the production server on loopback.

Starts ``backend.web.server.run`` (waitress, 2 processes x 8 threads) in a subprocess with a model
directory, sends a fixed number of requests of ``--rows`` leads each over real HTTP and
prints:

- latency (sequential, one client): median, p95, mean, in milliseconds of wall time;
- throughput with ``--concurrency`` clients (threads, one ``requests.Session`` each);
- where the server's time goes, from the ``Server-Timing`` header the app sends
  (auth, parse, validate, score, serialize, and the rest of the request inside Flask);
- the floor, in the same run: a bare Flask app on the same waitress server (same processes,
  threads and options) whose ``POST /v1/score`` parses the same body with orjson and answers
  one small JSON object per row — what the framework and the HTTP round trip cost before
  any scoring.

Every loop is bounded by a request count and by ``--max-seconds``; the server is stopped
at the end.  Usage::

    python bench/bench_http.py [--model-dir models] [--rows 200] [--requests 300]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import requests

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "backend" / "sample" / "leads.csv"
PHASES = ("auth", "parse", "validate", "score", "serialize")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_payload(rows: int) -> tuple[dict[str, Any], str]:
    """``rows`` leads from the sample sheet (plain numbers as numbers, as getValues gives them)."""
    if SAMPLE.is_file():
        with SAMPLE.open(newline="", encoding="utf-8") as handle:
            table = list(csv.reader(handle))
        header, data = table[0], table[1:]
        source = f"{SAMPLE.relative_to(ROOT)} ({len(data)} rows, repeated as needed)"
    else:
        header = ["Company", "Lead Source", "Region", "Employees", "Monthly Ad Spend", "Demo Booked"]
        data = [[f"Company {i}", ["Referral", "Paid Search", "Social"][i % 3], ["EMEA", "APAC"][i % 2],
                 str(5 + i % 200), f"${(i * 37) % 20_000:,}", ["Yes", "No"][i % 2]] for i in range(rows)]
        source = "generated rows"
    picked = [data[i % len(data)] for i in range(rows)]
    cells = [[(float(c) if "." in c else int(c)) if _NUMBER.fullmatch(c) else c for c in row] for row in picked]
    return {"header": header, "rows": cells}, source


FLOOR_APP = """
import orjson
from flask import Flask, request
from backend.web.server import _serve_waitress

app = Flask("floor")
app.config["MAX_CONTENT_LENGTH"] = 32 * 1024 * 1024

@app.get("/healthz")
def healthz():
    return {"status": "ok", "model": {"name": "floor", "version": "none"}}

@app.post("/v1/score")
def score():
    body = orjson.loads(request.get_data())
    results = [{"lead_score": 5, "close_probability": 0.5, "predicted_mrr": 100.0, "reasons": [],
                "segment": "floor"} for _ in body["rows"]]
    return app.response_class(orjson.dumps({"results": results}), mimetype="application/json")

_serve_waitress(app, "127.0.0.1", PORT)
"""


@contextmanager
def server(model_dir: Path, port: int, timeout: float = 90.0, *, floor: bool = False) -> Iterator[str]:
    """The production server (or the bare floor app) on 127.0.0.1:port, stopped (SIGTERM) on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSCORE_")}
    env["LEADSCORE_MODEL_DIR"] = str(model_dir)
    code = (FLOOR_APP.replace("PORT", str(port)) if floor
            else f"from backend.web.server import run; run('127.0.0.1', {port})")
    # The access log goes to a file: a pipe nobody reads would fill up and stall the server.
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            _wait_healthy(f"http://127.0.0.1:{port}", process, log, timeout)
            yield f"http://127.0.0.1:{port}"
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _wait_healthy(url: str, process: subprocess.Popen[str], log: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            log.seek(0)
            raise SystemExit(f"the server exited ({process.returncode}):\n{log.read()[-4000:]}")
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not become healthy in time")
        time.sleep(0.2)


def server_timing(header: str) -> dict[str, float]:
    """``Server-Timing`` as {phase: milliseconds}."""
    out: dict[str, float] = {}
    for part in header.split(","):
        name, _, dur = part.strip().partition(";dur=")
        if name and dur:
            out[name] = float(dur)
    return out


def post(session: requests.Session, url: str, body: bytes) -> tuple[float, dict[str, float]]:
    """One request: wall milliseconds and the server's phase timings."""
    start = time.perf_counter()
    response = session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=120)
    wall = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise SystemExit(f"unexpected {response.status_code}: {response.text[:500]}")
    return wall, server_timing(response.headers.get("Server-Timing", ""))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


def sequential(url: str, body: bytes, count: int, deadline: float) -> tuple[list[float], list[dict[str, float]]]:
    """``count`` requests one after another (stops early at ``deadline``)."""
    walls: list[float] = []
    timings: list[dict[str, float]] = []
    with requests.Session() as session:
        for _ in range(count):
            if time.monotonic() > deadline:
                break
            wall, timing = post(session, url, body)
            walls.append(wall)
            timings.append(timing)
    return walls, timings


def shared(send: Callable[[requests.Session], bool], count: int, clients: int, deadline: float) -> float:
    """``count`` calls of ``send`` shared by ``clients`` threads (a session each) until ``deadline``.

    ``send`` returns False to stop its client.  Returns the wall-clock seconds.
    """
    lock = threading.Lock()
    remaining = [count]

    def client() -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                if not send(session):
                    return

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def concurrent(url: str, body: bytes, count: int, clients: int, deadline: float) -> tuple[int, float]:
    """``count`` requests shared by ``clients`` threads; returns (completed, seconds)."""
    done: list[int] = []
    errors: list[BaseException] = []

    def send(session: requests.Session) -> bool:
        try:
            post(session, url, body)
        except BaseException as exc:  # report after joining
            errors.append(exc)
            return False
        done.append(1)
        return True

    elapsed = shared(send, count, clients, deadline)
    if errors:
        raise SystemExit(f"a client failed: {errors[0]}")
    return len(done), elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--rows", type=int, default=200, help="leads per request")
    parser.add_argument("--requests", type=int, default=300, help="sequential requests timed")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--concurrent-requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--max-seconds", type=float, default=300.0, help="stop each phase after this long")
    args = parser.parse_args(argv)

    if not (args.model_dir / "active.json").is_file():
        print(f"no active model in {args.model_dir}: pass --model-dir", file=sys.stderr)
        return 2
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    payload, source = load_payload(args.rows)
    body = orjson.dumps(payload)
    port = free_port()
    with server(args.model_dir, port) as base:
        url = base + "/v1/score"
        sequential(url, body, args.warmup, time.monotonic() + args.max_seconds)
        walls, timings = sequential(url, body, args.requests, time.monotonic() + args.max_seconds)
        done, elapsed = concurrent(url, body, args.concurrent_requests, args.concurrency,
                                   time.monotonic() + args.max_seconds)
        model = requests.get(base + "/healthz", timeout=10).json()["model"]
    with server(args.model_dir, free_port(), floor=True) as base:
        url = base + "/v1/score"
        sequential(url, body, args.warmup, time.monotonic() + args.max_seconds)
        floor_walls, _ = sequential(url, body, args.requests, time.monotonic() + args.max_seconds)
        floor_done, floor_elapsed = concurrent(url, body, args.concurrent_requests, args.concurrency,
                                               time.monotonic() + args.max_seconds)

    totals: dict[str, float] = defaultdict(float)
    for timing in timings:
        for name, ms in timing.items():
            totals[name] += ms
    server_total = totals["total"] or 1.0
    print(f"POST /v1/score, {args.rows} rows per request ({len(body) / 1024:.0f} KiB JSON) from {source}")
    print(f"model {model['name']} {model['version']}; server: waitress, 2 processes x 8 threads on 127.0.0.1; "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}")
    if load_before is not None:
        print(f"machine load average (1 min) before / after: {load_before[0]:.2f} / {os.getloadavg()[0]:.2f} "
              "(other processes on the machine inflate these figures)")
    print(f"\nlatency, 1 client, {len(walls)} sequential requests after {args.warmup} warm-up (wall time per request):")
    print(f"  median {statistics.median(walls):7.1f} ms   p95 {percentile(walls, 95):7.1f} ms   "
          f"mean {statistics.fmean(walls):7.1f} ms   min {min(walls):.1f}   max {max(walls):.1f}")
    print(f"  server time (Server-Timing total): median "
          f"{statistics.median(t['total'] for t in timings):.1f} ms; the rest is HTTP, WSGI and client time")
    floor_median = statistics.median(floor_walls)
    print(f"  floor, bare Flask on the same server parsing the same body: median {floor_median:.1f} ms, "
          f"p95 {percentile(floor_walls, 95):.1f} ms")
    print(f"  scoring adds {statistics.median(walls) - floor_median:.1f} ms to the floor "
          f"({statistics.median(walls) / floor_median:.1f}x)")
    print(f"\nthroughput, {args.concurrency} concurrent clients, {done} requests in {elapsed:.1f} s:")
    print(f"  {done / elapsed:7.1f} requests/s   = {done * args.rows / elapsed:,.0f} leads/s")
    print(f"  floor: {floor_done / floor_elapsed:7.1f} requests/s "
          f"(scoring reaches {done / elapsed / (floor_done / floor_elapsed):.0%} of it)")
    print(f"\nshare of server time, summed over the {len(timings)} sequential requests (Server-Timing):")
    for name in PHASES:
        print(f"  {name:<10} {100 * totals[name] / server_total:5.1f} %   "
              f"({totals[name] / len(timings):6.2f} ms per request)")
    rest = server_total - sum(totals[name] for name in PHASES)
    print(f"  {'other':<10} {100 * rest / server_total:5.1f} %   ({rest / len(timings):6.2f} ms per request: "
          "request-id, routing, response hooks)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
