"""Messages (SPEC §13): who is targeted, templates, sendAt, counts, send_to_person."""

from typing import Any

from audience.config import Settings
from audience.db import Database
from audience.push.service import send_to_person
from tests.helpers import Api, assert_error
from tests.push.fakes import FakeProviders, Keys, Servers
from tests.push.helpers import (
    deliveries,
    device,
    make_everything_due,
    message,
    run_worker,
    send,
    set_up_push,
)

EVERYONE: dict[str, Any] = {"rule": {"not": {"tag": "no-one-has-this-tag"}}}


def sent_tokens(fake: FakeProviders) -> list[str]:
    fcm = [r.body["message"]["token"] for r in fake.fcm]
    apns = [r.path.removeprefix("/3/device/") for r in fake.apns]
    return sorted(fcm + apns)


def test_a_segment_message_reaches_each_device_once_and_counts_it(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    android = device(api, shop, "fcm-1")
    iphone = device(api, shop, "apns-1", platform="iOS")
    device(api, shop, None)  # no token: nobody to send to
    message_id = send(api, shop, EVERYONE)
    assert message(api, message_id)["status"] == "queued"
    run_worker(db, settings)
    answer = message(api, message_id)
    assert answer["status"] == "done"
    assert answer["counts"] == {"targeted": 2, "sent": 2, "failed": 0, "invalidTokens": 0}
    assert sent_tokens(fake) == ["apns-1", "fcm-1"]
    assert {d["pushRegistrationId"]: d["status"] for d in deliveries(api, message_id)} == {
        android["pushRegistrationId"]: "sent",
        iphone["pushRegistrationId"]: "sent",
    }


def test_one_send_per_distinct_token(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    device(api, shop, "same-token")
    device(api, shop, "same-token")  # a reinstall that kept the token
    message_id = send(api, shop, EVERYONE)
    run_worker(db, settings)
    assert sent_tokens(fake) == ["same-token"]
    assert message(api, message_id)["counts"]["targeted"] == 1


def test_only_live_push_enabled_devices_of_the_app_and_the_flags(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    other_app = api.create_app("Other")
    device(api, other_app, "other-app")
    device(api, shop, "disabled", pushRegistrationEnabled=False)
    gone = device(api, shop, "gone")
    api.client.delete(f"/v1/installations/{gone['pushRegistrationId']}", headers=api.admin)
    phone = device(api, shop, "phone", notificationsEnabled=True)
    tablet = device(api, shop, "tablet", notificationsEnabled=False)
    person = api.personalize(shop, phone, {"externalUserId": "ann"}).json()
    api.personalize(shop, tablet, {"externalUserId": "ann"})
    api.client.patch(
        f"/v1/installations/{phone['pushRegistrationId']}",
        json={"isPrimaryDevice": True},
        headers=api.mobile(shop),
    )
    send(api, shop, EVERYONE)
    run_worker(db, settings)
    assert sent_tokens(fake) == ["phone", "tablet"]
    fake.forget_requests()
    send(api, shop, {"externalUserIds": ["ann"], "primaryDeviceOnly": True})
    run_worker(db, settings)
    assert sent_tokens(fake) == ["phone"]
    fake.forget_requests()
    send(api, shop, {"personIds": [person["id"]], "notificationsEnabledOnly": True})
    run_worker(db, settings)
    assert sent_tokens(fake) == ["phone"]
    fake.forget_requests()
    send(api, shop, {"pushRegistrationIds": [tablet["pushRegistrationId"]]})
    run_worker(db, settings)
    assert sent_tokens(fake) == ["tablet"]


def test_templates_render_per_person_and_missing_values_are_empty(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    api.define_attribute("plan", "string")
    ann = device(api, shop, "ann-token", osLanguage="en-GB")
    api.personalize(
        shop,
        ann,
        {"externalUserId": "ann"},
        userAttributes={"firstName": "Ann", "customAttributes": {"plan": "gold"}},
    )
    device(api, shop, "anon-token")
    segment = api.client.post(
        "/v1/segments", json={"name": "all", "rule": EVERYONE["rule"]}, headers=api.admin
    ).json()
    send(
        api,
        shop,
        {"segmentId": segment["id"]},
        notification={
            "title": "Hi {{ person.firstName }}!",
            "body": "{{ person.customAttributes.plan | upper }} ({{ installation.osLanguage }})",
        },
    )
    run_worker(db, settings)
    by_token = {r.body["message"]["token"]: r.body["message"]["notification"] for r in fake.fcm}
    assert by_token["ann-token"] == {"title": "Hi Ann!", "body": "GOLD (en-GB)"}
    assert by_token["anon-token"] == {"title": "Hi !", "body": " ()"}


def test_a_template_that_does_not_parse_is_refused_at_create(
    api: Api, shop: dict[str, Any]
) -> None:
    response = api.client.post(
        "/v1/messages",
        json={
            "applicationCode": shop["applicationCode"],
            "audience": EVERYONE,
            "notification": {"title": "Hi {{ person.firstName ", "body": "x"},
        },
        headers=api.admin,
    )
    assert_error(response, 400, "VALIDATION_ERROR", "notification.title")


def test_the_audience_is_one_selector_and_is_checked(api: Api, shop: dict[str, Any]) -> None:
    base = {"applicationCode": shop["applicationCode"], "notification": {"title": "t", "body": "b"}}
    two = api.client.post(
        "/v1/messages",
        json=base | {"audience": {"personIds": ["a"], "externalUserIds": ["b"]}},
        headers=api.admin,
    )
    assert_error(two, 400, "VALIDATION_ERROR")
    bad_rule = api.client.post(
        "/v1/messages",
        json=base | {"audience": {"rule": {"attribute": "shoeSize", "op": "eq", "value": 1}}},
        headers=api.admin,
    )
    assert bad_rule.status_code == 400
    no_segment = api.client.post(
        "/v1/messages", json=base | {"audience": {"segmentId": "nope"}}, headers=api.admin
    )
    assert no_segment.status_code == 404
    reader = api.key("reader", "read")
    forbidden = api.client.post(
        "/v1/messages", json=base | {"audience": {"personIds": ["a"]}}, headers=reader
    )
    assert forbidden.status_code == 403


def test_send_at_waits_for_its_time(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    device(api, shop, "later")
    message_id = send(api, shop, EVERYONE, sendAt="2099-01-01T09:00:00Z")
    run_worker(db, settings)
    assert message(api, message_id)["status"] == "queued"
    assert message(api, message_id)["sendAt"].startswith("2099-01-01T09:00:00")
    assert fake.fcm == []
    make_everything_due(db)
    run_worker(db, settings)
    assert message(api, message_id)["status"] == "done"
    assert sent_tokens(fake) == ["later"]


def test_cancel_before_send_at_sends_nothing(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    device(api, shop, "never")
    message_id = send(api, shop, EVERYONE, sendAt="2099-01-01T09:00:00Z")
    canceled = api.client.post(f"/v1/messages/{message_id}/cancel", headers=api.admin)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    make_everything_due(db)
    run_worker(db, settings)
    assert message(api, message_id)["status"] == "canceled"
    assert fake.fcm == []


def test_messages_are_listed_newest_first(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings
) -> None:
    first = send(api, shop, {"personIds": ["x"]})
    second = send(api, shop, {"personIds": ["y"]})
    page = api.client.get("/v1/messages", params={"limit": 1}, headers=api.admin).json()
    assert [m["id"] for m in page["items"]] == [second]
    rest = api.client.get(
        "/v1/messages", params={"cursor": page["nextCursor"]}, headers=api.admin
    ).json()
    assert [m["id"] for m in rest["items"]] == [first]
    assert api.client.get("/v1/messages/nope", headers=api.admin).status_code == 404


def test_send_to_person_uses_the_same_path(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    mine = device(api, shop, "mine")
    device(api, shop, "someone-else")
    person = api.personalize(
        shop, mine, {"externalUserId": "bo"}, userAttributes={"firstName": "Bo"}
    ).json()
    with db.write() as conn:
        message_id = send_to_person(
            conn,
            shop["applicationCode"],
            person["id"],
            {"notification": {"title": "Hey {{ person.firstName }}", "body": "x"}},
        )
    run_worker(db, settings)
    assert sent_tokens(fake) == ["mine"]
    assert fake.fcm[0].body["message"]["notification"]["title"] == "Hey Bo"
    assert message(api, message_id)["status"] == "done"


def test_missing_credentials_fail_the_delivery_with_a_reason(
    api: Api, shop: dict[str, Any], db: Database, settings: Settings
) -> None:
    device(api, shop, "no-creds")
    message_id = send(api, shop, EVERYONE)
    run_worker(db, settings)
    [delivery] = deliveries(api, message_id)
    assert delivery["status"] == "failed" and "credentials" in delivery["error"]
    assert message(api, message_id)["counts"]["failed"] == 1


def test_the_log_provider_sends_nothing_and_reports_sent(
    api: Api, shop: dict[str, Any], fake: FakeProviders, db: Database, settings: Settings
) -> None:
    device(api, shop, "dev-token")
    message_id = send(api, shop, EVERYONE)
    run_worker(db, settings.model_copy(update={"push_provider": "log"}))
    assert message(api, message_id)["counts"]["sent"] == 1
    assert fake.fcm == []
