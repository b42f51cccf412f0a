"""Personalize (R2), every branch; each error leaves everything as it was."""

from typing import Any

from sqlalchemy import func, select

from audience.db import Database
from audience.tables import events, persons
from tests.helpers import Api, assert_error


def events_named(db: Database, name: str) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(select(events).where(events.c.definition_id == name)))


def person_count(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(persons)).scalar_one())


def test_new_identity_promotes_the_anonymous_person(api: Api, shop: dict, db: Database) -> None:
    installation = api.register(shop, osVersion="17")
    response = api.personalize(shop, installation, {"externalUserId": "u1", "emails": ["Ann@X.io"]})
    assert response.status_code == 200, response.text
    person = response.json()
    assert person["id"] == installation["personId"]  # the same profile, now identified
    assert person["type"] == "IDENTIFIED" and person["externalUserId"] == "u1"
    assert person["emails"] == ["ann@x.io"]
    assert [i["pushRegistrationId"] for i in person["installations"]] == [
        installation["pushRegistrationId"]
    ]
    [event] = events_named(db, "Personalize")
    assert event.person_id == person["id"]
    assert event.properties["pushRegId"] == installation["pushRegistrationId"]
    assert event.properties["osVersion"] == "17"
    assert event.properties["appCode"] == shop["applicationCode"]


def test_existing_person_absorbs_the_anonymous_one(api: Api, shop: dict, db: Database) -> None:
    api.define_attribute("plan", "string")
    api.define_attribute("color", "string")
    first = api.register(shop)
    owner = api.personalize(shop, first, {"externalUserId": "u1"}).json()
    api.client.patch(
        f"/v1/persons/{owner['id']}",
        headers=api.admin,
        json={"firstName": "Ann", "customAttributes": {"plan": "gold"}, "tags": ["vip"]},
    )
    second = api.register(shop)
    anonymous_id = second["personId"]
    url = f"/v1/installations/{second['pushRegistrationId']}/person"
    api.client.patch(
        url,
        headers=api.mobile(shop),
        json={
            "firstName": "Anonymous",
            "lastName": "Lee",
            "tags": ["beta"],
            "customAttributes": {"plan": "free", "color": "red"},
        },
    )

    response = api.personalize(shop, second, {"externalUserId": "u1"})
    assert response.status_code == 200, response.text
    person = response.json()
    assert person["id"] == owner["id"]
    assert person["firstName"] == "Ann"  # P wins on conflict
    assert person["lastName"] == "Lee"  # copied where P lacked it
    assert person["customAttributes"] == {"plan": "gold", "color": "red"}
    assert person["tags"] == ["beta", "vip"]
    assert sorted(i["pushRegistrationId"] for i in person["installations"]) == sorted(
        [first["pushRegistrationId"], second["pushRegistrationId"]]
    )
    # the anonymous id resolves to the survivor, and its events joined P's history
    assert api.person(anonymous_id)["id"] == owner["id"]
    history = api.events_of(anonymous_id, limit=100)
    assert {e["definitionId"] for e in history} >= {"Install", "Personalize"}
    installs = [e for e in api.events_of(owner["id"], limit=100) if e["definitionId"] == "Install"]
    assert len(installs) == 2
    assert person_count(db) == 1


def test_ambiguous_candidates_change_nothing(api: Api, shop: dict, db: Database) -> None:
    api.create_person(externalUserId="a", emails=["a@x.io"])
    api.create_person(externalUserId="b", emails=["b@x.io"])
    installation = api.register(shop)
    response = api.personalize(shop, installation, {"emails": ["a@x.io", "b@x.io"]})
    assert_error(response, 409, "AMBIGUOUS_PERSONALIZE_CANDIDATES")
    assert api.person(installation["personId"])["type"] == "ANONYMOUS"
    assert events_named(db, "Personalize") == []


def test_conflicting_external_user_id(api: Api, shop: dict, db: Database) -> None:
    api.create_person(externalUserId="a", emails=["a@x.io"])
    installation = api.register(shop)
    response = api.personalize(shop, installation, {"externalUserId": "b", "emails": ["a@x.io"]})
    assert_error(response, 409, "USER_MERGE_INTERRUPTED")
    assert api.person(installation["personId"])["type"] == "ANONYMOUS"
    assert person_count(db) == 2


def test_new_phones_and_emails_are_added_to_the_found_person(api: Api, shop: dict) -> None:
    owner = api.create_person(externalUserId="a")
    installation = api.register(shop)
    person = api.personalize(
        shop,
        installation,
        {"externalUserId": "a", "emails": ["new@x.io"], "phones": ["+385911234567"]},
    ).json()
    assert person["id"] == owner["id"]
    assert person["emails"] == ["new@x.io"] and person["phones"] == ["+385911234567"]


def test_already_personalized_needs_force(api: Api, shop: dict, db: Database) -> None:
    installation = api.register(shop)
    first = api.personalize(shop, installation, {"externalUserId": "a"}).json()
    response = api.personalize(shop, installation, {"externalUserId": "b"})
    assert_error(response, 409, "PERSONALIZATION_IMPOSSIBLE")
    url = f"/v1/installations/{installation['pushRegistrationId']}"
    assert api.client.get(url, headers=api.mobile(shop)).json()["personId"] == first["id"]
    assert events_named(db, "Depersonalize") == []

    response = api.personalize(
        shop, installation, {"externalUserId": "b"}, params={"forceDepersonalize": "true"}
    )
    assert response.status_code == 200, response.text
    second = response.json()
    assert second["id"] != first["id"] and second["externalUserId"] == "b"
    assert api.person(first["id"])["installations"] == []
    [depersonalized] = events_named(db, "Depersonalize")
    assert depersonalized.person_id == first["id"]


def test_force_in_the_body_works_too(api: Api, shop: dict) -> None:
    installation = api.register(shop)
    api.personalize(shop, installation, {"externalUserId": "a"})
    response = api.personalize(shop, installation, {"externalUserId": "b"}, forceDepersonalize=True)
    assert response.status_code == 200 and response.json()["externalUserId"] == "b"


def test_repeat_is_idempotent(api: Api, shop: dict, db: Database) -> None:
    installation = api.register(shop)
    first = api.personalize(shop, installation, {"externalUserId": "a"}).json()
    again = api.personalize(shop, installation, {"externalUserId": "a"})
    assert again.status_code == 200
    assert again.json()["id"] == first["id"]
    assert len(events_named(db, "Personalize")) == 1


def test_user_attributes_and_primary_device(api: Api, shop: dict) -> None:
    api.define_attribute("plan", "string")
    other = api.register(shop)
    api.personalize(shop, other, {"externalUserId": "a"}, setDeviceAsPrimary=True)
    installation = api.register(shop)
    response = api.personalize(
        shop,
        installation,
        {"externalUserId": "a"},
        userAttributes={"firstName": "Ann", "customAttributes": {"plan": "gold"}, "tags": ["vip"]},
        params={"setDeviceAsPrimary": "true"},
    )
    person = response.json()
    assert person["firstName"] == "Ann" and person["customAttributes"] == {"plan": "gold"}
    assert person["tags"] == ["vip"]
    primaries = {i["pushRegistrationId"]: i["isPrimaryDevice"] for i in person["installations"]}
    assert primaries == {
        installation["pushRegistrationId"]: True,
        other["pushRegistrationId"]: False,
    }


def test_bad_user_attributes_roll_everything_back(api: Api, shop: dict, db: Database) -> None:
    installation = api.register(shop)
    response = api.personalize(
        shop,
        installation,
        {"externalUserId": "a"},
        userAttributes={"customAttributes": {"undefined": 1}},
    )
    assert_error(response, 400, "INVALID_CUSTOM_ATTRIBUTE")
    assert api.person(installation["personId"])["type"] == "ANONYMOUS"
    assert events_named(db, "Personalize") == []


def test_identity_validation(api: Api, shop: dict) -> None:
    installation = api.register(shop)
    assert_error(api.personalize(shop, installation, {}), 400, "USER_IDENTITY_INVALID")
    assert_error(api.personalize(shop, installation, {"emails": []}), 400, "USER_IDENTITY_INVALID")
    assert_error(api.personalize(shop, installation, {"phones": ["abc"]}), 400, "PHONE_INVALID")
    assert_error(api.personalize(shop, installation, {"emails": ["abc"]}), 400, "EMAIL_INVALID")
    assert_error(
        api.personalize(shop, installation, {"externalUserId": "a", "x": 1}),
        400,
        "VALIDATION_ERROR",
        "userIdentity.x",
    )
    response = api.client.post(
        f"/v1/installations/{installation['pushRegistrationId']}/personalize",
        json={"userAttributes": {}},
        headers=api.mobile(shop),
    )
    assert_error(response, 400, "VALIDATION_ERROR", "userIdentity")


def test_personalize_respects_the_app_credential(api: Api, shop: dict) -> None:
    other_app = api.create_app("Other")
    installation = api.register(shop)
    response = api.client.post(
        f"/v1/installations/{installation['pushRegistrationId']}/personalize",
        json={"userIdentity": {"externalUserId": "a"}},
        headers=api.mobile(other_app),
    )
    assert_error(response, 404, "NO_REGISTRATION")
    api.client.delete(f"/v1/installations/{installation['pushRegistrationId']}", headers=api.admin)
    assert_error(
        api.personalize(shop, installation, {"externalUserId": "a"}),
        410,
        "INSTALLATION_UNINSTALLED",
    )


def test_a_merged_primary_device_yields_to_the_survivors(api: Api, shop: dict) -> None:
    phone = api.register(shop)
    owner = api.personalize(shop, phone, {"externalUserId": "u"}, setDeviceAsPrimary=True).json()
    tablet = api.register(shop, isPrimaryDevice=True)
    merged = api.personalize(shop, tablet, {"externalUserId": "u"}).json()
    assert merged["id"] == owner["id"]
    flags = {i["pushRegistrationId"]: i["isPrimaryDevice"] for i in merged["installations"]}
    assert flags == {phone["pushRegistrationId"]: True, tablet["pushRegistrationId"]: False}


def test_identity_without_external_id_joins_a_person_that_has_one(api: Api, shop: dict) -> None:
    owner = api.personalize(
        shop, api.register(shop), {"externalUserId": "u1", "emails": ["a@x.io"]}
    ).json()
    joined = api.personalize(
        shop, api.register(shop), {"emails": ["A@X.io"], "phones": ["+385911234568"]}
    ).json()
    assert joined["id"] == owner["id"] and joined["externalUserId"] == "u1"
    assert joined["phones"] == ["+385911234568"]
