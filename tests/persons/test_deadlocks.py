"""Crossing force-personalizations against a real 2-worker server: on PostgreSQL each takes
the same two person rows in opposite order, which deadlocked and answered 500 (issue 12)."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx
import pytest

from audience.db import Database
from tests.helpers import Api
from tests.server import running_server

pytestmark = pytest.mark.slow
ROUNDS = 30


@pytest.fixture
def server_url(database_url: str, db: Database) -> Iterator[str]:
    env = {"AUDIENCE_DATABASE_URL": database_url, "AUDIENCE_SEGMENT_SWEEP_SECONDS": "0"}
    with running_server(env, workers=2) as url:
        yield url


def test_crossing_force_personalizations_never_fail(api: Api, shop: dict, server_url: str) -> None:
    pairs = []
    for round_ in range(ROUNDS):
        first, second = api.register(shop), api.register(shop)
        for device, name in ((first, f"a{round_}"), (second, f"b{round_}")):
            identity = {"externalUserId": name, "emails": [f"{name}@x.example"]}
            assert api.personalize(shop, device, identity).status_code == 200
        pairs.append((first, second))
    headers = {"Authorization": f"App {shop['applicationCode']}"}
    barrier = Barrier(2)

    def personalize(device: dict, email: str) -> httpx.Response:
        barrier.wait()
        return httpx.post(
            f"{server_url}/v1/installations/{device['pushRegistrationId']}/personalize",
            params={"forceDepersonalize": "true"},
            json={"userIdentity": {"emails": [email]}},
            headers=headers,
            timeout=60,
        )

    statuses = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for round_, (first, second) in enumerate(pairs):
            crossing = [
                pool.submit(personalize, first, f"b{round_}@x.example"),
                pool.submit(personalize, second, f"a{round_}@x.example"),
            ]
            statuses += [future.result().status_code for future in crossing]
    assert [s for s in statuses if s >= 500] == [], statuses
    assert statuses == [200] * (2 * ROUNDS), statuses
    # nothing lost: every identified person still holds its identities, each device one of them
    for round_, (first, second) in enumerate(pairs):
        a = api.client.get(
            "/v1/persons/lookup", params={"externalUserId": f"a{round_}"}, headers=api.admin
        ).json()
        b = api.client.get(
            "/v1/persons/lookup", params={"externalUserId": f"b{round_}"}, headers=api.admin
        ).json()
        assert a["emails"] == [f"a{round_}@x.example"] and b["emails"] == [f"b{round_}@x.example"]
        devices = {i["pushRegistrationId"] for i in a["installations"] + b["installations"]}
        assert devices == {first["pushRegistrationId"], second["pushRegistrationId"]}
