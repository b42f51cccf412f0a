"""Merge journal, operator merge and undo (SPEC §14), through the HTTP API."""

from typing import Any

from tests.helpers import Api, assert_error

PHONE_B = "+385911234567"
PHONE_C = "+385917654321"


def merge(api: Api, *ids: str, dry_run: bool = False) -> Any:
    body: dict[str, Any] = {"personIds": list(ids)}
    if dry_run:
        body["dryRun"] = True
    return api.client.post("/v1/persons/merge", json=body, headers=api.admin)


def undo(api: Api, merge_id: str) -> Any:
    return api.client.post(f"/v1/merges/{merge_id}/undo", headers=api.admin)


def merges_of(api: Api, person_id: str) -> list[dict[str, Any]]:
    response = api.client.get(f"/v1/persons/{person_id}/merges", headers=api.admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def patch(api: Api, person_id: str, **fields: Any) -> dict[str, Any]:
    response = api.client.patch(f"/v1/persons/{person_id}", json=fields, headers=api.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def send_events(api: Api, app: dict[str, Any], installation: dict[str, Any], n: int) -> None:
    events = [{"definitionId": "view", "properties": {"page": f"p{i}"}} for i in range(n)]
    response = api.client.post(
        f"/v1/installations/{installation['pushRegistrationId']}/events",
        json={"events": events},
        headers=api.mobile(app),
    )
    assert response.status_code == 200 and response.json()["accepted"] == n, response.text


def event_ids(api: Api, person_id: str) -> set[str]:
    return {e["id"] for e in api.events_of(person_id, limit=1000) if e["definitionId"] == "view"}


def comparable(person: dict[str, Any]) -> dict[str, Any]:
    """A person as undo must restore it (its last change time moves on)."""
    shown = {k: v for k, v in person.items() if k not in ("updatedAt", "installations")}
    shown["installations"] = sorted(
        (i["pushRegistrationId"], i["isPrimaryDevice"]) for i in person["installations"]
    )
    return shown


def define_view(api: Api) -> None:
    response = api.client.post(
        "/v1/event-definitions",
        json={"id": "view", "properties": {"page": "string"}},
        headers=api.admin,
    )
    assert response.status_code == 201, response.text


def test_undo_restores_the_merged_person_and_keeps_later_changes(
    api: Api, shop: dict[str, Any]
) -> None:
    api.define_attribute("plan", "string")
    api.define_attribute("color", "string")
    define_view(api)
    ann = api.create_person(
        externalUserId="ann", firstName="Ann", tags=["vip"], customAttributes={"color": "blue"}
    )
    phone, tablet = api.register(shop), api.register(shop, platform="iOS")
    identity = {"externalUserId": "bob", "phones": [PHONE_B], "emails": ["bob@x.io"]}
    bob = api.personalize(shop, phone, identity, params={"setDeviceAsPrimary": "true"}).json()
    assert api.personalize(shop, tablet, {"externalUserId": "bob"}).status_code == 200
    patch(
        api,
        bob["id"],
        lastName="Bee",
        customAttributes={"plan": "gold", "color": "red"},
        tags=["beta", "vip"],
    )
    send_events(api, shop, phone, 25)
    send_events(api, shop, tablet, 25)
    before = api.person(bob["id"])
    assert len(before["installations"]) == 2
    bob_events = event_ids(api, bob["id"])
    assert len(bob_events) == 50

    merged = merge(api, bob["id"], ann["id"])
    assert merged.status_code == 200, merged.text
    answer = merged.json()
    assert answer["survivor"]["id"] == ann["id"] and answer["mergedPersonId"] == bob["id"]
    assert {"field": "externalUserId", "kept": "ann", "dropped": "bob"} in answer["conflicts"]
    assert {"field": "customAttributes.color", "kept": "blue", "dropped": "red"} in answer[
        "conflicts"
    ]
    survivor = answer["survivor"]
    assert survivor["phones"] == [PHONE_B] and survivor["emails"] == ["bob@x.io"]
    assert survivor["lastName"] == "Bee" and survivor["firstName"] == "Ann"
    assert survivor["customAttributes"] == {"color": "blue", "plan": "gold"}
    assert sorted(survivor["tags"]) == ["beta", "vip"]
    assert len(survivor["installations"]) == 2
    assert api.person(bob["id"])["id"] == ann["id"]
    assert event_ids(api, ann["id"]) == bob_events

    # Changes on the survivor after the merge stay there.
    patch(api, ann["id"], lastName="Changed", tags={"add": ["later"]})
    send_events(api, shop, phone, 3)  # recorded on the survivor

    undone = undo(api, answer["mergeId"])
    assert undone.status_code == 200, undone.text
    restored, kept = undone.json()["restored"], undone.json()["survivor"]
    assert comparable(restored) == comparable(before)
    assert comparable(api.person(bob["id"])) == comparable(before)
    assert event_ids(api, bob["id"]) == bob_events
    assert kept["id"] == ann["id"] and kept["externalUserId"] == "ann"
    assert kept["phones"] == [] and kept["emails"] == []
    assert kept["lastName"] == "Changed" and kept["firstName"] == "Ann"
    assert kept["customAttributes"] == {"color": "blue"}
    assert sorted(kept["tags"]) == ["later", "vip"]
    assert kept["installations"] == []
    assert len(event_ids(api, ann["id"])) == 3
    lookup = api.client.get(
        "/v1/persons/lookup", params={"phone": PHONE_B}, headers=api.admin
    ).json()
    assert lookup["id"] == bob["id"]

    [operator, *personalized] = merges_of(api, bob["id"])
    assert operator["mergeId"] == answer["mergeId"] and operator["kind"] == "operator"
    assert operator["undoneAt"] is not None
    assert [m["kind"] for m in personalized] == ["personalize"]
    assert_error(undo(api, answer["mergeId"]), 409, "MERGE_NOT_UNDOABLE")
    fields = {
        c["field"]
        for c in api.client.get(f"/v1/persons/{ann['id']}/changes", headers=api.admin).json()[
            "items"
        ]
    }
    assert "unmerge" in fields


def test_chain_undo_undoes_one_link(api: Api) -> None:
    ann = api.create_person(externalUserId="ann")
    bob = api.create_person(externalUserId="bob", emails=["bob@x.io"], tags=["b"])
    cid = api.create_person(phones=[PHONE_C], tags=["c"], firstName="Cid")
    c_into_b = merge(api, bob["id"], cid["id"]).json()
    assert c_into_b["survivor"]["id"] == bob["id"]
    b_into_a = merge(api, ann["id"], bob["id"]).json()
    whole = b_into_a["survivor"]
    assert whole["phones"] == [PHONE_C] and whole["emails"] == ["bob@x.io"]

    response = undo(api, b_into_a["mergeId"])
    assert response.status_code == 200, response.text
    restored, kept = response.json()["restored"], response.json()["survivor"]
    assert restored["id"] == bob["id"] and restored["emails"] == ["bob@x.io"]
    assert restored["phones"] == [] and restored["tags"] == ["b"]
    assert restored["firstName"] is None
    assert kept["phones"] == [PHONE_C] and kept["tags"] == ["c"] and kept["firstName"] == "Cid"
    assert api.person(cid["id"])["id"] == ann["id"]  # C stays merged into A

    # The earlier link can still be undone: C comes back out of A.
    response = undo(api, c_into_b["mergeId"])
    assert response.status_code == 200, response.text
    assert response.json()["restored"]["phones"] == [PHONE_C]
    assert response.json()["survivor"]["id"] == ann["id"]
    assert api.person(ann["id"])["phones"] == []
    assert api.person(cid["id"])["firstName"] == "Cid"


def test_undo_after_the_survivor_was_deleted_is_refused(api: Api) -> None:
    ann = api.create_person(externalUserId="ann")
    bob = api.create_person(externalUserId="bob")
    merge_id = merge(api, ann["id"], bob["id"]).json()["mergeId"]
    assert api.client.delete(f"/v1/persons/{ann['id']}", headers=api.admin).status_code == 204
    assert_error(undo(api, merge_id), 409, "MERGE_NOT_UNDOABLE")
    assert_error(undo(api, "no-such-merge"), 404, "MERGE_NOT_FOUND")


def test_dry_run_answers_the_merge_and_changes_nothing(api: Api) -> None:
    ann = api.create_person(externalUserId="ann", firstName="Ann")
    bob = api.create_person(externalUserId="bob", emails=["bob@x.io"], lastName="Bee")
    preview = merge(api, bob["id"], ann["id"], dry_run=True)
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["mergeId"] is None and body["mergedPersonId"] == bob["id"]
    assert body["survivor"]["emails"] == ["bob@x.io"] and body["survivor"]["lastName"] == "Bee"
    assert body["conflicts"] == [{"field": "externalUserId", "kept": "ann", "dropped": "bob"}]
    assert api.person(bob["id"]) == bob and api.person(ann["id"]) == ann
    assert merges_of(api, ann["id"]) == []


def test_operator_merge_refuses_bad_requests(api: Api) -> None:
    ann = api.create_person(externalUserId="ann")
    assert_error(merge(api, ann["id"], ann["id"]), 400, "VALIDATION_ERROR", "personIds")
    assert_error(merge(api, ann["id"], "nobody"), 404, "PERSON_NOT_FOUND")
    assert_error(merge(api, ann["id"]), 400, "VALIDATION_ERROR", "personIds")


def test_personalize_merge_is_journaled_and_undoable(api: Api, shop: dict[str, Any]) -> None:
    define_view(api)
    owner = api.create_person(externalUserId="u1")
    device = api.register(shop)
    anonymous_id = device["personId"]
    send_events(api, shop, device, 4)  # before signing in: the anonymous person's
    assert api.personalize(shop, device, {"externalUserId": "u1"}).status_code == 200
    [entry] = merges_of(api, owner["id"])
    assert entry["kind"] == "personalize" and entry["mergedPersonId"] == anonymous_id
    assert entry["survivorId"] == owner["id"] and entry["undoneAt"] is None

    response = undo(api, entry["mergeId"])
    assert response.status_code == 200, response.text
    restored = response.json()["restored"]
    assert restored["id"] == anonymous_id and restored["type"] == "ANONYMOUS"
    assert [i["pushRegistrationId"] for i in restored["installations"]] == [
        device["pushRegistrationId"]
    ]
    assert len(event_ids(api, anonymous_id)) == 4
    assert response.json()["survivor"]["installations"] == []
