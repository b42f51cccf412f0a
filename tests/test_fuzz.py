"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis):
whatever is sent, the server never answers 5xx and every error has the SPEC §6 shape; and
hostile strings (lone surrogates, control and invisible characters) on every string input."""

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audience.app import create_app
from audience.config import Settings
from audience.db import Database
from tests.helpers import Api

EXAMPLES_PER_OPERATION = 20


class Target:
    """Real ids and credentials so generated requests get past 404s and into validation."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.app = api.create_app("Fuzz")
        api.define_attribute("plan", "string")
        api.define_attribute("score", "number")
        api.define_attribute("darkMode", "boolean", "installation")
        api.client.post(
            "/v1/event-definitions",
            headers=api.admin,
            json={"id": "purchase", "properties": {"amount": "number"}},
        )
        self.installation = api.register(self.app)
        self.segment = api.client.post(
            "/v1/segments", headers=api.admin, json={"name": "s", "rule": {"tag": "vip"}}
        ).json()

    def path_values(self) -> dict[str, str]:
        return {
            "push_registration_id": self.installation["pushRegistrationId"],
            "other_id": self.installation["pushRegistrationId"],
            "person_id": self.installation["personId"],
            "segment_id": self.segment["id"],
            "app_id": self.app["id"],
            "name": "plan",
            "definition_id": "purchase",
        }

    def headers_for(self, path: str) -> dict[str, str]:
        mobile = (
            path.startswith("/v1/installations")
            and path != "/v1/installations/{push_registration_id}"
        )
        return self.api.mobile(self.app) if mobile else self.api.admin


@pytest.fixture
def fuzz_target(api: Api) -> Target:
    return Target(api)


def operations(db: Database, database_url: str) -> list[Any]:
    app = create_app(
        Settings(database_url=database_url, segment_sweep_seconds=0, embedded_worker=False), db
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


def test_no_server_errors_and_every_error_in_shape(
    db: Database, database_url: str, fuzz_target: Target
) -> None:
    """Every operation of the OpenAPI document, EXAMPLES_PER_OPERATION generated requests each
    (schemathesis strategies driven by hypothesis; bounded so CI stays fast)."""
    values = fuzz_target.path_values()
    checked = 0
    for operation in operations(db, database_url):

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            nonlocal checked
            for key in list(case.path_parameters or {}):
                if key in values:
                    case.path_parameters[key] = values[key]
            response = case.call(headers=fuzz_target.headers_for(case.path))
            checked += 1
            assert response.status_code < 500, (case.method, case.path, response.text)
            if response.status_code >= 400:
                error = response.json()["error"]
                assert isinstance(error["code"], str) and error["code"].isupper()
                assert isinstance(error["message"], str) and error["message"]

        check()
    print(f"fuzz: {checked} generated requests")
    assert checked >= 200  # the run really exercised the API


# Strings as hostile clients send them: lone surrogates (category Cs), control (Cc) and
# format (Cf: zero-width, bidi overrides) characters mixed into ordinary text.
HOSTILE_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(categories=["Cs", "Cc", "Cf"]),
        st.characters(codec="utf-8"),
    ),
    max_size=20,
)


def _string_inputs(target: Target, text: str) -> list[tuple[str, str, dict[str, Any], bool]]:
    """(method, path, body, mobile) for every kind of string input path."""
    device = target.installation["pushRegistrationId"]
    return [
        ("POST", "/v1/persons", {"externalUserId": text, "emails": [f"{text}@x.io"]}, False),
        ("PATCH", f"/v1/persons/{target.installation['personId']}", {"firstName": text}, False),
        ("PATCH", f"/v1/persons/{target.installation['personId']}", {"phones": [text]}, False),
        ("POST", "/v1/persons", {"externalUserId": "c", "customAttributes": {"plan": text}}, False),
        (
            "POST",
            "/v1/segments/preview",
            {"rule": {"attribute": "firstName", "op": "eq", "value": text}},
            False,
        ),
        ("PATCH", f"/v1/installations/{device}/person", {"lastName": text, "tags": [text]}, True),
        (
            "POST",
            f"/v1/installations/{device}/personalize",
            {"userIdentity": {"externalUserId": text}},
            True,
        ),
        ("PATCH", f"/v1/installations/{device}", {"deviceName": text}, True),
        (
            "POST",
            f"/v1/installations/{device}/events",
            {
                "events": [
                    {"definitionId": "purchase", "properties": {"amount": 1}, "eventId": text}
                ]
            },
            True,
        ),
    ]


def test_hostile_strings_on_every_string_input(fuzz_target: Target) -> None:
    api = fuzz_target.api

    @settings(
        max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(text=HOSTILE_TEXT)
    def check(text: str) -> None:
        lone = any("\ud800" <= char <= "\udfff" for char in text)
        for method, path, body, mobile in _string_inputs(fuzz_target, text):
            headers = api.mobile(fuzz_target.app) if mobile else api.admin
            response = api.client.request(
                method,
                path,
                content=json.dumps(body),  # ASCII-only: surrogates travel as \\ud800 escapes
                headers=headers | {"Content-Type": "application/json"},
            )
            assert response.status_code < 500, (method, path, text, response.text)
            if response.status_code >= 400:
                error = response.json()["error"]
                assert error["code"].isupper() and error["message"]
            if lone:
                assert response.status_code == 400, (method, path, text, response.text)
                assert response.json()["error"]["code"] == "VALIDATION_ERROR"

    check()
