"""Console messages page: credentials status, compose with audience count and a sample
rendering, send, and the list with status and counts."""

from typing import Any

from tests.console.conftest import Console
from tests.helpers import Api


def test_compose_previews_then_sends_and_lists_the_message(
    api: Api, shop: dict[str, Any], admin_console: Console
) -> None:
    ann = api.register(shop, pushServiceType="Firebase", pushServiceToken="tok-ann")
    api.personalize(shop, ann, {"externalUserId": "ann"}, userAttributes={"firstName": "Ann"})
    api.register(shop)  # no token: not counted
    segment = api.client.post(
        "/v1/segments",
        json={"name": "Known", "rule": {"identified": True}},
        headers=api.admin,
    ).json()
    page = admin_console.get("/console/messages")
    assert page.status_code == 200
    assert "not set" in page.text  # no credentials yet
    preview = admin_console.get(
        "/console/messages",
        params={
            "applicationCode": shop["applicationCode"],
            "segmentId": segment["id"],
            "title": "Hi {{ person.firstName }}",
            "body": "News",
            "preview": "1",
        },
    )
    assert 'data-testid="audience-count">1<' in preview.text
    assert 'data-testid="sample-title">Hi Ann<' in preview.text
    broken = admin_console.get(
        "/console/messages",
        params={
            "applicationCode": shop["applicationCode"],
            "segmentId": segment["id"],
            "title": "Hi {{ person.firstName",
            "body": "News",
            "preview": "1",
        },
    )
    assert "not a valid template" in broken.text
    sent = admin_console.post(
        "/console/messages",
        {
            "applicationCode": shop["applicationCode"],
            "segmentId": segment["id"],
            "title": "Hi {{ person.firstName }}",
            "body": "News",
        },
    )
    assert sent.status_code == 303 and "queued" in sent.headers["location"]
    listed = api.client.get("/v1/messages", headers=api.admin).json()["items"]
    assert len(listed) == 1
    page = admin_console.get("/console/messages")
    assert 'data-testid="status">queued<' in page.text and listed[0]["id"] in page.text
