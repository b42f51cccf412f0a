"""Unknown query parameters answer 400 on every API route, and database errors never carry
the bound values (issue 12 item 9)."""

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from audience.db import Database
from audience.tables import person_tags
from tests.helpers import Api, assert_error


def test_unknown_filter_is_refused_not_ignored(api: Api) -> None:
    api.create_person(externalUserId="ann", emails=["ann@example.com"])
    api.create_person(externalUserId="bob")
    response = api.client.get("/v1/persons", params={"email": "ann@example.com"}, headers=api.admin)
    assert_error(response, 400, "VALIDATION_ERROR", "email")
    # declared ones still work, including aliases and pagination
    response = api.client.get(
        "/v1/persons", params={"externalUserId": "ann", "limit": 5}, headers=api.admin
    )
    assert response.status_code == 200 and len(response.json()["items"]) == 1


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("GET", "/healthz", {"verbose": "1"}),
        ("GET", "/v1/apps", {"limit": "5", "sort": "name"}),
        ("GET", "/v1/persons/lookup", {"externalUserId": "x", "mail": "y"}),
        ("POST", "/v1/installations/anything/events", {"validate": "false", "dryRun": "1"}),
        ("POST", "/v1/installations/anything/personalize", {"force": "true"}),
        ("POST", "/v1/segments/preview", {"sample": "5"}),
    ],
)
def test_every_route_refuses_unknown_parameters(
    api: Api, method: str, path: str, params: dict[str, str]
) -> None:
    response = api.client.request(method, path, params=params, headers=api.admin, json={})
    unknown = next(name for name in params if name not in ("limit", "externalUserId", "validate"))
    assert_error(response, 400, "VALIDATION_ERROR", unknown)


def test_database_errors_hide_bound_values(db: Database) -> None:
    secret = "secret-attribute-value-4711"
    with pytest.raises(IntegrityError) as caught, db.write() as conn:
        conn.execute(insert(person_tags), [{"person_id": "p", "tag": secret}] * 2)
    text = str(caught.value)
    assert "SQL parameters hidden" in text
    # the bound parameters are not printed (PostgreSQL's own DETAIL line may still name the
    # duplicate key: that is the server's message, not our log of the statement)
    assert f"'tag': '{secret}'" not in text and f"('p', '{secret}')" not in text
