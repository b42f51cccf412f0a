"""Flows benchmark: the real server (``audience serve``, 2 workers, embedded background worker).

Measures, in one run:
  (a) ``waiting_advanced_s``: N persons (default 100,000) wait in one flow's ``wait`` step, all
      due at the same second; seconds until every run has completed its next step, and how
      many persons got that step twice (``advanced_twice``, must be 0);
  (b) ``trigger_p99_ms``: under batch ingestion load, from an event's receipt to its run's
      first step applied (both on the server clock), p50 and p99;
  (c) ``ingest_ratio_with_flows``: batched ingestion with 20 enabled flows triggered by the
      ingested event (their ``where`` lets few through) ÷ the same without flows.

    .venv/bin/python benchmarks/flows.py [--database-url postgresql+psycopg://…] [--waiting N]

The last line printed is one JSON object.
"""

import argparse
import asyncio
import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select, text, update

sys.path.insert(0, str(Path(__file__).parent))
from _common import backend_of, fresh_database, percentile_ms, server
from ingest import ADMIN_KEY, _load, _setup

from audience.attributes.values import parse_datetime
from audience.clock import utcnow
from audience.db import Database, make_engine
from audience.tables import flow_runs, outbox, person_tags, persons

ADMIN = {"Authorization": f"App {ADMIN_KEY}"}


def _flow(client: httpx.Client, body: dict[str, Any]) -> str:
    response = client.post("/v1/flows", json={"name": "bench", **body}, headers=ADMIN)
    response.raise_for_status()
    flow_id: str = response.json()["id"]
    return flow_id


def ingest_rate(
    base_url: str, code: str, installations: list[str], seconds: float, tag: str
) -> float:
    host, port = base_url.removeprefix("http://").split(":")
    figures = asyncio.run(_load(host, int(port), code, installations, 8, 100, seconds, tag))
    return float(figures["events"] / figures["seconds"])


def seed_waiting(url: str, flow_id: str, count: int) -> None:
    """``count`` persons, each with a run waiting at step "1" of ``flow_id``, all due now."""
    db = Database(make_engine(url, pool_size=1))
    now = utcnow()
    later = now + timedelta(days=1)
    try:
        for offset in range(0, count, 5000):
            ids = [f"bench-{n:08d}" for n in range(offset, min(offset + 5000, count))]
            with db.write() as conn:
                conn.execute(
                    insert(persons),
                    [
                        {
                            "id": pid,
                            "type": "ANONYMOUS",
                            "custom_attributes": {},
                            "created_at": now,
                            "updated_at": now,
                        }
                        for pid in ids
                    ],
                )
                conn.execute(
                    insert(flow_runs),
                    [
                        {
                            "id": f"run-{pid}",
                            "flow_id": flow_id,
                            "version": 1,
                            "person_id": pid,
                            "status": "waiting",
                            "step": "1",
                            "active": True,
                            "trigger": {},
                            "log": [],
                            "started_at": now,
                            "updated_at": now,
                        }
                        for pid in ids
                    ],
                )
                conn.execute(
                    insert(outbox),
                    [
                        {
                            "topic": "flow.step",
                            "payload": {"runId": f"run-{pid}", "step": "1"},
                            "available_at": later,
                            "attempts": 0,
                            "created_at": now,
                        }
                        for pid in ids
                    ],
                )
    finally:
        db.engine.dispose()


def waiting_phase(url: str, flow_id: str, count: int) -> dict[str, Any]:
    """Every seeded timer comes due at once; seconds until all runs took their next step."""
    db = Database(make_engine(url, pool_size=1))
    try:
        with db.write() as conn:
            conn.execute(update(outbox).values(available_at=utcnow()))
        started = time.perf_counter()
        while True:
            with db.read() as conn:
                done = conn.execute(
                    select(func.count())
                    .select_from(flow_runs)
                    .where(flow_runs.c.flow_id == flow_id, flow_runs.c.status == "completed")
                ).scalar_one()
            if done >= count:
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
        with db.read() as conn:
            tagged = conn.execute(
                select(func.count()).select_from(person_tags).where(person_tags.c.tag == "woke")
            ).scalar_one()
            twice = conn.execute(
                text(
                    "SELECT count(*) FROM person_changes WHERE field = 'tags' GROUP BY person_id "
                    "HAVING count(*) > 1"
                )
            ).all()
        return {"seconds": elapsed, "tagged": tagged, "twice": len(twice)}
    finally:
        db.engine.dispose()


def trigger_latencies(url: str, flow_id: str) -> list[float]:
    db = Database(make_engine(url, pool_size=1))
    try:
        with db.read() as conn:
            rows = conn.execute(
                select(flow_runs.c.trigger, flow_runs.c.log, flow_runs.c.started_at).where(
                    flow_runs.c.flow_id == flow_id
                )
            ).all()
    finally:
        db.engine.dispose()
    samples = []
    for _trigger, log, started_at in rows:
        applied = [entry for entry in log if entry["type"] == "addTags"]
        if applied:
            samples.append((parse_datetime(applied[0]["at"]) - started_at).total_seconds())
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary dir")
    parser.add_argument("--waiting", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="each ingestion phase")
    args = parser.parse_args()
    url = fresh_database(args.database_url, "flows")
    with server(url, ADMIN_KEY, workers=2) as (base_url, _pid):
        code, installations = _setup(base_url, 64)
        without = ingest_rate(base_url, code, installations, args.seconds, "a")
        with httpx.Client(base_url=base_url, timeout=30) as client:
            for n in range(20):
                _flow(
                    client,
                    {
                        "trigger": {
                            "event": "purchase",
                            "where": [{"property": "amount", "op": "gt", "value": 990 + n}],
                        },
                        "reentry": "always",
                        "steps": [{"addTags": [f"big-{n}"]}],
                    },
                )
        with_flows = ingest_rate(base_url, code, installations, args.seconds, "b")
        with httpx.Client(base_url=base_url, timeout=30) as client:
            latency_flow = _flow(
                client,
                {
                    "trigger": {
                        "event": "purchase",
                        "where": [{"property": "amount", "op": "lt", "value": 10}],
                    },
                    "reentry": "always",
                    "steps": [{"addTags": ["cheap"]}],
                },
            )
        ingest_rate(base_url, code, installations, args.seconds, "c")
        time.sleep(3)  # the last triggers' first steps
        latencies = trigger_latencies(url, latency_flow)
        with httpx.Client(base_url=base_url, timeout=30) as client:
            waiting_flow = _flow(
                client,
                {
                    "trigger": {"event": "Uninstall"},
                    "steps": [{"wait": {"seconds": 60}}, {"addTags": ["woke"]}],
                },
            )
        seed_waiting(url, waiting_flow, args.waiting)
        waiting = waiting_phase(url, waiting_flow, args.waiting)
    result = {
        "backend": backend_of(url),
        "waiting": args.waiting,
        "waiting_advanced_s": round(waiting["seconds"], 2),
        "advanced_per_s": round(args.waiting / max(waiting["seconds"], 1e-9)),
        "advanced_twice": waiting["twice"],
        "woke_tagged": waiting["tagged"],
        "trigger_runs": len(latencies),
        "trigger_p50_ms": percentile_ms(latencies, 0.5) if latencies else None,
        "trigger_p99_ms": percentile_ms(latencies, 0.99) if latencies else None,
        "ingest_events_per_s_without_flows": round(without),
        "ingest_events_per_s_with_flows": round(with_flows),
        "ingest_ratio_with_flows": round(with_flows / without, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
