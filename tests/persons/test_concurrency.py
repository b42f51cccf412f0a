"""Concurrent personalizations against a real server process (2 workers) and database."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from audience.db import Database
from audience.tables import installations, persons
from tests.helpers import Api
from tests.server import running_server

pytestmark = pytest.mark.slow


@pytest.fixture
def server_url(database_url: str, db: Database) -> Iterator[str]:
    env = {"AUDIENCE_DATABASE_URL": database_url, "AUDIENCE_SEGMENT_SWEEP_SECONDS": "0"}
    with running_server(env, workers=2) as url:
        yield url


def personalize_all(server_url: str, code: str, jobs: list[tuple[str, dict]]) -> list[Any]:
    def one(job: tuple[str, dict]) -> httpx.Response:
        registration_id, identity = job
        return httpx.post(
            f"{server_url}/v1/installations/{registration_id}/personalize",
            json={"userIdentity": identity},
            headers={"Authorization": f"App {code}"},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return list(pool.map(one, jobs))


def test_twenty_devices_one_new_user(api: Api, shop: dict, db: Database, server_url: str) -> None:
    devices = [api.register(shop)["pushRegistrationId"] for _ in range(20)]
    responses = personalize_all(
        server_url, shop["applicationCode"], [(d, {"externalUserId": "same"}) for d in devices]
    )
    assert [r.status_code for r in responses] == [200] * 20, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    with db.read() as conn:
        identified = (
            conn.execute(select(persons.c.id).where(persons.c.external_user_id == "same"))
            .scalars()
            .all()
        )
        assert len(identified) == 1
        on_person = conn.execute(
            select(func.count()).where(installations.c.person_id == identified[0])
        ).scalar_one()
        assert on_person == 20
        assert conn.execute(select(func.count()).select_from(persons)).scalar_one() == 1


def test_one_email_two_users(api: Api, shop: dict, db: Database, server_url: str) -> None:
    first, second = api.register(shop), api.register(shop)
    responses = personalize_all(
        server_url,
        shop["applicationCode"],
        [
            (first["pushRegistrationId"], {"externalUserId": "a", "emails": ["shared@x.io"]}),
            (second["pushRegistrationId"], {"externalUserId": "b", "emails": ["shared@x.io"]}),
        ],
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.json()["error"]["code"] == "USER_MERGE_INTERRUPTED"
    with db.read() as conn:
        owners = (
            conn.execute(select(persons.c.external_user_id).where(persons.c.type == "IDENTIFIED"))
            .scalars()
            .all()
        )
    assert len(owners) == 1
