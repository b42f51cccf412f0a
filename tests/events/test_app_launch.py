"""AppLaunch: a standard event with R6 properties and the 30-second rule (R7)."""

from datetime import timedelta
from typing import Any

import pytest

from audience.db import Database
from tests.events.conftest import DEVICE, Events, ago, iso, served_installation
from tests.helpers import Api


def _launches(api: Api, person_id: str) -> list[dict[str, Any]]:
    return api.events_of(person_id, definitionId="AppLaunch")


def test_app_launch_carries_the_standard_properties_of_that_moment(
    api: Api, ev: Events, shop: dict, device: dict
) -> None:
    at = ago(minutes=10)
    assert ev.launch(device, at) == {"accepted": 1, "duplicates": 0, "dropped": 0}
    url = f"/v1/installations/{device['pushRegistrationId']}"
    api.client.patch(url, json={"osVersion": "18.0"}, headers=api.mobile(shop))
    ev.launch(device, at + timedelta(minutes=5))
    later, first = _launches(api, device["personId"])
    expected = {
        "appCode": shop["applicationCode"],
        "pushRegId": device["pushRegistrationId"],
        "applicationVersion": DEVICE["applicationVersion"],
        "deviceManufacturer": DEVICE["deviceManufacturer"],
        "deviceModel": DEVICE["deviceModel"],
        "osLanguage": DEVICE["osLanguage"],
        "osVersion": DEVICE["osVersion"],
        "platform": DEVICE["platform"],
        "sdkVersion": DEVICE["sdkVersion"],
    }
    assert first["properties"] == expected
    assert first["occurredAt"] == iso(at)
    assert first["pushRegistrationId"] == device["pushRegistrationId"]
    assert later["properties"] == expected | {"osVersion": "18.0"}


def test_thirty_second_boundary(api: Api, ev: Events, device: dict) -> None:
    start = ago(minutes=20).replace(microsecond=0)
    assert ev.launch(device, start)["accepted"] == 1
    # exactly 30 s later is not "more than 30 s": dropped
    assert ev.launch(device, start + timedelta(seconds=30))["dropped"] == 1
    # the dropped one is not "recorded", so 30.001 s after the first counts
    assert ev.launch(device, start + timedelta(seconds=30, milliseconds=1))["accepted"] == 1
    assert ev.launch(device, start + timedelta(seconds=45))["dropped"] == 1
    assert ev.launch(device, start + timedelta(seconds=61))["accepted"] == 1
    times = [e["occurredAt"] for e in _launches(api, device["personId"])]
    assert times == [
        iso(start + timedelta(seconds=61)),
        iso(start + timedelta(seconds=30, milliseconds=1)),
        iso(start),
    ]


def test_same_time_twice_is_dropped(ev: Events, device: dict) -> None:
    at = ago(minutes=3)
    assert ev.launch(device, at)["accepted"] == 1
    assert ev.launch(device, at) == {"accepted": 0, "duplicates": 0, "dropped": 1}


def test_out_of_order_dates_compare_with_the_latest_launch_not_after(
    api: Api, ev: Events, device: dict
) -> None:
    base = ago(hours=3).replace(microsecond=0)
    assert ev.launch(device, base + timedelta(minutes=10))["accepted"] == 1
    # an earlier launch arriving late: nothing recorded before it, so it is recorded
    assert ev.launch(device, base)["accepted"] == 1
    # 20 s after the late one: its previous (latest not after it) is `base` → dropped
    assert ev.launch(device, base + timedelta(seconds=20))["dropped"] == 1
    # 40 s after `base` but 9 min before the other: previous is `base`, 40 s → recorded
    assert ev.launch(device, base + timedelta(seconds=40))["accepted"] == 1
    # 10 s after the latest one → dropped
    assert ev.launch(device, base + timedelta(minutes=10, seconds=10))["dropped"] == 1
    assert len(_launches(api, device["personId"])) == 3


def test_launches_within_one_batch(api: Api, ev: Events, device: dict) -> None:
    base = ago(hours=1).replace(microsecond=0)
    body = ev.accept(
        device,
        [
            {"definitionId": "AppLaunch", "date": iso(base)},
            {"definitionId": "AppLaunch", "date": iso(base + timedelta(seconds=10))},
            {"definitionId": "AppLaunch", "date": iso(base + timedelta(seconds=31))},
            {"definitionId": "AppLaunch", "date": iso(base - timedelta(seconds=31))},
        ],
    )
    assert body == {"accepted": 3, "duplicates": 0, "dropped": 1}


def test_launch_window_is_per_installation(api: Api, ev: Events, shop: dict, device: dict) -> None:
    other = api.register(shop)
    at = ago(minutes=1)
    assert ev.launch(device, at)["accepted"] == 1
    assert ev.launch(other, at)["accepted"] == 1


def test_retried_launch_with_event_id_is_a_duplicate(ev: Events, device: dict) -> None:
    at = ago(minutes=2)
    assert ev.launch(device, at, eventId="launch-1")["accepted"] == 1
    assert ev.launch(device, at, eventId="launch-1") == {
        "accepted": 0,
        "duplicates": 1,
        "dropped": 0,
    }


def test_dropped_launch_in_an_invalid_batch_is_not_remembered(
    api: Api, ev: Events, device: dict
) -> None:
    at = ago(minutes=5)
    bad = ev.send(device, [{"definitionId": "AppLaunch", "date": iso(at)}, {"definitionId": "x"}])
    assert bad.status_code == 400
    assert ev.launch(device, at + timedelta(seconds=5))["accepted"] == 1


@pytest.mark.slow
def test_concurrent_launches_record_one(database_url: str, db: Database) -> None:
    """16 simultaneous launches of one installation through a real 2-worker server.

    (Launches with different times may legitimately both be recorded when they arrive out of
    order, so all carry the same time.)"""
    with served_installation(database_url) as served:
        at = ago(seconds=10)
        # one moment, distinct eventIds: only the first processed may be recorded
        answers = served.send_together(
            [
                [{"definitionId": "AppLaunch", "date": iso(at), "eventId": f"l{i}"}]
                for i in range(16)
            ]
        )
        assert sum(a["accepted"] for a in answers) == 1
        assert sum(a["dropped"] for a in answers) == 15
        assert len(served.history(definitionId="AppLaunch")) == 1
