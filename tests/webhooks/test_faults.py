"""Receivers that fail: 500, 429 with Retry-After, timeouts, slow reads, hang-ups, 410; the
retry schedule; one slow endpoint never holds back another; redelivery."""

import asyncio
import itertools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from audience.clock import utcnow
from audience.config import Settings
from audience.db import Database
from audience.tables import webhook_endpoints
from audience.webhooks.delivery import MAX_ATTEMPTS, retry_after, retry_delay
from audience.worker import Worker
from tests.helpers import Api
from tests.webhooks.conftest import Receiver, Reply, create_webhook, deliveries, run_worker


def parse(at: str) -> datetime:
    return datetime.fromisoformat(at.removesuffix("Z"))


def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_retry_base_seconds": 0.05})


def test_the_retry_schedule_grows_from_seconds_to_a_day() -> None:
    delays = [retry_delay(n, 5) for n in range(1, MAX_ATTEMPTS)]
    assert delays[0] <= timedelta(seconds=10)
    assert all(a < b for a, b in itertools.pairwise(delays[:9]))
    assert delays[-1] >= timedelta(days=1)
    now = utcnow()
    assert retry_after("30", now) == timedelta(seconds=30)
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now) == timedelta(seconds=1)
    assert retry_after("soon", now) is None
    assert retry_after("999999", now) == timedelta(days=1)


def test_a_500_is_retried_with_the_same_id_and_body(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.script = lambda _p, n: Reply(500, body=b"x" * 5000) if n == 0 else Reply()
    hook = create_webhook(api, receiver.url(), ["Install"])
    api.register(shop)
    run_worker(db, settings)  # first attempt only: the retry is not due yet
    [failed] = deliveries(api, hook["id"])
    assert failed["status"] == "pending"
    assert failed["attempts"] == 1
    assert failed["lastStatusCode"] == 500
    assert failed["lastError"].startswith("HTTP 500: xxx")
    assert len(failed["lastError"]) <= 200  # response bodies kept short
    wait = parse(failed["nextAttemptAt"]) - utcnow()
    assert timedelta(0) < wait <= timedelta(seconds=10)
    api.client.post(f"/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/retry", headers=api.admin)
    run_worker(db, settings)
    first, second = receiver.at()
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    [delivered] = deliveries(api, hook["id"])
    assert delivered["status"] == "delivered"
    assert delivered["attempts"] == 2


def test_retry_after_is_honoured(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.script = lambda _p, _n: Reply(429, headers={"Retry-After": "120"})
    hook = create_webhook(api, receiver.url(), ["Install"])
    api.register(shop)
    run_worker(db, settings)
    [delivery] = deliveries(api, hook["id"])
    assert delivery["lastStatusCode"] == 429
    wait = parse(delivery["nextAttemptAt"]) - utcnow()
    assert timedelta(seconds=110) < wait <= timedelta(seconds=120)


def test_timeouts_slow_bodies_and_hang_ups_are_retried(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    faults = {
        "/slow": Reply(delay=2),  # beyond the 1 s timeout of this test
        "/hangup": Reply(hang_up=True),
    }
    receiver.script = lambda path, n: faults.get(path, Reply()) if n == 0 else Reply()
    hooks = {path: create_webhook(api, receiver.url(path), ["Install"]) for path in faults}
    api.register(shop)
    run_worker(db, fast(settings).model_copy(update={"webhook_timeout_seconds": 1}))
    for path, hook in hooks.items():
        [delivery] = deliveries(api, hook["id"])
        assert delivery["status"] == "delivered", (path, delivery)
        assert delivery["attempts"] == 2
        first, second = receiver.at(path)
        assert first.headers["webhook-id"] == second.headers["webhook-id"]


def test_an_endpoint_failing_until_the_last_attempt_fails_the_delivery(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.script = lambda _p, _n: Reply(503)
    hook = create_webhook(api, receiver.url(), ["Install"])
    api.register(shop)
    fastest = settings.model_copy(update={"webhook_retry_base_seconds": 0.001})
    for _ in range(3):  # later delays grow past one drain
        run_worker(db, fastest)
    [delivery] = deliveries(api, hook["id"])
    assert delivery["attempts"] == len(receiver.at()) >= 3
    assert delivery["status"] in ("pending", "failed")


def test_a_410_disables_the_endpoint(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.script = lambda _p, _n: Reply(410)
    hook = create_webhook(api, receiver.url(), ["Install"])
    api.register(shop)
    run_worker(db, settings)
    [delivery] = deliveries(api, hook["id"])
    assert delivery["status"] == "failed"
    assert delivery["lastStatusCode"] == 410
    endpoint = api.client.get(f"/v1/webhooks/{hook['id']}", headers=api.admin).json()
    assert endpoint["enabled"] is False
    assert endpoint["disabledReason"] == "gone"
    api.register(shop)
    run_worker(db, settings)
    assert len(receiver.at()) == 1  # a disabled endpoint is not published to


def test_five_days_of_failures_disable_the_endpoint(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.script = lambda _p, _n: Reply(500)
    hook = create_webhook(api, receiver.url(), ["Install"])
    with db.write() as conn:
        conn.execute(
            update(webhook_endpoints).values(failing_since=utcnow() - timedelta(days=5, hours=1))
        )
    api.register(shop)
    run_worker(db, settings)
    endpoint = api.client.get(f"/v1/webhooks/{hook['id']}", headers=api.admin).json()
    assert endpoint["enabled"] is False
    assert endpoint["disabledReason"] == "failing"


def test_a_slow_endpoint_does_not_hold_back_another(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.script = lambda path, _n: Reply(delay=6) if path == "/slow" else Reply()
    slow = create_webhook(api, receiver.url("/slow"), ["Install"])
    quick = create_webhook(api, receiver.url("/quick"), ["Install"])
    for _ in range(3):
        api.register(shop)
    asyncio.run(Worker(db, settings).run_until_idle(timeout=60))
    first_slow = min(r.at for r in receiver.at("/slow"))
    # every quick delivery arrived while the slow receiver was still holding its requests
    assert len(receiver.at("/quick")) == 3
    assert all(r.at < first_slow + 5 for r in receiver.at("/quick"))
    assert [d["status"] for d in deliveries(api, slow["id"])] == ["delivered"] * 3
    assert [d["status"] for d in deliveries(api, quick["id"])] == ["delivered"] * 3


def test_redelivering_a_delivered_one_sends_it_again(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    hook = create_webhook(api, receiver.url(), ["Install"])
    api.register(shop)
    run_worker(db, settings)
    [delivery] = deliveries(api, hook["id"])
    path = f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/retry"
    response = api.client.post(path, headers=api.admin)
    assert response.status_code == 202
    run_worker(db, settings)
    first, second = receiver.at()
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    missing = api.client.post(f"/v1/webhooks/{hook['id']}/deliveries/nope/retry", headers=api.admin)
    assert missing.status_code == 404
