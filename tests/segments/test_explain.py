"""Explain (SPEC §14): the rule tree annotated for one person agrees with stored membership
for every condition type, and shows the values each condition was judged on."""

from typing import Any

from tests.helpers import Api, assert_error

CONDITIONS: list[dict[str, Any]] = [
    {"attribute": "firstName", "op": "eq", "value": "Ann"},
    {"attribute": "emails", "op": "contains", "value": "@shop.io"},
    {"attribute": "createdAt", "op": "within_last", "days": 1},
    {"customAttribute": "plan", "op": "eq", "value": "gold"},
    {"tag": "vip"},
    {"identified": True},
    {"installation": {"attribute": "platform", "op": "eq", "value": "iOS"}},
    {"installation": {"customAttribute": "darkMode", "op": "eq", "value": True}},
    {"event": "purchase", "count": {"gte": 2}, "within": {"days": 7}},
    {"event": "purchase", "where": [{"property": "amount", "op": "gt", "value": 50}]},
    {"event": "purchase", "count": {"lte": 0}},
    {"not": {"tag": "vip"}},
    {"any": [{"tag": "vip"}, {"identified": False}]},
]


def setup_people(api: Api) -> tuple[str, str]:
    """Ann matches most conditions; an anonymous device matches few."""
    shop = api.create_app("Shop")
    api.define_attribute("plan", "string")
    api.define_attribute("darkMode", "boolean", "installation")
    response = api.client.post(
        "/v1/event-definitions",
        json={"id": "purchase", "properties": {"amount": "number"}},
        headers=api.admin,
    )
    assert response.status_code == 201, response.text
    device = api.register(shop, platform="iOS", customAttributes={"darkMode": True})
    identity = {"externalUserId": "ann", "emails": ["ann@shop.io"]}
    ann = api.personalize(shop, device, identity).json()
    response = api.client.patch(
        f"/v1/persons/{ann['id']}",
        json={"firstName": "Ann", "customAttributes": {"plan": "gold"}, "tags": ["vip"]},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    purchases = [{"definitionId": "purchase", "properties": {"amount": a}} for a in (20, 80)]
    response = api.client.post(
        f"/v1/installations/{device['pushRegistrationId']}/events",
        json={"events": purchases},
        headers=api.mobile(shop),
    )
    assert response.status_code == 200, response.text
    other = api.register(shop)
    return ann["id"], other["personId"]


def members(api: Api, segment_id: str) -> set[str]:
    response = api.client.get(f"/v1/segments/{segment_id}/members", headers=api.admin)
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["items"]}


def explain(api: Api, segment_id: str, person_id: str) -> dict[str, Any]:
    response = api.client.get(
        f"/v1/segments/{segment_id}/explain", params={"personId": person_id}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_explain_agrees_with_stored_membership_for_every_condition(api: Api) -> None:
    people = setup_people(api)
    for i, condition in enumerate(CONDITIONS):
        created = api.client.post(
            "/v1/segments", json={"name": f"s{i}", "rule": condition}, headers=api.admin
        )
        assert created.status_code == 201, created.text
        segment_id = created.json()["id"]
        stored = members(api, segment_id)
        for person_id in people:
            answer = explain(api, segment_id, person_id)
            assert answer["member"] == (person_id in stored), (condition, person_id)
            assert answer["rule"]["matched"] == answer["member"]
            assert answer["segmentId"] == segment_id and answer["personId"] == person_id


def test_explain_annotates_every_node(api: Api) -> None:
    ann, _other = setup_people(api)
    rule = {
        "all": [
            {"attribute": "firstName", "op": "eq", "value": "Ann"},
            {"customAttribute": "plan", "op": "eq", "value": "silver"},
            {"any": [{"tag": "vip"}, {"not": {"identified": True}}]},
            {"event": "purchase", "count": {"gte": 2}, "within": {"days": 7}},
            {"installation": {"all": [{"attribute": "platform", "op": "eq", "value": "iOS"}]}},
        ]
    }
    created = api.client.post("/v1/segments", json={"name": "x", "rule": rule}, headers=api.admin)
    segment_id = created.json()["id"]
    tree = explain(api, segment_id, ann)["rule"]
    assert tree["matched"] is False
    name, plan, either, bought, device = tree["all"]
    assert name == {**rule["all"][0], "matched": True, "actual": "Ann"}
    assert plan["matched"] is False and plan["actual"] == "gold"
    assert either["matched"] is True and either["any"][0]["actual"] == ["vip"]
    assert either["any"][1]["matched"] is False
    assert either["any"][1]["not"] == {"identified": True, "matched": True, "actual": True}
    assert bought["matched"] is True and bought["actual"] == 2
    assert device["matched"] is True and len(device["actual"]) == 1
    assert device["installation"]["all"][0]["actual"] == ["iOS"]


def test_explain_names_unknown_segments_and_persons(api: Api) -> None:
    ann, _other = setup_people(api)
    created = api.client.post(
        "/v1/segments", json={"name": "x", "rule": {"tag": "vip"}}, headers=api.admin
    )
    response = api.client.get(
        f"/v1/segments/{created.json()['id']}/explain",
        params={"personId": "nobody"},
        headers=api.admin,
    )
    assert_error(response, 404, "PERSON_NOT_FOUND")
    response = api.client.get(f"/v1/segments/{created.json()['id']}/explain", headers=api.admin)
    assert_error(response, 400, "VALIDATION_ERROR", "personId")
    assert (
        api.client.get(
            "/v1/segments/none/explain", params={"personId": ann}, headers=api.admin
        ).status_code
        == 404
    )
