"""The worker's side of push: fan a message out into deliveries, then send them.

``push.message`` (due at ``sendAt``) resolves the audience once, renders the templates per
person, keeps one delivery per distinct token, and writes the deliveries in chunks with one
``push.send`` outbox item per chunk, all in one transaction (a crash re-does the whole fan-out,
never half of it). ``push.send`` sends one chunk's pending deliveries concurrently (bounded by
``push_concurrency`` per process) and records each result; a dead token uninstalls its
installation (R4); 429/5xx/network errors leave the delivery pending and ask the outbox for
the chunk again after the provider's ``Retry-After`` or an exponential back-off. A canceled
message's chunks send nothing more.
"""

import asyncio
import json
import logging
import random
import ssl
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import anyio
import httpx
from sqlalchemy import Connection, Row, select

from audience import outbox
from audience.clock import utcnow
from audience.config import Settings
from audience.db import Database
from audience.installations.service import uninstall
from audience.outbox import OutboxItem
from audience.push import queries
from audience.push.credentials import load_credentials
from audience.push.crypto import CredentialsUnreadable
from audience.push.providers import (
    ApnsProvider,
    FcmProvider,
    LogProvider,
    MissingCredentials,
    Outgoing,
    Provider,
    SendResult,
)
from audience.push.service import TOPIC_MESSAGE, TOPIC_SEND, audience_filter
from audience.push.templates import (
    compile_content,
    installation_context,
    person_context,
    render,
)
from audience.segments.queries import resolve_installations
from audience.tables import installations

if TYPE_CHECKING:  # the worker imports this module to list its handlers
    from audience.outbox import WorkerContext

__all__ = ["TOPIC_MESSAGE", "TOPIC_SEND", "handle_messages", "handle_sends"]

log = logging.getLogger("audience.push")
RESOLVE_PAGE = 1000
CLOSE_TIMEOUT_SECONDS = 5
# How soon a chunk that found every slot taken is tried again.
LATER_SECONDS = 0.2
SERVICE_OF_PLATFORM = {"Android": "Firebase", "iOS": "APNS"}


def fan_out(db: Database, settings: Settings, message_id: str) -> None:
    with db.write() as conn:
        message = queries.find_message(conn, message_id, for_update=True)
        if message is None or message.status != "queued":
            return  # canceled before its time, or already fanned out by an earlier attempt
        targeted = _write_deliveries(conn, settings, message)
        status = "sending" if targeted else "done"
        queries.set_message(conn, message_id, status=status, targeted=targeted)
        chunks = -(-targeted // settings.push_chunk_size)
        outbox.enqueue_many(
            conn, TOPIC_SEND, ({"messageId": message_id, "chunk": n} for n in range(chunks))
        )


def _write_deliveries(conn: Connection, settings: Settings, message: Row) -> int:
    segment_id, condition = audience_filter(conn, message.audience)
    flags = message.audience
    compiled = compile_content(message.content["title"], message.content["body"])
    static = None if compiled.personal else render(compiled, {})
    seen_tokens: set[str] = set()
    after: tuple[str, str] | None = None
    now = utcnow()
    count = 0
    while True:
        page = resolve_installations(
            conn,
            segment_id=segment_id,
            condition=condition,
            application_code=message.application_code,
            platform=flags.get("platform"),
            push_registration_enabled_only=True,
            notifications_enabled_only=bool(flags.get("notificationsEnabledOnly")),
            primary_device_only=bool(flags.get("primaryDeviceOnly")),
            after=after,
            limit=RESOLVE_PAGE,
        )
        rows = page[:RESOLVE_PAGE]
        fresh = [
            row
            for row in rows
            if row.push_service_token and row.push_service_token not in seen_tokens
        ]
        people: dict[str, Row] = {}
        devices: dict[str, Row] = {}
        if fresh and (static is None or any(not r.push_service_type for r in fresh)):
            people = queries.persons_by_id(conn, (row.person_id for row in fresh))
            devices = queries.installations_by_id(conn, (r.push_registration_id for r in fresh))
        batch = []
        for row in fresh:
            if row.push_service_token in seen_tokens:  # the same token twice on one page
                continue
            seen_tokens.add(row.push_service_token)
            title, body = static or render(
                compiled,
                {
                    "person": person_context(people.get(row.person_id)),
                    "installation": installation_context(devices.get(row.push_registration_id)),
                },
            )
            batch.append(
                {
                    "message_id": message.id,
                    "chunk": count // settings.push_chunk_size,
                    "push_registration_id": row.push_registration_id,
                    "person_id": row.person_id,
                    "push_service_type": row.push_service_type
                    or SERVICE_OF_PLATFORM.get(devices[row.push_registration_id].platform),
                    "token": row.push_service_token,
                    "title": title,
                    "body": body,
                    "status": queries.PENDING,
                    "attempts": 0,
                    "updated_at": now,
                }
            )
            count += 1
        queries.insert_deliveries(conn, batch)
        if len(page) <= RESOLVE_PAGE:
            return count
        after = (rows[-1].person_id, rows[-1].push_registration_id)


async def handle_messages(ctx: "WorkerContext", items: list[OutboxItem]) -> Mapping[int, datetime]:
    for item in items:
        await anyio.to_thread.run_sync(fan_out, ctx.db, ctx.settings, item.payload["messageId"])
    return {}


def push_http_client(settings: Settings) -> httpx.AsyncClient:
    """HTTP/2 where the provider offers it (APNs requires it), trusting ``push_ca_file`` too."""
    verify: ssl.SSLContext | bool = True
    if settings.push_ca_file:
        context = ssl.create_default_context()
        context.load_verify_locations(cafile=settings.push_ca_file)
        verify = context
    limit = max(settings.push_concurrency, 1)
    return httpx.AsyncClient(
        http2=True,
        verify=verify,
        timeout=settings.push_timeout_seconds,
        limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
        follow_redirects=False,
    )


@dataclass
class _Chunk:
    message: Row | None
    deliveries: list[Row]
    providers: dict[str, Provider]
    # When another worker last touched the deliveries it is still sending, if any.
    busy_since: datetime | None


class _Providers:
    """One provider pair per application for one handler call (decrypted once)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        self.by_app: dict[str, dict[str, Provider]] = {}

    def for_app(self, conn: Connection, app_id: str) -> dict[str, Provider]:
        found = self.by_app.get(app_id)
        if found is not None:
            return found
        settings = self.settings
        providers: dict[str, Provider]
        if settings.push_provider == "log":
            providers = {"Firebase": LogProvider("fcm"), "APNS": LogProvider("apns")}
        else:
            try:
                fcm, apns = load_credentials(conn, settings.secret_key, app_id)
            except CredentialsUnreadable as exc:
                broken = MissingCredentials("readable")
                broken.error = str(exc)
                fcm, apns = None, None
                providers = {"Firebase": broken, "APNS": broken}
            else:
                providers = {
                    "Firebase": FcmProvider(self.http, fcm, settings.fcm_url)
                    if fcm
                    else MissingCredentials("FCM"),
                    "APNS": ApnsProvider(self.http, apns, _apns_url(settings, apns.environment))
                    if apns
                    else MissingCredentials("APNs"),
                }
        self.by_app[app_id] = providers
        return providers


def _apns_url(settings: Settings, environment: str) -> str:
    return settings.apns_sandbox_url if environment == "sandbox" else settings.apns_url


def _load_chunk(
    db: Database, settings: Settings, pool: _Providers, message_id: str, chunk: int
) -> _Chunk:
    """Take the chunk's deliveries to send (see ``queries.take_chunk``): a chunk whose lease
    ran out while its first worker was still sending finds nothing left to send twice."""
    stale_before = utcnow() - timedelta(seconds=_stale_seconds(settings))
    with db.write() as conn:
        message = queries.find_message(conn, message_id)
        if message is None or message.status != "sending":
            return _Chunk(None, [], {}, None)
        rows, busy = queries.take_chunk(conn, message_id, chunk, stale_before)
        return _Chunk(message, rows, pool.for_app(conn, message.application_id), busy)


def _stale_seconds(settings: Settings) -> float:
    """How long a ``sending`` delivery may stay so before another worker takes it over: far
    longer than a chunk can take (every send timing out at most once per slot)."""
    per_slot = -(-settings.push_chunk_size // max(settings.push_concurrency, 1))
    return max(300.0, 2 * per_slot * settings.push_timeout_seconds)


def _outgoing(message: Row, row: Row) -> Outgoing:
    content = message.content
    data = {
        str(key): value if isinstance(value, str) else json.dumps(value)
        for key, value in (content.get("data") or {}).items()
    }
    data["messageId"] = message.id
    return Outgoing(
        token=row.token,
        title=row.title,
        body=row.body,
        data=data,
        ttl_seconds=content.get("ttlSeconds"),
        collapse_key=content.get("collapseKey"),
    )


def _backoff(attempts: int) -> float:
    """Seconds before another attempt: 2, 4, 8 … capped at 10 minutes, jittered."""
    return min(2.0**attempts, 600.0) * random.uniform(0.8, 1.2)


async def _send_one(
    semaphore: asyncio.Semaphore, provider: Provider | None, message: Outgoing
) -> SendResult:
    if provider is None:
        return SendResult("failed", "no push service for this installation")
    async with semaphore:
        try:
            return await provider.send(message)
        except httpx.HTTPError as exc:
            return SendResult("retry", f"{type(exc).__name__}: {exc}")


def _record(
    db: Database, settings: Settings, rows: list[Row], results: list[SendResult]
) -> float | None:
    """Store the results; uninstall dead tokens; answers the delay before a retry, if any."""
    updates = []
    dead: list[Row] = []
    delay: float | None = None
    for row, result in zip(rows, results, strict=True):
        attempts = row.attempts + 1
        status: str = result.status
        if status == "retry":
            if attempts < settings.push_max_attempts:
                wait = max(result.retry_after or 0.0, _backoff(attempts))
                delay = wait if delay is None else max(delay, wait)
                status = queries.PENDING
            else:
                status = "failed"
        elif status == "invalid_token":
            dead.append(row)
        updates.append(
            {
                "delivery_id": row.id,
                "new_status": status,
                "new_error": result.error,
                "new_attempts": attempts,
            }
        )
    with db.write() as conn:
        queries.record_results(conn, updates)
        for row in dead:
            for push_registration_id in _holders_of(conn, row):
                uninstall(conn, push_registration_id)
    return delay


def _holders_of(conn: Connection, row: Row) -> list[str]:
    """Every live installation of the application that holds a dead token (reinstalls kept
    the same one), so none of them is targeted again."""
    app_id = conn.execute(
        select(installations.c.application_id).where(
            installations.c.push_registration_id == row.push_registration_id
        )
    ).scalar()
    holders = conn.execute(
        select(installations.c.push_registration_id).where(
            installations.c.application_id == app_id,
            installations.c.push_service_token == row.token,
            installations.c.uninstalled_at.is_(None),
        )
    ).scalars()
    return sorted({row.push_registration_id, *holders})


def _finish_if_done(db: Database, message_id: str) -> None:
    """In its own transaction, after the chunk's results committed, so the last chunk to
    finish sees every other's results."""
    with db.write() as conn:
        message = queries.find_message(conn, message_id, for_update=True)
        if (
            message is not None
            and message.status == "sending"
            and not queries.has_pending(conn, message_id)
        ):
            queries.set_message(conn, message_id, status="done")


async def _send_chunk(
    ctx: "WorkerContext", pool: _Providers, semaphore: asyncio.Semaphore, item: OutboxItem
) -> datetime | None:
    message_id = str(item.payload["messageId"])
    chunk = await anyio.to_thread.run_sync(
        _load_chunk, ctx.db, ctx.settings, pool, message_id, int(item.payload["chunk"])
    )
    if chunk.message is None:
        return None
    if not chunk.deliveries:
        if chunk.busy_since is not None:  # come back when the other worker is done or dead
            return chunk.busy_since + timedelta(seconds=_stale_seconds(ctx.settings))
        await anyio.to_thread.run_sync(_finish_if_done, ctx.db, message_id)
        return None
    message = chunk.message
    results = await asyncio.gather(
        *(
            _send_one(
                semaphore, chunk.providers.get(row.push_service_type or ""), _outgoing(message, row)
            )
            for row in chunk.deliveries
        )
    )
    delay = await anyio.to_thread.run_sync(
        _record, ctx.db, ctx.settings, chunk.deliveries, list(results)
    )
    if delay is not None:
        return utcnow() + timedelta(seconds=delay)
    await anyio.to_thread.run_sync(_finish_if_done, ctx.db, message_id)
    return None


class _Gates:
    """Per event loop (one per worker process): how many sends and chunks are in flight."""

    def __init__(self, settings: Settings) -> None:
        self.sends = asyncio.Semaphore(max(settings.push_concurrency, 1))
        self.chunks = max(settings.push_chunks_in_flight, 1)
        self.active = 0


_gates: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gates]" = weakref.WeakKeyDictionary()


def _gates_of(settings: Settings) -> _Gates:
    loop = asyncio.get_running_loop()
    gates = _gates.get(loop)
    if gates is None:
        gates = _gates[loop] = _Gates(settings)
    return gates


async def handle_sends(ctx: "WorkerContext", items: list[OutboxItem]) -> Mapping[int, datetime]:
    """Send the chunks of a claimed batch concurrently, at most ``push_chunks_in_flight`` per
    process: the rest are handed back to the outbox for a moment instead of waiting here, so
    memory stays bounded and no claimed item waits long enough for its lease to run out."""
    gates = _gates_of(ctx.settings)
    taken = items[: max(gates.chunks - gates.active, 0)]
    later = utcnow() + timedelta(seconds=LATER_SECONDS)
    retry: dict[int, datetime] = {item.id: later for item in items[len(taken) :]}
    if not taken:
        return retry
    gates.active += len(taken)
    http = push_http_client(ctx.settings)
    try:
        pool = _Providers(ctx.settings, http)
        dues = await asyncio.gather(*(_send_chunk(ctx, pool, gates.sends, item) for item in taken))
    finally:
        gates.active -= len(taken)
        # A provider that never answers the TLS close must not keep the chunks' outcome
        # (already stored) from being acknowledged.
        with anyio.move_on_after(CLOSE_TIMEOUT_SECONDS) as scope:
            await http.aclose()
        if scope.cancelled_caught:
            log.warning("closing the push HTTP client timed out")
    retry |= {item.id: due for item, due in zip(taken, dues, strict=True) if due is not None}
    return retry
