"""Identities that look alike are one identity, or refused (SPEC §10, issue 12 item 8)."""

import pytest

from tests.helpers import Api, assert_error

# "ANN@example.com" in fullwidth forms (U+FF01..U+FF5E), which NFKC maps back to ASCII
FULLWIDTH = "ANN@example.com".translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})


@pytest.mark.parametrize(
    "twin",
    [
        FULLWIDTH,
        " Ann@Example.com ",
        "ann@example.com",
    ],
)
def test_email_spellings_are_one_identity(api: Api, twin: str) -> None:
    first = api.create_person(emails=["ann@example.com"])
    response = api.client.post("/v1/persons", json={"emails": [twin]}, headers=api.admin)
    assert_error(response, 409, "USER_MERGE_INTERRUPTED")
    found = api.client.get("/v1/persons/lookup", params={"email": twin}, headers=api.admin)
    assert found.status_code == 200 and found.json()["id"] == first["id"]


def test_composed_and_decomposed_accents_are_one_email(api: Api) -> None:
    composed = api.create_person(emails=["jos\u00e9@example.com"])
    assert composed["emails"] == ["jos\u00e9@example.com"]
    response = api.client.post(
        "/v1/persons", json={"emails": ["jose\u0301@example.com"]}, headers=api.admin
    )
    assert_error(response, 409, "USER_MERGE_INTERRUPTED")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("emails", ["ann\u200b@example.com"]),  # zero-width space
        ("emails", ["\u202eann@example.com"]),  # bidi override
        ("phones", ["+38591\u200b1234567"]),
        ("externalUserId", "ann "),  # trailing space
        ("externalUserId", " ann"),
        ("externalUserId", "an\u200dn"),  # zero-width joiner
        ("externalUserId", "ann\u2066"),  # bidi isolate
        ("externalUserId", "an\x07n"),
    ],
)
def test_invisible_characters_are_refused(api: Api, shop: dict, field: str, value: object) -> None:
    api.create_person(externalUserId="ann", emails=["ann@example.com"])
    response = api.client.post("/v1/persons", json={field: value}, headers=api.admin)
    assert_error(response, 400, "VALIDATION_ERROR", field)
    device = api.register(shop)
    response = api.personalize(shop, device, {field: value})
    assert_error(response, 400, "VALIDATION_ERROR", f"userIdentity.{field}")


def test_international_call_prefix_is_e164(api: Api) -> None:
    person = api.create_person(phones=["00385911234567"])
    assert person["phones"] == ["+385911234567"]
    response = api.client.post("/v1/persons", json={"phones": ["+385911234567"]}, headers=api.admin)
    assert_error(response, 409, "USER_MERGE_INTERRUPTED")
