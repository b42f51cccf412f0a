"""Audit (R9), delete and export (R10)."""

from sqlalchemy import func, select

from audience.db import Database
from audience.tables import events, person_identities, person_tags
from tests.helpers import Api, assert_error


def changes(api: Api, person_id: str, **params: object) -> list[dict]:
    response = api.client.get(f"/v1/persons/{person_id}/changes", params=params, headers=api.admin)
    assert response.status_code == 200, response.text
    items: list[dict] = response.json()["items"]
    return items


def test_every_change_is_recorded_newest_first(api: Api, shop: dict) -> None:
    api.define_attribute("plan", "string")
    person = api.create_person(externalUserId="ann", firstName="Ann")
    api.client.patch(
        f"/v1/persons/{person['id']}",
        headers=api.admin,
        json={
            "firstName": "Anna",
            "customAttributes": {"plan": "gold"},
            "tags": ["vip"],
            "emails": ["ann@x.io"],
        },
    )
    installation = api.register(shop)
    api.personalize(shop, installation, {"externalUserId": "ann"})
    trail = changes(api, person["id"])
    fields = [c["field"] for c in trail]
    assert fields[0] == "installations" and "merge" in fields
    first_name = next(c for c in trail if c["field"] == "firstName" and c["oldValue"] == "Ann")
    assert first_name["newValue"] == "Anna"
    assert first_name["source"] == "apikey:test-admin"
    assert first_name["changedAt"].endswith("Z")
    plan = next(c for c in trail if c["field"] == "customAttributes.plan")
    assert plan["oldValue"] is None and plan["newValue"] == "gold"
    assert next(c for c in trail if c["field"] == "tags")["newValue"] == ["vip"]
    assert next(c for c in trail if c["field"] == "emails")["newValue"] == ["ann@x.io"]
    linked = next(c for c in trail if c["field"] == "installations")
    assert linked["source"] == f"installation:{installation['pushRegistrationId']}"
    assert linked["newValue"] == installation["pushRegistrationId"]
    ids = [int(c["id"]) for c in trail]
    assert ids == sorted(ids, reverse=True)
    # pagination
    paged: list[dict] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = api.client.get(
            f"/v1/persons/{person['id']}/changes", params=params, headers=api.admin
        ).json()
        paged += body["items"]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert paged == trail


def test_mobile_changes_name_the_installation(api: Api, shop: dict) -> None:
    installation = api.register(shop)
    api.client.patch(
        f"/v1/installations/{installation['pushRegistrationId']}/person",
        json={"lastName": "Lee"},
        headers=api.mobile(shop),
    )
    [change] = changes(api, installation["personId"])
    assert change["source"] == f"installation:{installation['pushRegistrationId']}"
    assert (change["field"], change["oldValue"], change["newValue"]) == ("lastName", None, "Lee")


def test_delete_removes_everything_and_uninstalls(api: Api, shop: dict, db: Database) -> None:
    installation = api.register(shop)
    person = api.personalize(
        shop, installation, {"externalUserId": "ann", "emails": ["ann@x.io"]}
    ).json()
    api.client.post(f"/v1/persons/{person['id']}/tags", json={"add": ["vip"]}, headers=api.admin)
    other = api.register(shop)  # its anonymous person merges in, with its events
    api.personalize(shop, other, {"externalUserId": "ann"})
    assert api.client.delete(f"/v1/persons/{person['id']}", headers=api.admin).status_code == 204

    assert_error(
        api.client.get(f"/v1/persons/{person['id']}", headers=api.admin), 404, "PERSON_NOT_FOUND"
    )
    assert_error(
        api.client.get(f"/v1/persons/{other['personId']}", headers=api.admin),
        404,
        "PERSON_NOT_FOUND",
    )
    with db.read() as conn:
        for table in (events, person_identities, person_tags):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
    tombstone = api.client.get(
        f"/v1/installations/{installation['pushRegistrationId']}", headers=api.admin
    ).json()
    assert tombstone["uninstalledAt"] is not None
    assert_error(
        api.client.get(
            f"/v1/installations/{installation['pushRegistrationId']}", headers=api.mobile(shop)
        ),
        410,
        "INSTALLATION_UNINSTALLED",
    )
    # the identity is free again, and the audit keeps only the deletion
    assert api.create_person(externalUserId="ann", emails=["ann@x.io"])["id"] != person["id"]
    [deleted] = changes(api, person["id"])
    assert deleted["field"] == "deleted" and deleted["source"] == "apikey:test-admin"
    assert_error(
        api.client.delete(f"/v1/persons/{person['id']}", headers=api.admin), 404, "PERSON_NOT_FOUND"
    )
    assert_error(
        api.client.get("/v1/persons/never-was/changes", headers=api.admin), 404, "PERSON_NOT_FOUND"
    )


def test_export_holds_everything(api: Api, shop: dict) -> None:
    api.define_attribute("plan", "string")
    installation = api.register(shop, deviceModel="Pixel")
    person = api.personalize(
        shop,
        installation,
        {"externalUserId": "ann"},
        userAttributes={"customAttributes": {"plan": "gold"}},
    ).json()
    response = api.client.get(f"/v1/persons/{person['id']}/export", headers=api.admin)
    assert response.status_code == 200
    export = response.json()
    assert export["person"] == api.person(person["id"])
    assert [i["deviceModel"] for i in export["installations"]] == ["Pixel"]
    assert {e["definitionId"] for e in export["events"]} == {"Install", "Personalize"}
    assert {c["field"] for c in export["changes"]} >= {"externalUserId", "customAttributes.plan"}


def test_person_installations_server_view(api: Api, shop: dict) -> None:
    installation = api.register(shop)
    person_id = api.personalize(shop, installation, {"externalUserId": "a"}).json()["id"]
    second = api.register(shop)
    api.personalize(shop, second, {"externalUserId": "a"})
    api.client.delete(f"/v1/installations/{second['pushRegistrationId']}", headers=api.admin)
    live = api.client.get(f"/v1/persons/{person_id}/installations", headers=api.admin).json()
    assert [i["pushRegistrationId"] for i in live["items"]] == [installation["pushRegistrationId"]]
    every = api.client.get(
        f"/v1/persons/{person_id}/installations",
        params={"includeUninstalled": "true"},
        headers=api.admin,
    ).json()
    assert len(every["items"]) == 2
