"""Console identity pages: merge with a dry-run preview, undo from the merge history, and
the explanation of a person's segment membership."""

from tests.console.conftest import Console
from tests.helpers import Api


def test_merge_preview_confirm_and_undo(api: Api, admin_console: Console) -> None:
    ann = api.create_person(externalUserId="ann", firstName="Ann")
    bob = api.create_person(externalUserId="bob", emails=["bob@x.io"])
    people = admin_console.get("/console/people")
    assert 'href="/console/people/merge"' in people.text

    preview = admin_console.get("/console/people/merge", params={"a": bob["id"], "b": ann["id"]})
    assert preview.status_code == 200, preview.text
    assert 'data-testid="merge-preview"' in preview.text
    assert "bob@x.io" in preview.text and "externalUserId" in preview.text
    assert api.person(bob["id"])["id"] == bob["id"]  # the preview changed nothing

    merged = admin_console.post("/console/people/merge", {"a": bob["id"], "b": ann["id"]})
    assert merged.status_code == 303
    assert merged.headers["location"].startswith(f"/console/people/{ann['id']}")
    assert api.person(bob["id"])["id"] == ann["id"]

    profile = admin_console.get(f"/console/people/{ann['id']}")
    assert 'data-testid="merge-history"' in profile.text
    merge_id = api.client.get(f"/v1/persons/{ann['id']}/merges", headers=api.admin).json()["items"][
        0
    ]["mergeId"]
    assert f"/merges/{merge_id}/undo" in profile.text

    undone = admin_console.post(f"/console/people/{ann['id']}/merges/{merge_id}/undo")
    assert undone.status_code == 303
    assert undone.headers["location"].startswith(f"/console/people/{bob['id']}")
    assert api.person(bob["id"])["emails"] == ["bob@x.io"]
    again = admin_console.post(f"/console/people/{ann['id']}/merges/{merge_id}/undo")
    assert "error=" in again.headers["location"]


def test_merge_preview_shows_refusals(api: Api, admin_console: Console) -> None:
    ann = api.create_person(externalUserId="ann")
    page = admin_console.get("/console/people/merge", params={"a": ann["id"], "b": ann["id"]})
    assert page.status_code == 200 and "same person" in page.text


def test_profile_explains_segment_membership(api: Api, admin_console: Console) -> None:
    ann = api.create_person(externalUserId="ann", tags=["vip"])
    created = api.client.post(
        "/v1/segments",
        json={"name": "Lapsed buyers", "rule": {"all": [{"tag": "vip"}, {"identified": True}]}},
        headers=api.admin,
    )
    segment_id = created.json()["id"]
    profile = admin_console.get(f"/console/people/{ann['id']}")
    assert f"/console/people/{ann['id']}/explain/{segment_id}" in profile.text
    page = admin_console.get(f"/console/people/{ann['id']}/explain/{segment_id}")
    assert page.status_code == 200, page.text
    assert "is in" in page.text and "Lapsed buyers" in page.text
    assert 'data-testid="explain-tree"' in page.text and 'actual: ["vip"]' in page.text
    members = admin_console.get(f"/console/segments/{segment_id}")
    assert f"/console/people/{ann['id']}/explain/{segment_id}" in members.text
    missing = admin_console.get(f"/console/people/{ann['id']}/explain/nope")
    assert missing.status_code == 404
