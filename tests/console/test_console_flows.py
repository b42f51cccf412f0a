"""The flows pages: list with counts, create from JSON (validated), a readable outline,
enable/disable, runs; and a person's runs on the profile."""

from audience.config import Settings
from tests.console.conftest import Console
from tests.flows.conftest import Flows
from tests.helpers import Api


def test_create_enable_and_follow_a_flow_in_the_console(
    api: Api, settings: Settings, admin_console: Console
) -> None:
    flows = Flows(api, settings)
    bad = admin_console.post(
        "/console/flows",
        {"name": "Bad", "definition": '{"trigger": {"event": "nope"}, "steps": []}'},
    )
    assert "error=" in bad.headers["location"] and "nope" in bad.headers["location"]
    created = admin_console.post(
        "/console/flows",
        {
            "name": "Welcome",
            "definition": '{"trigger": {"event": "purchase"}, "steps": [{"wait": '
            '{"seconds": 172800}}, {"if": {"tag": "vip"}, "then": [{"addTags": ["a"]}]}]}',
        },
    )
    location = created.headers["location"]
    assert location.startswith("/console/flows/")
    flow_id = location.split("/")[3].split("?")[0]
    page = admin_console.get(f"/console/flows/{flow_id}")
    assert "wait 2 days" in page.text and "add tags a" in page.text and "Disabled" in page.text
    enabled = admin_console.post(f"/console/flows/{flow_id}/enabled", {"enabled": "true"})
    assert enabled.status_code == 303
    device, person_id = flows.device()
    flows.purchase(device)
    flows.work()
    page = admin_console.get(f"/console/flows/{flow_id}")
    assert "Enabled" in page.text and person_id in page.text and "waiting" in page.text
    listing = admin_console.get("/console/flows")
    assert "Welcome" in listing.text
    profile = admin_console.get(f"/console/people/{person_id}")
    assert "Flow runs" in profile.text and "wait [0]" in profile.text
