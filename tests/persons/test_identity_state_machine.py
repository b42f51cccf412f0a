"""A Hypothesis state machine over register / personalize / depersonalize / merge / undo /
event sequences, through the HTTP API, checking after every step that each identity value has
one owner, no event is lost or counted twice, stored segment membership equals a fresh
evaluation, and that undoing a merge at once gives both persons back as they were.
Bounded to a few seconds: a handful of short runs."""

import itertools
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, select

from audience.db import Database
from audience.persons import queries
from audience.tables import events, person_identities, persons
from tests.conftest import empty_database
from tests.helpers import Api
from tests.segments.test_realtime import fresh_members, stored_members

SEGMENT_RULES: list[dict[str, Any]] = [
    {"identified": True},
    {"event": "view", "count": {"gte": 2}},
    {"attribute": "emails", "op": "exists"},
]
USERS = ["u0", "u1", "u2"]
EMAILS = ["a@x.io", "b@x.io"]


def comparable(person: dict[str, Any]) -> dict[str, Any]:
    shown = {k: v for k, v in person.items() if k not in ("updatedAt", "installations")}
    shown["devices"] = sorted(i["pushRegistrationId"] for i in person["installations"])
    return shown


def identity_machine(api: Api, db: Database) -> type[RuleBasedStateMachine]:
    counter = itertools.count()

    class IdentityMachine(RuleBasedStateMachine):
        devices = Bundle("devices")

        def __init__(self) -> None:
            super().__init__()
            empty_database(db)
            api.__init__(api.client, db)  # type: ignore[misc]  # a fresh admin key
            self.app = api.create_app("Shop")
            created = api.client.post(
                "/v1/event-definitions",
                json={"id": "view", "properties": {}},
                headers=api.admin,
            )
            assert created.status_code == 201, created.text
            self.segments = []
            for i, segment_rule in enumerate(SEGMENT_RULES):
                response = api.client.post(
                    "/v1/segments", json={"name": f"s{i}", "rule": segment_rule}, headers=api.admin
                )
                assert response.status_code == 201, response.text
                self.segments.append((response.json()["id"], segment_rule))
            self.events_sent = 0
            self.merges: list[str] = []

        def person_of(self, device: str) -> str:
            response = api.client.get(f"/v1/installations/{device}", headers=api.admin)
            assert response.status_code == 200, response.text
            return str(response.json()["personId"])

        @rule(target=devices)
        def register(self) -> str:
            return str(api.register(self.app)["pushRegistrationId"])

        @rule(
            device=devices,
            user=st.sampled_from(USERS),
            email=st.none() | st.sampled_from(EMAILS),
            force=st.booleans(),
        )
        def personalize(self, device: str, user: str, email: str | None, force: bool) -> None:
            identity: dict[str, Any] = {"externalUserId": user}
            if email:
                identity["emails"] = [email]
            params = {"forceDepersonalize": "true"} if force else {}
            response = api.client.post(
                f"/v1/installations/{device}/personalize",
                json={"userIdentity": identity},
                params=params,
                headers=api.mobile(self.app),
            )
            assert response.status_code in (200, 409), response.text

        @rule(device=devices)
        def depersonalize(self, device: str) -> None:
            response = api.client.post(
                f"/v1/installations/{device}/depersonalize", headers=api.mobile(self.app)
            )
            assert response.status_code == 200, response.text

        @rule(device=devices, count=st.integers(1, 3))
        def events(self, device: str, count: int) -> None:
            batch = [{"definitionId": "view", "eventId": f"e{next(counter)}"} for _ in range(count)]
            response = api.client.post(
                f"/v1/installations/{device}/events",
                json={"events": batch},
                headers=api.mobile(self.app),
            )
            assert response.status_code == 200 and response.json()["accepted"] == count
            self.events_sent += count

        @rule(first=devices, second=devices)
        def merge(self, first: str, second: str) -> None:
            a, b = self.person_of(first), self.person_of(second)
            response = api.client.post(
                "/v1/persons/merge", json={"personIds": [a, b]}, headers=api.admin
            )
            if a == b:
                assert response.status_code == 400, response.text
                return
            assert response.status_code == 200, response.text
            self.merges.append(response.json()["mergeId"])

        @rule(first=devices, second=devices)
        def merge_then_undo(self, first: str, second: str) -> None:
            """Nothing touched in between: undo gives both persons back exactly."""
            a, b = self.person_of(first), self.person_of(second)
            if a == b:
                return
            before = {pid: comparable(api.person(pid)) for pid in (a, b)}
            merged = api.client.post(
                "/v1/persons/merge", json={"personIds": [a, b]}, headers=api.admin
            )
            assert merged.status_code == 200, merged.text
            undone = api.client.post(
                f"/v1/merges/{merged.json()['mergeId']}/undo", headers=api.admin
            )
            assert undone.status_code == 200, undone.text
            assert {pid: comparable(api.person(pid)) for pid in (a, b)} == before

        @rule(data=st.data())
        def undo(self, data: st.DataObject) -> None:
            if not self.merges:
                return
            merge_id = data.draw(st.sampled_from(self.merges))
            response = api.client.post(f"/v1/merges/{merge_id}/undo", headers=api.admin)
            assert response.status_code in (200, 409), response.text

        @invariant()
        def identities_have_one_owner(self) -> None:
            for email in EMAILS:
                response = api.client.get(
                    "/v1/persons/lookup", params={"email": email}, headers=api.admin
                )
                if response.status_code == 200:
                    assert email in response.json()["emails"]
            with db.read() as conn:
                owners = conn.execute(
                    select(person_identities.c.value, func.count()).group_by(
                        person_identities.c.value
                    )
                ).all()
                assert all(count == 1 for _value, count in owners)
                ids = conn.execute(select(persons.c.external_user_id)).scalars().all()
                present = [i for i in ids if i is not None]
                assert len(present) == len(set(present))

        @invariant()
        def every_event_counted_once(self) -> None:
            with db.read() as conn:
                live = conn.execute(select(persons.c.id)).scalars().all()
                seen: set[str] = set()
                total = 0
                for person_id in live:
                    ids = queries.profile_ids(conn, person_id)
                    assert not seen & set(ids)
                    seen |= set(ids)
                    total += conn.execute(
                        select(func.count())
                        .select_from(events)
                        .where(events.c.person_id.in_(ids), events.c.definition_id == "view")
                    ).scalar_one()
            assert total == self.events_sent

        @invariant()
        def stored_membership_is_fresh(self) -> None:
            for segment_id, segment_rule in self.segments:
                assert stored_members(api, segment_id) == fresh_members(db, segment_rule)

    return IdentityMachine


def test_identity_state_machine(api: Api, db: Database) -> None:
    machine = identity_machine(api, db)
    machine.TestCase.settings = settings(
        max_examples=4,
        stateful_step_count=8,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    machine.TestCase().runTest()
