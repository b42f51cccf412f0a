"""``/openapi.json`` documents every answer (SPEC §10), and the documentation is checked."""

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.contract import Contract


def _answers(client: TestClient) -> list[tuple[str, str, str, dict[str, Any]]]:
    schema = client.get("/openapi.json").json()
    return [
        (method.upper(), path, status, answer)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        for status, answer in operation["responses"].items()
    ]


def test_every_operation_declares_a_schema_for_every_json_answer(client: TestClient) -> None:
    answers = _answers(client)
    assert len({(method, path) for method, path, _, _ in answers}) >= 50
    for method, path, status, answer in answers:
        where = f"{method} {path} {status}"
        assert status != "422", f"{where}: this API answers 400, never 422"
        if status == "204":
            assert "content" not in answer, where
            continue
        if "application/json" not in answer["content"]:  # CSV / NDJSON streams (exports)
            assert all("schema" in media for media in answer["content"].values()), where
            continue
        schema = answer["content"]["application/json"]["schema"]
        assert "$ref" in schema or schema.get("type") in ("object", "array"), where
        assert schema.get("additionalProperties") is not True, f"{where}: untyped object"


def test_every_operation_documents_its_success_and_its_errors(client: TestClient) -> None:
    by_operation: dict[tuple[str, str], set[str]] = {}
    for method, path, status, _ in _answers(client):
        by_operation.setdefault((method, path), set()).add(status)
    for operation, statuses in by_operation.items():
        assert any(status.startswith("2") for status in statuses), operation
        assert {"400", "default"} <= statuses, operation


def test_an_answer_that_drifts_from_its_schema_fails_the_check(client: TestClient) -> None:
    contract = Contract(client.get("/openapi.json").json())
    request = httpx.Request("GET", "http://testserver/v1/apps/some-id")
    app = {
        "id": "some-id",
        "name": "Shop",
        "applicationCode": "code",
        "requireUserJwt": False,
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
    }
    contract.check(httpx.Response(200, json=app, request=request))
    for drifted in ({k: v for k, v in app.items() if k != "name"}, app | {"secret": "x"}):
        with pytest.raises(AssertionError, match="does not match"):
            contract.check(httpx.Response(200, json=drifted, request=request))
    error = {"error": {"code": "NOT_FOUND"}}  # no message
    with pytest.raises(AssertionError, match="does not match"):
        contract.check(httpx.Response(404, json=error, request=request))


def test_every_list_takes_cursor_and_limit(client: TestClient) -> None:
    """Every list answers a page and takes ``?cursor=`` and ``?limit=`` (docs/api.md)."""
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        answer = operation["responses"].get("200", {}).get("content", {})
        ref = answer.get("application/json", {}).get("schema", {}).get("$ref", "")
        if "Page" in ref:
            names = {parameter["name"] for parameter in operation.get("parameters", [])}
            assert {"cursor", "limit"} <= names, path
