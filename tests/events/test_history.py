"""A person's event history, server-side events, and history across a merge."""

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert

from audience.clock import utcnow
from audience.db import Database
from audience.installations.queries import update_installation
from audience.tables import person_aliases, persons
from tests.events.conftest import Events, ago, iso
from tests.helpers import Api, assert_error


def _history(api: Api, person_id: str, **params: Any) -> Any:
    return api.client.get(f"/v1/persons/{person_id}/events", params=params, headers=api.admin)


def _seed(ev: Events, device: dict, count: int, base_minutes_ago: int = 100) -> list[str]:
    """``count`` 'open' events one minute apart (oldest first); answers their times."""
    ev.define("open", n="number")
    base = ago(minutes=base_minutes_ago).replace(microsecond=0)
    times = [base + timedelta(minutes=i) for i in range(count)]
    ev.accept(
        device,
        [
            {"definitionId": "open", "date": iso(t), "properties": {"n": i}}
            for i, t in enumerate(times)
        ],
    )
    return [iso(t) for t in times]


def test_newest_first_with_filters(api: Api, ev: Events, shop: dict, device: dict) -> None:
    times = _seed(ev, device, 5)
    ev.launch(device, ago(minutes=1))
    person = device["personId"]
    everything = api.events_of(person)
    assert [e["definitionId"] for e in everything] == ["Install", "AppLaunch"] + ["open"] * 5
    occurred = [e["occurredAt"] for e in everything]
    assert occurred == sorted(occurred, reverse=True)
    opens = api.events_of(person, definitionId="open")
    assert [e["properties"]["n"] for e in opens] == [4, 3, 2, 1, 0]
    window = api.events_of(person, definitionId="open", **{"from": times[1], "to": times[3]})
    assert [e["properties"]["n"] for e in window] == [3, 2, 1]  # both bounds inclusive
    assert [e["definitionId"] for e in api.events_of(person, **{"from": times[4]})] == [
        "Install",
        "AppLaunch",
        "open",
    ]
    assert [e["definitionId"] for e in api.events_of(person, to=times[0])] == ["open"]
    assert api.events_of(person, definitionId="nothing") == []


def test_filter_by_installation(
    api: Api, ev: Events, shop: dict, device: dict, db: Database
) -> None:
    ev.define("open")
    other = api.register(shop)
    # simulate the other device belonging to the same person (as personalize would do)
    with db.write() as conn:
        update_installation(conn, other["pushRegistrationId"], person_id=device["personId"])
    ev.accept(device, [{"definitionId": "open", "eventId": "mine"}])
    ev.accept(other, [{"definitionId": "open", "eventId": "theirs"}])
    person = device["personId"]
    mine = api.events_of(
        person, definitionId="open", pushRegistrationId=device["pushRegistrationId"]
    )
    assert [e["eventId"] for e in mine] == ["mine"]
    both = api.events_of(person, definitionId="open")
    assert sorted(e["eventId"] for e in both) == ["mine", "theirs"]


def test_cursor_pagination_walks_everything_once(api: Api, ev: Events, device: dict) -> None:
    ev.define("tick")
    same = iso(ago(minutes=30))
    # several events share one time, so the cursor must break ties by id
    ev.accept(
        device, [{"definitionId": "tick", "date": same, "eventId": f"t{i}"} for i in range(7)]
    )
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"definitionId": "tick", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = _history(api, device["personId"], **params).json()
        seen += [e["id"] for e in body["items"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 7 and len(set(seen)) == 7
    default = _history(api, device["personId"]).json()
    assert len(default["items"]) == 8 and default["nextCursor"] is None


def test_history_errors(api: Api, shop: dict, device: dict) -> None:
    person = device["personId"]
    assert_error(_history(api, "no-such-person"), 404, "PERSON_NOT_FOUND")
    assert_error(_history(api, person, cursor="garbage!"), 400, "VALIDATION_ERROR", "cursor")
    assert_error(_history(api, person, **{"from": "soon"}), 400, "VALIDATION_ERROR", "from")
    assert_error(_history(api, person, to="2026-13-01"), 400, "VALIDATION_ERROR", "to")
    later, earlier = iso(ago(minutes=1)), iso(ago(minutes=2))
    assert_error(_history(api, person, **{"from": later, "to": earlier}), 400, "VALIDATION_ERROR")
    assert_error(_history(api, person, limit=1001), 400, "VALIDATION_ERROR", "limit")
    assert_error(_history(api, person, limit=0), 400, "VALIDATION_ERROR", "limit")
    assert_error(
        api.client.get(f"/v1/persons/{person}/events", headers=api.mobile(shop)), 403, "FORBIDDEN"
    )
    assert_error(api.client.get(f"/v1/persons/{person}/events"), 401, "UNAUTHORIZED")


def test_merged_away_persons_events_appear_in_the_survivors_history(
    api: Api, ev: Events, shop: dict, device: dict, db: Database
) -> None:
    ev.define("open")
    survivor_device = api.register(shop)
    ev.accept(device, [{"definitionId": "open", "eventId": "from-alias"}])
    ev.accept(survivor_device, [{"definitionId": "open", "eventId": "from-survivor"}])
    alias, survivor = device["personId"], survivor_device["personId"]
    with db.write() as conn:
        conn.execute(
            insert(person_aliases).values(alias_id=alias, person_id=survivor, created_at=utcnow())
        )
        conn.execute(delete(persons).where(persons.c.id == alias))
    merged = api.events_of(survivor, definitionId="open")
    assert sorted(e["eventId"] for e in merged) == ["from-alias", "from-survivor"]
    # they are shown as the survivor's, whatever id they were recorded under
    assert {e["personId"] for e in merged} == {survivor}
    # the merged-away id answers the survivor's history
    assert api.events_of(alias, definitionId="open") == merged
    installs = api.events_of(survivor, definitionId="Install")
    assert len(installs) == 2


def test_server_side_event(api: Api, ev: Events, device: dict) -> None:
    ev.define("purchase", amount="number")
    person = device["personId"]
    when = ago(hours=1)
    response = ev.record(
        person,
        {
            "definitionId": "purchase",
            "date": iso(when),
            "eventId": "crm-1",
            "properties": {"amount": 5},
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["personId"] == person and created["pushRegistrationId"] is None
    assert created["definitionId"] == "purchase" and created["occurredAt"] == iso(when)
    assert created["properties"] == {"amount": 5} and created["eventId"] == "crm-1"
    assert created["receivedAt"].endswith("Z")
    # a retry with the same eventId answers the stored event, 200, stored once
    again = ev.record(
        person, {"definitionId": "purchase", "eventId": "crm-1", "properties": {"amount": 5}}
    )
    assert again.status_code == 200 and again.json() == created
    plain = ev.record(person, {"definitionId": "purchase"})
    assert plain.status_code == 201 and plain.json()["occurredAt"] == plain.json()["receivedAt"]
    assert len(api.events_of(person, definitionId="purchase")) == 2
    assert api.events_of(person, definitionId="purchase")[-1] == created


def test_server_side_event_errors(api: Api, ev: Events, shop: dict, device: dict) -> None:
    ev.define("purchase", amount="number")
    person = device["personId"]
    cases = [
        ({"definitionId": "nope"}, 400, "INVALID_EVENT", "definitionId"),
        ({"definitionId": "AppLaunch"}, 400, "INVALID_EVENT", "definitionId"),
        (
            {"definitionId": "purchase", "properties": {"amount": "x"}},
            400,
            "INVALID_EVENT",
            "properties.amount",
        ),
        (
            {"definitionId": "purchase", "properties": {"other": 1}},
            400,
            "INVALID_EVENT",
            "properties.other",
        ),
        ({"definitionId": "purchase", "date": iso(ago(days=31))}, 400, "VALIDATION_ERROR", "date"),
        ({"definitionId": "purchase", "eventId": "x" * 37}, 400, "VALIDATION_ERROR", "eventId"),
        ({"definitionId": "purchase", "extra": 1}, 400, "VALIDATION_ERROR", "extra"),
    ]
    for body, status, code, field in cases:
        assert_error(ev.record(person, body), status, code, field)
    assert_error(ev.record("no-such-person", {"definitionId": "purchase"}), 404, "PERSON_NOT_FOUND")
    url = f"/v1/persons/{person}/events"
    reader = api.key("reader", "read")
    assert_error(
        api.client.post(url, json={"definitionId": "purchase"}, headers=reader), 403, "FORBIDDEN"
    )
    assert_error(
        api.client.post(url, json={"definitionId": "purchase"}, headers=api.mobile(shop)),
        403,
        "FORBIDDEN",
    )
    assert api.events_of(person, definitionId="purchase") == []


def test_server_side_event_on_a_merged_away_id_goes_to_the_survivor(
    api: Api, ev: Events, shop: dict, device: dict, db: Database
) -> None:
    ev.define("purchase")
    survivor = api.register(shop)["personId"]
    alias = device["personId"]
    with db.write() as conn:
        conn.execute(
            insert(person_aliases).values(alias_id=alias, person_id=survivor, created_at=utcnow())
        )
        conn.execute(delete(persons).where(persons.c.id == alias))
    created = ev.record(alias, {"definitionId": "purchase", "eventId": "e1"})
    assert created.status_code == 201 and created.json()["personId"] == survivor
    assert ev.record(survivor, {"definitionId": "purchase", "eventId": "e1"}).status_code == 200
