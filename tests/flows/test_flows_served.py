"""Flows against a real ``audience serve`` (2 workers, embedded background worker): triggers
arriving at once on both workers, and a wait that outlives a hard kill of the server."""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.flows.conftest import Flows
from tests.server import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def server(database_url: str, flows: Flows) -> Iterator[ServerProcess]:
    process = ServerProcess(
        {
            "AUDIENCE_DATABASE_URL": database_url,
            "AUDIENCE_SEGMENT_SWEEP_SECONDS": "0",
            "AUDIENCE_WORKER_POLL_SECONDS": "0.05",
        },
        workers=2,
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def wait_for(check: object, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_simultaneous_triggers_on_two_workers_start_one_run(
    flows: Flows, server: ServerProcess
) -> None:
    flow = flows.create(
        trigger={"event": "purchase"},
        reentry="always",
        steps=[{"wait": {"seconds": 3600}}, {"addTags": ["x"]}],
    )
    device, _person = flows.device()

    def send(n: int) -> int:
        return httpx.post(
            f"{server.base_url}/v1/installations/{device}/events",
            json={"events": [{"definitionId": "purchase", "properties": {"amount": n}}]},
            headers=flows.api.mobile(flows.app),
            timeout=60,
        ).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert list(pool.map(send, range(16))) == [200] * 16
    runs = flows.runs(flow["id"])
    assert len(runs) == 1
    wait_for(lambda: flows.runs(flow["id"])[0]["status"] == "waiting")


def test_a_wait_survives_a_hard_kill_of_the_server(flows: Flows, server: ServerProcess) -> None:
    flow = flows.create(
        trigger={"event": "purchase"},
        steps=[{"wait": {"seconds": 2}}, {"addTags": ["after-restart"]}],
    )
    device, person_id = flows.device()
    flows.purchase(device)
    wait_for(lambda: flows.runs(flow["id"])[0]["status"] == "waiting")
    server.kill()
    time.sleep(2.5)  # the wait ends while no server runs
    assert flows.runs(flow["id"])[0]["status"] == "waiting"
    server.start()
    wait_for(lambda: flows.runs(flow["id"])[0]["status"] == "completed")
    assert flows.api.person(person_id)["tags"] == ["after-restart"]
