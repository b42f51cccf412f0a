"""Exports (SPEC §15): streamed CSV/NDJSON, filters, and a round trip into an import."""

import csv
import io
import json
from typing import Any

import pytest

from audience.config import Settings
from audience.db import Database
from audience.exports import json_lines, service
from tests.helpers import Api
from tests.imports.bulk import define_event, run_import


@pytest.fixture
def people(api: Api) -> list[dict[str, Any]]:
    api.define_attribute("plan", "string")
    api.define_attribute("score", "number")
    api.define_attribute("vip", "boolean")
    api.define_attribute("orders", "list")
    return [
        api.create_person(
            externalUserId="a1",
            emails=["a1@example.com", "a1b@example.com"],
            phones=["+385911234567"],
            firstName="Ann",
            gender="Female",
            birthday="1990-01-02",
            tags=["vip", "early"],
            customAttributes={
                "plan": "gold, with comma",
                "score": 2.5,
                "vip": True,
                "orders": [{"sku": "x", "n": 2}],
            },
        ),
        api.create_person(emails=["b@example.com"], lastName='Quote "Q"'),
    ]


def export(api: Api, path: str, **params: str) -> str:
    response = api.client.get(path, params=params, headers=api.admin)
    assert response.status_code == 200, response.text
    return response.text


@pytest.mark.parametrize("file_format", ["csv", "ndjson"])
def test_persons_export_imports_back_unchanged(
    api: Api, settings: Settings, people: list[dict[str, Any]], file_format: str
) -> None:
    assert_imports_back_unchanged(api, settings, people, file_format)


def assert_imports_back_unchanged(
    api: Api, settings: Settings, persons: list[dict[str, Any]], file_format: str
) -> None:
    """The persons export, imported again: every row an update that changes nothing."""
    before = [api.person(p["id"]) for p in persons]
    text = export(api, "/v1/exports/persons", format=file_format)
    job = run_import(api, settings, "persons", text, file_format=file_format)
    assert (job["rows"], job["created"], job["updated"], job["failed"]) == (len(persons), 0, 0, 0)
    assert [api.person(p["id"]) for p in persons] == before


def test_persons_export_into_an_empty_deployment_recreates_them(
    api: Api, settings: Settings, people: list[dict[str, Any]]
) -> None:
    text = export(api, "/v1/exports/persons", format="ndjson")
    exported = [json.loads(line) for line in text.splitlines()]
    assert {row["externalUserId"] for row in exported} == {"a1", None}
    for person in people:
        assert (
            api.client.delete(f"/v1/persons/{person['id']}", headers=api.admin).status_code == 204
        )
    job = run_import(api, settings, "persons", text, file_format="ndjson")
    assert (job["created"], job["failed"]) == (2, 0)
    again = [
        json.loads(line)
        for line in export(api, "/v1/exports/persons", format="ndjson").splitlines()
    ]
    strip = lambda row: {k: v for k, v in row.items() if k not in ("id", "createdAt", "updatedAt")}  # noqa: E731
    assert sorted(map(strip, again), key=str) == sorted(map(strip, exported), key=str)


def test_persons_csv_columns(api: Api, people: list[dict[str, Any]]) -> None:
    rows = list(csv.DictReader(io.StringIO(export(api, "/v1/exports/persons"))))
    ann = next(row for row in rows if row["externalUserId"] == "a1")
    assert ann["emails"] == "a1@example.com;a1b@example.com"
    assert ann["tags"] == "early;vip"
    assert ann["custom.vip"] == "true"
    assert ann["custom.plan"] == "gold, with comma"
    assert json.loads(ann["custom.orders"]) == [{"sku": "x", "n": 2}]


def test_persons_export_of_a_segment(api: Api, people: list[dict[str, Any]]) -> None:
    segment = api.client.post(
        "/v1/segments", json={"name": "vips", "rule": {"tag": "vip"}}, headers=api.admin
    ).json()
    text = export(api, "/v1/exports/persons", format="ndjson", segmentId=segment["id"])
    assert [json.loads(line)["id"] for line in text.splitlines()] == [people[0]["id"]]


@pytest.mark.parametrize("file_format", ["csv", "ndjson"])
def test_events_export_filters_and_imports_back_unchanged(
    api: Api, settings: Settings, shop: dict[str, Any], file_format: str
) -> None:
    define_event(api, "purchase", amount="number", sku="string")
    define_event(api, "refund", amount="number")
    installation = api.register(shop)
    api.create_person(externalUserId="buyer")
    body = (
        "pushRegistrationId,externalUserId,definitionId,eventId,occurredAt,properties.amount,"
        "properties.sku\n"
        f"{installation['pushRegistrationId']},,purchase,e1,2020-01-01T00:00:00Z,1.5,A\n"
        ",buyer,purchase,e2,2021-01-01T00:00:00Z,2,\n"
        ",buyer,purchase,,2022-01-01T00:00:00Z,,B\n"
        ",buyer,refund,e3,2021-06-01T00:00:00Z,2,\n"
    )
    assert run_import(api, settings, "events", body)["created"] == 4
    text = export(
        api,
        "/v1/exports/events",
        format=file_format,
        definitionId="purchase",
        **{"from": "2020-06-01T00:00:00Z"},
    )
    lines = text.splitlines()[1:] if file_format == "csv" else text.splitlines()
    assert len(lines) == 2
    full = export(api, "/v1/exports/events", format=file_format, definitionId="purchase")
    job = run_import(api, settings, "events", full, file_format=file_format)
    assert (job["rows"], job["created"], job["failed"]) == (3, 0, 0)


def _csv_text(rows: list[list[str]]) -> str:
    """CSV as the export writes it: ``\\n`` line ends, a cell quoted (its quotes doubled)
    exactly when it holds a comma, a quote, a line feed or a carriage return."""

    def cell(value: str) -> str:
        if any(mark in value for mark in ',"\n\r'):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(",".join(cell(value) for value in row) + "\n" for row in rows)


@pytest.fixture
def odd(api: Api) -> list[dict[str, Any]]:
    """Persons whose values need CSV quoting, or look as if they might."""
    api.define_attribute("note", "string")
    api.define_attribute("n", "number")
    api.define_attribute("flag", "boolean")
    values = ["a,b", 'say "hi"', "two\nlines", "carriage\rreturn", "cr\r\nlf", " lead", "x;y"]
    people = []
    for number, value in enumerate(values):
        people.append(
            api.create_person(
                externalUserId=f"{value.strip()}#{number}".replace("\n", " ").replace("\r", " "),
                emails=[f"p{number}@example.com"],
                lastName=value,
                tags=[f"t{value}".replace("\n", " ").replace(";", " ")],  # ";" splits lists
                customAttributes={"note": value, "n": number + 0.5, "flag": number % 2 == 0},
            )
        )
    people.append(
        api.create_person(
            phones=["+385911234567"], firstName="Émile ✓", customAttributes={"note": ""}
        )
    )
    return people


def test_persons_csv_is_quoted_as_csv_writer_quotes(api: Api, odd: list[dict[str, Any]]) -> None:
    text = export(api, "/v1/exports/persons")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == len(odd) + 1
    # Byte for byte: each cell quoted only when it must be (a lone carriage return included).
    assert text == _csv_text(rows)
    by_external = {row[1]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    for person in odd:
        row = by_external[person["externalUserId"] or ""]
        custom = person["customAttributes"]
        assert row["lastName"] == (person["lastName"] or "")
        assert row["tags"] == ";".join(person["tags"])
        assert row["custom.note"] == custom.get("note", "")
        assert row["custom.n"] == (str(custom["n"]) if "n" in custom else "")
        assert row["custom.flag"] == ({True: "true", False: "false"}.get(custom.get("flag"), ""))
        assert row["firstName"] == (person["firstName"] or "")


@pytest.mark.parametrize("file_format", ["csv", "ndjson"])
def test_odd_values_import_back_unchanged(
    api: Api, settings: Settings, odd: list[dict[str, Any]], file_format: str
) -> None:
    assert_imports_back_unchanged(api, settings, odd, file_format)


@pytest.mark.parametrize("file_format", ["csv", "ndjson"])
def test_persons_export_reads_every_page(
    api: Api, monkeypatch: pytest.MonkeyPatch, file_format: str
) -> None:
    monkeypatch.setattr(service, "PERSON_CSV_PAGE", 2)
    monkeypatch.setattr(service, "PERSON_PAGE", 2)
    ids = sorted(
        api.create_person(externalUserId=f"u{n}", tags=["all"] if n % 2 else ["odd", "all"])["id"]
        for n in range(7)
    )
    segment = api.client.post(
        "/v1/segments", json={"name": "odd", "rule": {"tag": "odd"}}, headers=api.admin
    ).json()
    in_segment = [pid for pid in ids if "odd" in api.person(pid)["tags"]]

    def exported(**params: str) -> list[str]:
        text = export(api, "/v1/exports/persons", format=file_format, **params)
        if file_format == "csv":
            return [row[0] for row in list(csv.reader(io.StringIO(text)))[1:]]
        return [json.loads(line)["id"] for line in text.splitlines()]

    assert exported() == ids
    assert exported(segmentId=segment["id"]) == in_segment
    assert exported(segmentId="") == []  # no such segment: no members


def test_persons_csv_lists_in_the_order_the_api_lists_them(api: Api) -> None:
    person = api.create_person(emails=["b@example.com", "c@example.com"], tags=["z", "a"])
    response = api.client.patch(
        f"/v1/persons/{person['id']}",
        json={"emails": ["a@example.com", "b@example.com", "c@example.com"]},
        headers=api.admin,
    )
    assert response.status_code == 200, response.text
    shown = api.person(person["id"])
    rows = list(csv.DictReader(io.StringIO(export(api, "/v1/exports/persons"))))
    assert len(rows) == 1
    assert rows[0]["emails"] == ";".join(shown["emails"])
    assert rows[0]["tags"] == ";".join(shown["tags"])


NDJSON_KEYS = ("id", "externalUserId", "emails", "phones", "tags", "firstName", "lastName")
NDJSON_KEYS += ("middleName", "gender", "birthday", "customAttributes", "createdAt", "updatedAt")


def test_persons_ndjson_is_what_json_dumps_writes(api: Api, odd: list[dict[str, Any]]) -> None:
    """Byte for byte the line ``json.dumps`` writes of the person the API shows: non-ASCII
    escaped, numbers as ``json`` writes them (PostgreSQL stores them as ``numeric``), the
    blanks of the stored JSON gone but those inside strings kept."""
    api.define_attribute("tiny", "number")
    api.define_attribute("big", "number")
    api.define_attribute("items", "list")
    odd.append(
        api.create_person(
            externalUserId="Zoë 😀",
            emails=["ü@example.com"],
            firstName='back\\slash "q" \t tab \x7f \x01',
            lastName="a, b: c",
            tags=["ß", "😀"],
            customAttributes={
                "note": 'x, y: "z" \\ é',
                "n": 1e-05,
                "tiny": -2.5e-07,
                "big": 1e16,
                "items": [{"k": "a, b", "v": 2.5e-07}, {"k": "c: d 😀", "v": 1}],
                "flag": False,
            },
        )
    )
    odd.append(api.create_person(externalUserId="plain", customAttributes={"n": 0.1 + 0.2}))
    text = export(api, "/v1/exports/persons", format="ndjson")
    shown = {p["id"]: api.person(p["id"]) for p in odd}
    expected = [
        json.dumps({key: shown[pid][key] for key in NDJSON_KEYS}, separators=(",", ":")) + "\n"
        for pid in sorted(shown)
    ]
    assert text.splitlines(keepends=True) == expected
    assert text.isascii()


@pytest.mark.parametrize(
    "line",
    [
        '{"a":0.00001,"b":[1,-0,1E5,2.50],"c":"x"}',
        '{"a":"\\/ \\u00E9","b":1}',
        '{"a":"é ✓ 😀 \x7f","b":[12345678901234567890123,-0.0,1e-05,1e+16]}',
        '{"a":"1e5,:1e5,","b":{}}',
    ],
)
def test_json_lines_are_made_what_json_dumps_writes(line: str) -> None:
    page = f'{{"n":1}}\n{line}\n{{"n":2}}\n'
    expected = [{"n": 1}, json.loads(line), {"n": 2}]
    assert json_lines.as_json_dumps(page, line) == "".join(
        json.dumps(doc, separators=(",", ":")) + "\n" for doc in expected
    )


@pytest.mark.parametrize("file_format", ["csv", "ndjson"])
def test_persons_pages_made_at_once_come_in_order(
    api: Api, db: Database, monkeypatch: pytest.MonkeyPatch, file_format: str
) -> None:
    """Pages made by several threads at once are the file pages made one by one make."""
    monkeypatch.setattr(service, "PERSON_CSV_PAGE", 2)
    monkeypatch.setattr(service, "PERSON_PAGE", 2)
    for n in range(9):
        api.create_person(externalUserId=f"u{n}", emails=[f"u{n}@example.com"], tags=[f"t{n}"])

    def exported(threads: int) -> bytes:
        return b"".join(service.persons_export(db, file_format, None, threads))

    one_by_one = exported(1)
    assert one_by_one.count(b"\n") == 9 + (file_format == "csv")
    assert exported(2) == one_by_one
    assert exported(4) == one_by_one
