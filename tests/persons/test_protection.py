"""Protected persons (SPEC §10): a person a requireUserJwt app protects needs the user's JWT
whichever application calls; phones and emails do not prove an identity; other devices'
push tokens and other apps' codes stay hidden."""

from typing import Any

import pytest

from tests.helpers import Api, assert_error
from tests.persons.test_user_jwt import header, token


@pytest.fixture
def bank(api: Api) -> dict[str, Any]:
    return api.create_app("Bank", requireUserJwt=True)


def _ann_in_bank(api: Api, bank: dict) -> dict[str, Any]:
    device = api.register(bank, pushServiceToken="bank-token")
    response = api.personalize(
        bank,
        device,
        {"externalUserId": "ann", "emails": ["ann@bank.example"]},
        headers=header(token(bank, "ann")),
        userAttributes={"firstName": "Ann"},
    )
    assert response.status_code == 200, response.text
    return device


def test_another_app_cannot_reach_a_protected_person(api: Api, bank: dict, shop: dict) -> None:
    bank_device = _ann_in_bank(api, bank)
    ann_id = bank_device["personId"]
    intruder = api.register(shop)
    # personalize into ann by externalUserId or by her email: no token, no entry
    for identity in ({"externalUserId": "ann"}, {"emails": ["ann@bank.example"]}):
        response = api.personalize(shop, intruder, identity)
        assert_error(response, 401, "USER_JWT_REQUIRED")
    # a token signed with the bank's secret proves nothing to the shop
    response = api.personalize(
        shop, intruder, {"externalUserId": "ann"}, headers=header(token(bank, "ann"))
    )
    assert_error(response, 401, "USER_JWT_REQUIRED")
    assert api.person(intruder["personId"])["type"] == "ANONYMOUS"
    assert [i["pushRegistrationId"] for i in api.person(ann_id)["installations"]] == [
        bank_device["pushRegistrationId"]
    ]
    # with ann's token under the shop's own secret the shop device joins her
    response = api.personalize(
        shop, intruder, {"externalUserId": "ann"}, headers=header(token(shop, "ann"))
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == ann_id
    base = f"/v1/installations/{intruder['pushRegistrationId']}/person"
    other = bank_device["pushRegistrationId"]
    calls = [
        ("GET", base, None),
        ("PATCH", base, {"emails": ["mallory@evil.example"]}),
        ("GET", f"{base}/installations", None),
        ("POST", f"{base}/installations/{other}/depersonalize", None),
        ("PATCH", f"{base}/installations/{other}", {"isPrimaryDevice": True}),
    ]
    for method, path, body in calls:
        response = api.client.request(method, path, json=body, headers=api.mobile(shop))
        assert_error(response, 401, "USER_JWT_REQUIRED")
    read = api.person(ann_id)
    assert read["emails"] == ["ann@bank.example"] and read["firstName"] == "Ann"
    assert len(read["installations"]) == 2
    response = api.client.get(base, headers=api.mobile(shop) | header(token(shop, "ann")))
    assert response.status_code == 200 and response.json()["firstName"] == "Ann"


def test_holding_a_jwt_app_installation_protects(api: Api, bank: dict, shop: dict) -> None:
    """Identified by the server API, never personalized through the bank: still protected."""
    bank_device = api.register(bank)
    response = api.client.patch(
        f"/v1/persons/{bank_device['personId']}", json={"externalUserId": "bob"}, headers=api.admin
    )
    assert response.status_code == 200, response.text
    intruder = api.register(shop)
    assert_error(
        api.personalize(shop, intruder, {"externalUserId": "bob"}), 401, "USER_JWT_REQUIRED"
    )
    # an unprotected person stays reachable without any token
    api.create_person(externalUserId="carl")
    assert api.personalize(shop, intruder, {"externalUserId": "carl"}).status_code == 200


def test_emails_do_not_prove_an_identity_in_a_jwt_app(api: Api, bank: dict) -> None:
    victim = api.create_person(emails=["victim@x.example"], firstName="Vic", tags=["vip"])
    device = api.register(bank)
    response = api.personalize(
        bank,
        device,
        {"externalUserId": "mallory", "emails": ["victim@x.example"]},
        headers=header(token(bank, "mallory")),
    )
    assert_error(response, 403, "IDENTITY_NOT_VERIFIED")
    after = api.person(victim["id"])
    assert after["externalUserId"] is None and after["installations"] == []
    assert api.person(device["personId"])["type"] == "ANONYMOUS"
    # the token's own user with its own new email is fine
    response = api.personalize(
        bank,
        device,
        {"externalUserId": "mallory", "emails": ["mallory@x.example"]},
        headers=header(token(bank, "mallory")),
    )
    assert response.status_code == 200, response.text


def test_other_devices_show_no_push_token_nor_other_app_code(
    api: Api, bank: dict, shop: dict
) -> None:
    bank_device = _ann_in_bank(api, bank)
    mine = api.register(shop, pushServiceToken="shop-token")
    jwt = {"headers": header(token(shop, "ann"))}
    assert api.personalize(shop, mine, {"externalUserId": "ann"}, **jwt).status_code == 200
    base = f"/v1/installations/{mine['pushRegistrationId']}/person"
    other = bank_device["pushRegistrationId"]
    person = api.client.get(base, headers=api.mobile(shop) | header(token(shop, "ann"))).json()
    codes = {i["pushRegistrationId"]: i["applicationCode"] for i in person["installations"]}
    assert codes == {other: None, mine["pushRegistrationId"]: shop["applicationCode"]}
    patched = api.client.patch(
        f"{base}/installations/{other}",
        json={"isPrimaryDevice": True},
        headers=api.mobile(shop) | header(token(shop, "ann")),
    )
    assert patched.status_code == 200, patched.text
    assert "pushServiceToken" not in patched.json()
    assert bank["applicationCode"] not in patched.text and "bank-token" not in patched.text
    removed = api.client.post(
        f"{base}/installations/{other}/depersonalize",
        headers=api.mobile(shop) | header(token(shop, "ann")),
    )
    assert removed.status_code == 200, removed.text
    assert "bank-token" not in removed.text and bank["applicationCode"] not in removed.text
