"""The console's routes without a browser: sign-in, sessions, CSRF, scopes, and the pages."""

from typing import Any

from audience.auth.service import revoke_key
from tests.console.conftest import Console, raw_key
from tests.helpers import Api


def test_pages_redirect_to_sign_in_without_a_session(console: Console) -> None:
    for path in ("/console", "/console/people", "/console/segments", "/console/definitions"):
        response = console.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login?next=")


def test_changes_without_a_session_answer_401(console: Console) -> None:
    response = console.client.post("/console/people/x/tags", data={"tag": "vip"})
    assert response.status_code == 401


def test_wrong_key_is_refused_and_sets_no_cookie(api: Api, console: Console) -> None:
    response = console.client.post("/console/login", data={"api_key": "ak_nope"})
    assert response.status_code == 401
    assert "not valid" in response.text
    assert "audience_console" not in response.cookies


def test_session_cookie_is_opaque_http_only_and_strict(api: Api, console: Console) -> None:
    response = console.sign_in(api.admin_key)
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert api.admin_key not in cookie
    assert console.get("/console").status_code == 200


def test_a_tampered_session_is_signed_out(api: Api, console: Console) -> None:
    console.sign_in(api.admin_key)
    value = console.client.cookies["audience_console"]
    key_id, expires = value.split(".")[1:3]
    forged = f"v1.{key_id}.{int(expires) + 1000}.{value.split('.')[3]}"
    console.client.cookies.set("audience_console", forged, path="/console")
    assert console.get("/console", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions(api: Api, console: Console) -> None:
    headers = api.key("support", "write")
    console.sign_in(raw_key(headers))
    keys = api.client.get("/v1/api-keys", headers=api.admin).json()["items"]
    key_id = next(k["id"] for k in keys if k["name"] == "support")
    with api.db.write() as conn:
        revoke_key(conn, key_id)
    assert console.get("/console", follow_redirects=False).status_code == 303


def test_sign_out_clears_the_session(admin_console: Console) -> None:
    response = admin_console.post("/console/logout")
    assert response.status_code == 303
    assert admin_console.get("/console", follow_redirects=False).status_code == 303


def test_next_only_goes_to_console_paths(api: Api, console: Console) -> None:
    response = console.client.post(
        "/console/login",
        data={"api_key": api.admin_key, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/console"


def test_a_change_without_the_csrf_token_is_rejected(api: Api, admin_console: Console) -> None:
    person = api.create_person(emails=["ann@example.com"])
    response = admin_console.client.post(
        f"/console/people/{person['id']}/tags", data={"tag": "vip"}, follow_redirects=False
    )
    assert response.status_code == 403
    response = admin_console.post(f"/console/people/{person['id']}/tags", {"csrf_token": "x"})
    assert response.status_code == 403
    assert api.person(person["id"])["tags"] == []


def test_a_change_from_another_origin_is_rejected(api: Api, admin_console: Console) -> None:
    person = api.create_person(emails=["ann@example.com"])
    response = admin_console.post(
        f"/console/people/{person['id']}/tags",
        {"tag": "vip"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert api.person(person["id"])["tags"] == []


def test_a_read_key_sees_everything_but_cannot_change(api: Api, console: Console) -> None:
    person = api.create_person(emails=["ann@example.com"], firstName="Ann")
    console.sign_in(raw_key(api.key("viewer", "read")))
    page = console.get(f"/console/people/{person['id']}")
    assert page.status_code == 200
    assert "ann@example.com" in page.text
    assert "Add tag" not in page.text and "Save attributes" not in page.text
    response = console.post(f"/console/people/{person['id']}/tags", {"tag": "vip"})
    assert response.status_code == 403
    assert "read access only" in response.text
    response = console.post(
        "/console/definitions/attributes", {"name": "plan", "type": "string", "scope": "person"}
    )
    assert response.status_code == 403
    assert api.person(person["id"])["tags"] == []


def test_search_finds_people_by_email_phone_name_and_external_id(
    api: Api, admin_console: Console
) -> None:
    ann = api.create_person(emails=["ann@example.com"], firstName="Ann", lastName="Lee")
    api.create_person(externalUserId="u-42", phones=["+385911234567"], firstName="Bob")

    def found(query: str) -> str:
        page = admin_console.get("/console/people", params={"q": query})
        assert page.status_code == 200
        return page.text

    assert ann["id"] in found("ANN@example.com") and "Bob" not in found("ann@")
    assert "Bob" in found("+385911234567") and "Bob" in found("u-42")
    assert ann["id"] in found("ann lee") and ann["id"] not in found("u-42")
    assert "Nobody matches" in found("nobody%")


def test_filters_by_type_and_tag(api: Api, admin_console: Console, shop: dict[str, Any]) -> None:
    api.register(shop)
    tagged = api.create_person(emails=["t@example.com"], tags=["vip"])
    page = admin_console.get("/console/people", params={"type": "ANONYMOUS"})
    assert "Anonymous" in page.text and "t@example.com" not in page.text
    page = admin_console.get("/console/people", params={"tag": "vip"})
    assert tagged["id"] in page.text


def test_profile_edits_go_through_the_person_rules(api: Api, admin_console: Console) -> None:
    api.define_attribute("score", "number")
    api.define_attribute("vip", "boolean")
    person = api.create_person(emails=["ann@example.com"])
    base = f"/console/people/{person['id']}"
    assert (
        admin_console.post(
            f"{base}/custom-attributes", {"name": "score", "value": "42"}
        ).status_code
        == 303
    )
    admin_console.post(f"{base}/custom-attributes", {"name": "vip", "value": "true"})
    admin_console.post(f"{base}/tags", {"tag": "gold"})
    admin_console.post(f"{base}/attributes", {"firstName": "Ann", "gender": "Female"})
    stored = api.person(person["id"])
    assert stored["customAttributes"] == {"score": 42, "vip": True}
    assert stored["tags"] == ["gold"] and stored["firstName"] == "Ann"
    bad = admin_console.post(f"{base}/custom-attributes", {"name": "score", "value": "lots"})
    assert "error=" in bad.headers["location"]
    bad = admin_console.post(f"{base}/identities", {"emails": "not-an-email"})
    assert "error=" in bad.headers["location"]
    assert api.person(person["id"])["emails"] == ["ann@example.com"]
    changes = api.client.get(f"/v1/persons/{person['id']}/changes", headers=api.admin).json()
    assert {"apikey:test-admin"} == {c["source"] for c in changes["items"]}


def test_make_primary_and_depersonalize(
    api: Api, admin_console: Console, shop: dict[str, Any]
) -> None:
    first, second = api.register(shop), api.register(shop)
    for device in (first, second):
        api.personalize(shop, device, {"externalUserId": "u1"})
    person_id = api.person(first["personId"])["id"]
    base = f"/console/people/{person_id}/devices"
    admin_console.post(f"{base}/{second['pushRegistrationId']}/primary")
    devices = {d["pushRegistrationId"]: d for d in api.person(person_id)["installations"]}
    assert devices[second["pushRegistrationId"]]["isPrimaryDevice"] is True
    admin_console.post(f"{base}/{first['pushRegistrationId']}/depersonalize")
    remaining = [d["pushRegistrationId"] for d in api.person(person_id)["installations"]]
    assert remaining == [second["pushRegistrationId"]]
    other = api.create_person(emails=["x@example.com"])
    response = admin_console.post(
        f"/console/people/{other['id']}/devices/{second['pushRegistrationId']}/primary"
    )
    assert "error=" in response.headers["location"]


def test_person_page_shows_devices_timeline_chart_and_audit(
    api: Api, admin_console: Console, shop: dict[str, Any]
) -> None:
    device = api.register(shop, deviceModel="Pixel 8")
    api.personalize(shop, device, {"emails": ["ann@example.com"]})
    person_id = api.person(device["personId"])["id"]
    page = admin_console.get(f"/console/people/{person_id}")
    assert "Pixel 8" in page.text and "Personalize" in page.text and "Install" in page.text
    assert "data-chart" in page.text and "Audit trail" in page.text
    filtered = admin_console.get(f"/console/people/{person_id}", params={"definitionId": "Install"})
    assert "<strong>Personalize</strong>" not in filtered.text
    assert "<strong>Install</strong>" in filtered.text


def test_definitions_are_created_and_edited(api: Api, admin_console: Console) -> None:
    admin_console.post(
        "/console/definitions/attributes", {"name": "plan", "type": "string", "scope": "person"}
    )
    admin_console.post(
        "/console/definitions/events",
        {"id": "purchase", "properties": "amount: number", "active": "on"},
    )
    admin_console.post(
        "/console/definitions/events/purchase",
        {"description": "Bought", "properties": "amount: number\nsku: string"},
    )
    admin_console.post("/console/definitions/attributes/plan", {"description": "Billing plan"})
    attribute = api.client.get("/v1/attribute-definitions/plan", headers=api.admin).json()
    event = api.client.get("/v1/event-definitions/purchase", headers=api.admin).json()
    assert attribute["description"] == "Billing plan"
    assert event["properties"] == {"amount": "number", "sku": "string"}
    assert event["active"] is False and event["description"] == "Bought"
    duplicate = admin_console.post(
        "/console/definitions/attributes", {"name": "plan", "type": "number", "scope": "person"}
    )
    assert "already+defined" in duplicate.headers["location"]


def test_segment_preview_create_and_page(api: Api, admin_console: Console) -> None:
    api.create_person(emails=["a@example.com"], tags=["vip"])
    api.create_person(emails=["b@example.com"])
    rule = {"all": [{"tag": "vip"}]}
    preview = admin_console.client.post(
        "/console/segments/preview",
        json={"rule": rule},
        headers={"X-CSRF-Token": admin_console.csrf},
    )
    assert preview.json()["count"] == 1
    no_token = admin_console.client.post("/console/segments/preview", json={"rule": rule})
    assert no_token.status_code == 403
    bad = admin_console.client.post(
        "/console/segments/preview",
        json={"rule": {"all": [{"attribute": "nope", "op": "eq", "value": 1}]}},
        headers={"X-CSRF-Token": admin_console.csrf},
    )
    assert bad.status_code == 400 and "nope" in bad.json()["error"]["message"]
    created = admin_console.post(
        "/console/segments", {"name": "VIPs", "rule": '{"all": [{"tag": "vip"}]}'}
    )
    location = created.headers["location"]
    assert location.startswith("/console/segments/") and "1+members" in location
    page = admin_console.get(location.split("?")[0])
    assert "a@example.com" not in page.text  # members are listed by name or id
    assert 'data-testid="segment-size">1<' in page.text
    resolved = admin_console.get(
        location.split("?")[0], params={"resolve": "1", "primaryDeviceOnly": "true"}
    )
    assert 'data-testid="resolved-count">0<' in resolved.text
    listing = admin_console.get("/console/segments")
    assert "VIPs" in listing.text


def test_dashboard_counts(api: Api, admin_console: Console, shop: dict[str, Any]) -> None:
    api.register(shop, platform="iOS")
    api.create_person(emails=["a@example.com"])
    page = admin_console.get("/console")
    assert 'data-testid="persons-identified">1<' in page.text
    assert 'data-testid="persons-anonymous">1<' in page.text
    assert "<dt>iOS</dt><dd>1</dd>" in page.text and "Install" in page.text


def test_static_files_are_served_from_the_app(console: Console) -> None:
    for name in ("vendor/htmx-2.0.11.min.js", "vendor/uPlot-1.6.32.iife.min.js", "console.js"):
        assert console.get(f"/console/static/{name}").status_code == 200
