"""The push endpoints under the whole-API fuzz's rules (tests/test_fuzz.py), on their own:
whatever is sent, never a 5xx, and every error in the SPEC §6 shape."""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from audience.db import Database
from tests.helpers import Api
from tests.test_fuzz import Target, operations


@pytest.fixture
def fuzz_target(api: Api) -> Target:
    return Target(api)


def test_push_endpoints_never_answer_5xx(
    db: Database, database_url: str, fuzz_target: Target
) -> None:
    values = fuzz_target.path_values()
    checked = 0
    for operation in operations(db, database_url):
        if "/push" not in operation.path and "/messages" not in operation.path:
            continue

        @settings(
            max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None
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

        check()
    assert checked >= 50
