"""Several workers deliver each trigger once when nothing fails; a SIGKILLed server delivers
every trigger after its restart, with the same webhook-id and body; metrics are exposed."""

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from audience.config import Settings
from audience.db import Database, make_engine
from audience.worker import Worker
from tests.helpers import Api
from tests.server import ServerProcess
from tests.webhooks.conftest import (
    Receiver,
    Reply,
    create_webhook,
    define_purchase,
    deliveries,
    send_events,
    verified,
)


def test_two_workers_deliver_each_trigger_once(
    api: Api,
    shop: dict[str, Any],
    db: Database,
    database_url: str,
    settings: Settings,
    receiver: Receiver,
) -> None:
    define_purchase(api)
    hook = create_webhook(api, receiver.url(), ["purchase"])
    installation = api.register(shop)
    for _ in range(4):
        send_events(api, shop, installation, n=25)
    engines = [Database(make_engine(database_url)) for _ in range(2)]
    # Generous timeout and lease: on a loaded machine a slow answer must not count as a failure.
    small = settings.model_copy(
        update={"worker_batch_size": 20, "webhook_timeout_seconds": 60, "outbox_lease_seconds": 300}
    )
    threads = [
        threading.Thread(target=lambda d=d: asyncio.run(Worker(d, small).run_until_idle(60)))
        for d in engines
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.close()
    ids = Counter(r.headers["webhook-id"] for r in receiver.at())
    assert len(ids) == 100
    assert set(ids.values()) == {1}
    assert all(verified(hook["secret"], r)["type"] == "purchase" for r in receiver.at())


@pytest.fixture
def server(database_url: str, db: Database) -> Iterator[ServerProcess]:
    process = ServerProcess(
        {
            "AUDIENCE_DATABASE_URL": database_url,
            "AUDIENCE_SEGMENT_SWEEP_SECONDS": "0",
            "AUDIENCE_WEBHOOK_ALLOW_PRIVATE": "1",
            "AUDIENCE_WEBHOOK_TIMEOUT_SECONDS": "30",
            "AUDIENCE_OUTBOX_LEASE_SECONDS": "2",
        }
    )
    yield process
    process.stop()


@pytest.mark.slow
def test_a_killed_server_delivers_every_trigger_after_restart(
    api: Api, shop: dict[str, Any], server: ServerProcess, receiver: Receiver
) -> None:
    # The receiver holds the first requests open, so the kill lands mid-delivery.
    receiver.script = lambda _p, n: Reply(delay=30) if n < 5 else Reply()
    define_purchase(api)
    hook = create_webhook(api, receiver.url(), ["purchase"])
    installation = api.register(shop)
    server.start()
    with httpx.Client(base_url=server.base_url, headers=api.mobile(shop), timeout=30) as client:
        for i in range(10):
            events = [{"definitionId": "purchase", "eventId": f"e{i}-{j}"} for j in range(5)]
            response = client.post(
                f"/v1/installations/{installation['pushRegistrationId']}/events",
                json={"events": events},
            )
            assert response.status_code == 200
    deadline = time.monotonic() + 30
    while len(receiver.at()) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(receiver.at()) >= 5
    server.kill()
    server.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len({r.headers["webhook-id"] for r in receiver.at()}) == 50 and all(
            d["status"] == "delivered" for d in deliveries(api, hook["id"])
        ):
            break
        time.sleep(0.2)
    requests = receiver.at()
    bodies: dict[str, set[bytes]] = {}
    for request in requests:
        verified(hook["secret"], request)
        bodies.setdefault(request.headers["webhook-id"], set()).add(request.body)
    assert len(bodies) == 50  # every trigger, at least once
    assert all(len(found) == 1 for found in bodies.values())  # same body on every attempt
    event_ids = {verified(hook["secret"], r)["data"]["eventId"] for r in requests}
    assert event_ids == {f"e{i}-{j}" for i in range(10) for j in range(5)}


def test_metrics_show_outcomes_and_the_queue(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    create_webhook(api, receiver.url(), ["Install"])
    api.register(shop)
    text = api.client.get("/metrics").text
    assert "audience_webhook_deliveries_pending 0.0" in text
    assert 'audience_outbox_items{topic="webhooks.fanout"} 1.0' in text
    assert "audience_webhook_oldest_pending_seconds" in text
    asyncio.run(Worker(db, settings).run_until_idle(30))
    text = api.client.get("/metrics").text
    assert 'audience_webhook_deliveries_total{outcome="delivered"}' in text
    assert 'audience_webhook_attempts_total{result="2xx"}' in text
