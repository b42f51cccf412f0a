"""Depersonalize (R3), primary device (R5) and the mobile person endpoints."""

from typing import Any

from tests.helpers import Api, assert_error


def url(installation: dict[str, Any], suffix: str = "") -> str:
    return f"/v1/installations/{installation['pushRegistrationId']}{suffix}"


def two_devices(api: Api, shop: dict) -> tuple[dict, dict, str]:
    phone = api.register(shop)
    tablet = api.register(shop, platform="iOS")
    person = api.personalize(shop, phone, {"externalUserId": "ann"}).json()
    api.personalize(shop, tablet, {"externalUserId": "ann"})
    return phone, tablet, person["id"]


def test_depersonalize_moves_to_a_new_anonymous_person(api: Api, shop: dict) -> None:
    phone, tablet, person_id = two_devices(api, shop)
    api.client.patch(url(phone), json={"isPrimaryDevice": True}, headers=api.mobile(shop))
    response = api.client.post(url(phone, "/depersonalize"), headers=api.mobile(shop))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["personId"] != person_id and body["isPrimaryDevice"] is False
    assert api.person(body["personId"])["type"] == "ANONYMOUS"
    remaining = api.person(person_id)["installations"]
    assert [i["pushRegistrationId"] for i in remaining] == [tablet["pushRegistrationId"]]
    # P keeps its history with a Depersonalize event; new events go to the new person
    names = [e["definitionId"] for e in api.events_of(person_id, limit=100)]
    assert "Depersonalize" in names
    launched = api.client.post(
        url(phone, "/events"),
        headers=api.mobile(shop),
        json={"events": [{"definitionId": "AppLaunch"}]},
    )
    assert launched.status_code == 200, launched.text
    assert [e["definitionId"] for e in api.events_of(body["personId"])] == ["AppLaunch"]
    assert "AppLaunch" not in [e["definitionId"] for e in api.events_of(person_id, limit=100)]


def test_depersonalizing_an_anonymous_installation_is_a_no_op(api: Api, shop: dict) -> None:
    installation = api.register(shop)
    response = api.client.post(url(installation, "/depersonalize"), headers=api.mobile(shop))
    assert response.status_code == 200
    assert response.json()["personId"] == installation["personId"]
    assert [e["definitionId"] for e in api.events_of(installation["personId"])] == ["Install"]


def test_depersonalize_another_device_of_the_same_person(api: Api, shop: dict) -> None:
    phone, tablet, person_id = two_devices(api, shop)
    response = api.client.post(
        url(phone, f"/person/installations/{tablet['pushRegistrationId']}/depersonalize"),
        headers=api.mobile(shop),
    )
    assert response.status_code == 200, response.text
    assert response.json()["personId"] != person_id
    assert [i["pushRegistrationId"] for i in api.person(person_id)["installations"]] == [
        phone["pushRegistrationId"]
    ]


def test_a_device_cannot_reach_another_persons_devices(api: Api, shop: dict) -> None:
    phone, _tablet, _ = two_devices(api, shop)
    stranger = api.register(shop)
    api.personalize(shop, stranger, {"externalUserId": "bob"})
    target = phone["pushRegistrationId"]
    response = api.client.post(
        url(stranger, f"/person/installations/{target}/depersonalize"), headers=api.mobile(shop)
    )
    assert_error(response, 404, "NO_REGISTRATION")
    response = api.client.patch(
        url(stranger, f"/person/installations/{target}"),
        json={"isPrimaryDevice": True},
        headers=api.mobile(shop),
    )
    assert_error(response, 404, "NO_REGISTRATION")
    other_app = api.create_app("Other")
    assert_error(
        api.client.get(url(phone, "/person"), headers=api.mobile(other_app)), 404, "NO_REGISTRATION"
    )


def test_primary_device_from_another_device(api: Api, shop: dict) -> None:
    phone, tablet, person_id = two_devices(api, shop)
    api.client.patch(url(phone), json={"isPrimaryDevice": True}, headers=api.mobile(shop))
    response = api.client.patch(
        url(phone, f"/person/installations/{tablet['pushRegistrationId']}"),
        json={"isPrimaryDevice": True},
        headers=api.mobile(shop),
    )
    assert response.status_code == 200 and response.json()["isPrimaryDevice"] is True
    flags = {
        i["pushRegistrationId"]: i["isPrimaryDevice"]
        for i in api.person(person_id)["installations"]
    }
    assert flags == {phone["pushRegistrationId"]: False, tablet["pushRegistrationId"]: True}
    response = api.client.patch(
        url(phone, f"/person/installations/{tablet['pushRegistrationId']}"),
        json={"isPrimaryDevice": "yes"},
        headers=api.mobile(shop),
    )
    assert_error(response, 400, "VALIDATION_ERROR", "isPrimaryDevice")


def test_person_installations_lists_live_devices_only(api: Api, shop: dict) -> None:
    phone, tablet, _ = two_devices(api, shop)
    api.client.delete(url(tablet), headers=api.admin)
    body = api.client.get(url(phone, "/person/installations"), headers=api.mobile(shop)).json()
    assert [i["pushRegistrationId"] for i in body["items"]] == [phone["pushRegistrationId"]]
    assert "pushServiceToken" not in body["items"][0]


def test_preferences_written_on_one_device_read_on_another(api: Api, shop: dict) -> None:
    api.define_attribute("newsletter", "boolean")
    phone, tablet, _ = two_devices(api, shop)
    response = api.client.patch(
        url(phone, "/person"),
        headers=api.mobile(shop),
        json={
            "customAttributes": {"newsletter": True},
            "firstName": "Ann",
            "tags": {"add": ["vip", "beta"], "remove": []},
        },
    )
    assert response.status_code == 200, response.text
    seen = api.client.get(url(tablet, "/person"), headers=api.mobile(shop)).json()
    assert seen["customAttributes"] == {"newsletter": True}
    assert seen["firstName"] == "Ann" and seen["tags"] == ["beta", "vip"]
    response = api.client.patch(
        url(tablet, "/person"), headers=api.mobile(shop), json={"tags": {"remove": ["beta"]}}
    )
    assert response.json()["tags"] == ["vip"]
    response = api.client.patch(
        url(tablet, "/person"), headers=api.mobile(shop), json={"tags": ["x"]}
    )
    assert response.json()["tags"] == ["x"]


def test_mobile_person_patch_identity_conflict(api: Api, shop: dict) -> None:
    api.create_person(externalUserId="bob", emails=["bob@x.io"])
    installation = api.register(shop)
    response = api.client.patch(
        url(installation, "/person"), headers=api.mobile(shop), json={"emails": ["bob@x.io"]}
    )
    assert_error(response, 409, "USER_MERGE_INTERRUPTED")
    response = api.client.patch(
        url(installation, "/person"), headers=api.mobile(shop), json={"phones": ["+1 650 253 0000"]}
    )
    assert response.status_code == 200
    assert response.json()["phones"] == ["+16502530000"]
    assert response.json()["type"] == "IDENTIFIED"


def test_uninstalled_installation_gets_410_everywhere(api: Api, shop: dict) -> None:
    installation = api.register(shop)
    api.client.delete(url(installation), headers=api.admin)
    for method, suffix in (
        ("GET", "/person"),
        ("PATCH", "/person"),
        ("POST", "/depersonalize"),
        ("GET", "/person/installations"),
    ):
        response = api.client.request(
            method, url(installation, suffix), json={}, headers=api.mobile(shop)
        )
        assert_error(response, 410, "INSTALLATION_UNINSTALLED")
