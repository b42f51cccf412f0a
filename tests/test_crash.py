"""Durability: SIGKILL the server while events stream in, restart it, retry everything with the
same eventIds, and check that every acknowledged event is stored exactly once."""

import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select, text

from audience.db import Database
from audience.tables import events
from tests.helpers import Api
from tests.server import ServerProcess

pytestmark = pytest.mark.slow
BATCH = 20


def batch(i: int) -> dict:
    return {
        "events": [
            {"definitionId": "purchase", "eventId": f"b{i}-{j}", "properties": {"amount": j}}
            for j in range(BATCH)
        ]
    }


@pytest.fixture
def server(database_url: str, db: Database) -> Iterator[ServerProcess]:
    process = ServerProcess(
        {"AUDIENCE_DATABASE_URL": database_url, "AUDIENCE_SEGMENT_SWEEP_SECONDS": "0"}
    )
    yield process
    process.stop()


def test_acknowledged_events_survive_a_kill(
    api: Api, shop: dict, db: Database, server: ServerProcess
) -> None:
    api.client.post(
        "/v1/event-definitions",
        headers=api.admin,
        json={"id": "purchase", "properties": {"amount": "number"}},
    )
    installation = api.register(shop)["pushRegistrationId"]
    url = f"/v1/installations/{installation}/events"
    headers = api.mobile(shop)
    acknowledged: list[int] = []
    sent = 0
    stop = threading.Event()

    def stream() -> None:
        nonlocal sent
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
            i = 0
            while not stop.is_set():
                sent = i + 1
                try:
                    response = client.post(url, json=batch(i))
                except httpx.TransportError:
                    return  # the server died under this request: not acknowledged
                if response.status_code == 200:
                    acknowledged.append(i)
                i += 1

    server.start()
    sender = threading.Thread(target=stream)
    sender.start()
    time.sleep(1.5)
    server.kill()
    stop.set()
    sender.join(timeout=30)
    assert len(acknowledged) >= 5, "too few batches went through before the kill"

    with db.read() as conn:
        stored = set(
            conn.execute(select(events.c.event_id).where(events.c.event_id.is_not(None))).scalars()
        )
    for i in acknowledged:
        assert {f"b{i}-{j}" for j in range(BATCH)} <= stored, f"acknowledged batch {i} lost"

    server.start()  # restart on the same database, then retry every batch sent
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
        for i in range(sent):
            response = client.post(url, json=batch(i))
            assert response.status_code == 200, response.text
            if i in acknowledged:
                assert response.json()["duplicates"] == BATCH
    with db.read() as conn:
        total = conn.execute(
            select(func.count()).select_from(events).where(events.c.event_id.is_not(None))
        ).scalar_one()
        distinct = conn.execute(select(func.count(events.c.event_id.distinct()))).scalar_one()
        assert total == distinct == sent * BATCH
        if db.is_sqlite:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
        else:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
            # events is partitioned (bulk_0005): check every partition's B-tree indexes
            conn.execute(
                text(
                    "SELECT bt_index_check(i.indexrelid, true) FROM pg_index i "
                    "JOIN pg_inherits p ON p.inhrelid = i.indrelid "
                    "WHERE p.inhparent = 'events'::regclass"
                )
            )


def test_sigterm_shuts_down_cleanly_under_load(
    api: Api, shop: dict, db: Database, server: ServerProcess
) -> None:
    """Graceful shutdown under load: no 5xx, every answered batch stored whole, and a batch
    whose connection was dropped (still queued, never answered) stored whole or not at all."""
    api.client.post(
        "/v1/event-definitions",
        headers=api.admin,
        json={"id": "purchase", "properties": {"amount": "number"}},
    )
    installation = api.register(shop)["pushRegistrationId"]
    url = f"{server.base_url}/v1/installations/{installation}/events"
    headers = api.mobile(shop) | {"Connection": "close"}
    outcomes: dict[str, str] = {}
    lock = threading.Lock()

    def send(worker: int) -> None:
        for i in range(200):
            name = f"w{worker}-{i}"
            body = {
                "events": [
                    {
                        "definitionId": "purchase",
                        "eventId": f"{name}-{j}",
                        "properties": {"amount": j},
                    }
                    for j in range(200)
                ]
            }
            try:
                outcome = str(httpx.post(url, json=body, headers=headers, timeout=30).status_code)
            except httpx.ConnectError:
                outcome = "refused"
            except httpx.TransportError:
                outcome = "dropped"
            with lock:
                outcomes[name] = outcome
            if outcome in ("refused", "dropped"):
                return

    server.start()
    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    server.stop()  # SIGTERM, then wait for the process to exit
    for thread in threads:
        thread.join(timeout=60)
    assert set(outcomes.values()) <= {"200", "refused", "dropped"}, outcomes
    assert "200" in outcomes.values()
    with db.read() as conn:
        stored = Counter(
            event_id.rsplit("-", 1)[0]
            for event_id in conn.execute(
                select(events.c.event_id).where(events.c.event_id.is_not(None))
            ).scalars()
        )
    for name, outcome in outcomes.items():
        if outcome == "200":
            assert stored[name] == 200, name
        else:
            assert stored[name] in (0, 200), (name, stored[name])
