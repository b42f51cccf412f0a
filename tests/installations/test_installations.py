from typing import Any

from sqlalchemy import select

from audience.db import Database
from audience.tables import events, persons
from tests.helpers import Api, assert_error

FULL = {
    "platform": "iOS",
    "sdkVersion": "12.1.0",
    "osVersion": "17.4",
    "deviceManufacturer": "Apple",
    "deviceModel": "iPhone 15",
    "applicationVersion": "3.2.1",
    "appVersion": "3.2.1",
    "osLanguage": "en-GB",
    "deviceTimezoneOffset": 60,
    "deviceName": "Ann's phone",
    "pushServiceType": "APNS",
    "pushServiceToken": "tok-123",
    "pushRegistrationEnabled": True,
    "registrationsEnabled": True,
    "notificationsEnabled": False,
    "geofencingEnabled": False,
    "deviceSecure": True,
    "isPrimaryDevice": False,
}


def _events(db: Database, person_id: str) -> list[Any]:
    with db.read() as conn:
        query = select(events).where(events.c.person_id == person_id).order_by(events.c.id)
        return list(conn.execute(query))


def test_register_creates_installation_anonymous_person_and_install_event(
    api: Api, shop: dict, db: Database
) -> None:
    installation = api.register(shop, **FULL)
    for field, value in FULL.items():
        assert installation[field] == value, field
    assert installation["applicationCode"] == shop["applicationCode"]
    assert installation["customAttributes"] == {}
    assert installation["uninstalledAt"] is None
    assert installation["createdAt"].endswith("Z")
    with db.read() as conn:
        person = conn.execute(select(persons).where(persons.c.id == installation["personId"])).one()
    assert person.type == "ANONYMOUS"
    [install] = _events(db, installation["personId"])
    assert install.definition_id == "Install"
    assert install.push_registration_id == installation["pushRegistrationId"]
    assert install.properties == {
        "appCode": shop["applicationCode"],
        "pushRegId": installation["pushRegistrationId"],
        "applicationVersion": "3.2.1",
        "deviceManufacturer": "Apple",
        "deviceModel": "iPhone 15",
        "osLanguage": "en-GB",
        "osVersion": "17.4",
        "platform": "iOS",
        "sdkVersion": "12.1.0",
    }


def test_defaults_and_every_registration_is_new(api: Api, shop: dict) -> None:
    first = api.register(shop, pushServiceToken="same")
    second = api.register(shop, pushServiceToken="same")
    assert first["pushRegistrationId"] != second["pushRegistrationId"]
    assert first["personId"] != second["personId"]
    assert first["pushRegistrationEnabled"] is True
    assert first["registrationsEnabled"] is True
    assert first["isPrimaryDevice"] is False


def test_mobile_read_and_patch_own_installation(api: Api, shop: dict) -> None:
    installation = api.register(shop)
    url = f"/v1/installations/{installation['pushRegistrationId']}"
    headers = api.mobile(shop)
    assert api.client.get(url, headers=headers).json() == installation
    patched = api.client.patch(
        url,
        json={"osVersion": "15", "notificationsEnabled": True, "deviceName": None},
        headers=headers,
    )
    assert patched.status_code == 200
    body = patched.json()
    assert body["osVersion"] == "15" and body["notificationsEnabled"] is True
    assert body["platform"] == "Android"  # untouched fields are kept
    assert api.client.get(url, headers=headers).json() == body


def test_installation_custom_attributes_merge_and_null_deletes(api: Api, shop: dict) -> None:
    api.define_attribute("darkMode", "boolean", "installation")
    api.define_attribute("fontSize", "number", "installation")
    api.define_attribute("plan", "string", "person")
    installation = api.register(shop, customAttributes={"darkMode": True})
    assert installation["customAttributes"] == {"darkMode": True}
    url = f"/v1/installations/{installation['pushRegistrationId']}"
    headers = api.mobile(shop)
    body = api.client.patch(
        url, json={"customAttributes": {"fontSize": 14}}, headers=headers
    ).json()
    assert body["customAttributes"] == {"darkMode": True, "fontSize": 14}
    body = api.client.patch(
        url, json={"customAttributes": {"darkMode": None}}, headers=headers
    ).json()
    assert body["customAttributes"] == {"fontSize": 14}
    # person-scope names, undefined names and wrong types are refused, nothing changes
    for bad in ({"plan": "gold"}, {"nope": 1}, {"fontSize": "big"}):
        name = next(iter(bad))
        response = api.client.patch(url, json={"customAttributes": bad}, headers=headers)
        assert_error(response, 400, "INVALID_CUSTOM_ATTRIBUTE", f"customAttributes.{name}")
    assert api.client.get(url, headers=headers).json()["customAttributes"] == {"fontSize": 14}


def test_validation_of_installation_fields(api: Api, shop: dict) -> None:
    headers = api.mobile(shop)
    post = api.client.post
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "platform"),
        ({"platform": "Windows"}, "platform"),
        ({"platform": "iOS", "deviceModel": "x" * 129}, "deviceModel"),
        ({"platform": "iOS", "osLanguage": "english please"}, "osLanguage"),
        ({"platform": "iOS", "deviceTimezoneOffset": "60"}, "deviceTimezoneOffset"),
        ({"platform": "iOS", "deviceTimezoneOffset": 10**12}, "deviceTimezoneOffset"),
        ({"platform": "iOS", "pushServiceType": "GCM"}, "pushServiceType"),
        ({"platform": "iOS", "notificationsEnabled": "yes"}, "notificationsEnabled"),
        ({"platform": "iOS", "pushRegistrationId": "mine"}, "pushRegistrationId"),
        ({"platform": "iOS", "color": "red"}, "color"),
    ]
    for body, field in cases:
        assert_error(
            post("/v1/installations", json=body, headers=headers), 400, "VALIDATION_ERROR", field
        )
    installation = api.register(shop)
    url = f"/v1/installations/{installation['pushRegistrationId']}"
    assert_error(
        api.client.patch(url, json={"platform": None}, headers=headers),
        400,
        "VALIDATION_ERROR",
        "platform",
    )
    assert_error(
        api.client.patch(url, json={"createdAt": "2020-01-01T00:00:00Z"}, headers=headers),
        400,
        "VALIDATION_ERROR",
        "createdAt",
    )
    assert api.client.get(url, headers=headers).json() == installation


def test_primary_device_is_unique_per_person(api: Api, shop: dict) -> None:
    installation = api.register(shop)
    url = f"/v1/installations/{installation['pushRegistrationId']}"
    body = api.client.patch(url, json={"isPrimaryDevice": True}, headers=api.mobile(shop)).json()
    assert body["isPrimaryDevice"] is True


def test_credentials_for_the_mobile_api(api: Api, shop: dict) -> None:
    other = api.create_app("Other")
    installation = api.register(shop)
    url = f"/v1/installations/{installation['pushRegistrationId']}"
    assert_error(api.client.get(url), 401, "UNAUTHORIZED")
    assert_error(
        api.client.post("/v1/installations", json={"platform": "iOS"}), 401, "UNAUTHORIZED"
    )
    # another app's code never reaches this installation
    assert_error(api.client.get(url, headers=api.mobile(other)), 404, "NO_REGISTRATION")
    assert_error(
        api.client.patch(url, json={"osVersion": "1"}, headers=api.mobile(other)),
        404,
        "NO_REGISTRATION",
    )
    assert api.client.get(url, headers=api.mobile(shop)).json()["osVersion"] is None
    assert_error(
        api.client.get("/v1/installations/unknown", headers=api.mobile(shop)),
        404,
        "NO_REGISTRATION",
    )


def test_server_read_and_uninstall(api: Api, shop: dict, db: Database) -> None:
    installation = api.register(shop, osVersion="14")
    url = f"/v1/installations/{installation['pushRegistrationId']}"
    reader = api.key("reader", "read")
    assert api.client.get(url, headers=reader).json() == installation
    assert_error(api.client.delete(url, headers=reader), 403, "FORBIDDEN")
    assert_error(api.client.delete(url, headers=api.mobile(shop)), 403, "FORBIDDEN")
    assert api.client.delete(url, headers=api.admin).status_code == 204
    tombstone = api.client.get(url, headers=api.admin).json()
    assert tombstone["uninstalledAt"].endswith("Z")
    # later mobile calls answer 410
    assert_error(api.client.get(url, headers=api.mobile(shop)), 410, "INSTALLATION_UNINSTALLED")
    assert_error(
        api.client.patch(url, json={"osVersion": "15"}, headers=api.mobile(shop)),
        410,
        "INSTALLATION_UNINSTALLED",
    )
    # uninstalling again is a no-op; one Uninstall event with R6 properties
    assert api.client.delete(url, headers=api.admin).status_code == 204
    recorded = _events(db, installation["personId"])
    assert [e.definition_id for e in recorded] == ["Install", "Uninstall"]
    assert recorded[1].properties["osVersion"] == "14"
    assert_error(
        api.client.delete("/v1/installations/unknown", headers=api.admin), 404, "NO_REGISTRATION"
    )
    assert_error(
        api.client.get("/v1/installations/unknown", headers=api.admin), 404, "NO_REGISTRATION"
    )
