"""Mixed-workload load test (issue: reliability).

A real ``audience serve`` with 2 workers on 127.0.0.1; concurrent clients run, for a bounded
time, register 10 %, personalize 10 %, person patch 10 %, events 60 %, reads 10 %. Each client
owns its devices, so the last acknowledged value of every write is known. Afterwards every
acknowledged write is checked in the database: zero 5xx and zero lost writes is the bar.
Last line: one JSON object. ``python benchmarks/load.py [--database-url URL] [--seconds S]``
"""

import argparse
import asyncio
import json
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).parent))
from _common import backend_of, fresh_database, percentile_ms, server

from audience.db import Database, make_engine
from audience.migrate import upgrade
from audience.tables import events, installations, persons

ADMIN_KEY = "ak_load-admin"
MIX = [("register", 10), ("personalize", 10), ("patch", 10), ("events", 60), ("read", 10)]


@dataclass
class Device:
    registration_id: str
    user: str | None = None
    first_name: str | None = None


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    transport_errors: int = 0
    acked_events: list[str] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)


async def client_loop(
    number: int, client: httpx.AsyncClient, code: str, deadline: float, tally: Tally
) -> None:
    rng = random.Random(number)
    mobile = {"Authorization": f"App {code}"}
    admin = {"Authorization": f"App {ADMIN_KEY}"}
    mine: list[Device] = []
    counter = 0
    operations, weights = zip(*MIX, strict=True)
    while time.monotonic() < deadline:
        op = rng.choices(operations, weights)[0] if mine else "register"
        device = rng.choice(mine) if mine else None
        counter += 1
        started = time.perf_counter()
        try:
            if op == "register":
                response = await client.post(
                    "/v1/installations",
                    headers=mobile,
                    json={"platform": rng.choice(["Android", "iOS"])},
                )
                if response.status_code == 201:
                    mine.append(Device(response.json()["pushRegistrationId"]))
            elif op == "personalize":
                assert device is not None
                user = f"c{number}-u{rng.randrange(50)}"
                response = await client.post(
                    f"/v1/installations/{device.registration_id}/personalize",
                    params={"forceDepersonalize": "true"},
                    headers=mobile,
                    json={"userIdentity": {"externalUserId": user}},
                )
                if response.status_code == 200:
                    # the devices of this client that were on the same person stay where they
                    # are; only this one is known to be on ``user`` now
                    device.user = user
                    device.first_name = None
            elif op == "patch":
                assert device is not None
                name = f"n{counter}"
                response = await client.patch(
                    f"/v1/installations/{device.registration_id}/person",
                    headers=mobile,
                    json={"firstName": name},
                )
                if response.status_code == 200:
                    for other in mine:  # every device on the same person sees the name
                        if other.user is not None and other.user == device.user:
                            other.first_name = name
                    device.first_name = name
            elif op == "events":
                assert device is not None
                ids = [f"c{number}-e{counter}-{i}" for i in range(10)]
                response = await client.post(
                    f"/v1/installations/{device.registration_id}/events",
                    headers=mobile,
                    json={
                        "events": [
                            {
                                "definitionId": "purchase",
                                "eventId": event_id,
                                "properties": {"amount": i},
                            }
                            for i, event_id in enumerate(ids)
                        ]
                    },
                )
                if response.status_code == 200:
                    tally.acked_events += ids
            else:
                assert device is not None
                response = await client.get(
                    f"/v1/installations/{device.registration_id}", headers=admin
                )
        except httpx.TransportError:
            tally.transport_errors += 1
            continue
        tally.latencies[op].append(time.perf_counter() - started)
        tally.statuses[op][response.status_code] += 1
    tally.devices += mine


def verify(db: Database, tally: Tally) -> dict[str, int]:
    """Count acknowledged writes that the database does not hold."""
    lost = {"registrations": 0, "personalizations": 0, "patches": 0, "events": 0}
    with db.read() as conn:
        for device in tally.devices:
            row = conn.execute(
                select(installations.c.person_id).where(
                    installations.c.push_registration_id == device.registration_id
                )
            ).first()
            if row is None:
                lost["registrations"] += 1
                continue
            person = conn.execute(select(persons).where(persons.c.id == row.person_id)).first()
            if device.user is not None and (
                person is None or person.external_user_id != device.user
            ):
                lost["personalizations"] += 1
            elif device.first_name is not None and (
                person is None or person.first_name != device.first_name
            ):
                lost["patches"] += 1
        acked = tally.acked_events
        for start in range(0, len(acked), 500):
            chunk = acked[start : start + 500]
            found = conn.execute(
                select(func.count()).where(events.c.event_id.in_(chunk))
            ).scalar_one()
            lost["events"] += len(chunk) - int(found)
    return lost


async def run(base_url: str, code: str, clients: int, seconds: float) -> tuple[Tally, float]:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(
            *(client_loop(i, client, code, deadline, tally) for i in range(clients))
        )
        return tally, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    url = fresh_database(args.database_url, "load")
    upgrade(url)
    with server(url, ADMIN_KEY, workers=args.workers) as (base_url, _pid):
        admin = {"Authorization": f"App {ADMIN_KEY}"}
        setup = httpx.Client(base_url=base_url, headers=admin, timeout=30)
        code = setup.post("/v1/apps", json={"name": "Load"}).json()["applicationCode"]
        setup.post(
            "/v1/event-definitions", json={"id": "purchase", "properties": {"amount": "number"}}
        )
        setup.close()
        tally, elapsed = asyncio.run(run(base_url, code, args.clients, args.seconds))
    db = Database(make_engine(url))
    lost = verify(db, tally)
    db.engine.dispose()
    requests = sum(len(v) for v in tally.latencies.values())
    server_errors = sum(
        n for op in tally.statuses.values() for status, n in op.items() if status >= 500
    )
    result = {
        "backend": backend_of(url),
        "workers": args.workers,
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1),
        "events_acknowledged": len(tally.acked_events),
        "per_operation": {
            op: {
                "count": len(samples),
                "p50_ms": percentile_ms(samples, 0.5),
                "p99_ms": percentile_ms(samples, 0.99),
                "statuses": dict(sorted(tally.statuses[op].items())),
            }
            for op, samples in sorted(tally.latencies.items())
        },
        "server_errors_5xx": server_errors,
        "transport_errors": tally.transport_errors,
        "lost_writes": sum(lost.values()),
        "lost_by_kind": lost,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
