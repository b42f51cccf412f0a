"""Person batches (imports/person_batch.py): rows applied set-based behave exactly as rows
applied one by one through the API's services — in-batch duplicates and conflicts included —
and segments end equal to a fresh evaluation."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from audience.clock import isoformat, utcnow
from audience.config import Settings
from audience.imports import person_batch, queries
from tests.helpers import Api
from tests.imports.bulk import import_errors, lookup, run_import
from tests.segments.test_realtime import RULES, fresh_members, setup, stored_members


def test_rows_of_one_batch_see_the_rows_before_them(api: Api, settings: Settings) -> None:
    api.create_person(externalUserId="old", emails=["old@example.com"], phones=["+385911000001"])
    body = (
        "externalUserId,emails,phones,firstName,tags\n"
        "a,a@example.com,,First,t1\n"  # 1 created
        "a,a2@example.com,,Second,t2\n"  # 2 same person again: updated, emails/tags added
        ",a2@example.com,+385911000002,,\n"  # 3 matched by the email row 2 added
        "b,a@example.com,,,\n"  # 4 a's email under another externalUserId
        ",a@example.com;old@example.com,,,\n"  # 5 two persons
        "c,c@example.com,+385911000002,,\n"  # 6 a's phone (row 3) with another externalUserId
        "a,a2@example.com,,Second,t2\n"  # 7 nothing new
        ",c@example.com,,Cee,\n"  # 8 row 6 failed: c@ belongs to nobody, created
    )
    job = run_import(api, settings, "persons", body)
    assert (job["rows"], job["created"], job["updated"], job["failed"]) == (8, 2, 2, 3)
    codes = {e["row"]: e["code"] for e in import_errors(api, job["id"])}
    assert codes == {
        4: "USER_MERGE_INTERRUPTED",
        5: "AMBIGUOUS_PERSONALIZE_CANDIDATES",
        6: "USER_MERGE_INTERRUPTED",
    }
    person = lookup(api, externalUserId="a")
    assert person is not None
    assert person["emails"] == ["a2@example.com", "a@example.com"]
    assert person["phones"] == ["+385911000002"]
    assert (person["firstName"], sorted(person["tags"])) == ("Second", ["t1", "t2"])
    changes = api.client.get(f"/v1/persons/{person['id']}/changes", headers=api.admin).json()
    fields = sorted(c["field"] for c in changes["items"])
    assert fields == sorted(
        ["firstName", "externalUserId", "emails", "tags", "firstName", "emails", "tags", "phones"]
    )
    cee = lookup(api, email="c@example.com")
    assert cee is not None and (cee["externalUserId"], cee["firstName"]) == (None, "Cee")
    assert lookup(api, externalUserId="c") is None and lookup(api, externalUserId="b") is None


TEMPLATE = (
    "externalUserId,emails,phones,firstName,birthday,custom.plan,custom.score,tags\n"
    "{p}1,{p}1@example.com,,Ann,1990-01-01,gold,1,vip\n"
    "{p}1,{p}1b@example.com,+3859120{d}0001,Anne,,silver,,new\n"
    ",{p}1b@example.com,,,1990-02-30,,,\n"
    ",{p}known@example.com,+3859120{d}0001,,,,,\n"
    "{p}2,{p}known@example.com,,Bob,,,,\n"
    "{p}3,{p}3@example.com,,Cy,,,x,\n"
    "{p}4,{p}4@example.com,,Di,,nope-not-defined,,\n"
    "{p}known,,,Kay,,,2,vip;new\n"
    "{p}5,{p}5@example.com;{p}known@example.com,,,,,,\n"
    "{p}1,,,Anne,,silver,,new;vip\n"
)


def _outcome(api: Api, job: dict[str, Any], prefix: str, digit: str) -> dict[str, Any]:
    """The job and every person it touched, with the namespace taken out."""

    def plain(value: Any) -> Any:
        text = repr(value).replace(f"+3859120{digit}0001", "+PHONE")
        return text.replace(f"'{prefix}", "'P").replace(f"import:{job['id']}", "import:J")

    persons = {}
    for name in ("1", "2", "3", "4", "5", "known"):
        person = lookup(api, externalUserId=prefix + name)
        if person is None:
            continue
        changes = api.client.get(f"/v1/persons/{person['id']}/changes", headers=api.admin)
        audit = [
            (c["source"], c["field"], c["oldValue"], c["newValue"])
            for c in reversed(changes.json()["items"])
        ]
        for volatile in ("id", "createdAt", "updatedAt"):
            person.pop(volatile)
        persons[name] = plain((person, audit))
    errors = [(e["row"], e["code"], e["field"]) for e in import_errors(api, job["id"])]
    counts = (job["rows"], job["created"], job["updated"], job["failed"])
    return {"counts": counts, "errors": errors, "persons": persons}


def test_a_batch_ends_as_the_same_rows_applied_one_by_one(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.define_attribute("plan", "string")
    api.define_attribute("score", "number")
    outcomes = []
    for prefix, digit, one_by_one in (("rr-", "1", True), ("bb-", "2", False)):
        api.create_person(externalUserId=f"{prefix}known", emails=[f"{prefix}known@example.com"])
        if one_by_one:  # as if a concurrent writer broke the batch: the row-at-a-time path

            def conflict(*_args: Any) -> None:
                raise IntegrityError("INSERT", {}, Exception("taken meanwhile"))

            monkeypatch.setattr(person_batch, "apply_batch", conflict)
        body = TEMPLATE.format(p=prefix, d=digit)
        job = run_import(api, settings, "persons", body)
        monkeypatch.undo()
        outcomes.append(_outcome(api, job, prefix, digit))
    for name in outcomes[0]["persons"]:
        assert outcomes[0]["persons"][name] == outcomes[1]["persons"].get(name), name
    assert outcomes[0] == outcomes[1]
    assert outcomes[1]["counts"] == (10, 2, 2, 5)  # row 10 changes nothing
    assert [(row, code) for row, code, _field in outcomes[1]["errors"]] == [
        (3, "VALIDATION_ERROR"),
        (4, "AMBIGUOUS_PERSONALIZE_CANDIDATES"),
        (5, "USER_MERGE_INTERRUPTED"),
        (6, "INVALID_CUSTOM_ATTRIBUTE"),
        (9, "USER_MERGE_INTERRUPTED"),
    ]


def test_imports_keep_stored_membership_equal_to_fresh_evaluation(
    api: Api, settings: Settings
) -> None:
    app, segment_ids = setup(api)
    api.register(app, platform="iOS")
    api.create_person(externalUserId="p0", customAttributes={"plan": "gold"})
    people = (
        "externalUserId,custom.plan,custom.score,tags\n"
        "p0,silver,3,\n"
        "p1,gold,,vip\n"
        "p2,,9,\n"
        "p3,gold,1,vip\n"
    )
    run_import(api, settings, "persons", people)
    recent = isoformat(utcnow() - timedelta(days=2))
    old = isoformat(utcnow() - timedelta(days=40))
    events = (
        "externalUserId,definitionId,eventId,occurredAt,properties.amount\n"
        f"p1,purchase,e1,{recent},20\n"
        f"p1,purchase,e2,{old},30\n"
        f"p2,purchase,e3,{old},5\n"
        f"p3,purchase,e4,{recent},50\n"
    )
    job = run_import(api, settings, "events", events)
    assert job["created"] == 4
    for segment_id, rule in zip(segment_ids, RULES, strict=True):
        assert stored_members(api, segment_id) == fresh_members(api.db, rule), rule


def test_text_with_tabs_newlines_and_backslashes_is_stored_as_sent(
    api: Api, settings: Settings
) -> None:
    """The bulk writes escape what their format needs (PostgreSQL's COPY text)."""
    api.define_attribute("note", "string")
    body = (
        "externalUserId,firstName,lastName,custom.note,tags\n"
        'ext\\1,"a\tb","c\nd\re","back\\slash \\N ""q""",t\\1\n'
    )
    job = run_import(api, settings, "persons", body)
    assert (job["created"], job["failed"]) == (1, 0), import_errors(api, job["id"])
    person = lookup(api, externalUserId="ext\\1")
    assert person is not None
    assert (person["firstName"], person["lastName"]) == ("a\tb", "c\nd\re")
    assert person["customAttributes"] == {"note": 'back\\slash \\N "q"'}
    assert person["tags"] == ["t\\1"]
    changes = api.client.get(f"/v1/persons/{person['id']}/changes", headers=api.admin).json()
    values = {c["field"]: c["newValue"] for c in changes["items"]}
    assert values["lastName"] == "c\nd\re" and values["tags"] == ["t\\1"]


def test_an_identity_stored_after_the_batch_read_it_sends_the_batch_row_by_row(
    api: Api, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A concurrent writer stores one of the batch's identities after the batch read them:
    the unique key refuses the bulk insert (the driver's error, seen as SQLAlchemy's), and the
    batch is applied again row by row, where that row finds the identity's person."""
    taken = api.create_person(emails=["taken@example.com"])
    monkeypatch.setattr(queries, "identity_owners", lambda _conn, _kind, _values: {})
    body = "externalUserId,emails\nfresh,fresh@example.com\nlate,taken@example.com\n"
    job = run_import(api, settings, "persons", body)
    assert (job["created"], job["updated"], job["failed"]) == (1, 1, 0), job
    person = lookup(api, email="taken@example.com")
    assert person is not None and (person["id"], person["externalUserId"]) == (taken["id"], "late")
    changes = api.client.get(f"/v1/persons/{taken['id']}/changes", headers=api.admin).json()
    assert sorted(c["field"] for c in changes["items"] if c["source"].startswith("import:")) == [
        "externalUserId"
    ]
