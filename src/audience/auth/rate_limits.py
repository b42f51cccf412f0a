"""Rate limits (docs/security.md): failed authentications per client address, requests per
credential; over a limit → 429 ``RATE_LIMITED`` with ``Retry-After``.

Counters live in the database (``rate_limit_counters``, one row per key and one-minute
window), so every worker process of every node sees the same totals without another service
to run. The request path stays cheap: each worker counts a credential's requests in memory
and adds them to the shared row at most about once a second (or sooner in a burst), and reads
which addresses are blocked just as often. A failed authentication is rare and counted at once,
so the limit on guessing credentials holds exactly. See docs/decisions.md.
"""

import hashlib
import json
import math
import time
from collections import defaultdict

from sqlalchemy import Connection, text
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audience.db import Database
from audience.errors import error_body

WINDOW_SECONDS = 60
SYNC_SECONDS = 1.0
_UPSERT = text(
    "INSERT INTO rate_limit_counters (key, window_start, count) VALUES (:key, :window, :n) "
    "ON CONFLICT (key, window_start) DO UPDATE "
    "SET count = rate_limit_counters.count + excluded.count RETURNING count"
)
_OVER = text(
    "SELECT key FROM rate_limit_counters "
    "WHERE window_start = :window AND key LIKE :prefix AND count > :limit"
)
_FORGET = text("DELETE FROM rate_limit_counters WHERE window_start < :before")


def _add(conn: Connection, key: str, window: int, n: int) -> int:
    return int(conn.execute(_UPSERT, {"key": key, "window": window, "n": n}).scalar_one())


class RateLimiter:
    """Pure ASGI middleware in front of the whole app; a limit of 0 turns that limit off."""

    def __init__(
        self, app: ASGIApp, db: Database, failed_auth_per_minute: int, requests_per_minute: int
    ) -> None:
        self.app = app
        self.db = db
        self.failed_limit = failed_auth_per_minute
        self.request_limit = requests_per_minute
        self.blocked: dict[str, float] = {}  # key -> blocked until (epoch seconds)
        self.pending: defaultdict[str, int] = defaultdict(int)
        self.synced_at = 0.0
        self.burst = max(1, requests_per_minute // 20)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (self.failed_limit or self.request_limit):
            await self.app(scope, receive, send)
            return
        now = time.time()
        client = scope.get("client")
        address_key = f"auth:{client[0] if client else 'unknown'}"
        credential_key = self._credential_key(scope) if self.request_limit else None
        if credential_key is not None and self.blocked.get(credential_key, 0) <= now:
            self.pending[credential_key] += 1
        if now - self.synced_at >= SYNC_SECONDS or (
            credential_key is not None and self.pending[credential_key] >= self.burst
        ):
            self.synced_at = now
            await run_in_threadpool(self._sync, now)
        for key in (address_key, credential_key):
            if key is not None and self.blocked.get(key, 0) > now:
                await _too_many(send, self.blocked[key] - now)
                return
        if not self.failed_limit:
            await self.app(scope, receive, send)
            return
        refused = False

        async def counting_send(message: Message) -> None:
            nonlocal refused
            if refused:
                return  # the app's own 401 body: the client got the 429 instead
            if message["type"] == "http.response.start" and message["status"] == 401:
                failures = await run_in_threadpool(self._count_failure, address_key)
                if failures > self.failed_limit:
                    refused = True
                    await _too_many(send, self.blocked[address_key] - time.time())
                    return
            await send(message)

        await self.app(scope, receive, counting_send)

    def _credential_key(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                return "cred:" + hashlib.sha256(value).hexdigest()[:40]
        return None

    def _window(self, now: float) -> int:
        return int(now // WINDOW_SECONDS) * WINDOW_SECONDS

    def _block(self, key: str, window: int) -> None:
        self.blocked[key] = max(self.blocked.get(key, 0), window + WINDOW_SECONDS)

    def _count_failure(self, address_key: str) -> int:
        window = self._window(time.time())
        with self.db.write() as conn:
            failures = _add(conn, address_key, window, 1)
        if failures > self.failed_limit:
            self._block(address_key, window)
        return failures

    def _sync(self, now: float) -> None:
        """Add this worker's counts to the shared ones; learn what is blocked everywhere."""
        window = self._window(now)
        pending, self.pending = dict(self.pending), defaultdict(int)
        with self.db.write() as conn:
            for key in sorted(pending):  # one lock order across workers
                if _add(conn, key, window, pending[key]) > self.request_limit:
                    self._block(key, window)
            if self.failed_limit:
                over = {"window": window, "prefix": "auth:%", "limit": self.failed_limit}
                for address_key in conn.execute(_OVER, over).scalars():
                    self._block(address_key, window)
            if now % WINDOW_SECONDS < SYNC_SECONDS * 2:
                conn.execute(_FORGET, {"before": window - WINDOW_SECONDS})
        self.blocked = {key: until for key, until in self.blocked.items() if until > now}


async def _too_many(send: Send, seconds: float) -> None:
    retry_after = str(max(1, math.ceil(seconds)))
    body = json.dumps(
        error_body("RATE_LIMITED", f"Too many requests; retry after {retry_after} s")
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", retry_after.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
