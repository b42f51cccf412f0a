"""Segment evaluation benchmark (issue: segmentation and targeting).

Generates 100,000 persons, 150,000 installations and 1,000,000 events in bulk, then measures:
- ``count_ms``: fresh evaluation of a 3-condition segment (custom attribute + tag +
  "purchase at least 3 times in 30 days with amount > 10"), median of several runs;
- ``realtime_overhead_ms``: how much 20 saved segments add to the median single-event request
  (real-time re-evaluation in the request), against the same requests with no segments;
- ``resolve_50k_s``: full, paginated resolve over HTTP of the iOS devices of the persons who
  have one (a stored segment; exactly 50,000 installations with the defaults).
Last line: one JSON object. ``python benchmarks/segments.py [--database-url URL]``.
"""

import argparse
import json
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import delete, insert, text

sys.path.insert(0, str(Path(__file__).parent))
from _common import backend_of, fresh_database, median_ms, server

from audience.clock import utcnow
from audience.db import Database, make_engine
from audience.migrate import upgrade
from audience.segments import queries, service
from audience.segments.compiler import compile_rule
from audience.tables import (
    applications,
    attribute_definitions,
    event_definitions,
    events,
    installations,
    person_tags,
    persons,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--installations", type=int, default=150_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=20)
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

    with server(url, ADMIN_KEY) as (base_url, _pid):
        installation = "i0000001"
        without = single_event_latencies(base_url, installation, 200, "without")
        started = time.perf_counter()
        segment_ids = []
        with db.write() as conn:
            for i, rule in enumerate(saved_segment_rules(args.segments)):
                segment_ids.append(service.create_segment(conn, f"s{i}", None, rule)["id"])
        create_s = time.perf_counter() - started
        with_segments = single_event_latencies(base_url, installation, 200, "with")
        resolve_s, resolved = resolve_all(base_url, segment_ids[1])

    result = {
        "backend": backend_of(url),
        "persons": args.persons,
        "installations": args.installations,
        "events": args.events,
        "load_s": round(load_s, 1),
        "count_ms": count_ms,
        "count": count,
        "saved_segments": len(segment_ids),
        "create_segments_s": round(create_s, 1),
        "single_event_ms_without_segments": median_ms(without),
        "single_event_ms_with_segments": median_ms(with_segments),
        "realtime_overhead_ms": round(median_ms(with_segments) - median_ms(without), 2),
        "resolve_50k_s": round(resolve_s, 2),
        "resolved_installations": resolved,
    }
    with db.write() as conn:  # leave the database as generated
        conn.execute(delete(segment_members))
        conn.execute(delete(segments))
    db.engine.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
