"""A cost limit on rules, checked before a rule is previewed, resolved or saved (issue 12)."""

from audience.segments.cost import EVENT_CONDITION_COST, MAX_RULE_COST
from tests.helpers import Api, assert_error


def _events(n: int) -> dict:
    return {"any": [{"event": "Install", "count": {"gte": i + 1}} for i in range(n)]}


def test_expensive_rules_are_refused_everywhere(api: Api) -> None:
    too_many = MAX_RULE_COST // EVENT_CONDITION_COST + 1
    rule = _events(too_many)
    for path, body in (
        ("/v1/segments/preview", {"rule": rule}),
        ("/v1/segments", {"name": "heavy", "rule": rule}),
        ("/v1/audiences/resolve", {"rule": rule}),
    ):
        response = api.client.post(path, json=body, headers=api.admin)
        assert_error(response, 400, "VALIDATION_ERROR", "rule")
        assert "costs" in response.json()["error"]["message"]
    assert api.client.get("/v1/segments", headers=api.admin).json()["items"] == []


def test_rules_within_the_limit_still_work(api: Api) -> None:
    affordable = _events(MAX_RULE_COST // EVENT_CONDITION_COST)
    response = api.client.post("/v1/segments/preview", json={"rule": affordable}, headers=api.admin)
    assert response.status_code == 200, response.text
    many_attributes = {"all": [{"tag": f"t{i}"} for i in range(90)]}
    response = api.client.post(
        "/v1/segments/preview", json={"rule": many_attributes}, headers=api.admin
    )
    assert response.status_code == 200, response.text
