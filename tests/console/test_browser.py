"""End to end in headless Chromium (Debian's package) against a real ``audience serve``.

Set ``AUDIENCE_SKIP_BROWSER=1`` to skip these explicitly; otherwise a missing Chromium fails
them, so CI cannot pass without having run them. Screenshots of the main pages are written to
test-artifacts/screenshots/.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import raw_key
from tests.helpers import Api
from tests.server import running_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TIMEOUT_MS = 10_000

pytestmark = pytest.mark.skipif(
    os.environ.get("AUDIENCE_SKIP_BROWSER") == "1", reason="AUDIENCE_SKIP_BROWSER=1"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    env = {"AUDIENCE_DATABASE_URL": database_url, "AUDIENCE_SEGMENT_SWEEP_SECONDS": "0"}
    with running_server(env) as base_url:
        yield base_url


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(base_url=server, viewport={"width": 1200, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page: Any, key: str) -> None:
    page.goto("/console/people")
    assert "/console/login" in page.url
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/people")


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def seed(api: Api, shop: dict[str, Any]) -> str:
    """Ann, identified, with two phones; plus a few anonymous installs and events."""
    api.define_attribute("plan", "string")
    api.define_attribute("score", "number")
    response = api.client.post(
        "/v1/event-definitions",
        json={"id": "purchase", "properties": {"amount": "number"}},
        headers=api.admin,
    )
    assert response.status_code == 201, response.text
    phone = api.register(shop, platform="iOS", deviceModel="iPhone 15", applicationVersion="2.1")
    tablet = api.register(shop, platform="Android", deviceModel="Pixel Tablet")
    for device in (phone, tablet):
        api.personalize(shop, device, {"externalUserId": "ann-1", "emails": ["ann@example.com"]})
    api.register(shop, deviceModel="Galaxy S24")
    events = [
        {"definitionId": "purchase", "properties": {"amount": amount}} for amount in (10, 25)
    ] + [{"definitionId": "AppLaunch"}]
    response = api.client.post(
        f"/v1/installations/{phone['pushRegistrationId']}/events",
        json={"events": events},
        headers=api.mobile(shop),
    )
    assert response.status_code == 200, response.text
    person_id = api.person(phone["personId"])["id"]
    api.client.patch(
        f"/v1/persons/{person_id}", json={"firstName": "Ann", "lastName": "Lee"}, headers=api.admin
    )
    return person_id


def test_support_flow(page: Any, api: Api, shop: dict[str, Any]) -> None:
    person_id = seed(api, shop)
    sign_in(page, api.admin_key)
    page.goto("/console")
    page.wait_for_selector("#events-chart[data-drawn]")
    screenshot(page, "dashboard")

    page.goto("/console/people")
    page.get_by_label("Search").fill("ann@example.com")
    page.wait_for_url("**q=ann%40example.com**")
    page.get_by_role("link", name="Ann Lee").click()
    page.wait_for_url(f"**/console/people/{person_id}")

    page.get_by_label("plan (string)").fill("gold")
    page.get_by_role("button", name="Save plan").click()
    page.get_by_role("status").filter(has_text="plan saved").wait_for()
    page.get_by_label("New tag").fill("vip")
    page.get_by_role("button", name="Add tag").click()
    page.get_by_role("status").filter(has_text="Tag vip added").wait_for()
    page.get_by_role("button", name="Make Pixel Tablet primary").click()
    page.get_by_role("status").filter(has_text="Primary device set").wait_for()
    page.wait_for_selector("#person-events-chart[data-drawn]")
    screenshot(page, "person")

    person = api.person(person_id)
    assert person["customAttributes"] == {"plan": "gold"}
    assert person["tags"] == ["vip"]
    primary = [d["platform"] for d in person["installations"] if d["isPrimaryDevice"]]
    assert primary == ["Android"]

    page.goto("/console/definitions")
    screenshot(page, "definitions")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/console/people?q=ann")
    screenshot(page, "people-phone")


def preview_count(api: Api, rule: dict[str, Any]) -> int:
    response = api.client.post("/v1/segments/preview", json={"rule": rule}, headers=api.admin)
    assert response.status_code == 200, response.text
    count: int = response.json()["count"]
    return count


def wait_for_count(page: Any, expected: int) -> None:
    page.wait_for_function(
        "n => document.querySelector('.preview').dataset.state === 'ready'"
        " && document.getElementById('preview-count').textContent === String(n)",
        arg=expected,
    )


def test_segment_builder_preview_matches_the_api(page: Any, api: Api, shop: dict[str, Any]) -> None:
    seed(api, shop)
    sign_in(page, api.admin_key)
    page.goto("/console/segments/new")
    page.get_by_label("Name").fill("Ann-like buyers")
    page.get_by_text("expected a non-empty list of rules").wait_for()  # the empty rule

    page.get_by_role("button", name="Add condition").click()
    condition = page.get_by_role("group", name="Condition").last
    condition.get_by_label("Condition type").select_option("identified")
    identified = {"all": [{"identified": True}]}
    wait_for_count(page, preview_count(api, identified))

    page.get_by_role("button", name="Add group").click()
    group = page.locator("fieldset.rule-group[data-depth='1']")
    group.get_by_role("button", name="Add condition").click()
    inner = group.get_by_role("group", name="Condition")
    inner.get_by_label("Condition type").select_option("event")
    inner.get_by_label("Event").select_option("purchase")
    inner.get_by_label("Count", exact=True).fill("2")
    rule = {"all": [{"identified": True}, {"any": [{"event": "purchase", "count": {"gte": 2}}]}]}
    expected = preview_count(api, rule)
    assert expected == 1
    wait_for_count(page, expected)
    screenshot(page, "segment-builder")

    inner.get_by_label("Count", exact=True).fill("3")
    wait_for_count(
        page,
        preview_count(
            api,
            {
                **rule,
                "all": [rule["all"][0], {"any": [{"event": "purchase", "count": {"gte": 3}}]}],
            },
        ),
    )
    group.get_by_role("button", name="Remove group").click()
    wait_for_count(page, preview_count(api, identified))

    page.get_by_role("button", name="Save segment").click()
    page.wait_for_url("**/console/segments/*")
    size = page.get_by_test_id("segment-size").inner_text()
    assert int(size) == preview_count(api, identified)
    page.wait_for_selector("#segment-size-chart[data-drawn]")
    screenshot(page, "segment")


def test_read_key_is_denied_a_change(page: Any, api: Api, shop: dict[str, Any]) -> None:
    person_id = seed(api, shop)
    sign_in(page, raw_key(api.key("viewer", "read")))
    page.goto(f"/console/people/{person_id}")
    assert page.get_by_text("ann@example.com").count() >= 1
    assert page.get_by_role("button", name="Add tag").count() == 0
    assert page.get_by_label("plan (string)").is_disabled()
    status = page.evaluate(
        """async (id) => {
            const body = new URLSearchParams({tag: "vip",
                csrf_token: document.body.dataset.csrf});
            const r = await fetch(`/console/people/${id}/tags`, {method: "POST", body});
            return r.status;
        }""",
        person_id,
    )
    assert status == 403
    assert api.person(person_id)["tags"] == []
