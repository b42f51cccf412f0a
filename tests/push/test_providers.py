"""Provider protocols against the fakes: auth, payloads, dead tokens, retries, cancel."""

import time
from datetime import timedelta
from typing import Any

import jwt
from sqlalchemy import select

from audience.clock import utcnow
from audience.config import Settings
from audience.db import Database
from audience.push import providers
from audience.push.service import cancel_message
from audience.tables import outbox
from tests.helpers import Api
from tests.push.fakes import FakeProviders, Keys, Servers
from tests.push.helpers import (
    BUNDLE,
    PROJECT,
    deliveries,
    device,
    make_everything_due,
    message,
    run_worker,
    send,
    set_up_push,
)

EVERYONE: dict[str, Any] = {"rule": {"not": {"tag": "no-one-has-this-tag"}}}
UNREGISTERED = (
    404,
    {
        "error": {
            "code": 404,
            "status": "NOT_FOUND",
            "details": [
                {
                    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                    "errorCode": "UNREGISTERED",
                }
            ],
        }
    },
    {},
)


def next_due(db: Database) -> float:
    """Seconds until the earliest waiting outbox item is due."""
    with db.read() as conn:
        due = conn.execute(select(outbox.c.available_at).order_by(outbox.c.available_at)).scalar()
    assert due is not None
    return (due - utcnow()).total_seconds()


def test_fcm_payload_and_oauth_token_exchange(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    device(api, shop, "fcm-a")
    message_id = send(
        api,
        shop,
        EVERYONE,
        data={"deepLink": "shop://sale", "n": 3},
        ttlSeconds=60,
        collapseKey="sale",
    )
    run_worker(db, settings)
    [request] = fake.fcm
    assert request.path == f"/v1/projects/{PROJECT}/messages:send"
    assert request.body == {
        "message": {
            "token": "fcm-a",
            "notification": {"title": "Hello", "body": "Sale today"},
            "data": {"deepLink": "shop://sale", "n": "3", "messageId": message_id},
            "android": {"ttl": "60s", "collapse_key": "sale"},
        }
    }
    assert request.headers["authorization"] == "Bearer ya29.fake-1"
    # one token exchange, cached for the next message
    send(api, shop, EVERYONE)
    run_worker(db, settings)
    assert len(fake.token_requests) == 1 and len(fake.fcm) == 2


def test_fcm_token_is_renewed_before_it_expires_and_after_a_401(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    device(api, shop, "fcm-b")
    fake.expires_in = providers.ACCESS_TOKEN_MARGIN_SECONDS + 1  # usable for one second
    send(api, shop, EVERYONE)
    run_worker(db, settings)
    time.sleep(1.1)
    send(api, shop, EVERYONE)
    run_worker(db, settings)
    assert len(fake.token_requests) == 2
    assert [r.headers["authorization"] for r in fake.fcm] == [
        "Bearer ya29.fake-1",
        "Bearer ya29.fake-2",
    ]
    # Google revokes a long-lived token early: 401, then a fresh token on the retry
    fake.expires_in = 3600
    time.sleep(1.1)
    send(api, shop, EVERYONE)
    run_worker(db, settings)
    exchanges = len(fake.token_requests)
    fake.issued.clear()
    message_id = send(api, shop, EVERYONE)
    run_worker(db, settings)
    assert message(api, message_id)["status"] == "sending"
    make_everything_due(db)
    run_worker(db, settings)
    assert message(api, message_id)["counts"]["sent"] == 1
    assert len(fake.token_requests) == exchanges + 1


def test_apns_over_http2_with_an_es256_provider_token_renewed_before_an_hour(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    device(api, shop, "apns-a", platform="iOS")
    message_id = send(api, shop, EVERYONE, data={"deepLink": "x"}, collapseKey="c1", ttlSeconds=600)
    run_worker(db, settings)
    [request] = fake.apns
    assert request.http_version == "2"
    assert request.path == "/3/device/apns-a"
    assert request.headers["apns-topic"] == BUNDLE
    assert request.headers["apns-push-type"] == "alert"
    assert request.headers["apns-collapse-id"] == "c1"
    assert int(request.headers["apns-expiration"]) >= int(time.time()) + 590
    assert request.body == {
        "aps": {"alert": {"title": "Hello", "body": "Sale today"}},
        "deepLink": "x",
        "messageId": message_id,
    }
    token = request.headers["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(token)["kid"] == "ABC123DEFG"
    claims = jwt.decode(token, keys.ec_key.public_key(), algorithms=["ES256"])
    assert claims["iss"] == "TEAM123456"
    send(api, shop, EVERYONE)
    run_worker(db, settings)
    assert fake.apns[1].headers["authorization"] == request.headers["authorization"]
    # 50 minutes later the token is replaced (APNs refuses one older than an hour)
    key = ("TEAM123456", "ABC123DEFG")
    old_token, issued = providers._apns_tokens[key]
    providers._apns_tokens[key] = (old_token, issued - providers.APNS_TOKEN_LIFETIME_SECONDS - 1)
    send(api, shop, EVERYONE)
    run_worker(db, settings)
    newer = fake.apns[2].headers["authorization"].removeprefix("bearer ")
    assert newer != token
    assert jwt.decode(newer, keys.ec_key.public_key(), algorithms=["ES256"])["iat"] >= claims["iat"]


def test_dead_tokens_uninstall_their_installations(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    dead_fcm = device(api, shop, "dead-fcm")
    gone_ios = device(api, shop, "gone-ios", platform="iOS")
    bad_ios = device(api, shop, "bad-ios", platform="iOS")
    alive = device(api, shop, "alive")
    fake.script = {
        "dead-fcm": [UNREGISTERED],
        "gone-ios": [(410, {"reason": "Unregistered"}, {})],
        "bad-ios": [(400, {"reason": "BadDeviceToken"}, {})],
    }
    message_id = send(api, shop, EVERYONE)
    run_worker(db, settings)
    answer = message(api, message_id)
    assert answer["status"] == "done"
    assert answer["counts"] == {"targeted": 4, "sent": 1, "failed": 0, "invalidTokens": 3}
    for installation in (dead_fcm, gone_ios, bad_ios):
        read = api.client.get(
            f"/v1/installations/{installation['pushRegistrationId']}", headers=api.admin
        ).json()
        assert read["uninstalledAt"] is not None
        assert "Uninstall" in [e["definitionId"] for e in api.events_of(installation["personId"])]
        mobile = api.client.get(
            f"/v1/installations/{installation['pushRegistrationId']}", headers=api.mobile(shop)
        )
        assert mobile.status_code == 410
    live = api.client.get(f"/v1/installations/{alive['pushRegistrationId']}", headers=api.admin)
    assert live.json()["uninstalledAt"] is None
    statuses = {d["pushRegistrationId"]: d["status"] for d in deliveries(api, message_id)}
    assert statuses[dead_fcm["pushRegistrationId"]] == "invalid_token"
    # the next message does not target them
    fake.forget_requests()
    send(api, shop, EVERYONE)
    run_worker(db, settings)
    assert [r.body["message"]["token"] for r in fake.fcm] == ["alive"] and fake.apns == []


def test_429_waits_for_retry_after_then_sends(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    device(api, shop, "busy")
    fake.script = {
        "busy": [(429, {"error": {"status": "RESOURCE_EXHAUSTED"}}, {"retry-after": "120"})]
    }
    message_id = send(api, shop, EVERYONE)
    run_worker(db, settings)
    assert message(api, message_id)["status"] == "sending"
    [pending] = deliveries(api, message_id)
    assert pending["status"] == "pending" and pending["attempts"] == 1
    assert 110 < next_due(db) <= 121  # Retry-After honoured
    make_everything_due(db)
    run_worker(db, settings)
    answer = message(api, message_id)
    assert answer["status"] == "done" and answer["counts"]["sent"] == 1
    assert len(fake.fcm) == 2


def test_5xx_is_retried_with_back_off_and_gives_up_after_max_attempts(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    device(api, shop, "flaky-ios", platform="iOS")
    device(api, shop, "broken")
    fake.script = {
        "flaky-ios": [(503, {"reason": "ServiceUnavailable"}, {})],
        "broken": [(500, {}, {})] * 3,
    }
    limited = settings.model_copy(update={"push_max_attempts": 3})
    message_id = send(api, shop, EVERYONE)
    run_worker(db, limited)
    assert 0 < next_due(db) <= 3  # first back-off: about 2 s
    for _ in range(2):
        make_everything_due(db)
        run_worker(db, limited)
    answer = message(api, message_id)
    assert answer["status"] == "done"
    assert answer["counts"] == {"targeted": 2, "sent": 1, "failed": 1, "invalidTokens": 0}
    failed = [d for d in deliveries(api, message_id) if d["status"] == "failed"]
    assert failed[0]["attempts"] == 3 and "500" in failed[0]["error"]


def test_cancel_mid_send_stops_the_chunks_not_yet_sent(
    api: Api,
    shop: dict[str, Any],
    keys: Keys,
    servers: Servers,
    fake: FakeProviders,
    db: Database,
    settings: Settings,
) -> None:
    set_up_push(api, shop, keys, servers)
    for n in range(4):
        device(api, shop, f"t{n}")
    one_at_a_time = settings.model_copy(update={"push_chunk_size": 1, "push_chunks_in_flight": 1})
    message_id = send(api, shop, EVERYONE)

    def cancel_on_first_send(_token: str) -> None:
        fake.on_send = None
        with db.write() as conn:
            cancel_message(conn, message_id)

    fake.on_send = cancel_on_first_send
    run_worker(db, one_at_a_time)
    make_everything_due(db)
    run_worker(db, one_at_a_time)
    answer = message(api, message_id)
    assert answer["status"] == "canceled"
    assert answer["counts"]["targeted"] == 4 and answer["counts"]["sent"] == 1
    assert len(fake.fcm) == 1
    statuses = sorted(d["status"] for d in deliveries(api, message_id))
    assert statuses == ["canceled", "canceled", "canceled", "sent"]


def test_retry_after_as_an_http_date() -> None:
    import httpx

    later = (utcnow() + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    response = httpx.Response(503, headers={"retry-after": later})
    seconds = providers.retry_after_seconds(response)
    assert seconds is not None and 80 < seconds <= 90
