"""Real-time membership through the real API: every write re-evaluates the person's saved
segments in the same request, and stored membership always equals a fresh evaluation, with
sweeps and (partial) builds of created or changed segments interleaved with the writes."""

import threading
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from audience.clock import isoformat, utcnow
from audience.db import Database
from audience.segments import queries, service, upkeep
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
    {"event": "purchase", "within": {"days": 7}},
    {"event": "purchase", "count": {"lte": 0}, "within": {"days": 3}},
    {"any": [{"tag": "vip"}, {"event": "purchase", "count": {"gte": 2}, "within": {"days": 5}}]},
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
            date = isoformat(utcnow() - timedelta(days=op[3], minutes=1))
            event = {"definitionId": "purchase", "date": date, "properties": {"amount": op[2]}}
            api.client.post(self.url(index, "/events"), headers=headers, json={"events": [event]})
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
    st.tuples(st.just("purchase"), index, st.integers(0, 20), st.integers(0, 9)),
    st.tuples(st.just("uninstall"), index),
    st.tuples(st.just("delete_person"), index),
    st.tuples(st.just("sweep_due"), st.integers(0, 10)),
    st.tuples(st.just("sweep_all")),
    # save segment i's rule as rule j, build it for k candidates only, and let writes go on
    st.tuples(st.just("change_rule"), st.integers(0, 9), st.integers(0, 9), st.integers(0, 3)),
    st.tuples(st.just("build_pending")),
)


class Segments:
    """The saved segments and their rules, changed and upkept between writes."""

    def __init__(self, api: Api, ids: list[str]) -> None:
        self.api = api
        self.rules = dict(zip(ids, RULES, strict=True))

    def run(self, op: tuple) -> None:
        db = self.api.db
        kind = op[0]
        if kind == "sweep_due":
            upkeep.sweep_due(db, utcnow() + timedelta(days=op[1]))
        elif kind == "sweep_all":
            upkeep.sweep_all(db)
        elif kind == "build_pending":
            upkeep.build_pending(db)
        elif kind == "change_rule":
            segment_id = list(self.rules)[op[1] % len(self.rules)]
            rule = RULES[op[2] % len(RULES)]
            with db.write() as conn:
                service.update_segment(conn, segment_id, {"rule": rule})
            self.rules[segment_id] = rule
            with db.read() as conn:  # a build interrupted after a few candidates
                condition = compile_rule(service.parse(conn, rule), utcnow())
                candidates = queries.entering(conn, segment_id, condition)
                candidates += queries.leaving(conn, segment_id, condition)
            upkeep.apply_chunk(db, segment_id, sorted(candidates)[: op[3]])

    def check(self, steps: list[tuple]) -> None:
        """Counts are right while building; once built, stored equals fresh."""
        api = self.api
        for segment_id, rule in self.rules.items():
            count = api.client.get(f"/v1/segments/{segment_id}/count", headers=api.admin).json()
            assert count == {"count": len(fresh_members(api.db, rule))}, (rule, steps)
        upkeep.build_pending(api.db)
        for segment_id, rule in self.rules.items():
            segment = api.client.get(f"/v1/segments/{segment_id}", headers=api.admin).json()
            assert segment["status"] == "ready"
            stored = stored_members(api, segment_id)
            assert stored == fresh_members(api.db, rule), (rule, steps)
            assert segment["size"] == len(stored)


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
    saved = Segments(api, segment_ids)
    for step in steps:
        if step[0] in ("sweep_due", "sweep_all", "change_rule", "build_pending"):
            saved.run(step)
        else:
            world.run(step)
    saved.check(steps)


def test_builds_and_sweeps_running_during_writes(api: Api, db: Database) -> None:
    """Upkeep in another thread (as the background worker runs it) while requests write."""
    app, segment_ids = setup(api)
    world = World(api, app)
    saved = Segments(api, segment_ids)
    stop = threading.Event()
    failures: list[BaseException] = []

    def upkeep_loop() -> None:
        turn = 0
        try:
            while not stop.is_set():
                turn += 1
                saved.run(("change_rule", turn, turn * 7, turn % 4))
                saved.run(("sweep_due", turn % 10))
                saved.run(("build_pending",) if turn % 2 else ("sweep_all",))
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    worker = threading.Thread(target=upkeep_loop)
    worker.start()
    try:
        for i in range(60):
            world.run(
                [
                    ("register", i),
                    ("purchase", i, i % 20, i % 9),
                    ("attributes", i, "gold" if i % 3 else "free", i % 10),
                    ("tag", i, bool(i % 2)),
                    ("personalize", i, i % 3),
                    ("purchase", i + 1, 15, i % 4),
                ][i % 6]
            )
    finally:
        stop.set()
        worker.join()
    assert not failures, failures
    saved.check([])


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
