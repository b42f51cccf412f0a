"""The segments HTTP API and audience resolution, over the hand-checked data set."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from audience.clock import utcnow
from audience.db import Database
from audience.tables import events
from tests.helpers import Api, assert_error
from tests.segments import dataset

BETA = {"tag": "beta"}


@pytest.fixture
def loaded(db: Database) -> Iterator[datetime]:
    moment = utcnow()
    with db.write() as conn:
        dataset.load(conn, moment)
    yield moment


def create(api: Api, rule: dict[str, Any], name: str = "Beta") -> dict[str, Any]:
    response = api.client.post("/v1/segments", json={"name": name, "rule": rule}, headers=api.admin)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def member_ids(api: Api, segment_id: str, **params: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        body = api.client.get(
            f"/v1/segments/{segment_id}/members", params=query, headers=api.admin
        ).json()
        ids += [item["id"] for item in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            return ids


def test_segment_crud_count_and_members(api: Api, loaded: datetime) -> None:
    segment = create(api, BETA)
    assert segment["size"] == 2 and segment["rule"] == BETA and segment["description"] is None
    url = f"/v1/segments/{segment['id']}"
    assert api.client.get(url, headers=api.admin).json()["size"] == 2
    assert api.client.get(f"{url}/count", headers=api.admin).json() == {"count": 2}
    assert member_ids(api, segment["id"], limit=1) == ["ann", "bob"]
    listed = api.client.get("/v1/segments", headers=api.admin).json()
    assert [(s["id"], s["size"]) for s in listed["items"]] == [(segment["id"], 2)]

    patched = api.client.patch(
        url, json={"rule": {"identified": False}, "description": "d"}, headers=api.admin
    ).json()
    assert patched["size"] == 2 and patched["description"] == "d" and patched["name"] == "Beta"
    assert member_ids(api, segment["id"]) == ["cid", "dan"]
    replaced = api.client.put(
        url, json={"name": "VIP", "rule": {"tag": "vip"}}, headers=api.admin
    ).json()
    assert replaced["name"] == "VIP" and replaced["size"] == 1 and replaced["description"] is None

    assert api.client.delete(url, headers=api.admin).status_code == 204
    assert_error(api.client.get(url, headers=api.admin), 404, "NOT_FOUND")
    assert_error(api.client.get(f"{url}/count", headers=api.admin), 404, "NOT_FOUND")
    assert_error(api.client.delete(url, headers=api.admin), 404, "NOT_FOUND")


def test_entering_a_saved_segment_records_events(api: Api, loaded: datetime, db: Database) -> None:
    segment = create(api, BETA)
    with db.read() as conn:
        rows = conn.execute(
            select(events.c.person_id, events.c.properties).where(
                events.c.definition_id == "SegmentEntered"
            )
        ).all()
    assert sorted(row.person_id for row in rows) == ["ann", "bob"]
    assert all(row.properties == {"segmentId": segment["id"]} for row in rows)


def test_preview_counts_and_samples_without_saving(api: Api, loaded: datetime) -> None:
    response = api.client.post(
        "/v1/segments/preview", json={"rule": {"identified": True}}, headers=api.admin
    )
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert sorted(p["id"] for p in body["sample"]) == ["ann", "bob"]
    assert api.client.get("/v1/segments", headers=api.admin).json()["items"] == []


def test_rules_are_validated_on_save_and_preview(api: Api, loaded: datetime) -> None:
    bad = {"all": [{"tag": "beta"}, {"customAttribute": "plan", "op": "like", "value": "x"}]}
    for path in ("/v1/segments", "/v1/segments/preview"):
        response = api.client.post(
            path,
            json={"name": "x", "rule": bad} if path.endswith("segments") else {"rule": bad},
            headers=api.admin,
        )
        assert_error(response, 400, "VALIDATION_ERROR", "rule.all.1.op")
    assert_error(
        api.client.post("/v1/segments", json={"name": "x"}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "rule",
    )
    assert_error(
        api.client.post(
            "/v1/segments", json={"name": "x", "rule": BETA, "y": 1}, headers=api.admin
        ),
        400,
        "VALIDATION_ERROR",
        "y",
    )
    segment = create(api, BETA)
    response = api.client.patch(
        f"/v1/segments/{segment['id']}", json={"rule": {"tag": 5}}, headers=api.admin
    )
    assert_error(response, 400, "VALIDATION_ERROR", "rule.tag")
    assert api.client.get(f"/v1/segments/{segment['id']}", headers=api.admin).json()["rule"] == BETA


def test_segment_permissions(api: Api, loaded: datetime) -> None:
    reader = api.key("reader", "read")
    assert_error(
        api.client.post("/v1/segments", json={"name": "x", "rule": BETA}, headers=reader),
        403,
        "FORBIDDEN",
    )
    assert (
        api.client.post("/v1/segments/preview", json={"rule": BETA}, headers=reader).status_code
        == 200
    )
    assert_error(api.client.get("/v1/segments"), 401, "UNAUTHORIZED")


def resolve(api: Api, body: dict[str, Any], **params: Any) -> list[str]:
    response = api.client.post("/v1/audiences/resolve", json=body, params=params, headers=api.admin)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    for item in items:
        assert set(item) == {
            "pushRegistrationId",
            "pushServiceType",
            "pushServiceToken",
            "personId",
        }
    return sorted(item["pushRegistrationId"] for item in items)


IDENTIFIED = {"rule": {"identified": True}}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (IDENTIFIED, ["i-ann-android", "i-ann-ios", "i-bob"]),
        (IDENTIFIED | {"primaryDeviceOnly": True}, ["i-ann-ios", "i-bob"]),
        (IDENTIFIED | {"notificationsEnabledOnly": True}, ["i-ann-android", "i-ann-ios"]),
        (IDENTIFIED | {"platform": "iOS"}, ["i-ann-ios"]),
        (IDENTIFIED | {"applicationCode": "code1"}, ["i-ann-android", "i-ann-ios", "i-bob"]),
        (IDENTIFIED | {"applicationCode": "other"}, []),
        ({"rule": {"identified": False}}, ["i-dan"]),  # cid's installation is uninstalled
        ({"rule": {"identified": False}, "pushRegistrationEnabledOnly": True}, []),
    ],
)
def test_resolve_flags(api: Api, loaded: datetime, body: dict, expected: list[str]) -> None:
    assert resolve(api, body) == expected


def test_resolve_by_segment_paginates(api: Api, loaded: datetime) -> None:
    segment = create(api, {"any": [{"identified": True}, {"identified": False}]})
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        body = api.client.post(
            "/v1/audiences/resolve",
            json={"segmentId": segment["id"]},
            params=params,
            headers=api.admin,
        ).json()
        seen += [item["pushRegistrationId"] for item in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == ["i-ann-android", "i-ann-ios", "i-bob", "i-dan"]
    ios = api.client.post(
        "/v1/audiences/resolve",
        json={"segmentId": segment["id"], "platform": "iOS"},
        headers=api.admin,
    ).json()["items"]
    assert ios == [
        {
            "pushRegistrationId": "i-ann-ios",
            "pushServiceType": "APNS",
            "pushServiceToken": "tok-i-ann-ios",
            "personId": "ann",
        }
    ]


def test_resolve_validation(api: Api, loaded: datetime) -> None:
    post = api.client.post
    assert_error(post("/v1/audiences/resolve", json={}, headers=api.admin), 400, "VALIDATION_ERROR")
    assert_error(
        post("/v1/audiences/resolve", json={"segmentId": "x", "rule": BETA}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
    )
    assert_error(
        post("/v1/audiences/resolve", json={"segmentId": "nope"}, headers=api.admin),
        404,
        "NOT_FOUND",
    )
    assert_error(
        post("/v1/audiences/resolve", json={"rule": BETA, "platform": "Web"}, headers=api.admin),
        400,
        "VALIDATION_ERROR",
        "platform",
    )


def test_a_segment_answers_while_building(
    api: Api, loaded: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A save answers before the membership is built: size, count and resolve are right
    already (a fresh evaluation); the member list waits with 409 SEGMENT_BUILDING."""
    from audience.segments import service, upkeep

    monkeypatch.setattr(service, "BUILD_IN_REQUEST_SECONDS", 0.0)
    segment = create(api, BETA)
    assert segment["status"] == "building" and segment["size"] == 2
    url = f"/v1/segments/{segment['id']}"
    assert api.client.get(f"{url}/count", headers=api.admin).json() == {"count": 2}
    listed = api.client.get("/v1/segments", headers=api.admin).json()["items"]
    assert [(s["status"], s["size"]) for s in listed] == [("building", 2)]
    resolved = api.client.post(
        "/v1/audiences/resolve", json={"segmentId": segment["id"]}, headers=api.admin
    ).json()
    assert sorted({row["personId"] for row in resolved["items"]}) == ["ann", "bob"]
    assert_error(api.client.get(f"{url}/members", headers=api.admin), 409, "SEGMENT_BUILDING")
    assert upkeep.build_pending(api.db).built == [segment["id"]]
    ready = api.client.get(url, headers=api.admin).json()
    assert ready["status"] == "ready" and ready["size"] == 2
    assert member_ids(api, segment["id"]) == ["ann", "bob"]
    monkeypatch.setattr(service, "BUILD_IN_REQUEST_SECONDS", 2.0)
    changed = api.client.patch(url, json={"rule": {"tag": "vip"}}, headers=api.admin).json()
    assert changed["status"] == "ready" and member_ids(api, segment["id"]) == ["ann"]
