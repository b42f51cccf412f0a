"""Rate limits (SPEC §10, issue 12 item 7): 429 RATE_LIMITED with Retry-After, counted in the
database so every worker shares them."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audience.app import create_app
from audience.auth.rate_limits import SYNC_SECONDS, WINDOW_SECONDS
from audience.config import Settings
from audience.db import Database
from tests.helpers import Api, assert_error, auth


def limited_client(db: Database, settings: Settings, **limits: int) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=limits), db))


@pytest.fixture
def worker_pair(db: Database, settings: Settings) -> Iterator[tuple[TestClient, TestClient]]:
    """Two app instances on one database: two workers, as far as the limits can tell."""
    limits = {"rate_limit_failed_auth_per_minute": 5}
    with (
        limited_client(db, settings, **limits) as one,
        limited_client(db, settings, **limits) as two,
    ):
        yield one, two


def start_of_a_window() -> None:
    """Counters are per minute: a test run across a minute's end would start from zero."""
    into = time.time() % WINDOW_SECONDS
    if into > WINDOW_SECONDS - 20:
        time.sleep(WINDOW_SECONDS - into + 0.1)


def assert_limited(response: Any) -> None:
    assert_error(response, 429, "RATE_LIMITED")
    assert 1 <= int(response.headers["retry-after"]) <= 60


def test_limits_are_on_by_default() -> None:
    defaults = Settings()
    assert 0 < defaults.rate_limit_failed_auth_per_minute <= 100
    assert defaults.rate_limit_requests_per_minute > 0


def test_failed_authentications_per_address(api: Api, worker_pair: tuple) -> None:
    one, two = worker_pair
    start_of_a_window()
    for _ in range(3):
        assert one.get("/v1/persons", headers=auth("ak_guess")).status_code == 401
    for _ in range(2):
        assert two.get("/v1/apps", headers=auth("not-a-code")).status_code == 401
    # the sixth failure, on either worker, is one too many
    assert_limited(two.get("/v1/persons", headers=auth("ak_guess")))
    # and the address is refused until the window ends, even with a valid key: at once by
    # the worker that counted the failure, by the others from their next sync (≤ 1 s)
    assert_limited(two.get("/v1/persons", headers=api.admin))
    time.sleep(SYNC_SECONDS + 0.1)
    assert_limited(one.get("/v1/persons", headers=api.admin))


def test_requests_per_credential(api: Api, db: Database, settings: Settings, shop: dict) -> None:
    limits = {"rate_limit_requests_per_minute": 20, "rate_limit_failed_auth_per_minute": 0}
    reader, other = api.key("reader", "read"), api.key("other", "read")
    start_of_a_window()
    with limited_client(db, settings, **limits) as client:
        statuses = [client.get("/v1/apps", headers=reader).status_code for _ in range(20)]
        assert statuses == [200] * 20
        assert_limited(client.get("/v1/apps", headers=reader))
        # another credential has its own budget
        assert client.get("/v1/apps", headers=other).status_code == 200
        device = client.post(
            "/v1/installations", json={"platform": "iOS"}, headers=api.mobile(shop)
        )
        assert device.status_code == 201
