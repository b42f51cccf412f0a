"""R10 export is streamed: one JSON document written page by page (issue 12 item 7)."""

from datetime import timedelta

from sqlalchemy import insert

from audience.clock import utcnow
from audience.db import Database
from audience.persons.export import PAGE_SIZE
from audience.tables import events
from tests.helpers import Api


def test_export_streams_every_event(api: Api, shop: dict, db: Database) -> None:
    device = api.register(shop)
    person_id = device["personId"]
    now = utcnow()
    count = 2 * PAGE_SIZE + 7
    rows = [
        {
            "person_id": person_id,
            "push_registration_id": device["pushRegistrationId"],
            "definition_id": "AppLaunch",
            "occurred_at": now - timedelta(seconds=i),
            "received_at": now,
            "properties": {"n": i},
        }
        for i in range(count)
    ]
    with db.write() as conn:
        conn.execute(insert(events), rows)
    with api.client.stream("GET", f"/v1/persons/{person_id}/export", headers=api.admin) as response:
        assert response.status_code == 200
        assert "content-length" not in response.headers  # streamed, not one buffered body
        chunks = list(response.iter_raw())
    assert len(chunks) > 3
    import json

    document = json.loads(b"".join(chunks))
    assert document["person"]["id"] == person_id
    assert len(document["events"]) == count + 1  # and the Install event
    assert len({e["id"] for e in document["events"]}) == count + 1
    assert document["changes"] == [] or isinstance(document["changes"], list)
    assert document["installations"][0]["pushRegistrationId"] == device["pushRegistrationId"]
    missing = api.client.get("/v1/persons/nobody/export", headers=api.admin)
    assert missing.status_code == 404
