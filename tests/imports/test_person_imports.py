"""Person imports (SPEC §15): every column, matching, per-row errors, dry run, re-runs."""

import pytest

from audience.config import Settings
from audience.imports import service
from tests.helpers import Api
from tests.imports.bulk import import_errors, lookup, run_import, start_import

HEADER = (
    "externalUserId,emails,phones,tags,firstName,lastName,middleName,gender,birthday,"
    "custom.plan,custom.score,custom.vip,custom.since\n"
)


@pytest.fixture
def attributes(api: Api) -> None:
    api.define_attribute("plan", "string")
    api.define_attribute("score", "number")
    api.define_attribute("vip", "boolean")
    api.define_attribute("since", "date")


def test_every_column_of_a_csv_row_is_applied(
    api: Api, settings: Settings, attributes: None
) -> None:
    body = HEADER + (
        "u1,Ann@Example.com;ann2@example.com,+385911234567,vip;early,Ann,Lee,M,Female,"
        "1990-02-03,gold,4.5,true,2024-01-02\n"
    )
    job = run_import(api, settings, "persons", body)
    assert job["status"] == "done"
    assert (job["rows"], job["created"], job["updated"], job["failed"]) == (1, 1, 0, 0)
    person = lookup(api, externalUserId="u1")
    assert person is not None
    assert person["type"] == "IDENTIFIED"
    assert sorted(person["emails"]) == ["ann2@example.com", "ann@example.com"]
    assert person["phones"] == ["+385911234567"]
    assert sorted(person["tags"]) == ["early", "vip"]
    assert (person["firstName"], person["lastName"], person["middleName"]) == ("Ann", "Lee", "M")
    assert (person["gender"], person["birthday"]) == ("Female", "1990-02-03")
    assert person["customAttributes"] == {
        "plan": "gold",
        "score": 4.5,
        "vip": True,
        "since": "2024-01-02",
    }
    changes = api.client.get(f"/v1/persons/{person['id']}/changes", headers=api.admin).json()
    assert {c["source"] for c in changes["items"]} == {f"import:{job['id']}"}


def test_ndjson_rows_may_nest_custom_attributes(
    api: Api, settings: Settings, attributes: None
) -> None:
    body = (
        '{"externalUserId": "n1", "emails": ["n1@example.com"], "customAttributes": '
        '{"plan": "silver", "score": 3}, "tags": ["a"]}\n'
        "\n"
        '{"externalUserId": "n2", "custom.vip": false}\n'
        # its own columns again (each header is planned once): nested and dotted, an ignored one
        '{"custom.plan": "gold", "id": "x", "externalUserId": "n3", "firstName": "Ann", '
        '"customAttributes": {"score": 4, "plan": "silver"}}\n'
    )
    job = run_import(api, settings, "persons", body, file_format="ndjson")
    assert (job["rows"], job["created"], job["failed"]) == (3, 3, 0)
    third = lookup(api, externalUserId="n3")
    assert third is not None and third["firstName"] == "Ann"
    assert third["customAttributes"] == {"plan": "gold", "score": 4}
    first = lookup(api, externalUserId="n1")
    assert first is not None
    assert first["customAttributes"] == {"plan": "silver", "score": 3}
    assert first["tags"] == ["a"]
    second = lookup(api, externalUserId="n2")
    assert second is not None and second["customAttributes"] == {"vip": False}


def test_rows_match_by_external_id_then_email_then_phone(
    api: Api, settings: Settings, attributes: None
) -> None:
    by_email = api.create_person(emails=["e@example.com"], firstName="E")
    by_phone = api.create_person(phones=["+385911234568"])
    by_ext = api.create_person(externalUserId="x1")
    body = (
        "externalUserId,emails,phones,firstName,tags\n"
        "x1,,,Xavier,\n"
        ",E@example.com,,Eve,t1\n"
        ",,+385911234568,Phil,\n"
    )
    job = run_import(api, settings, "persons", body)
    assert (job["rows"], job["created"], job["updated"], job["failed"]) == (3, 0, 3, 0)
    assert api.person(by_ext["id"])["firstName"] == "Xavier"
    eve = api.person(by_email["id"])
    assert (eve["firstName"], eve["tags"]) == ("Eve", ["t1"])
    assert api.person(by_phone["id"])["firstName"] == "Phil"


def test_invalid_rows_fail_whole_and_are_listed_while_others_go_on(
    api: Api, settings: Settings, attributes: None
) -> None:
    api.create_person(externalUserId="a", emails=["a@example.com"])
    api.create_person(externalUserId="b", emails=["b@example.com"])
    body = (
        "externalUserId,emails,phones,firstName,custom.score,custom.nope,gender\n"
        "ok1,ok1@example.com,,Fine,,,\n"
        "bad1,not-an-email,,Never,,,\n"
        "bad2,,12,Never,,,\n"
        "bad3,,,Never,abc,,\n"
        "bad4,,,Never,,x,\n"
        "bad5,,,Never,,,Robot\n"
        ",a@example.com;b@example.com,,Never,,,\n"
        ",,,Nobody,,,\n"
        "ok2,,,Fine,,,\n"
    )
    job = run_import(api, settings, "persons", body)
    assert (job["rows"], job["created"], job["updated"], job["failed"]) == (9, 2, 0, 7)
    errors = {e["row"]: e for e in import_errors(api, job["id"])}
    assert {row: e["code"] for row, e in errors.items()} == {
        2: "EMAIL_INVALID",
        3: "PHONE_INVALID",
        4: "INVALID_CUSTOM_ATTRIBUTE",
        5: "INVALID_CUSTOM_ATTRIBUTE",
        6: "VALIDATION_ERROR",
        7: "AMBIGUOUS_PERSONALIZE_CANDIDATES",
        8: "USER_IDENTITY_INVALID",
    }
    assert errors[2]["field"] == "emails"
    assert errors[6]["field"] == "gender"
    for ext in ("bad1", "bad2", "bad3", "bad4", "bad5"):
        assert lookup(api, externalUserId=ext) is None  # nothing of a failed row is applied
    assert lookup(api, externalUserId="ok2") is not None


def test_dry_run_counts_and_lists_but_changes_nothing(api: Api, settings: Settings) -> None:
    api.create_person(externalUserId="known", firstName="Old")
    body = "externalUserId,firstName,emails\nknown,New,\nfresh,Fresh,\nbroken,,x@\n"
    job = run_import(api, settings, "persons", body, dry_run=True)
    assert job["dryRun"] is True
    assert (job["status"], job["created"], job["updated"], job["failed"]) == ("done", 1, 1, 1)
    assert [e["code"] for e in import_errors(api, job["id"])] == ["EMAIL_INVALID"]
    assert lookup(api, externalUserId="fresh") is None
    known = lookup(api, externalUserId="known")
    assert known is not None and known["firstName"] == "Old"


def test_importing_the_same_file_again_changes_nothing(
    api: Api, settings: Settings, attributes: None
) -> None:
    body = HEADER + "r1,r1@example.com,+385911234569,t,R,One,,Male,2000-01-01,gold,1,false,\n"
    first = run_import(api, settings, "persons", body)
    assert first["created"] == 1
    person = lookup(api, externalUserId="r1")
    again = run_import(api, settings, "persons", body)
    assert (again["rows"], again["created"], again["updated"], again["failed"]) == (1, 0, 0, 0)
    assert lookup(api, externalUserId="r1") == person


def test_an_upload_larger_than_the_request_body_limit_is_streamed(
    api: Api, settings: Settings
) -> None:
    rows = [f"big{i},Name{i}" for i in range(60_000)]
    body = "externalUserId,firstName\n" + "\n".join(rows) + "\n"
    assert len(body) > settings.max_body_bytes
    start_import(api, "persons", body, dry_run=True)


def test_unknown_import_is_404(api: Api) -> None:
    response = api.client.get("/v1/imports/nope", headers=api.admin)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "IMPORT_NOT_FOUND"


def test_a_large_import_refreshes_postgresql_statistics(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planner learns how big the tables now are when the import ends, not whenever
    autovacuum gets to them (docs/decisions.md, Bulk data)."""
    if api.db.is_sqlite:
        pytest.skip("PostgreSQL only")
    monkeypatch.setattr(service, "ANALYZE_AFTER_ROWS", 3)
    body = "externalUserId,emails\nu1,a@example.com\nu2,b@example.com\nu3,c@example.com\n"
    assert run_import(api, settings, "persons", body)["created"] == 3
    with api.db.read() as conn:
        counts = dict(
            conn.exec_driver_sql(
                "SELECT relname, reltuples FROM pg_class "
                "WHERE relname IN ('persons', 'person_identities')"
            ).all()
        )
    assert counts == {"persons": 3, "person_identities": 3}
