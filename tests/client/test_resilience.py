"""The SDK on a bad network: offline queueing across a server restart, injected 5xx/429 and
lost answers retried without duplicates, and one client used from many threads."""

import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from audience.client import (
    AdminClient,
    DepersonalizationInProgress,
    DepersonalizeResult,
    NetworkError,
    ServerError,
)
from tests.client.conftest import mobile, server_env
from tests.server import free_port, running_server


class FlakyTransport(httpx.BaseTransport):
    """Answers the next matching requests with injected failures: a status code, ``"down"``
    (connection refused) or ``"lost"`` (the server did the work, its answer never arrived)."""

    def __init__(self, failures: list[int | str], matches: Callable[[httpx.Request], bool]) -> None:
        self.inner = httpx.HTTPTransport()
        self.failures = list(failures)
        self.matches = matches
        self.requests = 0
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests += 1
            failure = self.failures.pop(0) if self.failures and self.matches(request) else None
        if failure == "down":
            raise httpx.ConnectError("injected: connection refused", request=request)
        if failure == "lost":
            self.inner.handle_request(request).close()
            raise httpx.ReadTimeout("injected: answer lost", request=request)
        if isinstance(failure, int):
            return httpx.Response(failure, headers={"Retry-After": "0"}, json={})
        return self.inner.handle_request(request)


def events_call(request: httpx.Request) -> bool:
    return request.url.path.endswith("/events")


def stored_event_ids(admin: AdminClient, person_id: str) -> list[str]:
    return [e["eventId"] for e in admin.person_events(person_id, definition_id="purchase")]


@pytest.mark.slow
def test_offline_queue_and_depersonalize_survive_a_server_restart(
    database_url: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    port = free_port()
    with running_server(server_env(database_url), port=port) as base_url:
        client = mobile(base_url, app_code, tmp_path, batch_size=100)
        person = client.personalize({"externalUserId": "olga"})
    # the server is down: events queue, the logout is kept pending, user calls fail fast
    for amount in range(500):
        client.submit_event("purchase", {"amount": amount})
    assert client.depersonalize() is DepersonalizeResult.PENDING
    assert client.user is None and client.pending_depersonalize
    for call in (
        lambda: client.personalize({"externalUserId": "olga"}),
        lambda: client.save_user({"firstName": "O"}),
        client.fetch_user,
        lambda: client.save_installation({"osVersion": "15"}),
        lambda: client.submit_event("purchase", {"amount": 1}),
    ):
        with pytest.raises(DepersonalizationInProgress) as error:
            call()
        assert error.value.code == "DEPERSONALIZATION_IN_PROGRESS"
    with pytest.raises(NetworkError):
        client.flush()
    client.close()  # the app is killed while offline; nothing is lost
    client = mobile(base_url, app_code, tmp_path)
    assert client.queued_events == 500 and client.pending_depersonalize
    with running_server(server_env(database_url), port=port):
        client.flush()
        assert client.queued_events == 0 and not client.pending_depersonalize
        installation = client.fetch_installation()
        client.close()
        ids = stored_event_ids(admin, person["id"])
        assert len(ids) == 500 and len(set(ids)) == 500
        assert installation["personId"] != person["id"]  # depersonalize applied after the events
        assert admin.person_installations(person["id"]) == []
        depersonalized = list(admin.person_events(person["id"], definition_id="Depersonalize"))
        assert len(depersonalized) == 1


def test_injected_5xx_429_and_network_errors_are_retried(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    flaky = FlakyTransport([500, 429, "down"], lambda request: True)
    with httpx.Client(transport=flaky) as http:
        client = mobile(server, app_code, tmp_path, http=http)  # registers through 3 failures
        assert client.push_registration_id is not None
        assert flaky.requests == 4
        person = client.personalize({"externalUserId": "pia"})
        flaky.failures = [503, 502, 429]
        client.submit_event("purchase", {"amount": 1})
        client.flush()
        client.close()
    assert len(stored_event_ids(admin, person["id"])) == 1


def test_lost_answers_are_retried_without_duplicates(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    flaky = FlakyTransport([], events_call)
    with httpx.Client(transport=flaky) as http:
        client = mobile(server, app_code, tmp_path, http=http, batch_size=50)
        person = client.personalize({"externalUserId": "quinn"})
        flaky.failures = ["lost", 500, "lost"]  # stored by the server each time, answer lost
        for amount in range(120):
            client.submit_event("purchase", {"amount": amount})
        client.flush()
        flaky.failures = ["lost"]
        answer = client.submit_event_immediately("purchase", {"amount": 999})
        assert answer == {"accepted": 0, "duplicates": 1, "dropped": 0}
        client.close()
    ids = stored_event_ids(admin, person["id"])
    assert len(ids) == 121 and len(set(ids)) == 121


def test_retries_give_up_with_a_typed_error_and_keep_the_queue(
    server: str, app_code: str, tmp_path: Path
) -> None:
    flaky = FlakyTransport([500] * 4, events_call)
    with httpx.Client(transport=flaky) as http:
        client = mobile(server, app_code, tmp_path, http=http)
        client.submit_event("purchase", {"amount": 1})
        with pytest.raises(ServerError) as error:
            client.flush()
        assert error.value.status == 500
        assert client.queued_events == 1
        client.flush()
        assert client.queued_events == 0
        client.close()


@pytest.mark.slow
def test_one_client_from_many_threads(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    client = mobile(server, app_code, tmp_path, batch_size=20, flush_interval=0.05)
    person = client.personalize({"externalUserId": "rita"})
    errors: list[BaseException] = []

    def submit(worker: int) -> None:
        try:
            for amount in range(50):
                client.submit_event("purchase", {"amount": worker * 1000 + amount})
                if amount % 10 == 0:
                    client.save_user({"customAttributes": {"plan": f"p{worker}"}})
                    client.fetch_installation()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    assert errors == []
    ids = stored_event_ids(admin, person["id"])
    assert len(ids) == 400 and len(set(ids)) == 400


@pytest.mark.slow
def test_many_clients_share_one_connection_pool(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    """Devices of one user log in at the same moment: one person, every event once."""

    def device(index: int, http: httpx.Client) -> None:
        with mobile(server, app_code, tmp_path / str(index), http=http) as client:
            client.personalize({"externalUserId": "sam"})
            for amount in range(30):
                client.submit_event("purchase", {"amount": amount})

    with httpx.Client() as http:
        threads = [threading.Thread(target=device, args=(i, http)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    person = admin.lookup_person(external_user_id="sam")
    assert len(admin.person_installations(person["id"])) == 6
    ids = stored_event_ids(admin, person["id"])
    assert len(ids) == 180 and len(set(ids)) == 180


def test_queued_person_updates_carry_as_of(
    server: str, app_code: str, admin: AdminClient, tmp_path: Path
) -> None:
    def person_patch(request: httpx.Request) -> bool:
        return request.method == "PATCH" and request.url.path.endswith("/person")

    flaky = FlakyTransport(["down"] * 4, person_patch)
    with httpx.Client(transport=flaky) as http:
        client = mobile(server, app_code, tmp_path, http=http)
        person = client.personalize({"externalUserId": "queued"})
        client.queue_user_update({"firstName": "Offline", "lastName": "Lee"})
        assert client.queued_user_updates == 1  # the server could not be reached
        admin.update_person(person["id"], firstName="Newer")  # changed later, on the server
        client.flush()
        assert client.queued_user_updates == 0
        client.close()
    stored = admin.person(person["id"])
    assert stored["firstName"] == "Newer" and stored["lastName"] == "Lee"
