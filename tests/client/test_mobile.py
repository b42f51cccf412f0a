"""MobileClient against a real server: restarts, typed errors, the queue, R7, recovery."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from audience.client import (
    AdminClient,
    BadRequestError,
    ConflictError,
    DepersonalizeResult,
    NotFoundError,
    UnauthorizedError,
)
from tests.client.conftest import mobile


def custom_events(admin: AdminClient, person_id: str, definition_id: str = "purchase") -> list:
    return list(admin.person_events(person_id, definition_id=definition_id))


def test_restart_keeps_the_installation_and_the_user(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    with mobile(server, app_code, tmp_path, platform="iOS") as client:
        first_id = client.push_registration_id
        person = client.personalize({"externalUserId": "ann"}, {"firstName": "Ann"})
    with mobile(server, app_code, tmp_path) as client:
        assert client.push_registration_id == first_id
        assert client.user is not None and client.user["id"] == person["id"]
        assert client.fetch_installation()["platform"] == "iOS"
    devices = admin.person_installations(person["id"])
    assert [d["pushRegistrationId"] for d in devices] == [first_id]


def test_typed_errors_carry_the_server_code(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    admin.create_person(externalUserId="bob", emails=["bob@example.com"])
    with mobile(server, app_code, tmp_path) as client:
        with pytest.raises(ConflictError) as merge:
            client.personalize({"externalUserId": "other", "emails": ["bob@example.com"]})
        assert merge.value.code == "USER_MERGE_INTERRUPTED" and merge.value.status == 409
        with pytest.raises(BadRequestError) as invalid:
            client.submit_event_immediately("purchase", {"amount": "ten"})
        assert invalid.value.code == "INVALID_EVENT"
        assert invalid.value.field == "events.0.properties.amount"
        client.personalize({"externalUserId": "bob"})
        with pytest.raises(ConflictError) as impossible:
            client.personalize({"externalUserId": "carl"})
        assert impossible.value.code == "PERSONALIZATION_IMPOSSIBLE"
        moved = client.personalize({"externalUserId": "carl"}, force_depersonalize=True)
        assert moved["externalUserId"] == "carl"
    with pytest.raises(NotFoundError) as missing:
        admin.lookup_person(external_user_id="nobody")
    assert missing.value.code == "PERSON_NOT_FOUND"


def test_user_and_installation_calls(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    with (
        mobile(server, app_code, tmp_path / "phone") as phone,
        mobile(server, app_code, tmp_path / "tablet", platform="iOS") as tablet,
    ):
        phone.personalize({"externalUserId": "dana"})
        tablet.personalize({"externalUserId": "dana"})
        saved = phone.save_user({"customAttributes": {"plan": "gold"}, "tags": ["vip"]})
        assert saved["customAttributes"] == {"plan": "gold"} and saved["tags"] == ["vip"]
        assert tablet.fetch_user()["customAttributes"] == {"plan": "gold"}
        device = phone.save_installation({"customAttributes": {"darkMode": True}})
        assert device["customAttributes"] == {"darkMode": True}
        tablet.set_as_primary(phone.push_registration_id)
        primary = {
            d["pushRegistrationId"]: d["isPrimaryDevice"] for d in tablet.installations_of_user()
        }
        assert primary == {phone.push_registration_id: True, tablet.push_registration_id: False}
        tablet.set_as_primary()
        assert phone.fetch_installation()["isPrimaryDevice"] is False
        phone.depersonalize_installation(str(tablet.push_registration_id))
        assert tablet.fetch_installation()["personId"] != saved["id"]
        assert [d["pushRegistrationId"] for d in phone.installations_of_user()] == [
            phone.push_registration_id
        ]


def test_queue_sends_valid_events_and_drops_invalid_ones(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    with mobile(server, app_code, tmp_path, batch_size=10) as client:
        person = client.personalize({"externalUserId": "eve"})
        for amount in range(25):
            client.submit_event("purchase", {"amount": amount})
            if amount == 3:
                client.submit_event("purchase", {"amount": "bad"})  # must not block the queue
        # batches of 10 went out as the queue filled (no background thread here)
        assert client.queued_events == 6
        client.flush()
        assert client.queued_events == 0
    amounts = sorted(e["properties"]["amount"] for e in custom_events(admin, person["id"]))
    assert amounts == list(range(25))


def test_background_sender_sends_by_time(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    client = mobile(server, app_code, tmp_path, flush_interval=0.2)
    try:
        person = client.personalize({"externalUserId": "fay"})
        client.submit_event("purchase", {"amount": 1})
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while client.queued_events and datetime.now(UTC) < deadline:
            threading_sleep(0.05)
        assert client.queued_events == 0
        assert len(custom_events(admin, person["id"])) == 1
    finally:
        client.close()


def threading_sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def test_app_launch_thirty_second_rule_locally_and_on_the_server(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    with mobile(server, app_code, tmp_path) as client:
        person = client.personalize({"externalUserId": "gus"})
        assert client.app_launched(start) is True
        assert client.app_launched(start + timedelta(seconds=10)) is False
        assert client.app_launched(start + timedelta(seconds=30)) is False
        assert client.app_launched(start + timedelta(seconds=31)) is True
        client.flush()
        # the server applies R7 too: a launch sent around the local check is dropped
        answer = client._mobile(
            "POST",
            "/events",
            json={
                "events": [
                    {"definitionId": "AppLaunch", "date": _iso(start + timedelta(seconds=40))}
                ]
            },
        )
        assert answer["dropped"] == 1
    launches = custom_events(admin, person["id"], "AppLaunch")
    assert len(launches) == 2


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_lost_registration_is_registered_again_and_repersonalized(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    with mobile(server, app_code, tmp_path) as client:
        person = client.personalize({"externalUserId": "hal"})
        client.submit_event("purchase", {"amount": 7})
        # the server no longer knows the id the device holds (e.g. restored from a backup)
        lost = dict(client.installation or {}) | {"pushRegistrationId": "0" * 8 + "-lost"}
        client._storage.update({"installation": lost})
        client.flush()
        assert client.push_registration_id not in (None, lost["pushRegistrationId"])
        assert client.fetch_installation()["personId"] == person["id"]
    assert [e["properties"] for e in custom_events(admin, person["id"])] == [{"amount": 7}]


def test_uninstalled_installation_registers_anew_without_the_user(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    with mobile(server, app_code, tmp_path) as client:
        person = client.personalize({"externalUserId": "ida"})
        old_id = str(client.push_registration_id)
        admin.uninstall(old_id)
        installation = client.fetch_installation()
        assert installation["pushRegistrationId"] != old_id
        assert installation["personId"] != person["id"]
        assert client.user is None


def test_depersonalize_online(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    with mobile(server, app_code, tmp_path) as client:
        person = client.personalize({"externalUserId": "jan"})
        client.submit_event("purchase", {"amount": 1})
        assert client.depersonalize() is DepersonalizeResult.SUCCESS
        assert client.user is None and not client.pending_depersonalize
        client.submit_event("purchase", {"amount": 2})
        client.flush()
        anonymous = client.fetch_installation()["personId"]
    assert anonymous != person["id"]
    assert [e["properties"] for e in custom_events(admin, person["id"])] == [{"amount": 1}]
    assert [e["properties"] for e in custom_events(admin, anonymous)] == [{"amount": 2}]


def test_user_token_is_sent_on_user_calls_of_a_jwt_app(
    server: str, admin: AdminClient, tmp_path: Path
) -> None:
    """``user_token`` supplies a fresh JWT to every user call; without one the server says 401."""
    app = admin.create_app("Bank", require_user_jwt=True)
    tokens: list[str] = []
    signed_in: list[str | None] = ["ann"]

    def user_token() -> str | None:
        if signed_in[0] is None:
            return None
        now = int(time.time())
        claims = {"sub": signed_in[0], "iat": now, "exp": now + 300, "jti": uuid.uuid4().hex}
        tokens.append(jwt.encode(claims, app["jwtSecret"], algorithm="HS256"))
        return tokens[-1]

    with mobile(server, app["applicationCode"], tmp_path, user_token=user_token) as client:
        person = client.personalize({"externalUserId": "ann"})
        assert person["externalUserId"] == "ann"
        assert client.save_user({"firstName": "Ann"})["firstName"] == "Ann"
        assert client.fetch_user()["id"] == person["id"]
        assert len(tokens) == 3  # one fresh token per user call (each jti is used once)
        signed_in[0] = None
        with pytest.raises(UnauthorizedError) as refused:
            client.fetch_user()
        assert refused.value.status == 401


def test_push_delivered_and_opened_are_recorded_with_the_message_id(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    with mobile(server, app_code, tmp_path) as client:
        person = client.personalize({"externalUserId": "pia"})
        client.push_delivered("msg-1")
        client.push_opened("msg-1")
        client.flush()
    delivered = custom_events(admin, person["id"], "PushDelivered")
    opened = custom_events(admin, person["id"], "PushOpened")
    assert [e["properties"]["messageId"] for e in delivered + opened] == ["msg-1", "msg-1"]
