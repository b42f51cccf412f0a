"""Flows end to end: triggers in the storing transaction, steps applied once and recorded,
waits as database timers, branches, reentry, versions, merges, deletions and the loop guard."""

from typing import Any

import pytest

from audience import outbox
from audience.flows.engine import advance_all
from audience.webhooks.delivery import store_deliveries
from tests.flows.conftest import Flows
from tests.helpers import assert_error

PURCHASE = {"event": "purchase", "where": [{"property": "amount", "op": "gt", "value": 10}]}


def test_an_event_starts_a_run_that_applies_its_steps_through_the_person_services(
    flows: Flows,
) -> None:
    flows.api.define_attribute("plan", "string")
    flow = flows.create(
        trigger=PURCHASE,
        steps=[
            {"addTags": ["buyer"]},
            {"setAttributes": {"firstName": "Ann", "customAttributes": {"plan": "gold"}}},
        ],
    )
    assert flow["version"] == 1 and flow["enabled"] is True
    device, person_id = flows.device()
    flows.purchase(device, amount=5)  # filtered out by the trigger's where
    assert flows.runs(flow["id"]) == []
    flows.purchase(device, amount=50)
    [run] = flows.runs(flow["id"])
    assert run["status"] == "active" and run["step"] == "0" and run["personId"] == person_id
    assert run["trigger"]["event"] == "purchase"
    assert run["trigger"]["properties"] == {"amount": 50}
    flows.work()
    [run] = flows.runs(flow["id"])
    assert run["status"] == "completed" and run["step"] is None
    assert [entry["type"] for entry in run["log"]] == [
        "start",
        "addTags",
        "setAttributes",
        "completed",
    ]
    person = flows.api.person(person_id)
    assert person["tags"] == ["buyer"]
    assert person["firstName"] == "Ann" and person["customAttributes"] == {"plan": "gold"}
    changes = flows.api.client.get(
        f"/v1/persons/{person_id}/changes", headers=flows.api.admin
    ).json()["items"]
    assert {change["source"] for change in changes} == {f"flow:{flow['id']}"}


def test_a_rolled_back_batch_starts_nothing(flows: Flows) -> None:
    flow = flows.create(trigger={"event": "purchase"}, steps=[{"addTags": ["x"]}])
    device, _person = flows.device()
    response = flows.send(
        device,
        {"definitionId": "purchase", "properties": {"amount": 50}},
        {"definitionId": "purchase", "properties": {"amount": "not a number"}},
    )
    assert response.status_code == 400
    assert flows.runs(flow["id"]) == []


def test_a_wait_is_a_timer_in_the_database_and_the_run_goes_on_when_it_ends(
    flows: Flows,
) -> None:
    flow = flows.create(
        trigger={"event": "purchase"},
        steps=[{"addTags": ["first"]}, {"wait": {"seconds": 86400}}, {"addTags": ["second"]}],
    )
    device, person_id = flows.device()
    flows.purchase(device)
    flows.work()
    [run] = flows.runs(flow["id"])
    assert run["status"] == "waiting" and run["step"] == "2"
    assert flows.api.person(person_id)["tags"] == ["first"]
    flows.work()  # nothing is due yet: a day has not passed
    assert flows.runs(flow["id"])[0]["status"] == "waiting"
    flows.time_passes()
    [run] = flows.runs(flow["id"])
    assert run["status"] == "completed"
    assert flows.api.person(person_id)["tags"] == ["first", "second"]
    flows.time_passes()  # a repeated timer changes nothing
    assert [entry["type"] for entry in flows.runs(flow["id"])[0]["log"]].count("addTags") == 2


@pytest.mark.parametrize(("tagged", "branch"), [(True, "then"), (False, "else")])
def test_if_evaluates_a_rule_for_the_person_at_that_moment(
    flows: Flows, tagged: bool, branch: str
) -> None:
    flow = flows.create(
        trigger={"event": "purchase"},
        steps=[
            {
                "if": {"tag": "vip"},
                "then": [{"addTags": ["was-vip"]}],
                "else": [{"addTags": ["was-not-vip"]}, {"exit": {}}],
            },
            {"addTags": ["after-if"]},
        ],
    )
    device, person_id = flows.device()
    if tagged:
        flows.api.client.post(
            f"/v1/persons/{person_id}/tags", json={"add": ["vip"]}, headers=flows.api.admin
        )
    flows.purchase(device)
    flows.work()
    [run] = flows.runs(flow["id"])
    tags = flows.api.person(person_id)["tags"]
    if branch == "then":
        assert run["status"] == "completed"
        assert tags == ["after-if", "vip", "was-vip"]
    else:
        assert run["status"] == "exited"
        assert tags == ["was-not-vip"]
    assert run["log"][1] == run["log"][1] | {"type": "if", "detail": branch, "step": "0"}


@pytest.mark.parametrize(("reentry", "runs"), [("once", 1), ("always", 2), ({"afterDays": 1}, 1)])
def test_reentry_decides_whether_a_person_may_start_again(
    flows: Flows, reentry: Any, runs: int
) -> None:
    flow = flows.create(trigger={"event": "purchase"}, reentry=reentry, steps=[{"addTags": ["x"]}])
    device, _person = flows.device()
    flows.purchase(device)
    flows.work()
    flows.purchase(device)
    flows.work()
    assert len(flows.runs(flow["id"])) == runs


def test_a_person_never_has_two_unfinished_runs_of_a_flow(flows: Flows) -> None:
    flow = flows.create(
        trigger={"event": "purchase"},
        reentry="always",
        steps=[{"wait": {"seconds": 60}}, {"addTags": ["x"]}],
    )
    device, _person = flows.device()
    flows.purchase(device)
    flows.purchase(device)
    flows.work()
    flows.purchase(device)
    assert [run["status"] for run in flows.runs(flow["id"])] == ["waiting"]


def test_the_entry_rule_is_checked_when_triggered(flows: Flows) -> None:
    flow = flows.create(
        trigger={"event": "purchase"}, entry={"identified": True}, steps=[{"addTags": ["x"]}]
    )
    device, _person = flows.device()
    flows.purchase(device)
    assert flows.runs(flow["id"]) == []
    response = flows.api.personalize(
        flows.app, {"pushRegistrationId": device}, {"externalUserId": "u1"}
    )
    assert response.status_code == 200
    flows.purchase(device)
    assert len(flows.runs(flow["id"])) == 1


def test_runs_keep_the_version_they_started_with(flows: Flows) -> None:
    flow = flows.create(
        trigger={"event": "purchase"},
        reentry="always",
        steps=[{"wait": {"seconds": 60}}, {"addTags": ["v1"]}],
    )
    first, first_person = flows.device()
    flows.purchase(first)
    flows.work()
    changed = flows.api.client.patch(
        f"/v1/flows/{flow['id']}",
        json={"steps": [{"addTags": ["v2"]}]},
        headers=flows.api.admin,
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2
    second, second_person = flows.device()
    flows.purchase(second)
    flows.time_passes()
    by_person = {run["personId"]: run for run in flows.runs(flow["id"])}
    assert by_person[first_person]["version"] == 1
    assert by_person[second_person]["version"] == 2
    assert flows.api.person(first_person)["tags"] == ["v1"]
    assert flows.api.person(second_person)["tags"] == ["v2"]
    renamed = flows.api.client.patch(
        f"/v1/flows/{flow['id']}", json={"name": "Renamed"}, headers=flows.api.admin
    )
    assert renamed.json()["version"] == 2  # a new name is not a new version


def test_segment_entered_triggers_and_the_loop_guard_stops_ping_pong(flows: Flows) -> None:
    def segment(tag: str) -> str:
        response = flows.api.client.post(
            "/v1/segments", json={"name": tag, "rule": {"tag": tag}}, headers=flows.api.admin
        )
        assert response.status_code == 201, response.text
        segment_id: str = response.json()["id"]
        return segment_id

    ping, pong = segment("ping"), segment("pong")
    a = flows.create(
        trigger={"segmentEntered": ping},
        reentry="always",
        steps=[{"removeTags": ["ping"]}, {"addTags": ["pong"]}],
    )
    b = flows.create(
        trigger={"segmentEntered": pong},
        reentry="always",
        steps=[{"removeTags": ["pong"]}, {"addTags": ["ping"]}],
    )
    _device, person_id = flows.device()
    flows.api.client.post(
        f"/v1/persons/{person_id}/tags", json={"add": ["ping"]}, headers=flows.api.admin
    )
    flows.work()
    assert [run["status"] for run in flows.runs(a["id"])] == ["completed"]
    assert [run["status"] for run in flows.runs(b["id"])] == ["completed"]
    assert flows.runs(b["id"])[0]["trigger"]["event"] == "SegmentEntered"
    assert flows.api.person(person_id)["tags"] == ["ping"]


def test_a_failing_step_fails_the_run_with_its_reason(flows: Flows) -> None:
    flows.api.define_attribute("plan", "string")
    flow = flows.create(
        trigger={"event": "purchase"},
        steps=[{"addTags": ["kept"]}, {"setAttributes": {"customAttributes": {"plan": 5}}}],
    )
    device, person_id = flows.device()
    flows.purchase(device)
    flows.work()
    [run] = flows.runs(flow["id"])
    assert run["status"] == "failed"
    assert "plan" in run["log"][-1]["detail"]
    assert flows.api.person(person_id)["tags"] == ["kept"]  # the step before it stays applied


def test_a_merged_persons_runs_move_to_the_survivor_or_exit(flows: Flows) -> None:
    waiting = [{"wait": {"seconds": 60}}, {"addTags": ["done"]}]
    moving = flows.create(trigger={"event": "purchase"}, steps=waiting)
    clashing = flows.create(trigger={"event": "Personalize"}, steps=waiting)
    known, survivor_id = flows.device()
    flows.api.personalize(flows.app, {"pushRegistrationId": known}, {"externalUserId": "ann"})
    flows.work()
    assert [run["personId"] for run in flows.runs(clashing["id"])] == [survivor_id]
    other, anonymous_id = flows.device()
    flows.purchase(other)
    response = flows.api.personalize(
        flows.app, {"pushRegistrationId": other}, {"externalUserId": "ann"}
    )
    assert response.status_code == 200
    [moved] = flows.runs(moving["id"])
    assert moved["personId"] == survivor_id and moved["status"] in ("active", "waiting")
    assert flows.person_runs(anonymous_id) == flows.person_runs(survivor_id)
    flows.time_passes()
    assert flows.api.person(survivor_id)["tags"] == ["done"]


def test_deleting_a_person_or_a_flow_ends_unfinished_runs(flows: Flows) -> None:
    flow = flows.create(
        trigger={"event": "purchase"}, steps=[{"wait": {"seconds": 60}}, {"addTags": ["x"]}]
    )
    first, first_person = flows.device()
    second, _second_person = flows.device()
    flows.purchase(first)
    flows.purchase(second)
    flows.work()
    deleted = flows.api.client.delete(f"/v1/persons/{first_person}", headers=flows.api.admin)
    assert deleted.status_code == 204
    statuses = {run["personId"]: run["status"] for run in flows.runs(flow["id"])}
    assert statuses[first_person] == "exited"
    assert (
        flows.api.client.delete(f"/v1/flows/{flow['id']}", headers=flows.api.admin).status_code
        == 204
    )
    assert (
        flows.api.client.get(f"/v1/flows/{flow['id']}", headers=flows.api.admin).status_code == 404
    )
    flows.time_passes()
    with flows.api.db.read() as conn:
        from sqlalchemy import select

        from audience.tables import flow_runs

        assert {row.status for row in conn.execute(select(flow_runs))} == {"exited"}


def test_a_disabled_flow_starts_nothing(flows: Flows) -> None:
    flow = flows.create(trigger={"event": "purchase"}, steps=[{"addTags": ["x"]}], enabled=False)
    device, _person = flows.device()
    flows.purchase(device)
    assert flows.runs(flow["id"]) == []
    enabled = flows.api.client.post(f"/v1/flows/{flow['id']}/enable", headers=flows.api.admin)
    assert enabled.json()["enabled"] is True
    flows.purchase(device)
    assert len(flows.runs(flow["id"])) == 1
    listed = flows.api.client.get("/v1/flows", headers=flows.api.admin).json()["items"]
    assert listed[0]["runs"] == {
        "active": 1,
        "waiting": 0,
        "completed": 0,
        "exited": 0,
        "failed": 0,
    }


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        ({"trigger": {"event": "nope"}, "steps": [{"exit": {}}]}, "trigger.event"),
        (
            {"trigger": {"segmentEntered": "nope"}, "steps": [{"exit": {}}]},
            "trigger.segmentEntered",
        ),
        (
            {
                "trigger": {
                    "event": "purchase",
                    "where": [{"property": "amount", "op": "zz", "value": 1}],
                },
                "steps": [{"exit": {}}],
            },
            "trigger.where.0.op",
        ),
        ({"trigger": {"event": "purchase"}, "steps": []}, "steps"),
        (
            {"trigger": {"event": "purchase"}, "steps": [{"wait": {"seconds": 366 * 86400}}]},
            "steps.0.wait.seconds",
        ),
        (
            {"trigger": {"event": "purchase"}, "steps": [{"exit": {}}, {"if": {"tag": 5}}]},
            "steps.1.if.tag",
        ),
        (
            {"trigger": {"event": "purchase"}, "steps": [{"webhook": {"webhookId": "nope"}}]},
            "steps.0.webhook.webhookId",
        ),
        ({"trigger": {"event": "purchase"}, "steps": [{"teleport": {}}]}, "steps.0"),
        (
            {
                "trigger": {"event": "purchase"},
                "entry": {"attribute": "nope", "op": "eq", "value": 1},
                "steps": [{"exit": {}}],
            },
            "entry.attribute",
        ),
        (
            {"trigger": {"event": "purchase"}, "reentry": "sometimes", "steps": [{"exit": {}}]},
            "reentry",
        ),
        ({"trigger": {"event": "purchase"}, "steps": [{"addTags": [" bad"]}]}, "steps.0.addTags.0"),
        (
            {"trigger": {"event": "purchase"}, "steps": [{"setAttributes": {"nickname": "x"}}]},
            "steps.0.setAttributes.nickname",
        ),
    ],
)
def test_a_bad_definition_is_refused_naming_its_json_path(
    flows: Flows, definition: dict[str, Any], field: str
) -> None:
    response = flows.api.client.post(
        "/v1/flows", json={"name": "Bad", **definition}, headers=flows.api.admin
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field, response.text


def test_nesting_over_ten_levels_is_refused(flows: Flows) -> None:
    steps: list[Any] = [{"exit": {}}]
    for _ in range(11):
        steps = [{"if": {"tag": "x"}, "then": steps}]
    response = flows.api.client.post(
        "/v1/flows",
        json={"name": "Deep", "trigger": {"event": "purchase"}, "steps": steps},
        headers=flows.api.admin,
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert "nest" in response.json()["error"]["message"]


def test_flows_need_a_write_key_and_unknown_ones_answer_404(flows: Flows) -> None:
    reader = flows.api.key("reader", "read")
    response = flows.api.client.post(
        "/v1/flows",
        json={"name": "F", "trigger": {"event": "purchase"}, "steps": [{"exit": {}}]},
        headers=reader,
    )
    assert response.status_code == 403
    assert_error(flows.api.client.get("/v1/flows/nope", headers=reader), 404, "FLOW_NOT_FOUND")


def test_a_webhook_step_delivers_flow_webhook_and_fails_once_the_endpoint_is_gone(
    flows: Flows,
) -> None:
    created = flows.api.client.post(
        "/v1/webhooks",
        json={"url": "http://receiver.invalid/hook", "types": ["person.deleted"]},
        headers=flows.api.admin,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()["id"]
    flow = flows.create(
        trigger={"event": "purchase"},
        reentry="always",
        steps=[{"webhook": {"webhookId": endpoint}}],
    )
    device, person_id = flows.device()
    flows.purchase(device)
    advance_all(flows.api.db, [{"runId": flows.runs(flow["id"])[0]["id"], "step": "0"}])
    [run] = flows.runs(flow["id"])
    assert run["status"] == "completed"
    items = outbox.claim(flows.api.db, ["webhooks.fanout"], 10, 60)
    store_deliveries(flows.api.db, items)
    deliveries = flows.api.client.get(
        f"/v1/webhooks/{endpoint}/deliveries", headers=flows.api.admin
    ).json()["items"]
    assert [d["type"] for d in deliveries] == ["flow.webhook"]
    deleted = flows.api.client.delete(f"/v1/webhooks/{endpoint}", headers=flows.api.admin)
    assert deleted.status_code == 204
    flows.purchase(device)
    runs = flows.runs(flow["id"])
    advance_all(flows.api.db, [{"runId": runs[-1]["id"], "step": "0"}])
    failed = flows.runs(flow["id"])[-1]
    assert failed["status"] == "failed" and failed["personId"] == person_id


def test_a_send_push_step_sends_a_message_to_the_person_and_bad_templates_are_refused(
    flows: Flows,
) -> None:
    code = flows.app["applicationCode"]
    bad = flows.api.client.post(
        "/v1/flows",
        json={
            "name": "Bad push",
            "trigger": {"event": "purchase"},
            "steps": [
                {
                    "sendPush": {
                        "applicationCode": code,
                        "notification": {"title": "{{", "body": "b"},
                    }
                }
            ],
        },
        headers=flows.api.admin,
    )
    assert bad.status_code == 400, bad.text
    assert bad.json()["error"]["field"].startswith("steps.0.sendPush")
    flow = flows.create(
        trigger={"event": "purchase"},
        steps=[
            {
                "sendPush": {
                    "applicationCode": code,
                    "notification": {"title": "Hi {{ person.firstName }}", "body": "Thanks"},
                }
            }
        ],
    )
    device, _person = flows.device()
    flows.purchase(device)
    advance_all(flows.api.db, [{"runId": flows.runs(flow["id"])[0]["id"], "step": "0"}])
    [run] = flows.runs(flow["id"])
    assert run["status"] == "completed", run
    message_id = run["log"][1]["detail"].removeprefix("message ")
    message = flows.api.client.get(f"/v1/messages/{message_id}", headers=flows.api.admin)
    assert message.status_code == 200, message.text
