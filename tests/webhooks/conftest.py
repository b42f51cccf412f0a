"""Webhook fixtures: settings that let deliveries reach a receiver on 127.0.0.1, the receiver
itself (a real HTTP server in a thread, scriptable per request), and small factories."""

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks import Webhook

from audience.config import Settings
from audience.db import Database
from audience.worker import drain
from tests.helpers import Api


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_private": True})


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0
    hang_up: bool = False  # close the connection without answering


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Records every request; ``script(path, n)`` decides the answer to the n-th request
    (0-based, counted per path)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.script: Callable[[str, int], Reply] = lambda _path, _n: Reply()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-body: nothing was received
                    self.close_connection = True
                    return
                with receiver.lock:
                    n = sum(1 for r in receiver.received if r.path == self.path)
                    receiver.received.append(
                        Received(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                        )
                    )
                reply = receiver.script(self.path, n)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.hang_up:
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *_args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # the default backlog of 5 drops bursts of connections

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def at(self, path: str = "/hook") -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verified(secret: str, request: Received) -> Any:
    """The payload, once the standardwebhooks package has checked its signature."""
    return Webhook(secret).verify(request.body, request.headers)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def create_webhook(api: Api, url: str, types: list[str], **fields: Any) -> dict[str, Any]:
    response = api.client.post(
        "/v1/webhooks", json={"url": url, "types": types, **fields}, headers=api.admin
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def deliveries(api: Api, webhook_id: str) -> list[dict[str, Any]]:
    response = api.client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=api.admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def run_worker(db: Database, settings: Settings) -> None:
    drain(db, settings, timeout=60)


def define_purchase(api: Api) -> None:
    response = api.client.post(
        "/v1/event-definitions",
        json={"id": "purchase", "properties": {"amount": "number"}},
        headers=api.admin,
    )
    assert response.status_code == 201, response.text


def send_events(api: Api, app: dict[str, Any], installation: dict[str, Any], n: int = 1) -> None:
    events = [{"definitionId": "purchase", "properties": {"amount": i}} for i in range(n)]
    response = api.client.post(
        f"/v1/installations/{installation['pushRegistrationId']}/events",
        json={"events": events},
        headers=api.mobile(app),
    )
    assert response.status_code == 200, response.text
