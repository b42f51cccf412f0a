"""Deliveries: what each trigger sends, signed as Standard Webhooks (checked with the
``standardwebhooks`` package), stored in the change's transaction and only then."""

from typing import Any

import pytest
from sqlalchemy import func, select

from audience.config import Settings
from audience.db import Database
from audience.tables import outbox, webhook_deliveries
from audience.webhooks.publish import PERSON_UPDATED, publish
from tests.helpers import Api
from tests.webhooks.conftest import (
    Receiver,
    create_webhook,
    define_purchase,
    deliveries,
    run_worker,
    send_events,
    verified,
)


def test_an_event_is_delivered_signed_as_the_history_shows_it(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    define_purchase(api)
    hook = create_webhook(api, receiver.url(), ["purchase"])
    installation = api.register(shop)
    send_events(api, shop, installation)
    run_worker(db, settings)
    [request] = receiver.at()
    payload = verified(hook["secret"], request)
    history = api.client.get(
        f"/v1/persons/{installation['personId']}/events",
        params={"definitionId": "purchase"},
        headers=api.admin,
    ).json()["items"]
    assert payload["type"] == "purchase"
    assert payload["timestamp"].endswith("Z")
    assert payload["data"] == history[0]
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["content-type"] == "application/json"
    [delivery] = deliveries(api, hook["id"])
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 1
    assert delivery["lastStatusCode"] == 200
    assert delivery["type"] == "purchase"
    assert delivery["deliveredAt"] is not None
    assert delivery["nextAttemptAt"] is None


def test_only_subscribed_types_of_enabled_endpoints_are_sent(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    define_purchase(api)
    create_webhook(api, receiver.url("/installs"), ["Install"])
    create_webhook(api, receiver.url("/all"), ["*"])
    create_webhook(api, receiver.url("/off"), ["*"], enabled=False)
    installation = api.register(shop)
    send_events(api, shop, installation, n=3)
    run_worker(db, settings)
    assert [r.json["type"] for r in receiver.at("/installs")] == ["Install"]
    assert sorted(r.json["type"] for r in receiver.at("/all")) == ["Install"] + ["purchase"] * 3
    assert receiver.at("/off") == []


def test_person_changes_merges_and_deletes(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    hook = create_webhook(
        api, receiver.url(), ["person.updated", "person.merged", "person.deleted"]
    )
    known = api.client.post("/v1/persons", json={"externalUserId": "ann"}, headers=api.admin).json()
    installation = api.register(shop)
    assert api.personalize(shop, installation, {"externalUserId": "ann"}).status_code == 200
    patched = api.client.patch(
        f"/v1/persons/{known['id']}", json={"firstName": "Ann"}, headers=api.admin
    )
    assert patched.status_code == 200
    assert api.client.delete(f"/v1/persons/{known['id']}", headers=api.admin).status_code == 204
    run_worker(db, settings)
    payloads = [verified(hook["secret"], r) for r in receiver.at()]
    by_type: dict[str, list[Any]] = {}
    for payload in payloads:
        by_type.setdefault(payload["type"], []).append(payload["data"])
    [merged] = by_type["person.merged"]
    assert merged["survivorId"] == known["id"]
    assert merged["mergedPersonId"] == installation["personId"]
    assert isinstance(merged["mergeId"], str) and merged["mergeId"]  # the journal's id
    assert {"field": "firstName", "oldValue": None, "newValue": "Ann"} in [
        change
        for data in by_type["person.updated"]
        if data["personId"] == known["id"]
        for change in data["changes"]
    ]
    assert by_type["person.deleted"] == [{"personId": known["id"]}]


def test_segment_entered_is_delivered(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    create_webhook(api, receiver.url(), ["SegmentEntered"])
    segment = api.client.post(
        "/v1/segments",
        json={"name": "named", "rule": {"attribute": "firstName", "op": "eq", "value": "Bo"}},
        headers=api.admin,
    ).json()
    person = api.client.post(
        "/v1/persons", json={"externalUserId": "bo", "firstName": "Bo"}, headers=api.admin
    ).json()
    run_worker(db, settings)
    [request] = receiver.at()
    assert request.json["type"] == "SegmentEntered"
    assert request.json["data"]["personId"] == person["id"]
    assert request.json["data"]["properties"] == {"segmentId": segment["id"]}


def test_a_rolled_back_change_sends_nothing(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    define_purchase(api)
    create_webhook(api, receiver.url(), ["*"])
    installation = api.register(shop)
    run_worker(db, settings)
    before = len(receiver.at())
    # one invalid event: the batch is refused whole, and its valid event is not published
    response = api.client.post(
        f"/v1/installations/{installation['pushRegistrationId']}/events",
        json={"events": [{"definitionId": "purchase"}, {"definitionId": "nope"}]},
        headers=api.mobile(shop),
    )
    assert response.status_code == 400
    with pytest.raises(RuntimeError), db.write() as conn:
        publish(conn, PERSON_UPDATED, {"personId": "x", "changes": []})
        raise RuntimeError("the change fails after publishing")
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 0
    run_worker(db, settings)
    assert len(receiver.at()) == before


def test_no_endpoint_means_no_outbox_work(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings
) -> None:
    define_purchase(api)
    installation = api.register(shop)
    send_events(api, shop, installation, n=5)
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(webhook_deliveries)).scalar() == 0


def test_deliveries_page_newest_first(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings, receiver: Receiver
) -> None:
    hook = create_webhook(api, receiver.url(), ["Install"])
    for _ in range(5):
        api.register(shop)
    run_worker(db, settings)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = api.client.get(
            f"/v1/webhooks/{hook['id']}/deliveries", params=params, headers=api.admin
        ).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    bad = api.client.get(
        f"/v1/webhooks/{hook['id']}/deliveries", params={"cursor": "x"}, headers=api.admin
    )
    assert bad.status_code == 400
