"""A real ``audience serve`` process for the client SDK tests, on the test database."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from audience.auth.service import create_key
from audience.client import AdminClient, MobileClient, RetryPolicy
from audience.db import Database
from tests.server import running_server

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


def server_env(database_url: str) -> dict[str, str]:
    return {"AUDIENCE_DATABASE_URL": database_url, "AUDIENCE_SEGMENT_SWEEP_SECONDS": "0"}


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    with running_server(server_env(database_url)) as base_url:
        yield base_url


@pytest.fixture
def admin_key(db: Database) -> str:
    """Created straight in the database: the ``db`` fixture empties it after every test."""
    with db.write() as conn:
        key: str = create_key(conn, "sdk-test-admin", ["admin"])["key"]
    return key


@pytest.fixture
def admin(server: str, admin_key: str) -> Iterator[AdminClient]:
    with AdminClient(server, admin_key, retry=FAST_RETRY, page_size=3) as client:
        yield client


@pytest.fixture
def app_code(admin: AdminClient) -> str:
    admin.define_event("purchase", {"amount": "number", "sku": "string"})
    admin.define_attribute("plan", "string", "person")
    admin.define_attribute("darkMode", "boolean", "installation")
    return admin.create_app("Shop")["applicationCode"]


def mobile(
    server: str, app_code: str, storage: Path, http: httpx.Client | None = None, **options: object
) -> MobileClient:
    settings: dict[str, object] = {"flush_interval": None, "retry": FAST_RETRY} | options
    return MobileClient(server, app_code, storage, http=http, **settings)  # type: ignore[arg-type]
