"""Test fixtures: one real database per run (SQLite by default, PostgreSQL when
``AUDIENCE_TEST_DATABASE_URL`` says so), migrated once and emptied after every test."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from audience.app import create_app
from audience.config import Settings
from audience.db import Database, make_engine
from audience.migrate import upgrade
from audience.tables import metadata
from tests.contract import watch
from tests.helpers import Api


def pytest_report_header() -> str:
    return f"audience test database: {_database_url_label()}"


def _database_url_label() -> str:
    url = os.environ.get("AUDIENCE_TEST_DATABASE_URL")
    return url.split("@")[-1] if url else "sqlite (temporary file)"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("AUDIENCE_TEST_DATABASE_URL")
    if not url:
        path: Path = tmp_path_factory.mktemp("db") / "audience-test.db"
        url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    db = Database(make_engine(database_url, pool_size=20))
    empty_database(db)
    yield db
    db.close()


def empty_database(db: Database) -> None:
    names = [table.name for table in reversed(metadata.sorted_tables)]
    with db.write() as conn:
        if db.is_sqlite:
            for name in names:
                conn.execute(text(f"DELETE FROM {name}"))
        else:
            conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    yield database
    empty_database(database)


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Generous rate limits: ordinary tests never meet them (tests/auth/test_rate_limits.py
    # sets small ones).
    return Settings(
        database_url=database_url,
        max_body_bytes=1024 * 1024,
        segment_sweep_seconds=0,
        # Tests run background work explicitly (audience.worker.drain), never behind their back.
        embedded_worker=False,
        rate_limit_failed_auth_per_minute=100_000,
        rate_limit_requests_per_minute=1_000_000,
    )


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, db)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        watch(test_client, app)
        yield test_client


@pytest.fixture
def api(client: TestClient, db: Database) -> Api:
    return Api(client, db)


@pytest.fixture
def shop(api: Api) -> dict[str, Any]:
    """An application, as created (with its JWT secret)."""
    return api.create_app("Shop")
