"""AdminClient paging and targeting, and ``audience simulate`` against a real server."""

from audience.client import AdminClient
from tests.server import run_cli


def test_lists_page_through_every_item(admin: AdminClient) -> None:
    for index in range(7):  # the fixture pages by 3
        admin.create_person(externalUserId=f"user-{index}", tags=["vip"] if index % 2 else [])
    assert sorted(p["externalUserId"] for p in admin.persons()) == [f"user-{i}" for i in range(7)]
    assert len(list(admin.persons(tag="vip"))) == 3
    assert list(admin.tags()) == [{"tag": "vip", "count": 3}]


def test_segments_and_resolve(admin: AdminClient, app_code: str, server: str) -> None:
    person = admin.create_person(externalUserId="ann")
    admin.change_tags(person["id"], add=["vip"])
    segment = admin.create_segment("VIP", {"tag": "vip"})
    assert admin.segment_count(segment["id"]) == 1
    assert [m["id"] for m in admin.segment_members(segment["id"])] == [person["id"]]
    assert admin.preview_segment({"tag": "vip"})["count"] == 1
    assert list(admin.resolve(segment_id=segment["id"])) == []  # no devices yet


def test_simulate_fills_the_server(admin: AdminClient, admin_key: str, server: str) -> None:
    result = run_cli(
        "simulate",
        "--devices", "12",
        "--days", "30",
        "--base-url", server,
        "--api-key", admin_key,
        "--concurrency", "4",
        env={},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "12 devices" in result.stdout
    (app,) = [a for a in admin.apps() if a["name"] == "Audience Demo"]
    persons = list(admin.persons())
    identified = [p for p in persons if p["type"] == "IDENTIFIED"]
    assert identified and len(persons) > len(identified)
    platforms = {i["platform"] for p in persons for i in p.get("installations", [])}
    assert platforms == {"Android", "iOS"}
    assert any(list(admin.person_events(p["id"], definition_id="productView")) for p in persons)
    assert {s["name"] for s in admin.segments()} >= {"Buyers", "Newsletter subscribers"}
    assert app["applicationCode"] in result.stdout
