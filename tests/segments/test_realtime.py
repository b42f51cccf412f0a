"""Real-time membership through the real API: every write re-evaluates the person's saved
segments in the same request, and stored membership always equals a fresh evaluation."""

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from audience.clock import utcnow
from audience.db import Database
from audience.segments import queries, service
from audience.segments.compiler import compile_rule
from audience.tables import persons
from tests.conftest import empty_database
from tests.helpers import Api

RULES: list[dict[str, Any]] = [
    {"customAttribute": "plan", "op": "eq", "value": "gold"},
    {"tag": "vip"},
    {"identified": True},
    {"installation": {"attribute": "platform", "op": "eq", "value": "iOS"}},
    {
        "event": "purchase",
        "count": {"gte": 2},
        "where": [{"property": "amount", "op": "gt", "value": 10}],
    },
    {
        "all": [
            {"not": {"tag": "vip"}},
            {"any": [{"identified": False}, {"customAttribute": "score", "op": "lt", "value": 5}]},
        ]
    },
    {"event": "purchase", "count": {"lte": 0}},
]


def setup(api: Api) -> tuple[dict[str, Any], list[str]]:
    app = api.create_app("Shop")
    api.define_attribute("plan", "string")
    api.define_attribute("score", "number")
    response = api.client.post(
        "/v1/event-definitions",
        headers=api.admin,
        json={"id": "purchase", "properties": {"amount": "number"}},
    )
    assert response.status_code == 201, response.text
    ids = []
    for i, rule in enumerate(RULES):
        created = api.client.post(
            "/v1/segments", json={"name": f"s{i}", "rule": rule}, headers=api.admin
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    return app, ids


def stored_members(api: Api, segment_id: str) -> set[str]:
    found: set[str] = set()
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
        body = api.client.get(
            f"/v1/segments/{segment_id}/members", params=params, headers=api.admin
        ).json()
        found |= {item["id"] for item in body["items"]}
        cursor = body["nextCursor"]
        if cursor is None:
            return found


def fresh_members(db: Database, rule: dict[str, Any]) -> set[str]:
    with db.read() as conn:
        condition = compile_rule(service.parse(conn, rule), utcnow())
        return set(conn.execute(select(persons.c.id).where(condition)).scalars())


class World:
    """Devices of one app driven through the HTTP API by a list of operations."""

    def __init__(self, api: Api, app: dict[str, Any]) -> None:
        self.api = api
        self.app = app
        self.devices: list[str] = []

    def url(self, index: int, suffix: str = "") -> str:
        return f"/v1/installations/{self.devices[index % len(self.devices)]}{suffix}"

    def run(self, op: tuple) -> None:
        api, headers = self.api, self.api.mobile(self.app)
        kind = op[0]
        if kind == "register" or not self.devices:
            platform = "iOS" if op[1] % 2 else "Android"
            self.devices.append(api.register(self.app, platform=platform)["pushRegistrationId"])
            return
        index = op[1]
        if kind == "personalize":
            api.client.post(
                self.url(index, "/personalize"),
                headers=headers,
                params={"forceDepersonalize": "true"},
                json={"userIdentity": {"externalUserId": f"user{op[2]}"}},
            )
        elif kind == "depersonalize":
            api.client.post(self.url(index, "/depersonalize"), headers=headers)
        elif kind == "attributes":
            api.client.patch(
                self.url(index, "/person"),
                headers=headers,
                json={"customAttributes": {"plan": op[2], "score": op[3]}},
            )
        elif kind == "tag":
            change = {"add": ["vip"]} if op[2] else {"remove": ["vip"]}
            api.client.patch(self.url(index, "/person"), headers=headers, json={"tags": change})
        elif kind == "purchase":
            api.client.post(
                self.url(index, "/events"),
                headers=headers,
                json={"events": [{"definitionId": "purchase", "properties": {"amount": op[2]}}]},
            )
        elif kind == "uninstall":
            api.client.delete(self.url(index), headers=api.admin)
        elif kind == "delete_person":
            person_id = api.client.get(self.url(index), headers=api.admin).json()["personId"]
            if person_id:
                api.client.delete(f"/v1/persons/{person_id}", headers=api.admin)


index = st.integers(0, 5)
operations = st.one_of(
    st.tuples(st.just("register"), st.integers(0, 1)),
    st.tuples(st.just("personalize"), index, st.integers(0, 2)),
    st.tuples(st.just("depersonalize"), index),
    st.tuples(st.just("attributes"), index, st.sampled_from(["gold", "free"]), st.integers(0, 10)),
    st.tuples(st.just("tag"), index, st.booleans()),
    st.tuples(st.just("purchase"), index, st.integers(0, 20)),
    st.tuples(st.just("uninstall"), index),
    st.tuples(st.just("delete_person"), index),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(operations, min_size=1, max_size=14))
def test_stored_membership_equals_fresh_evaluation(
    api: Api, db: Database, steps: list[tuple]
) -> None:
    empty_database(db)
    api = Api(api.client, db)
    app, segment_ids = setup(api)
    world = World(api, app)
    for step in steps:
        world.run(step)
    for segment_id, rule in zip(segment_ids, RULES, strict=True):
        stored = stored_members(api, segment_id)
        assert stored == fresh_members(db, rule), (rule, steps)
        count = api.client.get(f"/v1/segments/{segment_id}/count", headers=api.admin).json()
        assert count == {"count": len(stored)}


def test_an_event_moves_a_person_into_a_segment_within_the_request(api: Api, shop: dict) -> None:
    setup(api)
    device = api.register(shop)
    segment = api.client.post(
        "/v1/segments", headers=api.admin, json={"name": "buyers", "rule": {"event": "purchase"}}
    ).json()
    assert segment["size"] == 0
    url = f"/v1/installations/{device['pushRegistrationId']}/events"
    api.client.post(
        url,
        headers=api.mobile(shop),
        json={"events": [{"definitionId": "purchase", "properties": {"amount": 5}}]},
    )
    assert api.client.get(f"/v1/segments/{segment['id']}/count", headers=api.admin).json() == {
        "count": 1
    }
    history = api.events_of(device["personId"], definitionId="SegmentEntered")
    assert [e["properties"]["segmentId"] for e in history].count(segment["id"]) == 1
    with api.db.read() as conn:
        assert queries.memberships_of(conn, device["personId"]) >= {segment["id"]}
