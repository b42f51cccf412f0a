"""Personalize-with-merge benchmark (issue: people and identity).

For anonymous persons holding 10 and 10,000 events, time the personalize call that merges
them into an existing identified person, through the HTTP API of a real server. A merge only
re-points ids (events stay where they are), so both sizes should cost the same. Then each
merge is undone (SPEC §14), which gives the events back by dropping the alias: the same again.
Last line: one JSON object with {"backend", "merge_ms_10", "merge_ms_10000", "ratio",
"undo_ms_10", "undo_ms_10000", "undo_ratio", ...}.
``python benchmarks/merge.py [--database-url URL] [--repeats N]``
"""

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).parent))
from _common import backend_of, fresh_database, median_ms, server

from audience.clock import utcnow
from audience.db import Database, make_engine
from audience.migrate import upgrade
from audience.tables import events

ADMIN_KEY = "ak_benchmark-admin"


def add_history(db: Database, person_id: str, registration_id: str, count: int) -> None:
    now = utcnow()
    rows = [
        {
            "person_id": person_id,
            "push_registration_id": registration_id,
            "definition_id": "view",
            "occurred_at": now - timedelta(seconds=i),
            "received_at": now,
            "event_id": None,
            "properties": {"page": f"p{i % 50}"},
        }
        for i in range(count)
    ]
    with db.write() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(events), rows[start : start + 5000])


def prepare(
    client: httpx.Client, db: Database, code: str, size: int, count: int
) -> list[tuple[str, str, str]]:
    """``count`` (owner id, installation, externalUserId) with ``size`` events of history."""
    mobile = {"Authorization": f"App {code}"}
    prepared = []
    for i in range(count):
        user = f"u{size}-{i}"
        owner = client.post("/v1/persons", json={"externalUserId": user})
        assert owner.status_code == 201, owner.text
        installation = client.post(
            "/v1/installations", json={"platform": "Android"}, headers=mobile
        ).json()
        add_history(db, installation["personId"], installation["pushRegistrationId"], size)
        prepared.append((owner.json()["id"], installation["pushRegistrationId"], user))
    return prepared


def time_merges(
    client: httpx.Client, code: str, prepared: list[tuple[str, str, str]]
) -> list[float]:
    mobile = {"Authorization": f"App {code}"}
    samples = []
    for owner_id, registration_id, user in prepared:
        started = time.perf_counter()
        response = client.post(
            f"/v1/installations/{registration_id}/personalize",
            json={"userIdentity": {"externalUserId": user}},
            headers=mobile,
        )
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == owner_id
    return samples[2:]  # the first two warm up


def time_undos(client: httpx.Client, prepared: list[tuple[str, str, str]]) -> list[float]:
    """Undo the merge of each prepared person (its anonymous device profile comes back)."""
    samples = []
    for owner_id, registration_id, _user in prepared:
        merges = client.get(f"/v1/persons/{owner_id}/merges").json()["items"]
        started = time.perf_counter()
        response = client.post(f"/v1/merges/{merges[0]['mergeId']}/undo")
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        restored = response.json()["restored"]
        assert [i["pushRegistrationId"] for i in restored["installations"]] == [registration_id]
    return samples[2:]  # the first two warm up


def checkpoint(db: Database) -> None:
    """Fold the bulk loads into the SQLite file (or have PostgreSQL vacuum and analyze them)
    before timing, so no timed request pays for the setup's housekeeping."""
    with db.engine.connect() as conn:
        if db.is_sqlite:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    url = fresh_database(args.database_url, "merge")
    upgrade(url)
    db = Database(make_engine(url))
    with server(url, ADMIN_KEY) as (base_url, _pid):
        admin = {"Authorization": f"App {ADMIN_KEY}"}
        with httpx.Client(base_url=base_url, headers=admin, timeout=60) as client:
            code = client.post("/v1/apps", json={"name": "Bench"}).json()["applicationCode"]
            assert (
                client.post(
                    "/v1/event-definitions", json={"id": "view", "properties": {"page": "string"}}
                ).status_code
                == 201
            )
            small_set = prepare(client, db, code, 10, args.repeats + 2)
            large_set = prepare(client, db, code, 10_000, args.repeats + 2)
            checkpoint(db)
            small = time_merges(client, code, small_set)
            large = time_merges(client, code, large_set)
            small_undo = time_undos(client, small_set)
            large_undo = time_undos(client, large_set)
    db.engine.dispose()
    result = {
        "backend": backend_of(url),
        "repeats": args.repeats,
        "merge_ms_10": median_ms(small),
        "merge_ms_10000": median_ms(large),
        "ratio": round(median_ms(large) / median_ms(small), 2),
        "undo_ms_10": median_ms(small_undo),
        "undo_ms_10000": median_ms(large_undo),
        "undo_ratio": round(median_ms(large_undo) / median_ms(small_undo), 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
