"""Webhooks benchmark: the real server (``audience serve``) delivering to a fast local receiver.

Measures, each phase on a fresh database:
  (1) batched ingestion (100 events a request, ``ingest.py``'s load) without endpoints, then
      with 5 endpoints subscribed to the event: the ratio of the two rates. The embedded worker
      is off here, so the ratio is the cost publishing adds to ingestion (deliveries run in
      ``audience worker`` processes, which may live elsewhere);
  (2) delivery throughput: a backlog of triggers stored with the worker off, then one
      ``audience worker`` started and timed until the receiver has every one;
  (3) trigger-to-delivery latency (receiver's clock minus the event's ``receivedAt``) with one
      endpoint subscribed to ``*`` while batch load runs, embedded worker on;
and counts lost and duplicated deliveries (the receiver never fails). The last line printed is
one JSON object.

    .venv/bin/python benchmarks/webhooks.py                     # SQLite, temporary files
    .venv/bin/python benchmarks/webhooks.py --database-url postgresql+psycopg://u@host/bench

A PostgreSQL database given here is emptied first (its ``public`` schema is dropped).
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from _common import AUDIENCE, backend_of, free_port, fresh_database, percentile_ms, server
from ingest import ADMIN_KEY, DEFINITION, _load, _setup

ADMIN = {"Authorization": f"App {ADMIN_KEY}"}
SERVER_ENV = {"AUDIENCE_WEBHOOK_ALLOW_PRIVATE": "1"}


# --- the receiver: a bare asyncio HTTP/1.1 server in its own process ---------------------------


def _receiver(port: int) -> None:
    seen: dict[str, int] = {}
    latencies: list[float] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get(b"content-length", b"0"))
                body = await reader.readexactly(length) if length else b""
                if head.startswith(b"GET /stats"):
                    stats = {"total": sum(seen.values()), "unique": len(seen)}
                    stats["latencies"] = latencies  # type: ignore[assignment]
                    answer = json.dumps(stats).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(answer))
                    writer.write(answer)
                    continue
                if head.startswith(b"GET /reset"):
                    seen.clear()
                    latencies.clear()
                else:
                    now = time.time()
                    webhook_id = headers[b"webhook-id"].decode()
                    seen[webhook_id] = seen.get(webhook_id, 0) + 1
                    received = json.loads(body)["data"].get("receivedAt")
                    if received and seen[webhook_id] == 1:
                        at = datetime.fromisoformat(received.replace("Z", "+00:00"))
                        latencies.append(now - at.timestamp())
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        listener = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
        async with listener:
            await listener.serve_forever()

    asyncio.run(main())


def _stats(receiver: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{receiver}/stats", timeout=30).json()
    return body


def _wait_for(receiver: str, expected: int, timeout: float) -> float:
    """Seconds until the receiver has ``expected`` distinct deliveries (or the timeout)."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if _stats(receiver)["unique"] >= expected:
            break
        time.sleep(0.05)
    return time.perf_counter() - started


def _hook(base_url: str, url: str, types: list[str]) -> None:
    httpx.post(
        f"{base_url}/v1/webhooks", json={"url": url, "types": types}, headers=ADMIN, timeout=30
    ).raise_for_status()


def _ingest(base_url: str, code: str, ids: list[str], seconds: float, tag: str) -> dict[str, Any]:
    port = int(base_url.rsplit(":", 1)[1])
    return asyncio.run(_load("127.0.0.1", port, code, ids, 8, 100, seconds, tag))


# --- phases ------------------------------------------------------------------------------------


def ingest_ratio(url: str | None, receiver: str, seconds: float) -> dict[str, Any]:
    database_url = fresh_database(url, "webhooks-ratio")
    env = SERVER_ENV | {"AUDIENCE_EMBEDDED_WORKER": "0"}
    with server(database_url, ADMIN_KEY, workers=2, env=env) as (base_url, _pid):
        code, ids = _setup(base_url, 8)
        _ingest(base_url, code, ids, 2, "warm")
        without = _ingest(base_url, code, ids, seconds, "a")
        for n in range(5):
            _hook(base_url, f"{receiver}/ep{n}", [DEFINITION])
        with_endpoints = _ingest(base_url, code, ids, seconds, "b")
    rate_without = without["events"] / without["seconds"]
    rate_with = with_endpoints["events"] / with_endpoints["seconds"]
    return {
        "ingest_events_per_s_without_endpoints": round(rate_without),
        "ingest_events_per_s_with_5_endpoints": round(rate_with),
        "ingest_ratio_with_endpoints": round(rate_with / rate_without, 3),
    }


def throughput(url: str | None, receiver: str, triggers: int) -> dict[str, Any]:
    database_url = fresh_database(url, "webhooks-throughput")
    env = SERVER_ENV | {"AUDIENCE_EMBEDDED_WORKER": "0"}
    httpx.get(f"{receiver}/reset")
    with server(database_url, ADMIN_KEY, workers=2, env=env) as (base_url, _pid):
        _hook(base_url, f"{receiver}/all", ["*"])
        code, ids = _setup(base_url, 8)  # 8 Install triggers
        mobile = {"Authorization": f"App {code}"}
        with httpx.Client(base_url=base_url, headers=mobile, timeout=60) as client:
            for n in range(triggers // 100):
                events = [{"definitionId": DEFINITION, "properties": {}} for _ in range(100)]
                client.post(
                    f"/v1/installations/{ids[n % len(ids)]}/events", json={"events": events}
                ).raise_for_status()
    expected = triggers // 100 * 100 + len(ids)
    worker = subprocess.Popen(
        [AUDIENCE, "worker"],
        env=os.environ | {"AUDIENCE_DATABASE_URL": database_url} | SERVER_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        seconds = _wait_for(receiver, expected, 600)
        time.sleep(2)  # late duplicates would show up here
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    stats = _stats(receiver)
    return {
        "throughput_triggers": expected,
        "deliveries_per_s": round(stats["unique"] / seconds),
        "lost": expected - stats["unique"],
        "duplicates": stats["total"] - stats["unique"],
    }


def latency(url: str | None, receiver: str, seconds: float) -> dict[str, Any]:
    database_url = fresh_database(url, "webhooks-latency")
    httpx.get(f"{receiver}/reset")
    with server(database_url, ADMIN_KEY, workers=2, env=SERVER_ENV) as (base_url, _pid):
        _hook(base_url, f"{receiver}/all", ["*"])
        code, ids = _setup(base_url, 8)
        load = _ingest(base_url, code, ids, seconds, "l")
        expected = load["events"] + len(ids)
        _wait_for(receiver, expected, 300)
        time.sleep(2)
    stats = _stats(receiver)
    samples = stats["latencies"]
    return {
        "latency_triggers": expected,
        "latency_ingest_events_per_s": round(load["events"] / load["seconds"]),
        "latency_p50_ms": percentile_ms(samples, 0.5) if samples else None,
        "latency_p99_ms": percentile_ms(samples, 0.99) if samples else None,
        "latency_lost": expected - stats["unique"],
        "latency_duplicates": stats["total"] - stats["unique"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--triggers", type=int, default=10_000)
    args = parser.parse_args()
    port = free_port()
    receiver_process = multiprocessing.Process(target=_receiver, args=(port,), daemon=True)
    receiver_process.start()
    receiver = f"http://127.0.0.1:{port}"
    time.sleep(0.5)
    try:
        result: dict[str, Any] = {"backend": backend_of(args.database_url or "sqlite")}
        result |= ingest_ratio(args.database_url, receiver, args.seconds)
        print(json.dumps(result), flush=True)
        result |= throughput(args.database_url, receiver, args.triggers)
        print(json.dumps(result), flush=True)
        result |= latency(args.database_url, receiver, args.seconds)
        result["lost"] += result.pop("latency_lost")
        result["duplicates"] += result.pop("latency_duplicates")
    finally:
        receiver_process.terminate()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
