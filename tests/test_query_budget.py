"""A query past its time budget answers 503 QUERY_TIMEOUT, and the worker goes on serving
(issue 12 item 7): PostgreSQL statement_timeout, SQLite progress handler."""

import logging
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError

from audience.app import create_app
from audience.clock import utcnow
from audience.config import Settings
from audience.db import Database, make_engine
from audience.ids import new_id
from audience.query_budget import install
from audience.tables import events, persons
from tests.helpers import Api, assert_error

PERSONS = 12000
BUDGET = 0.02
EVENTS_PER_PERSON = 5
# The most expensive rule the cost limit allows: every condition scans the events.
HEAVY_RULE = {
    "any": [{"event": "Install", "count": {"gte": 2 + i}, "where": []} for i in range(10)]
}


@pytest.fixture
def crowd(db: Database) -> None:
    now = utcnow()
    people = [
        {
            "id": new_id(),
            "type": "ANONYMOUS",
            "custom_attributes": {},
            "created_at": now,
            "updated_at": now,
        }
        for _ in range(PERSONS)
    ]
    history = [
        {
            "person_id": p["id"],
            "definition_id": "Install",
            "occurred_at": now - timedelta(minutes=i),
            "received_at": now,
            "properties": {},
        }
        for p in people
        for i in range(EVENTS_PER_PERSON)
    ]
    with db.write() as conn:
        conn.execute(insert(persons), people)
        conn.execute(insert(events), history)


@pytest.fixture
def tight_client(database_url: str, settings: Settings, db: Database) -> Iterator[TestClient]:
    # 20 ms against a heavy preview of 12,000 persons (40-280 ms): with 3,000 persons it came
    # in under 20 ms on a warm PostgreSQL now and then (a flaky 200), and a 4 ms budget failed
    # the engine's first statements on a loaded machine instead.
    tight = Database(make_engine(database_url, pool_size=2, statement_timeout=BUDGET))
    try:
        with TestClient(create_app(settings, tight)) as client:
            yield client
    finally:
        tight.close()


def test_a_query_past_its_budget_answers_503(
    api: Api, crowd: None, tight_client: TestClient
) -> None:
    started = time.monotonic()
    response = api.client.post("/v1/segments/preview", json={"rule": HEAVY_RULE}, headers=api.admin)
    unbounded = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["count"] == PERSONS
    started = time.monotonic()
    response = tight_client.post(
        "/v1/segments/preview", json={"rule": HEAVY_RULE}, headers=api.admin
    )
    bounded = time.monotonic() - started
    assert_error(response, 503, "QUERY_TIMEOUT")
    # the worker is not stuck: the same app answers the next, cheap request
    assert tight_client.get("/healthz").status_code in (200, 503)
    assert api.client.get("/healthz").status_code == 200
    print(f"preview: unbounded {unbounded:.3f} s, with a {BUDGET} s budget {bounded:.3f} s")


def test_a_database_error_answers_500_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()
    install(app)

    @app.get("/broken")
    def broken() -> None:
        raise DBAPIError("SELECT secret FROM t", {"value": "hidden"}, Exception("boom"))

    with caplog.at_level(logging.ERROR, logger="audience.errors"):
        response = TestClient(app).get("/broken")
    assert_error(response, 500, "INTERNAL_ERROR")
    [record] = [r for r in caplog.records if r.name == "audience.errors"]
    assert record.getMessage() == "database error" and record.exc_info is not None
