"""Ingestion benchmark: the real server (``audience serve``) on a fresh database.

Measures, in one run:
  (a) events/s through ``POST /v1/installations/{id}/events`` with 100 events a request from
      concurrent keep-alive connections;
  (b) single-event requests/s and their p50/p99 latency at 32 concurrent connections;
  (c) the raw rate of inserting the same rows straight into the same ``events`` table (same
      indexes) with SQLAlchemy Core ``executemany``, 1000 rows a transaction — and the same with
      the bare driver's ``cursor.executemany``, for reference;
and prints every figure, the ratio (a)/(c) and the server's peak RSS. The last line printed is
one JSON object.

The load generator is a minimal asyncio HTTP/1.1 client over pre-built request bytes (one
process, uvloop when installed) so that the client, not the server, costs as little CPU as
possible on a small machine.

    .venv/bin/python benchmarks/ingest.py                       # SQLite, temporary file
    .venv/bin/python benchmarks/ingest.py --database-url postgresql+psycopg://u@host/bench

A PostgreSQL database given here is emptied first (its ``public`` schema is dropped).
"""

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).parent))
from _common import backend_of, fresh_database, server

from audience.db import Database, make_engine
from audience.tables import events

ADMIN_KEY = "ak_benchmark-admin-key"
DEFINITION = "purchase"


# --- server ------------------------------------------------------------------------------------


def _tree_pids(pid: int) -> list[int]:
    pids, pending = [], [pid]
    while pending:
        current = pending.pop()
        pids.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending += [int(child) for child in children.read().split()]
        except FileNotFoundError:
            continue
    return pids


def _tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants."""
    total = 0
    for current in _tree_pids(pid):
        try:
            with open(f"/proc/{current}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except FileNotFoundError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (uvicorn workers), in MB."""
    total = 0
    for current in _tree_pids(pid):
        try:
            with open(f"/proc/{current}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.peak = max(self.peak, _tree_rss_mb(self.pid))
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)


# --- a minimal keep-alive HTTP/1.1 client ------------------------------------------------------


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


def _request(path: str, credential: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: App {credential}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _event(at: str, event_id: str, n: int) -> dict[str, Any]:
    return {
        "definitionId": DEFINITION,
        "date": at,
        "eventId": event_id,
        "properties": {"amount": n % 1000 + 0.5, "sku": f"SKU-{n % 97}", "gift": n % 2 == 0},
    }


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


async def _load(
    host: str,
    port: int,
    code: str,
    installations: list[str],
    concurrency: int,
    events_per_request: int,
    seconds: float,
    tag: str,
) -> dict[str, Any]:
    """``concurrency`` connections posting batches for ``seconds``; latencies per request."""
    at = _iso(datetime.now(UTC) - timedelta(minutes=1))
    latencies: list[float] = []
    errors = 0
    events_sent = 0
    deadline = time.perf_counter() + seconds + concurrency * 0.02

    async def worker(index: int) -> None:
        nonlocal errors, events_sent
        # Staggered opening: uvicorn workers share one listening socket, and connections
        # opened all at once tend to be accepted by a single worker.
        await asyncio.sleep(index * 0.02)
        connection = await Connection.open(host, port)
        installation = installations[index % len(installations)]
        path = f"/v1/installations/{installation}/events"
        sequence = 0
        try:
            while time.perf_counter() < deadline:
                batch = [
                    _event(at, f"{tag}{index}-{sequence}-{i}", sequence + i)
                    for i in range(events_per_request)
                ]
                request = _request(path, code, json.dumps({"events": batch}).encode())
                sequence += 1
                started = time.perf_counter()
                status, body = await connection.send(request)
                latencies.append(time.perf_counter() - started)
                if status != 200 or json.loads(body)["accepted"] != events_per_request:
                    errors += 1
                else:
                    events_sent += events_per_request
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "events": events_sent,
        "errors": errors,
        "seconds": elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
        "mean_ms": 1000 * statistics.fmean(latencies) if latencies else None,
    }


# --- setup and the raw insert baseline ---------------------------------------------------------


def _setup(base_url: str, installations: int) -> tuple[str, list[str]]:
    admin = {"Authorization": f"App {ADMIN_KEY}"}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        app = client.post("/v1/apps", json={"name": "Bench"}, headers=admin)
        app.raise_for_status()
        code = app.json()["applicationCode"]
        definition = client.post(
            "/v1/event-definitions",
            json={
                "id": DEFINITION,
                "properties": {"amount": "number", "sku": "string", "gift": "boolean"},
            },
            headers=admin,
        )
        definition.raise_for_status()
        mobile = {"Authorization": f"App {code}"}
        ids = []
        for _ in range(installations):
            registered = client.post(
                "/v1/installations", json={"platform": "Android"}, headers=mobile
            )
            registered.raise_for_status()
            ids.append(registered.json()["pushRegistrationId"])
    return code, ids


def _raw_rows(count: int, person_id: str, installation: str) -> list[dict[str, Any]]:
    at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)
    now = datetime.now(UTC).replace(tzinfo=None)
    return [
        {
            "person_id": person_id,
            "push_registration_id": installation,
            "definition_id": DEFINITION,
            "occurred_at": at,
            "received_at": now,
            "event_id": f"raw-{i}",
            "properties": _event("", "", i)["properties"],
        }
        for i in range(count)
    ]


def raw_insert_rate(url: str, rows: list[dict[str, Any]], batch: int = 1000) -> float:
    """SQLAlchemy Core executemany into the events table, one transaction per ``batch`` rows."""
    db = Database(make_engine(url, pool_size=1))
    try:
        started = time.perf_counter()
        for offset in range(0, len(rows), batch):
            with db.write() as conn:
                conn.execute(insert(events), rows[offset : offset + batch])
        return len(rows) / (time.perf_counter() - started)
    finally:
        db.engine.dispose()


def driver_insert_rate(url: str, rows: list[dict[str, Any]], batch: int = 1000) -> float:
    """The bare DB-API ``cursor.executemany`` (parameters pre-serialised), for reference."""
    sqlite = url.startswith("sqlite")
    mark = "?" if sqlite else "%s"
    columns = list(rows[0])
    sql = f"INSERT INTO events ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    params = [tuple(json.dumps(r[c]) if c == "properties" else r[c] for c in columns) for r in rows]
    if sqlite:
        params = [
            tuple(v.isoformat(sep=" ") if isinstance(v, datetime) else v for v in p) for p in params
        ]
    db = Database(make_engine(url, pool_size=1))
    try:
        started = time.perf_counter()
        for offset in range(0, len(params), batch):
            with db.write() as conn:
                cursor = conn.connection.cursor()
                cursor.executemany(sql, params[offset : offset + batch])
                cursor.close()
        return len(params) / (time.perf_counter() - started)
    finally:
        db.engine.dispose()


def _rewrite_ids(rows: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    return [row | {"event_id": f"{prefix}{i}"} for i, row in enumerate(rows)]


# --- main --------------------------------------------------------------------------------------


async def _measure(
    base_url: str, pid: int, code: str, installations: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    host, port = base_url.removeprefix("http://").split(":")
    stop = asyncio.Event()
    sampler = RssSampler(pid)
    sampling = asyncio.create_task(sampler.run(stop))
    # warm-up: every worker, connection pool and code path
    await _load(host, int(port), code, installations, 4, 10, 1.0, "w")
    cpu = (_tree_cpu_s(pid), _own_cpu_s())
    batch = await _load(
        host,
        int(port),
        code,
        installations,
        args.batch_concurrency,
        args.events_per_request,
        args.seconds,
        "b",
    )
    batch["server_cpu_s"] = _tree_cpu_s(pid) - cpu[0]
    batch["client_cpu_s"] = _own_cpu_s() - cpu[1]
    cpu = (_tree_cpu_s(pid), _own_cpu_s())
    single = await _load(
        host, int(port), code, installations, args.single_concurrency, 1, args.seconds, "s"
    )
    single["server_cpu_s"] = _tree_cpu_s(pid) - cpu[0]
    single["client_cpu_s"] = _own_cpu_s() - cpu[1]
    stop.set()
    await sampling
    return {"batch": batch, "single": single, "rss": sampler.peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary dir")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of (a) and (b)")
    parser.add_argument("--batch-concurrency", type=int, default=8)
    parser.add_argument("--single-concurrency", type=int, default=32)
    parser.add_argument("--events-per-request", type=int, default=100)
    parser.add_argument("--installations", type=int, default=64)
    parser.add_argument("--raw-rows", type=int, default=200_000)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass

    url = fresh_database(args.database_url, "ingest")
    backend = backend_of(url)
    with server(url, ADMIN_KEY, workers=args.workers) as (base_url, pid):
        code, installations = _setup(base_url, args.installations)
        figures = asyncio.run(_measure(base_url, pid, code, installations, args))
    # (c) with the server stopped, into the same table that (a) and (b) filled
    engine = make_engine(url, pool_size=1)
    with engine.connect() as conn:
        person_id, installation = conn.execute(
            text("SELECT person_id, push_registration_id FROM installations LIMIT 1")
        ).one()
    engine.dispose()
    rows = _raw_rows(args.raw_rows, person_id, installation)
    raw = raw_insert_rate(url, rows)
    driver = driver_insert_rate(url, _rewrite_ids(rows, "drv-"))

    batch, single = figures["batch"], figures["single"]
    batch_rate = batch["events"] / batch["seconds"]
    result = {
        "backend": backend,
        "workers": args.workers,
        "batch_events_per_s": round(batch_rate),
        "batch_requests_per_s": round(batch["requests"] / batch["seconds"], 1),
        "batch_p50_ms": round(batch["p50_ms"], 2),
        "batch_p99_ms": round(batch["p99_ms"], 2),
        "batch_concurrency": args.batch_concurrency,
        "batch_errors": batch["errors"],
        "batch_server_cpu_share": round(batch["server_cpu_s"] / batch["seconds"], 2),
        # Per CPU-second of the server: comparable across runs on a machine shared with others.
        "batch_events_per_server_cpu_s": round(batch["events"] / batch["server_cpu_s"]),
        "batch_client_cpu_share": round(batch["client_cpu_s"] / batch["seconds"], 2),
        "single_requests_per_s": round(single["requests"] / single["seconds"]),
        "single_p50_ms": round(single["p50_ms"], 2),
        "single_p99_ms": round(single["p99_ms"], 2),
        "single_concurrency": args.single_concurrency,
        "single_errors": single["errors"],
        "single_server_cpu_share": round(single["server_cpu_s"] / single["seconds"], 2),
        "single_requests_per_server_cpu_s": round(single["requests"] / single["server_cpu_s"]),
        "single_client_cpu_share": round(single["client_cpu_s"] / single["seconds"], 2),
        "raw_rows_per_s": round(raw),
        "driver_rows_per_s": round(driver),
        "ratio": round(batch_rate / raw, 3),
        "ratio_to_driver": round(batch_rate / driver, 3),
        "server_rss_mb": round(figures["rss"], 1),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
