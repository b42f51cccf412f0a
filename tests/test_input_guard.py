"""Hostile input refused before any handler: NUL characters, deep JSON, huge bodies."""

import json

from fastapi.testclient import TestClient

from tests.helpers import Api, assert_error

JSON = {"Content-Type": "application/json"}


def test_nul_escape_in_a_body_is_refused(api: Api, shop: dict) -> None:
    body = b'{"platform": "iOS", "deviceName": "a\\u0000b"}'
    response = api.client.post("/v1/installations", content=body, headers=api.mobile(shop) | JSON)
    assert_error(response, 400, "VALIDATION_ERROR")


def test_an_escaped_backslash_before_u0000_is_plain_text(api: Api, shop: dict) -> None:
    name = "a\\u0000b"  # a literal backslash, then "u0000"
    registered = api.register(shop, deviceName=name)
    assert registered["deviceName"] == name


def test_nul_in_query_string_is_refused(api: Api) -> None:
    assert_error(api.client.get("/v1/apps?cursor=%00", headers=api.admin), 400, "VALIDATION_ERROR")


def test_deeply_nested_json_is_a_400(api: Api) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    response = api.client.post("/v1/apps", content=deep, headers=api.admin | JSON)
    assert_error(response, 400, "VALIDATION_ERROR")


def test_unicode_and_control_characters_round_trip(api: Api, shop: dict) -> None:
    name = "Ана 📱 \t\n\u200b 中文"
    registered = api.register(shop, deviceName=name)
    assert registered["deviceName"] == name


def test_wrong_content_is_a_clear_error(client: TestClient, api: Api) -> None:
    response = client.post("/v1/apps", content=json.dumps(["x"]), headers=api.admin | JSON)
    assert_error(response, 400, "VALIDATION_ERROR")
