"""Segment evaluation benchmark (issue: segmentation and targeting).

Generates 100,000 persons, 150,000 installations and 1,000,000 events in bulk, then measures:
- ``count_ms``: fresh evaluation of a 3-condition segment (custom attribute + tag +
  "purchase at least 3 times in 30 days with amount > 10"), median of several runs;
- ``realtime_overhead_ms``: how much 20 saved segments add to the median single-event request
  (real-time re-evaluation in the request), against the same requests with no segments;
- ``resolve_50k_s``: full, paginated resolve over HTTP of the iOS devices of the persons who
  have one (a stored segment; exactly 50,000 installations with the defaults);
- upkeep against ingestion (``audience serve --workers 2``, default sweep interval, 32
  connections each sending one event per request, 1 in 4 a ``purchase`` that 5 of the 20
  rules count, the rest ``view``), one phase of ``--seconds`` each: no segments; the 20
  segments created over HTTP during the load (``create_segments_s``); the 20 segments;
  the 20 segments with full sweeps back to back in another process's thread. Ratios are
  requests/s against the phase without segments; ``max_stall_ms`` is the longest request
  while segments were created or swept;
- ``sweep_s``: a full sweep of the 20 segments, no load; ``incremental_sweep_ms``: the
  incremental sweep with nothing due.
Last line: one JSON object. ``python benchmarks/segments.py [--database-url URL]``.
"""

import argparse
import asyncio
import json
import random
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import delete, insert, text

sys.path.insert(0, str(Path(__file__).parent))
from _common import backend_of, fresh_database, median_ms, percentile_ms, server
from ingest import Connection, _request

from audience.clock import utcnow
from audience.db import Database, make_engine
from audience.migrate import upgrade
from audience.segments import queries, service, upkeep
from audience.segments.compiler import compile_rule
from audience.tables import (
    applications,
    attribute_definitions,
    event_definitions,
    events,
    installations,
    person_tags,
    persons,
    segment_due,
    segment_members,
    segments,
)

ADMIN_KEY = "ak_benchmark-admin"
APP_CODE = "b" * 64
THREE_CONDITIONS = {
    "all": [
        {"customAttribute": "plan", "op": "eq", "value": "gold"},
        {"tag": "vip"},
        {
            "event": "purchase",
            "count": {"gte": 3},
            "within": {"days": 30},
            "where": [{"property": "amount", "op": "gt", "value": 10}],
        },
    ]
}
IOS_DEVICES = {"installation": {"attribute": "platform", "op": "eq", "value": "iOS"}}


def chunks(rows: list[dict], size: int = 20_000):  # type: ignore[no-untyped-def]
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def load(db: Database, n_persons: int, n_installations: int, n_events: int) -> float:
    rng = random.Random(42)
    now = utcnow()
    started = time.perf_counter()
    with db.write() as conn:
        conn.execute(
            insert(applications).values(
                id="app",
                application_code=APP_CODE,
                name="Bench",
                require_user_jwt=False,
                jwt_secret="secret",
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            insert(attribute_definitions),
            [
                {
                    "name": "plan",
                    "type": "string",
                    "scope": "person",
                    "created_at": now,
                    "updated_at": now,
                },
                {
                    "name": "score",
                    "type": "number",
                    "scope": "person",
                    "created_at": now,
                    "updated_at": now,
                },
            ],
        )
        conn.execute(
            insert(event_definitions),
            [
                {
                    "id": "purchase",
                    "properties": {"amount": "number"},
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                },
                {
                    "id": "view",
                    "properties": {"page": "string"},
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                },
            ],
        )
        person_rows = []
        tag_rows = []
        for i in range(n_persons):
            pid = f"p{i:07d}"
            identified = rng.random() < 0.4
            person_rows.append(
                {
                    "id": pid,
                    "type": "IDENTIFIED" if identified else "ANONYMOUS",
                    "external_user_id": f"user{i}" if identified else None,
                    "custom_attributes": {
                        "plan": rng.choice(["free", "silver", "gold"]),
                        "score": rng.randint(0, 100),
                    },
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if rng.random() < 0.3:
                tag_rows.append({"person_id": pid, "tag": "vip"})
            if rng.random() < 0.5:
                tag_rows.append({"person_id": pid, "tag": "beta"})
        for part in chunks(person_rows):
            conn.execute(insert(persons), part)
        for part in chunks(tag_rows):
            conn.execute(insert(person_tags), part)
        install_rows = []
        for i in range(n_installations):
            owner = i if i < n_persons else rng.randrange(n_persons)
            install_rows.append(
                {
                    "push_registration_id": f"i{i:07d}",
                    "application_id": "app",
                    "person_id": f"p{owner:07d}",
                    "platform": "iOS" if i % 3 == 0 else "Android",
                    "push_registration_enabled": True,
                    "registrations_enabled": True,
                    "notifications_enabled": rng.random() < 0.7,
                    "is_primary_device": False,
                    "push_service_type": "Firebase",
                    "push_service_token": f"token-{i}",
                    "custom_attributes": {},
                    "created_at": now,
                    "updated_at": now,
                }
            )
        for part in chunks(install_rows):
            conn.execute(insert(installations), part)
    for start in range(0, n_events, 50_000):
        rows = []
        for _ in range(min(50_000, n_events - start)):
            at = now - timedelta(seconds=rng.randrange(60 * 86400))
            purchase = rng.random() < 0.25
            rows.append(
                {
                    "person_id": f"p{rng.randrange(n_persons):07d}",
                    "push_registration_id": None,
                    "definition_id": "purchase" if purchase else "view",
                    "occurred_at": at,
                    "received_at": at,
                    "event_id": None,
                    "properties": {"amount": rng.randint(1, 50)} if purchase else {"page": "home"},
                }
            )
        with db.write() as conn:
            conn.execute(insert(events), rows)
    return time.perf_counter() - started


def measure_count(db: Database, runs: int = 5) -> tuple[float, int]:
    samples = []
    count = 0
    for _ in range(runs):
        started = time.perf_counter()
        with db.read() as conn:
            rule = service.parse(conn, THREE_CONDITIONS)
            count = queries.count_matching(conn, compile_rule(rule, utcnow()))
        samples.append(time.perf_counter() - started)
    return median_ms(samples), count


def saved_segment_rules(n: int) -> list[dict]:
    rules: list[dict] = [THREE_CONDITIONS, IOS_DEVICES]
    plans = ["free", "silver", "gold"]
    while len(rules) < n:
        i = len(rules)
        rules.append(
            [
                {"customAttribute": "plan", "op": "eq", "value": plans[i % 3]},
                {"tag": "beta" if i % 2 else "vip"},
                {"customAttribute": "score", "op": "gt", "value": i * 4},
                {"event": "purchase", "count": {"gte": 1 + i % 3}, "within": {"days": 7 + i}},
                {
                    "all": [
                        {"identified": True},
                        {"customAttribute": "score", "op": "lt", "value": i},
                    ]
                },
            ][i % 5]
        )
    return rules


def single_event_latencies(base_url: str, installation: str, n: int, tag: str) -> list[float]:
    samples = []
    headers = {"Authorization": f"App {APP_CODE}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for i in range(n):
            body = {
                "events": [
                    {
                        "definitionId": "view",
                        "eventId": f"{tag}-{i}",
                        "properties": {"page": "home"},
                    }
                ]
            }
            started = time.perf_counter()
            response = client.post(f"/v1/installations/{installation}/events", json=body)
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    return samples[n // 10 :]  # drop warm-up


def resolve_all(base_url: str, segment_id: str) -> tuple[float, int]:
    headers = {"Authorization": f"App {ADMIN_KEY}"}
    started = time.perf_counter()
    total = 0
    cursor = None
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        while True:
            params: dict[str, object] = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
            response = client.post(
                "/v1/audiences/resolve",
                json={"segmentId": segment_id, "platform": "iOS"},
                params=params,
            )
            assert response.status_code == 200, response.text
            body = response.json()
            total += len(body["items"])
            cursor = body["nextCursor"]
            if cursor is None:
                break
    return time.perf_counter() - started, total


async def _ingest(
    base_url: str, installations: list[str], seconds: float, tag: str, concurrency: int = 32
) -> list[tuple[float, float]]:
    """One event per request from ``concurrency`` connections: (start time, latency) each."""
    host, port = base_url.removeprefix("http://").split(":")
    samples: list[tuple[float, float]] = []
    deadline = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        await asyncio.sleep(index * 0.02)
        connection = await Connection.open(host, int(port))
        path = f"/v1/installations/{installations[index % len(installations)]}/events"
        sequence = 0
        try:
            while time.perf_counter() < deadline:
                sequence += 1
                purchase = sequence % 4 == 0
                event = {
                    "definitionId": "purchase" if purchase else "view",
                    "eventId": f"{tag}-{index}-{sequence}",
                    "properties": {"amount": sequence % 50} if purchase else {"page": "home"},
                }
                request = _request(path, APP_CODE, json.dumps({"events": [event]}).encode())
                started = time.perf_counter()
                status, body = await connection.send(request)
                samples.append((started, time.perf_counter() - started))
                assert status == 200, body
        finally:
            connection.close()

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return samples


def phase_figures(samples: list[tuple[float, float]], seconds: float) -> dict[str, float]:
    latencies = [latency for _start, latency in samples]
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": percentile_ms(latencies, 0.5),
        "p99_ms": percentile_ms(latencies, 0.99),
        "max_ms": round(max(latencies) * 1000, 1),
        "over_500ms": sum(1 for latency in latencies if latency > 0.5),
    }


def wait_until_ready(db: Database, timeout: float = 600) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        with db.read() as conn:
            if not conn.execute(segments.select().where(segments.c.status == "building")).first():
                return time.perf_counter() - started
        time.sleep(0.2)
    raise RuntimeError("segments still building")


def create_over_http(base_url: str, rules: list[dict]) -> tuple[list[str], float]:
    headers = {"Authorization": f"App {ADMIN_KEY}"}
    ids = []
    started = time.perf_counter()
    with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
        for i, rule in enumerate(rules):
            response = client.post("/v1/segments", json={"name": f"s{i}", "rule": rule})
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    return ids, time.perf_counter() - started


def upkeep_phases(
    db: Database, url: str, n_segments: int, seconds: float, n_installations: int
) -> dict[str, object]:
    """Ingestion without segments, while creating them, with them, and during full sweeps."""
    installations = [f"i{i:07d}" for i in range(1, n_installations, n_installations // 64)]
    phases: dict[str, dict[str, float]] = {}
    figures: dict[str, object] = {}
    with server(url, ADMIN_KEY, workers=2, sweep_seconds=60) as (base_url, _pid):
        asyncio.run(_ingest(base_url, installations, 2, "warm"))
        phases["no_segments"] = phase_figures(
            asyncio.run(_ingest(base_url, installations, seconds, "a")), seconds
        )
        created: dict[str, object] = {}

        def create() -> None:
            time.sleep(1)
            ids, created_s = create_over_http(base_url, saved_segment_rules(n_segments))
            created["ids"], created["answered_s"] = ids, created_s
            created["ready_s"] = created_s + wait_until_ready(db)

        creator = threading.Thread(target=create)
        window = max(seconds, 1.0)
        creator.start()
        samples = asyncio.run(_ingest(base_url, installations, window, "b"))
        while creator.is_alive():  # keep the load on until every segment is built
            samples += asyncio.run(_ingest(base_url, installations, 2, f"b{len(samples)}"))
        creator.join()
        phases["creating_segments"] = phase_figures(
            samples, samples[-1][0] + samples[-1][1] - samples[0][0]
        )
        figures["create_segments_answered_s"] = round(float(created["answered_s"]), 1)
        figures["create_segments_s"] = round(float(created["ready_s"]), 1)

        started = time.perf_counter()
        swept = upkeep.sweep_all(db)
        figures["sweep_s"] = round(time.perf_counter() - started, 2)
        figures["swept_segments"] = swept
        started = time.perf_counter()
        upkeep.sweep_due(db)
        figures["incremental_sweep_ms"] = round((time.perf_counter() - started) * 1000, 1)

        phases["with_segments"] = phase_figures(
            asyncio.run(_ingest(base_url, installations, seconds, "c")), seconds
        )
        stop = threading.Event()
        sweeps: list[float] = []

        def sweep_loop() -> None:
            while not stop.is_set():
                began = time.perf_counter()
                upkeep.sweep_all(db)
                upkeep.sweep_due(db)
                sweeps.append(time.perf_counter() - began)

        sweeper = threading.Thread(target=sweep_loop)
        sweeper.start()
        try:
            samples = asyncio.run(_ingest(base_url, installations, seconds, "d"))
        finally:
            stop.set()
            sweeper.join()
        phases["during_full_sweeps"] = phase_figures(samples, seconds)
        figures["full_sweeps_during_load"] = len(sweeps)
        figures["full_sweep_under_load_s"] = round(median_ms(sweeps) / 1000, 2)
    base = phases["no_segments"]["requests_per_s"]
    figures["ingest_ratio_with_segments"] = round(
        phases["with_segments"]["requests_per_s"] / base, 3
    )
    figures["ingest_ratio_during_sweep"] = round(
        phases["during_full_sweeps"]["requests_per_s"] / base, 3
    )
    figures["ingest_ratio_while_creating"] = round(
        phases["creating_segments"]["requests_per_s"] / base, 3
    )
    figures["max_stall_ms"] = max(
        phases["creating_segments"]["max_ms"], phases["during_full_sweeps"]["max_ms"]
    )
    figures["phases"] = phases
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--installations", type=int, default=150_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30, help="length of each load phase")
    args = parser.parse_args()

    url = fresh_database(args.database_url, "segments")
    upgrade(url)
    db = Database(make_engine(url))
    load_s = load(db, args.persons, args.installations, args.events)
    print(f"loaded in {load_s:.1f}s", file=sys.stderr)
    with db.write() as conn:
        conn.execute(text("ANALYZE"))
    count_ms, count = measure_count(db)
    print(f"count {count} in {count_ms} ms", file=sys.stderr)

    # the default sweep interval: the upkeep also finishes builds a request left unfinished
    with server(url, ADMIN_KEY, sweep_seconds=60) as (base_url, _pid):
        installation = "i0000001"
        without = single_event_latencies(base_url, installation, 200, "without")
        segment_ids, _answered = create_over_http(base_url, saved_segment_rules(args.segments))
        wait_until_ready(db)
        with_segments = single_event_latencies(base_url, installation, 200, "with")
        resolve_s, resolved = resolve_all(base_url, segment_ids[1])
    with db.write() as conn:  # the upkeep phases create them again, under load
        conn.execute(delete(segment_members))
        conn.execute(delete(segment_due))
        conn.execute(delete(segments))
    upkeep_figures = upkeep_phases(db, url, args.segments, args.seconds, args.installations)

    result = {
        "backend": backend_of(url),
        "persons": args.persons,
        "installations": args.installations,
        "events": args.events,
        "load_s": round(load_s, 1),
        "count_ms": count_ms,
        "count": count,
        "saved_segments": len(segment_ids),
        "single_event_ms_without_segments": median_ms(without),
        "single_event_ms_with_segments": median_ms(with_segments),
        "realtime_overhead_ms": round(median_ms(with_segments) - median_ms(without), 2),
        "resolve_50k_s": round(resolve_s, 2),
        "resolved_installations": resolved,
        "seconds_per_phase": args.seconds,
    } | upkeep_figures
    with db.write() as conn:  # leave the database as generated
        conn.execute(delete(segment_members))
        conn.execute(delete(segment_due))
        conn.execute(delete(segments))
    db.engine.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
